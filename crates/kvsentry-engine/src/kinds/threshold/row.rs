//! What an event contributes to a threshold rule (a [`Row`]): its group key and the few
//! values the rule's aggregates, entities and evidence read, copied into one string buffer.
//! Made in the stateless stage, on any thread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

use std::hash::BuildHasher;

use kvsentry_model::{AuditEvent, Field, FieldValue, Origin};
use kvsentry_rules::WindowType;
use serde::{Deserialize, Serialize};

use super::plan::{CompiledRule, DH_INLINE};
use super::value::{B, V, ValueHasher, hash_b, hash_value, view};
use crate::evidence::OrderKey;
use crate::time::nanos;

/// Hash of a slot's value for distinct counting (64-bit: collisions are negligible).
#[inline]
pub(crate) fn hash_slot(hs: &ValueHasher, row: &Row, i: usize) -> Option<u64> {
    row.value(i).map(|b| hash_b(hs, b))
}

impl CompiledRule {
    /// True when no window of the group of `row` can satisfy the condition, whatever its
    /// events: aggregates of a group-by field the group lacks are known (a missing value
    /// counts nothing: `count_distinct` and `count` of it are 0). The seed rule's
    /// `actor_unique_count == 1` makes its group of events without a UPN such a group.
    /// The tests' oracle: rows are built with [`Self::never_alerts_event`], which decides
    /// the same from the event (a thin row no longer holds the slots read here).
    #[cfg(test)]
    pub fn never_alerts(&self, row: &Row) -> bool {
        self.hopeless_if_missing.iter().any(|&g| {
            self.group_slots
                .get(g)
                .is_some_and(|&s| row.slot(s).is_none())
        })
    }

