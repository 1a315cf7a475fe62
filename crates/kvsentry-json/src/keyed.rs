//! The keyed walk ([`walk_keyed`]): a record read key by key into a mapping ([`KeyMap`]),
//! without paths, with the keys of the records before remembered ([`KeyCache`]).

use std::borrow::Cow;

use crate::bytes::{eq_bytes, word_at};
use crate::leaf::Leaf;
use crate::path::is_uri_claim;
use crate::scan::{FAST_MAX_DEPTH, Scan, Undecided};

/// What a key means to a mapping at its level of a record: the keyed walk
/// ([`walk_keyed`]) asks this for every key instead of building its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<L, F> {
    /// A scalar or array here goes to field `F`; nothing under an object here is read.
    Field(F),
    /// As `Field`, but an object here would need the path: the keyed walk gives up.
    FieldFlat(F),
    /// Nothing reads a scalar here; an object here is read at level `L`.
    Enter(L),
    /// A scalar or array goes to field `F`, an object is read at level `L`.
    Both(F, L),
    /// Every key here, with the keys of objects under it joined by `.`, is a claim key. A
    /// scalar or array right here goes to field `F` (the claim as decided from this key); the
    /// keys under an object here go to [`KeyMap::claim`].
    Claim(F),
    /// Nothing here or under it is read (the value is still checked).
    Ignore,
    /// The key alone does not say (dotted or empty keys, which the path spelling merges
    /// with other paths): the keyed walk gives up and the path walk decides.
    Unsure,
}

/// A key as [`KeyMap::role`] sees it: its text, and where it lies in the record (with at
/// least 24 bytes from its start), so that [`Key::words`] need not copy it.
pub struct Key<'k> {
    pub text: &'k str,
    src: Option<&'k [u8]>,
}

impl<'k> Key<'k> {
    pub fn new(text: &'k str) -> Self {
        Key { text, src: None }
    }

    /// The key's first 24 bytes as little-endian words, zeros past its end (for word-wise
    /// name comparison). Computed on demand: not every level compares names.
    #[inline(always)]
    pub fn words(&self) -> [u64; 3] {
        match self.src {
            Some(src) => words_of(src, self.text.len()),
            None => key_words(self.text.as_bytes()),
        }
    }
}

/// The first 24 bytes of `k` as three little-endian words, zeros past its end.
pub fn key_words(k: &[u8]) -> [u64; 3] {
    let mut buf = [0u8; 24];
    let n = k.len().min(24);
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), k.get(..n)) {
        dst.copy_from_slice(src);
    }
    words_of(&buf, 24)
}

/// The first `n` bytes of `src` (24 long) as three little-endian words, zeros past `n`.
#[inline(always)]
fn words_of(src: &[u8], n: usize) -> [u64; 3] {
    let w = |i: usize| {
        let mut b = [0u8; 8];
        if let Some(h) = src.get(i * 8..i * 8 + 8) {
            b.copy_from_slice(h);
        }
        // The bytes of this word that belong to the key: all, some, or none (a shift by 64
        // is no shift: `checked_shr` gives 0 for it).
        let keep = n.saturating_sub(i * 8).min(8) as u32;
        let mask = u64::MAX.checked_shr(64 - keep * 8).unwrap_or(0);
        u64::from_le_bytes(b) & mask
    };
    [w(0), w(1), w(2)]
}

