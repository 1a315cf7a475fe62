//! The forms a value takes once read from an event (the event's own form is the model's
//! `FieldValue`, borrowed from the input):
//! - [`V`]: a value held by a row or a group, strings as a byte range of its text (so a
//!   row's or group's values cost no allocation each);
//! - [`B`]: a value read back from a text, borrowed: what is compared, hashed and printed;
//! - `Packed` (in `row.rs`): a [`V`] as a row stores it, in 16 bytes;
//! - `Val` (tests only): an owned value, the reference model's.

#[cfg(test)]
use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;

use serde_json::Value;

use crate::time::{nanos, timestamp};

/// The hasher of values for distinct counting and value sets: seeded per rule (so per
/// engine), because the values come from the input. A 64-bit hash makes an honest collision
/// negligible, but with a fixed seed someone controlling the values could precompute
/// colliding ones and lower a distinct count (or hide a value from a value set); with a
/// random seed they cannot.
///
/// The seed is a random 64-bit one per rule and engine, kept in snapshots so that a
/// restored engine hashes alike (foldhash's shared seed is its fixed one: the secret is the
/// per-rule seed).
pub(crate) type ValueHasher = foldhash::quality::SeedableRandomState;

/// A hasher of [`ValueHasher`]'s kind from its seed.
pub(crate) fn seeded(seed: u64) -> ValueHasher {
    ValueHasher::with_seed(seed, foldhash::SharedSeed::global_fixed())
}

/// A random seed for [`seeded`].
pub(crate) fn random_seed() -> u64 {
    use std::hash::BuildHasher as _;
    foldhash::quality::RandomState::default().hash_one(0x5eed_u64)
}

/// `hash_slot` (in `row.rs`) of the slot an event's value `v` would fill (`None` when missing): the
/// same hash, made before the row is.
#[inline]
pub(crate) fn hash_value(hs: &ValueHasher, v: &kvsentry_model::FieldValue<'_>) -> Option<u64> {
    use kvsentry_model::FieldValue;
    let b = match v {
        FieldValue::Missing => return None,
        FieldValue::Str(s) => B::Str(s),
        FieldValue::Int(i) => B::Int(*i),
        FieldValue::Ip(ip) => B::Ip(*ip),
        FieldValue::Time(t) => B::Time(nanos(*t)),
    };
    Some(hash_b(hs, b))
}

#[inline]
pub(crate) fn hash_b(hs: &ValueHasher, b: B<'_>) -> u64 {
    let mut h = hs.build_hasher();
    match b {
        B::Str(s) => {
            0u8.hash(&mut h);
            s.hash(&mut h);
        }
        B::Int(n) => {
            1u8.hash(&mut h);
            n.hash(&mut h);
        }
        B::Ip(ip) => {
            2u8.hash(&mut h);
            ip.hash(&mut h);
        }
        B::Time(t) => {
            3u8.hash(&mut h);
            t.hash(&mut h);
        }
    }
    h.finish()
}

/// Distinct values, the smallest `cap` kept: the reference model of [`ValSet`] in tests.
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub(crate) struct Capped {
    pub set: BTreeSet<Val>,
    pub truncated: bool,
}

#[cfg(test)]
impl Capped {
    pub fn insert(&mut self, v: Val, cap: usize) {
        if self.set.len() >= cap {
            if self.set.last().is_some_and(|last| &v >= last) {
                if !self.set.contains(&v) {
                    self.truncated = true;
                }
                return;
            }
            if self.set.contains(&v) {
                return;
            }
            self.set.insert(v);
            self.set.pop_last();
            self.truncated = true;
        } else {
            self.set.insert(v);
        }
    }
}

/// A value a group holds: numbers and addresses inline, strings as a byte range of the
/// group's own text (so a value already held costs a comparison, not an allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum V {
    Int(i64),
    Time(i64),
    Ip(IpAddr),
    Str(usize, usize),
}

/// A borrowed value, ordered like `Val` (variant, then value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum B<'a> {
    Int(i64),
    Time(i64),
    Ip(IpAddr),
    Str(&'a str),
}

impl B<'_> {
    #[cfg(test)]
    pub fn to_val(self) -> Val {
        match self {
            B::Int(n) => Val::Int(n),
            B::Time(t) => Val::Time(t),
            B::Ip(ip) => Val::Ip(ip),
            B::Str(s) => Val::Str(s.into()),
        }
    }

    pub fn to_json(self) -> Value {
        match self {
            B::Int(i) => Value::from(i),
            B::Time(t) => Value::String(timestamp(t).to_string()),
            B::Ip(ip) => Value::String(ip.to_string()),
            B::Str(s) => Value::String(s.to_string()),
        }
    }

    pub fn to_text(self) -> String {
        match self {
            B::Int(i) => i.to_string(),
            B::Time(t) => timestamp(t).to_string(),
            B::Ip(ip) => ip.to_string(),
            B::Str(s) => s.to_string(),
        }
    }

    pub fn as_f64(self) -> f64 {
        match self {
            B::Int(i) => i as f64,
            B::Time(t) => t as f64,
            _ => f64::NAN,
        }
    }
}

pub(crate) fn view(text: &str, v: V) -> B<'_> {
    match v {
        V::Int(n) => B::Int(n),
        V::Time(t) => B::Time(t),
        V::Ip(ip) => B::Ip(ip),
        V::Str(a, b) => B::Str(text.get(a..b).unwrap_or("")),
    }
}

pub(crate) fn str_len(v: V) -> usize {
    match v {
        V::Str(a, b) => b.saturating_sub(a),
        _ => 0,
    }
}

/// Copies a borrowed value into the group's text.
pub(crate) fn store(text: &mut String, b: B<'_>) -> V {
    match b {
        B::Int(n) => V::Int(n),
        B::Time(t) => V::Time(t),
        B::Ip(ip) => V::Ip(ip),
        B::Str(s) => {
            let a = text.len();
            text.push_str(s);
            V::Str(a, text.len())
        }
    }
}

/// An owned value: the reference model of group state's values in tests.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Val {
    Int(i64),
    Time(i64),
    Ip(IpAddr),
    Str(Box<str>),
}

#[cfg(test)]
impl Val {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Val::Int(i) => serde_json::Value::from(*i),
            Val::Time(t) => serde_json::Value::String(timestamp(*t).to_string()),
            Val::Ip(ip) => serde_json::Value::String(ip.to_string()),
            Val::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }

    pub fn to_text(&self) -> String {
        match self {
            Val::Int(i) => i.to_string(),
            Val::Time(t) => timestamp(*t).to_string(),
            Val::Ip(ip) => ip.to_string(),
            Val::Str(s) => s.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_keeps_the_smallest_whatever_the_order() {
        let vals = ["d", "a", "c", "b", "e", "a"];
        let mut one = Capped::default();
        let mut two = Capped::default();
        for v in vals {
            one.insert(Val::Str(v.into()), 3);
        }
        for v in vals.iter().rev() {
            two.insert(Val::Str((*v).into()), 3);
        }
        let got: Vec<String> = one.set.iter().map(Val::to_text).collect();
        assert_eq!(got, vec!["a", "b", "c"]);
        assert!(one.truncated && two.truncated);
        assert_eq!(one.set, two.set);
        let mut exact = Capped::default();
        for v in ["b", "a", "b"] {
            exact.insert(Val::Str(v.into()), 2);
        }
        assert!(!exact.truncated);
    }
}