    /// Copies what this rule needs from an event that passed its filter. With `explained`
    /// false, an event whose group never alerts keeps only its key and what the condition
    /// reads (its values, entities and evidence would never be read).
    #[inline]
    pub fn row(&self, ev: &AuditEvent<'_>, explained: bool) -> Row {
        // One allocation for all of the row's strings, sized from the longest row so far
        // (reading each field once; a longer row grows the string once).
        let stored = self.text_hint.load(Ordering::Relaxed);
        let mut hint = stored;
        if hint == 0 {
            // The rule's first row: sized exactly.
            let str_len = |f: Field| match ev.get(f) {
                FieldValue::Str(s) => s.len(),
                FieldValue::Missing => 0,
                _ => 48,
            };
            hint = self
                .group_fields
                .iter()
                .map(|&f| 1 + str_len(f))
                .sum::<usize>()
                + self.slots.iter().map(|&f| str_len(f)).sum::<usize>();
        }
        // Group-by positions (below 64) whose value is missing, read first: a thin row
        // (see below) is built without its slots' `Vec` when it needs none.
        let mut missing = 0u64;
        if !explained && self.window == WindowType::Tumbling && !self.hopeless_if_missing.is_empty()
        {
            for (g, &f) in self.group_fields.iter().enumerate().take(64) {
                if ev.get(f).is_missing() {
                    missing |= 1u64 << g;
                }
            }
        }
        let thin = !explained
            && self.window == WindowType::Tumbling
            && !self.hopeless_if_missing.is_empty()
            && self.never_alerts_event(ev, missing);
        // A thin row's text is its key (a marker per group-by value and the values present;
        // the seed rule's: one byte), so it starts at the markers' size, not the full rows'
        // size, which a never-alerting group would hold until its window closes.
        let mut text = String::with_capacity(if thin { self.group_fields.len() } else { hint });
        // A thin row keeps only the values read from it (`thin_slots`), each at its index
        // (missing ones before it filled in): usually none, so no allocation.
        let mut slots = if thin {
            Vec::new()
        } else {
            Vec::with_capacity(self.slots.len())
        };
        let mut dh = [0u64; DH_INLINE];
        let mut dh_set = 0u8;
        let keep = |slots: &mut Vec<Packed>, k: usize, slot: Packed| {
            if !thin {
                slots.push(slot);
            } else if slot != Packed::MISSING && self.thin_slots.get(k).copied().unwrap_or(true) {
                if slots.len() < k {
                    slots.resize(k, Packed::MISSING);
                }
                slots.push(slot);
            }
        };
        let mut group_present = 0u8;
        // Group-by strings that had to be escaped in the key (see `push_escaped`): rare, so
        // no allocation unless one is met.
        let mut escaped = Vec::new();
        for (g, &f) in self.group_fields.iter().enumerate() {
            let v = ev.get(f);
            if !v.is_missing() && g < 8 {
                group_present |= 1u8 << g;
            }
            if self.key_slots {
                self.hash_distinct(g, &v, &mut dh, &mut dh_set);
            }
            let slot = match v {
                FieldValue::Missing => {
                    text.push('\u{0}');
                    Packed::MISSING
                }
                FieldValue::Str(s) => {
                    text.push('\u{1}');
                    let a = text.len();
                    if g + 1 < self.group_fields.len() && s.bytes().any(|b| b <= KEY_ESCAPE) {
                        // A value that holds a marker byte would let two different tuples
                        // spell the same key ("a\u{1}b", "c") and ("a", "b\u{1}c"): escaped
                        // in the key, and the slot refers to a plain copy after it.
                        push_escaped(&mut text, &s);
                        escaped.push((g, s));
                        Packed::MISSING
                    } else {
                        text.push_str(&s);
                        Packed::range(TAG_STR, a, text.len())
                    }
                }
                v => {
                    text.push('\u{1}');
                    let a = text.len();
                    push_text(&mut text, &v);
                    match v {
                        // The key's text of the address is its value (parsed when read).
                        FieldValue::Ip(IpAddr::V6(_)) => Packed::range(TAG_IP6_TEXT, a, text.len()),
                        v => Packed::scalar(&v),
                    }
                }
            };
            if self.key_slots {
                keep(&mut slots, g, slot);
            }
        }
        let key_len = text.len();
        for (g, s) in escaped {
            let a = text.len();
            text.push_str(&s);
            if self.key_slots && (!thin || self.thin_slots.get(g).copied().unwrap_or(true)) {
                // A full row pushed a placeholder at `g`; a thin one skipped it.
                if slots.len() <= g {
                    slots.resize(g + 1, Packed::MISSING);
                }
                if let Some(p) = slots.get_mut(g) {
                    *p = Packed::range(TAG_STR, a, text.len());
                }
            }
        }
        let first = if self.key_slots {
            self.group_fields.len()
        } else {
            0
        };
        for (k, &f) in self.slots.iter().enumerate().skip(first) {
            let read = !thin
                || self.thin_slots.get(k).copied().unwrap_or(true)
                || self.slot_dh.get(k).is_some_and(|&m| m != 0);
            if !read {
                continue;
            }
            let v = ev.get(f);
            self.hash_distinct(k, &v, &mut dh, &mut dh_set);
            let slot = match v {
                FieldValue::Str(s) => {
                    if thin && !self.thin_slots.get(k).copied().unwrap_or(true) {
                        continue;
                    }
                    let a = text.len();
                    text.push_str(&s);
                    Packed::range(TAG_STR, a, text.len())
                }
                FieldValue::Ip(IpAddr::V6(ip)) => {
                    if thin && !self.thin_slots.get(k).copied().unwrap_or(true) {
                        continue;
                    }
                    Packed::ip6_hex(&mut text, ip)
                }
                v => Packed::scalar(&v),
            };
            keep(&mut slots, k, slot);
        }
        if text.len() > stored {
            self.text_hint.fetch_max(text.len(), Ordering::Relaxed);
        }
        let mut row = Row {
            time: nanos(ev.time),
            origin: ev.origin,
            seq: 0,
            hash: 0,
            dh,
            dh_set,
            group_present,
            never: thin,
            text,
            key_len,
            slots,
        };
        row.hash = self.group_hasher.hash_one(row.key());
        row
    }

    /// Hashes value `v` of slot `k` into `dh` when it is one of the first `count_distinct`
    /// aggregates' (see [`Row::dh`]): from the event, so a thin row need not keep it.
    #[inline]
    fn hash_distinct(
        &self,
        k: usize,
        v: &FieldValue<'_>,
        dh: &mut [u64; DH_INLINE],
        dh_set: &mut u8,
    ) {
        let mask = self.slot_dh.get(k).copied().unwrap_or(0);
        if mask == 0 {
            return;
        }
        if let Some(h) = hash_value(&self.value_hasher, v) {
            for (j, d) in dh.iter_mut().enumerate() {
                if mask & (1 << j) != 0 {
                    *d = h;
                    *dh_set |= 1 << j;
                }
            }
        }
    }
}