/// A mapping that can be driven key by key (see [`walk_keyed`]).
pub trait KeyMap<'de> {
    type Level: Copy;
    type Field: Copy;
    /// The level of the record's top object.
    const TOP: Self::Level;
    /// A small number (below 8) for each level, to index [`KeyCache`].
    fn level_index(level: Self::Level) -> usize;
    /// What `key` (in the record's own spelling, any case) means at `level`.
    fn role(level: Self::Level, key: &Key<'_>) -> Role<Self::Level, Self::Field>;
    /// Whether [`KeyMap::field`] reads its `key` for field `f`; when not, the keyed walk
    /// hands over `""` instead of making the key's text.
    fn reads_key(f: Self::Field) -> bool;
    /// A value for field `f`, found under `key`.
    fn field(&mut self, f: Self::Field, key: &str, v: Leaf<'de>);
    /// Exactly `field(f, key, Leaf::Str(Cow::Borrowed(v)))`: a string without escapes, the
    /// common value, handed over as a plain `&str` (two registers). Why: a `Leaf` written
    /// to the stack a word at a time and read back sixteen bytes at a time stalled the
    /// walk on every value (store forwarding; the two loads were 16% of its time in perf).
    #[inline(always)]
    fn field_str(&mut self, f: Self::Field, key: &str, v: &'de str) {
        self.field(f, key, Leaf::Str(Cow::Borrowed(v)))
    }
    /// Exactly `field(f, key, Leaf::U64(n))`: a plain number, read by the walk inline,
    /// handed over in a register (a mapping may store it without its general dispatch).
    #[inline(always)]
    fn field_u64(&mut self, f: Self::Field, key: &str, n: u64) {
        self.field(f, key, Leaf::U64(n))
    }
    /// A value under a claim key (its keys below the claim object, joined by `.`).
    fn claim(&mut self, key: &str, v: Leaf<'de>);
}

/// Reads a record that is a JSON object into `m`, with the same result as [`walk_fast`](crate::walk_fast)
/// with the path mapping `m` stands for, but without building paths: each key is matched
/// as it is read, at its level, and values nothing reads are checked and dropped. Gives up
/// ([`Undecided`]) where [`walk_fast`](crate::walk_fast) does, and also where the path spelling matters
/// ([`Role::Unsure`]): the caller then starts again from a clean mapping with the path walk.
/// `claim` is a buffer for claim keys under nested objects (Managed HSM), reused; `cache`
/// holds the keys of the records read before (see [`KeyCache`]).
pub fn walk_keyed<'de, M: KeyMap<'de>>(
    text: &'de str,
    m: &mut M,
    claim: &mut String,
    cache: &mut KeyCache<M::Level, M::Field>,
) -> Result<(), Undecided> {
    let mut w = Keyed {
        sc: Scan::new(text),
        m,
        claim,
        cache,
    };
    w.sc.open_top()?;
    w.object(M::TOP, 1)?;
    w.sc.close_top()
}

/// Members per object whose keys [`KeyCache`] remembers.
const CACHED_MEMBERS: usize = 32;

/// Keys remembered per place: a log mixes a few kinds of record (a user's token has other
/// claims than an application's), so one place sees a few keys in turn.
const WAYS: usize = 4;

/// The keys met at each level and position of the records read before, each as the exact
/// bytes `"key":` with its role (`WAYS` per place, the newest first). A log's records
/// repeat their keys in the same order, so the key at a position is most likely one met there
/// before: when the text at hand starts with those bytes, the key and its role are known
/// without scanning or looking it up. Exact: those bytes were read as a key without escapes
/// before, and a role depends only on the level and the key's text.
pub struct KeyCache<L, F> {
    slots: Vec<CachedKey<L, F>>,
}

/// One remembered key: `"key":` and its role (`None`: nothing remembered yet), with its
/// first eight bytes as a word (`head`, zeros past its end) and the mask of those bytes, so
/// that most keys are told apart (and short ones matched) by one compare.
struct CachedKey<L, F> {
    head: u64,
    mask: u64,
    /// The last eight bytes of `"key":` as a word, for one of 9 to 16 bytes: with `head`,
    /// two compares match it whole (most of a record's keys are that long).
    tail: u64,
    quoted: Vec<u8>,
    role: Option<Role<L, F>>,
    /// What a scalar value under this key does, decided from `role` when remembered.
    step: Step<F>,
}

/// What the keyed walk does with a member's scalar (or array) value: its role with
/// [`KeyMap::reads_key`] already asked, flattened to a one-byte tag (`repr(u8)`). Why:
/// decoding the nested `Role` (niche-packed around the field's own enum) and asking
/// `reads_key` for every member were ~20 instructions a member; a remembered key now
/// carries its step, one byte compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Step<F> {
    /// To field `F`, which does not read the key (`""` is handed over).
    Field(F),
    /// To field `F`, with the key's text.
    FieldKey(F),
    /// Checked and dropped (nothing reads a scalar here).
    Skip,
    /// The keyed walk gives up ([`Role::Unsure`]).
    GiveUp,
}

/// The [`Step`] of a key of role `role`: exactly the scalar half of `Keyed::object`'s
/// former `match role`.
#[inline(always)]
fn step_of<'de, M: KeyMap<'de>>(role: Role<M::Level, M::Field>) -> Step<M::Field> {
    match role {
        Role::Field(f) | Role::FieldFlat(f) | Role::Both(f, _) | Role::Claim(f) => {
            if M::reads_key(f) {
                Step::FieldKey(f)
            } else {
                Step::Field(f)
            }
        }
        Role::Enter(_) | Role::Ignore => Step::Skip,
        Role::Unsure => Step::GiveUp,
    }
}

impl<L, F> Default for KeyCache<L, F> {
    fn default() -> Self {
        KeyCache { slots: Vec::new() }
    }
}

impl<L: Copy, F: Copy> KeyCache<L, F> {
    /// The remembered keys of member `member` at level number `level`, newest first.
    #[inline]
    fn ways(&self, level: usize, member: usize) -> &[CachedKey<L, F>] {
        if member >= CACHED_MEMBERS {
            return &[];
        }
        let at = (level * CACHED_MEMBERS + member) * WAYS;
        self.slots.get(at..at + WAYS).unwrap_or(&[])
    }

    /// Remembers `quoted` (`"key":`) with its role at `level`, `member`, as the newest.
    #[cold]
    fn put(&mut self, level: usize, member: usize, quoted: &[u8], role: Role<L, F>, step: Step<F>) {
        // `"":` at least: a mask of at least one byte (an empty one would match anything).
        if member >= CACHED_MEMBERS || quoted.len() < 3 {
            return;
        }
        let at = (level * CACHED_MEMBERS + member) * WAYS;
        if self.slots.len() < at + WAYS {
            self.slots.resize_with(at + WAYS, || CachedKey {
                head: 0,
                mask: 0,
                tail: 0,
                quoted: Vec::new(),
                role: None,
                step: Step::GiveUp,
            });
        }
        if let Some(ways) = self.slots.get_mut(at..at + WAYS) {
            // The oldest way's buffer becomes the newest's.
            ways.rotate_right(1);
            if let Some(slot) = ways.first_mut() {
                let n = quoted.len().min(8);
                let mut w = [0u8; 8];
                if let (Some(d), Some(src)) = (w.get_mut(..n), quoted.get(..n)) {
                    d.copy_from_slice(src);
                }
                slot.head = u64::from_le_bytes(w);
                slot.mask = u64::MAX >> (64 - 8 * n as u32);
                slot.tail = quoted
                    .len()
                    .checked_sub(8)
                    .and_then(|t| word_at(quoted, t))
                    .unwrap_or(0);
                slot.quoted.clear();
                slot.quoted.extend_from_slice(quoted);
                slot.role = Some(role);
                slot.step = step;
            }
        }
    }
}

/// A member's key, what it means, and what its scalar value does.
type KeyAndRole<'de, M> = (
    KeyText<'de>,
    Role<<M as KeyMap<'de>>::Level, <M as KeyMap<'de>>::Field>,
    Step<<M as KeyMap<'de>>::Field>,
);