/// The largest byte escaped in a group-by value of the key: the markers `\u{0}` (missing)
/// and `\u{1}` (present), and the escape itself.
const KEY_ESCAPE: u8 = 2;

/// Writes `s` into a key with each byte up to [`KEY_ESCAPE`] as `\u{2}` and a digit, so
/// that no value but the last can hold a marker. Injective, and it keeps the keys' byte
/// order the order of their tuples (alerts are sorted by key): an escaped byte sorts after
/// a marker (the value ending there) and before any byte above it, as the original did.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match u8::try_from(c) {
            Ok(b) if b <= KEY_ESCAPE => {
                out.push('\u{2}');
                out.push(char::from(b'0' + b));
            }
            _ => out.push(c),
        }
    }
}

fn push_text(out: &mut String, v: &FieldValue<'_>) {
    use std::fmt::Write;
    let _ = match v {
        FieldValue::Missing => Ok(()),
        FieldValue::Str(s) => {
            out.push_str(s);
            Ok(())
        }
        FieldValue::Int(i) => write!(out, "{i}"),
        FieldValue::Ip(ip) => write!(out, "{ip}"),
        FieldValue::Time(t) => write!(out, "{t}"),
    };
}

/// A [`V`] as a row stores it: 16 bytes, not an `Option<V>`'s 24 (an address is 17 bytes),
/// so a full row's slot list (18 slots for the seed rule) spans 5 cache lines, not 7: that
/// list is written on a worker thread into freshly allocated memory and freed on the
/// engine's, and its first writes were a third of the stateless stage's cost.
///
/// `a` holds the tag in its top byte and, for values in the row's text, their start below;
/// `b` the value or the end. An IPv6 address (16 bytes) lives in the row's text: as the
/// key's text of it when it is a group-by value (already there), else as 32 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Packed {
    a: u64,
    b: u64,
}

const TAG_SHIFT: u32 = 56;
const POS_MASK: u64 = (1 << TAG_SHIFT) - 1;
const TAG_MISSING: u64 = 0;
const TAG_STR: u64 = 1;
const TAG_INT: u64 = 2;
const TAG_IP4: u64 = 3;
const TAG_IP6_TEXT: u64 = 4;
const TAG_IP6_HEX: u64 = 5;
const TAG_TIME: u64 = 6;

impl Packed {
    pub const MISSING: Packed = Packed { a: 0, b: 0 };

    /// A value at `start..end` of the row's text. (A start past 2^56 cannot occur, the
    /// address space is smaller; it would read as missing, never panic.)
    fn range(tag: u64, start: usize, end: usize) -> Packed {
        match (u64::try_from(start), u64::try_from(end)) {
            (Ok(a), Ok(b)) if a <= POS_MASK => Packed {
                a: (tag << TAG_SHIFT) | a,
                b,
            },
            _ => Packed::MISSING,
        }
    }

    /// A value held in place (not a string, not an IPv6 address).
    #[inline]
    fn scalar(v: &FieldValue<'_>) -> Packed {
        let (tag, b) = match v {
            FieldValue::Int(i) => (TAG_INT, *i as u64),
            FieldValue::Time(t) => (TAG_TIME, nanos(*t) as u64),
            FieldValue::Ip(IpAddr::V4(ip)) => (TAG_IP4, u64::from(ip.to_bits())),
            FieldValue::Missing | FieldValue::Str(_) | FieldValue::Ip(IpAddr::V6(_)) => {
                return Packed::MISSING;
            }
        };
        Packed {
            a: tag << TAG_SHIFT,
            b,
        }
    }

    /// An IPv6 address appended to `text` as 32 hex digits (cheaper both ways than its
    /// display form; only ever read back by [`Packed::get`]).
    fn ip6_hex(text: &mut String, ip: Ipv6Addr) -> Packed {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = ip.to_bits();
        let mut buf = [b'0'; 32];
        for (i, d) in buf.iter_mut().enumerate() {
            let nibble = (n >> (124 - 4 * i)) & 0xf;
            *d = HEX.get(nibble as usize).copied().unwrap_or(b'0');
        }
        let a = text.len();
        text.push_str(std::str::from_utf8(&buf).unwrap_or(""));
        Packed::range(TAG_IP6_HEX, a, text.len())
    }

    /// The value, reading strings' and IPv6 addresses' text from `text` (the row's).
    #[inline]
    pub fn get(self, text: &str) -> Option<V> {
        let start = (self.a & POS_MASK) as usize;
        let end = self.b as usize;
        match self.a >> TAG_SHIFT {
            TAG_STR => Some(V::Str(start, end)),
            TAG_INT => Some(V::Int(self.b as i64)),
            TAG_TIME => Some(V::Time(self.b as i64)),
            TAG_IP4 => Some(V::Ip(IpAddr::V4(Ipv4Addr::from_bits(self.b as u32)))),
            TAG_IP6_TEXT => text
                .get(start..end)
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .map(|ip| V::Ip(IpAddr::V6(ip))),
            TAG_IP6_HEX => text
                .as_bytes()
                .get(start..end)
                .and_then(unhex)
                .map(|n| V::Ip(IpAddr::V6(Ipv6Addr::from_bits(n)))),
            _ => None,
        }
    }

    pub fn is_missing(self) -> bool {
        self.a >> TAG_SHIFT == TAG_MISSING
    }

    /// A test row's value (strings and IPv6 addresses appended to `text`).
    #[cfg(test)]
    pub fn of_test(text: &mut String, b: B<'_>) -> Packed {
        match b {
            B::Str(s) => {
                let a = text.len();
                text.push_str(s);
                Packed::range(TAG_STR, a, text.len())
            }
            B::Int(n) => Packed::scalar(&FieldValue::Int(n)),
            B::Time(t) => Packed::scalar(&FieldValue::Time(crate::time::timestamp(t))),
            B::Ip(IpAddr::V6(ip)) => Packed::ip6_hex(text, ip),
            B::Ip(ip) => Packed::scalar(&FieldValue::Ip(ip)),
        }
    }
}

/// The 32 lower-case hex digits [`Packed::ip6_hex`] writes, read back.
fn unhex(s: &[u8]) -> Option<u128> {
    if s.len() != 32 {
        return None;
    }
    let mut n = 0u128;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(d);
    }
    Some(n)
}

/// What one event contributes to one rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Row {
    pub time: i64,
    pub origin: Origin,
    /// Arrival order, set by the stateful stage (ties broken by origin first).
    pub seq: u64,
    /// Hash of the group key (the rule's seeded hasher), made in the parallel stage so the
    /// stateful stage's group lookups hash nothing.
    pub hash: u64,
    /// Hashes of the first `count_distinct` aggregates' values (`hash_slot`), bit `k` of
    /// `dh_set` set when the `k`-th has a value.
    pub dh: [u64; DH_INLINE],
    pub dh_set: u8,
    /// Bit `g` set when group-by value `g` (below 8) is present: what a `count_distinct`
    /// of a group-by field reads, without reading the slots (made on another thread: the
    /// engine's first touch of them is a cache miss). A byte, like `never`: both fit in the
    /// row's padding.
    pub group_present: u8,
    /// The row's group never alerts (`CompiledRule::never_alerts`; set for rows of a
    /// tumbling rule that is not explained, which are then thin).
    pub never: bool,
    /// Group key (first `key_len` bytes), then the slots' strings.
    pub text: String,
    pub key_len: usize,
    pub slots: Vec<Packed>,
}

impl Row {
    pub fn key(&self) -> &str {
        self.text.get(..self.key_len).unwrap_or("")
    }

    /// Slot `i`'s value (strings as ranges of the row's text).
    pub fn slot(&self, i: usize) -> Option<V> {
        self.slots.get(i).and_then(|p| p.get(&self.text))
    }