/// A member's key: where it lies in the text (a remembered key, without escapes), or as it
/// was read. The text of a remembered key is sliced only when a field reads it.
enum KeyText<'de> {
    Span(usize, usize),
    Read(Cow<'de, str>),
}

impl<'de> KeyText<'de> {
    #[inline(always)]
    fn text<'k>(&'k self, s: &'de str) -> Result<&'k str, Undecided> {
        match self {
            KeyText::Span(a, b) => s.get(*a..*b).ok_or(Undecided),
            KeyText::Read(k) => Ok(k),
        }
    }
}

struct Keyed<'de, 'p, M: KeyMap<'de>> {
    sc: Scan<'de>,
    m: &'p mut M,
    claim: &'p mut String,
    cache: &'p mut KeyCache<M::Level, M::Field>,
}

impl<'de, M: KeyMap<'de>> Keyed<'de, '_, M> {
    /// The members of an object at `level`, after its `{`.
    fn object(&mut self, level: M::Level, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        let lv = M::level_index(level);
        let mut member = 0usize;
        loop {
            let (key, role, step) = self.key_role(level, lv, member)?;
            member += 1;
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                match role {
                    Role::Enter(l) | Role::Both(_, l) => self.object(l, depth + 1)?,
                    Role::Field(_) | Role::Ignore => self.skip_object(depth + 1)?,
                    Role::Claim(f) => {
                        let k = key.text(self.sc.s)?;
                        if is_uri_claim(k) {
                            self.claim.clear();
                            self.claim.push_str(k);
                            self.claims(depth + 1)?;
                        } else {
                            // A claim whose value is an object (see `claim_value_object`).
                            self.sc.pos -= 1;
                            let v = self.sc.json_value_text()?;
                            self.m.field(f, k, Leaf::Json(v));
                        }
                    }
                    Role::FieldFlat(_) | Role::Unsure => return Err(Undecided),
                }
            } else {
                let (f, reads_key) = match step {
                    Step::Field(f) => (f, false),
                    Step::FieldKey(f) => (f, true),
                    Step::Skip => {
                        self.sc.skip_scalar(depth)?;
                        if !self.sc.next_member()? {
                            return Ok(());
                        }
                        continue;
                    }
                    Step::GiveUp => return Err(Undecided),
                };
                // The key text is made only for the fields that read it.
                let k = if reads_key { key.text(self.sc.s)? } else { "" };
                if self.sc.peek() == Some(b'"') {
                    // `Scan::scalar`'s string, read here so that a plain one reaches the
                    // field as a `&str` (see `KeyMap::field_str`).
                    self.sc.pos += 1;
                    let start = self.sc.pos;
                    let (end, escaped) = self.sc.scan_string()?;
                    if escaped {
                        let v = Leaf::Str(Cow::Owned(self.sc.unescape(start, end)?));
                        self.m.field(f, k, v);
                    } else {
                        let v = self.sc.s.get(start..end).ok_or(Undecided)?;
                        self.m.field_str(f, k, v);
                    }
                } else if let Some(n) = self.sc.plain_u64() {
                    // A plain number (`httpStatusCode`), read inline: what `Scan::scalar`
                    // makes of it, `Leaf::U64(n)`, without the call (see `KeyMap::field_u64`).
                    self.m.field_u64(f, k, n);
                } else {
                    let v = self.sc.scalar(depth, true)?;
                    self.m.field(f, k, v);
                }
            }
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }

    /// The next member's key and its role: from [`KeyCache`] when the text repeats the key
    /// remembered at this place, else read and looked up (and remembered).
    #[inline(always)]
    fn key_role(
        &mut self,
        level: M::Level,
        lv: usize,
        member: usize,
    ) -> Result<KeyAndRole<'de, M>, Undecided> {
        let pos = self.sc.pos;
        // The next eight bytes (a key needs at least four: `"":`, then a value), or none
        // near the end of the text, where the keys are read the long way.
        let text_head = self.sc.b.get(pos..pos + 8).map_or(0, |h| {
            let mut w = [0u8; 8];
            w.copy_from_slice(h);
            u64::from_le_bytes(w)
        });
        for way in self.cache.ways(lv, member) {
            let CachedKey {
                head,
                mask,
                tail,
                quoted,
                role: Some(role),
                step,
            } = way
            else {
                continue;
            };
            if text_head & mask != *head {
                continue;
            }
            let n = quoted.len();
            // Up to 16 bytes, the first eight (`head`) and the last eight cover them all.
            let same = if n <= 8 {
                true
            } else if n <= 16 {
                word_at(self.sc.b, pos + n - 8) == Some(*tail)
            } else {
                self.sc
                    .b
                    .get(pos..pos + n)
                    .is_some_and(|t| eq_bytes(t, quoted))
            };
            if same {
                // `"` key `"` `:`: the key lies between the quotes, ASCII-bounded.
                let (role, step) = (*role, *step);
                self.sc.pos = pos + n;
                self.sc.ws();
                return Ok((KeyText::Span(pos + 1, pos + n - 2), role, step));
            }
        }
        let (key, src) = self.sc.key_and_source()?;
        let role = M::role(level, &Key { text: &key, src });
        let step = step_of::<M>(role);
        if let Cow::Borrowed(k) = &key {
            // Only a key written exactly as `"key":` (no escapes, no space before the colon).
            let quoted = self.sc.b.get(pos..pos + k.len() + 3);
            if let Some(q) = quoted.filter(|q| q.first() == Some(&b'"') && q.ends_with(b"\":")) {
                self.cache.put(lv, member, q, role, step);
            }
        }
        Ok((KeyText::Read(key), role, step))
    }

    /// An object under a claim, after its `{`: its keys extend the claim key in
    /// `self.claim`.
    fn claims(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            let key = self.sc.key()?;
            let base = self.claim.len();
            self.claim.push('.');
            self.claim.push_str(&key);
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                self.claims(depth + 1)?;
            } else {
                let v = self.sc.scalar(depth, true)?;
                self.m.claim(self.claim, v);
            }
            self.claim.truncate(base);
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }

    /// Checks an object nothing reads, after its `{`, as closely as the walks that read it.
    fn skip_object(&mut self, depth: usize) -> Result<(), Undecided> {
        if depth > FAST_MAX_DEPTH {
            return Err(Undecided);
        }
        if self.sc.empty_object() {
            return Ok(());
        }
        loop {
            self.sc.skip_key()?;
            if self.sc.peek() == Some(b'{') {
                self.sc.pos += 1;
                self.skip_object(depth + 1)?;
            } else {
                self.sc.skip_scalar(depth)?;
            }
            if !self.sc.next_member()? {
                return Ok(());
            }
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A mapping with two levels and fields of which one reads its key, for [`step_of`].
    struct Probe;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Lv {
        Top,
        Inner,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fd {
        Plain(u8),
        ReadsKey,
    }

    impl<'de> KeyMap<'de> for Probe {
        type Level = Lv;
        type Field = Fd;
        const TOP: Lv = Lv::Top;
        fn level_index(level: Lv) -> usize {
            level as usize
        }
        fn role(_: Lv, _: &Key<'_>) -> Role<Lv, Fd> {
            Role::Unsure
        }
        fn reads_key(f: Fd) -> bool {
            f == Fd::ReadsKey
        }
        fn field(&mut self, _: Fd, _: &str, _: Leaf<'de>) {}
        fn claim(&mut self, _: &str, _: Leaf<'de>) {}
    }

    /// A step is exactly the scalar half of its role: the field (asking `reads_key`),
    /// skipped, or given up, for every kind of role.
    #[test]
    fn a_step_is_its_role_for_scalars() {
        use Fd as F;
        let cases = [
            (Role::Field(F::Plain(0)), Step::Field(F::Plain(0))),
            (Role::FieldFlat(F::Plain(1)), Step::Field(F::Plain(1))),
            (Role::FieldFlat(F::ReadsKey), Step::FieldKey(F::ReadsKey)),
            (Role::Both(F::Plain(2), Lv::Inner), Step::Field(F::Plain(2))),
            (Role::Claim(F::ReadsKey), Step::FieldKey(F::ReadsKey)),
            (Role::Claim(F::Plain(3)), Step::Field(F::Plain(3))),
            (Role::Enter(Lv::Inner), Step::Skip),
            (Role::Ignore, Step::Skip),
            (Role::Unsure, Step::GiveUp),
        ];
        for (role, step) in cases {
            assert_eq!(step_of::<Probe>(role), step, "{role:?}");
        }
    }

    /// Key words read from the text past the key are the key's own words.
    #[test]
    fn key_words_from_the_text_are_the_keys() {
        let text = "Time\"resultSignature\":x_identity_claim_upn_s_more_and_more_bytes";
        let b = text.as_bytes();
        for start in 0..20 {
            for end in start..start + 24 {
                let src = &b[start..start + 24];
                assert_eq!(
                    words_of(src, end - start),
                    key_words(&b[start..end]),
                    "{start} {end}"
                );
            }
        }
        let long = key_words(text.as_bytes());
        assert_eq!(long, words_of(&b[..24], 24));
        assert_eq!(key_words(b""), [0, 0, 0]);
    }
}