    /// Slot `i`'s value, read back.
    pub fn value(&self, i: usize) -> Option<B<'_>> {
        self.slot(i).map(|v| view(&self.text, v))
    }

    /// Bytes the row holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.slots.capacity() * size_of::<Packed>()
    }

    /// Slot `i` holds a value (without decoding it).
    #[inline]
    pub fn present(&self, i: usize) -> bool {
        self.slots.get(i).is_some_and(|p| !p.is_missing())
    }

    /// The hash of the `k`-th `count_distinct` aggregate's value (reading `slot`), `None`
    /// when missing: precomputed for the first [`DH_INLINE`].
    #[inline(always)]
    pub fn distinct_hash(&self, hs: &ValueHasher, k: usize, slot: usize) -> Option<u64> {
        if k < DH_INLINE {
            if self.dh_set & (1 << k) != 0 {
                return self.dh.get(k).copied();
            }
            return None;
        }
        hash_slot(hs, self, slot)
    }

    /// Order of events independent of arrival: time, then where they were read.
    pub fn order_key(&self) -> OrderKey {
        (self.time, self.origin.source, self.origin.line, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use kvsentry_model::{Field, Timestamp};

    use super::*;
    use crate::kinds::threshold::plan::tests::{grouped_rule, upn_rule};
    use crate::time::nanos;

    /// A slot reading a group-by string field refers to the key's copy: the row's text holds
    /// the UPN once.
    #[test]
    fn group_value_slots_refer_to_the_key() {
        let rule = upn_rule(
            "    who: { values: identity.upn }
    n: { count_distinct: identity.upn }
    ops: { values: operation }",
            "n >= 1",
        );
        let mut ev = AuditEvent::new(
            "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap(),
            "AuditEvent".into(),
            "SecretGet".into(),
        );
        ev.identity.upn = Some("alice@contoso.com".into());
        let row = rule.row(&ev, false);
        assert_eq!(row.text, "\u{1}alice@contoso.comSecretGet");
        assert_eq!(row.key(), "\u{1}alice@contoso.com");
        // The UPN is present (read by the count_distinct of it without the slots).
        assert_eq!(row.group_present, 1);
        assert!(!row.never);
        // Then the default entities' and evidence's fields, missing here.
        assert_eq!(rule.slots.len(), 7);
        assert_eq!(rule.slots[..2], [Field::IdentityUpn, Field::Operation]);
        let mut want = vec![Some(V::Str(1, 18)), Some(V::Str(18, 27))];
        want.resize(7, None);
        assert_eq!(row.slots.len(), 7);
        assert_eq!((0..7).map(|i| row.slot(i)).collect::<Vec<_>>(), want);
        // The count_distinct of the group-by field is not hashed (every event of a group
        // has the group's value).
        assert_eq!(rule.group_distinct, vec![false, true, false]);
        assert!(rule.distinct_slots.is_empty());
        assert_eq!(row.dh_set, 0);
    }
    /// Group-by values holding the key's marker bytes cannot make two tuples share a key,
    /// keys sort as their tuples do, and the slots read the values back unescaped.
    #[test]
    fn group_keys_escape_marker_bytes_in_values() {
        let event = |upn: Option<&'static str>, desc: &'static str| {
            let mut ev = AuditEvent::new(
                "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap(),
                "AuditEvent".into(),
                "SecretGet".into(),
            );
            ev.identity.upn = upn.map(Into::into);
            ev.result_description = Some(desc.into());
            ev
        };
        let text = |row: &Row, i: usize| match row.slot(i) {
            Some(V::Str(a, b)) => row.text[a..b].to_string(),
            other => panic!("slot {i}: {other:?}"),
        };
        let two = grouped_rule(
            "result.description, identity.upn",
            "    n: { count_distinct: identity.upn }",
            "n >= 1",
        );
        // Tuples in their order; with raw values, the first and fourth spelt one key.
        let tuples = [
            ("a", "b\u{1}c"),
            ("a\u{0}", "z"),
            ("a\u{1}", "b"),
            ("a\u{1}b", "c"),
            ("a\u{2}", "a"),
            ("a\u{3}", "a"),
            ("ab", "a"),
        ];
        let rows: Vec<Row> = tuples
            .iter()
            .map(|&(desc, upn)| two.row(&event(Some(upn), desc), true))
            .collect();
        for (row, &(desc, upn)) in rows.iter().zip(&tuples) {
            assert_eq!(
                (text(row, 0), text(row, 1)),
                (desc.to_string(), upn.to_string())
            );
        }
        for pair in rows.windows(2) {
            assert!(
                pair[0].key() < pair[1].key(),
                "{:?} {:?}",
                pair[0].key(),
                pair[1].key()
            );
        }
        assert_eq!(rows[3].key(), "\u{1}a\u{2}1b\u{1}c");
        // The last value needs no escape: nothing follows it.
        assert_eq!(rows[0].key(), "\u{1}a\u{1}b\u{1}c");
        // A thin row (its UPN missing) keeps the escaped key, and the plain value when the
        // condition reads it (here the presence of the description).
        let thin = two.row(&event(None, "x\u{0}"), false);
        assert!(thin.never);
        assert_eq!(thin.key(), "\u{1}x\u{2}0\u{0}");
        assert!(thin.slots.is_empty());
        let reads = grouped_rule(
            "result.description, identity.upn",
            "    n: { count_distinct: identity.upn }\n    descs: { count_distinct: result.description }",
            "n >= 1 and descs >= 1",
        );
        assert!(reads.thin_slots[0]);
        let thin = reads.row(&event(None, "x\u{0}"), false);
        assert!(thin.never);
        assert_eq!(thin.key(), "\u{1}x\u{2}0\u{0}");
        assert_eq!(text(&thin, 0), "x\u{0}");
    }

    fn thin_rule(extra: &str) -> CompiledRule {
        upn_rule(
            &format!(
                "    who: {{ count_distinct: identity.upn }}
    ops: {{ count_distinct: operation }}
    vaults: {{ count_distinct: vault.name }}
    names: {{ values: operation }}
{extra}"
            ),
            "who == 1 and ops >= 2",
        )
    }

    fn event_without_upn() -> AuditEvent<'static> {
        let mut ev = AuditEvent::new(
            "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap(),
            "AuditEvent".into(),
            "SecretGet".into(),
        );
        ev.http_status = Some(403);
        ev.caller_ip = kvsentry_model::CallerIp::parse("104.40.82.76".into());
        ev
    }

    /// A row of a group that never alerts keeps only its key: its `count_distinct` values
    /// are hashed from the event (the same hashes as a full row's), and no slot is kept, so
    /// its slots allocate nothing.
    #[test]
    fn a_thin_row_keeps_no_slots_and_the_same_hashes() {
        let rule = thin_rule("");
        assert_eq!(rule.hopeless_if_missing, vec![0]);
        // The UPN's count_distinct is the group's (a presence, read from the slot); the
        // operation and vault name are hashed in the parallel stage.
        assert_eq!(
            rule.slots[..3],
            [Field::IdentityUpn, Field::Operation, Field::VaultName]
        );
        assert_eq!(rule.thin_slots[..3], [true, false, false]);
        assert_eq!(rule.slot_dh[..3], [0, 1, 2]);
        let ev = event_without_upn();
        // As after long full rows: a thin row is sized for its key, not for them.
        rule.text_hint.store(500, Ordering::Relaxed);
        let thin = rule.row(&ev, false);
        assert_eq!(thin.text, "\u{0}");
        assert!(thin.text.capacity() < 16);
        assert!(rule.row(&ev, true).text.capacity() >= 500);
        assert!(thin.slots.is_empty());
        assert_eq!(thin.slots.capacity(), 0);
        assert!(rule.never_alerts(&thin));
        assert!(thin.never);
        assert_eq!(thin.group_present, 0);
        // Explained: the full row.
        let full = rule.row(&ev, true);
        assert!(rule.never_alerts(&full));
        assert!(!full.never);
        assert_eq!(full.slots.len(), rule.slots.len());
        assert_eq!(full.slot(1), Some(V::Str(1, 10)));
        assert_eq!(thin.dh_set, 0b01);
        assert_eq!(full.dh_set, 0b01);
        assert_eq!(thin.dh, full.dh);
        assert_eq!(Some(thin.dh[0]), hash_slot(&rule.value_hasher, &full, 1));
        assert_eq!(thin.hash, full.hash);
        // With a vault name, both hashes.
        let mut ev = ev;
        ev.vault.name = Some("kv1".into());
        let (thin, full) = (rule.row(&ev, false), rule.row(&ev, true));
        assert_eq!((thin.dh_set, full.dh_set), (0b11, 0b11));
        assert_eq!(thin.dh, full.dh);
        assert!(thin.slots.is_empty());
    }

    /// A thin row keeps a value the condition reads from the row (here a `max`) at its
    /// index, the missing ones before it filled in.
    #[test]
    fn a_thin_row_keeps_what_the_condition_reads_at_its_index() {
        let rule = thin_rule("    top: { max: http.status }");
        let k = rule
            .slots
            .iter()
            .position(|&f| f == Field::HttpStatus)
            .unwrap();
        assert!(rule.thin_slots[k]);
        let row = rule.row(&event_without_upn(), false);
        assert_eq!(row.slots.len(), k + 1);
        assert_eq!(row.slot(k), Some(V::Int(403)));
        assert!((0..k).all(|i| row.slot(i).is_none()));
        assert_eq!(row.text, "\u{0}");
    }

    /// Every kind of value reads back as stored from a 16-byte slot: an IPv6 address
    /// from the key's text of it (a group-by value) or from hex digits after the key (any
    /// other slot), an IPv4 address, a number and a time in place.
    #[test]
    fn packed_slots_read_back_every_kind() {
        assert_eq!(std::mem::size_of::<Packed>(), 16);
        let yaml = r#"
id: ip6
name: ip6
kind: threshold
detection:
  filter: { field: category, equals: AuditEvent }
  window: { type: tumbling, size: 1m }
  group_by: [caller.ip]
  aggregates:
    ips: { values: caller.ip }
    top: { max: http.status }
    when: { min: time }
    ops: { values: operation }
  condition: "top >= 1"
  entities: { ip: caller.ip }
"#;
        let set = kvsentry_rules::RuleSet::from_yaml_str(yaml, "ip6.yml").unwrap();
        let rule = CompiledRule::new(set.enabled().next().unwrap()).unwrap();
        let time = "2026-01-05T10:00:00Z".parse::<Timestamp>().unwrap();
        let mut ev = AuditEvent::new(time, "AuditEvent".into(), "SecretGet".into());
        ev.http_status = Some(403);
        let v6 = "2a01:111:f400::1:ffff:abcd".parse::<IpAddr>().unwrap();
        ev.caller_ip = kvsentry_model::CallerIp::parse("2a01:111:f400::1:ffff:abcd".into());
        let row = rule.row(&ev, false);
        assert_eq!(row.key(), "\u{1}2a01:111:f400::1:ffff:abcd");
        let ip = rule
            .slots
            .iter()
            .position(|&f| f == Field::CallerIp)
            .unwrap();
        assert_eq!(ip, 0);
        assert_eq!(row.slot(0), Some(V::Ip(v6)));
        let status = rule
            .slots
            .iter()
            .position(|&f| f == Field::HttpStatus)
            .unwrap();
        assert_eq!(row.slot(status), Some(V::Int(403)));
        let t = rule.slots.iter().position(|&f| f == Field::Time).unwrap();
        assert_eq!(row.slot(t), Some(V::Time(nanos(time))));
        assert!(row.present(t));
        // Not a group-by field: the address is kept as hex digits.
        let mut text = String::from("x");
        let p = Packed::ip6_hex(&mut text, "2001:db8::1".parse().unwrap());
        assert_eq!(text, "x20010db8000000000000000000000001");
        assert_eq!(p.get(&text), Some(V::Ip("2001:db8::1".parse().unwrap())));
        // A range outside the text (never made) or damaged digits read as missing,
        // without a panic.
        assert_eq!(p.get("x"), None);
        assert_eq!(p.get("x20010db800000000000000000000000g"), None);
        assert_eq!(p.get("x20010DB8000000000000000000000001"), None);
        assert_eq!(unhex(b"ff"), None);
        assert_eq!(unhex(&[b'f'; 32]), Some(u128::MAX));
        let p4 = Packed::scalar(&FieldValue::Ip("104.40.82.76".parse().unwrap()));
        assert_eq!(p4.get(""), Some(V::Ip("104.40.82.76".parse().unwrap())));
        let neg = Packed::scalar(&FieldValue::Int(-7));
        assert_eq!(neg.get(""), Some(V::Int(-7)));
        assert!(Packed::MISSING.is_missing());
        assert_eq!(Packed::MISSING.get("abc"), None);
        assert!(!row.present(rule.slots.len()));
    }
}
