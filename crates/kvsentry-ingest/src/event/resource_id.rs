//! Taking an Azure resource id apart (`/subscriptions/<s>/resourceGroups/<g>/providers/<ns>/<type>/<name>`)
//! into the event's vault, fast: every record carries one.

use std::borrow::Cow;

use kvsentry_model::{Str, Vault};

use crate::names::{N_PROVIDERS, N_RESOURCEGROUPS, N_SUBSCRIPTIONS, is_name};

/// The namespace after `/providers/` in a resource id, if any.
pub(crate) fn provider_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/').filter(|p| !p.is_empty());
    while let Some(seg) = parts.next() {
        if seg.eq_ignore_ascii_case("providers") {
            return parts.next();
        }
    }
    None
}

/// Segments of a resource id [`vault_of`] takes apart itself; longer ids take the slow way.
pub(crate) const MAX_SEGMENTS: usize = 16;

/// The positions of the `/` in a byte string, in order, found eight bytes at a time: a
/// resource id has eight or nine of them, a few bytes apart, where a `memchr` call per
/// segment cost more than its search (about 90 instructions each).
struct Slashes<'a> {
    b: &'a [u8],
    /// The start of the next word to read.
    next: usize,
    /// The start of the word `mask` was made from.
    word: usize,
    /// The high bit of each byte of that word that is a `/` and not yet given.
    mask: u64,
}

impl<'a> Slashes<'a> {
    fn new(b: &'a [u8]) -> Self {
        Slashes {
            b,
            next: 0,
            word: 0,
            mask: 0,
        }
    }
}

impl Iterator for Slashes<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        loop {
            if self.mask != 0 {
                let at = self.word + (self.mask.trailing_zeros() / 8) as usize;
                self.mask &= self.mask - 1;
                return Some(at);
            }
            let rest = self.b.get(self.next..).filter(|r| !r.is_empty())?;
            let w = match rest.first_chunk::<8>() {
                Some(w) => *w,
                None => {
                    let mut w = [0u8; 8];
                    for (d, &c) in w.iter_mut().zip(rest) {
                        *d = c;
                    }
                    w
                }
            };
            // Zero bytes of `t` are the slashes (padding zeros are not `/`); exact per byte,
            // no carry between bytes: (t & 0x7f) + 0x7f has its high bit set unless t's
            // low seven bits are zero.
            let t = u64::from_le_bytes(w) ^ (u64::from(b'/') * 0x0101_0101_0101_0101);
            self.mask = !(((t & LO7) + LO7) | t | LO7);
            self.word = self.next;
            self.next += 8;
        }
    }
}

/// [`Vault::from_resource_id`] and [`provider_of`] in one pass over the id (the two walked
/// it three times, a tenth of the cost of a record). Gives exactly what they give.
pub(crate) fn vault_of(id: &str) -> (Vault<'_>, Option<Str<'_>>) {
    let mut segs = [""; MAX_SEGMENTS];
    let mut n = 0usize;
    let mut start = 0usize;
    for end in Slashes::new(id.as_bytes()).chain(std::iter::once(id.len())) {
        // `start` and `end` are at a `/` or an end of the id: char boundaries.
        let seg = id.get(start..end).unwrap_or("");
        start = end + 1;
        if seg.is_empty() {
            continue;
        }
        match segs.get_mut(n) {
            Some(slot) => *slot = seg,
            None => {
                return (
                    Vault::from_resource_id(id),
                    provider_of(id).map(Cow::Borrowed),
                );
            }
        }
        n += 1;
    }
    let segs = &segs[..n];
    let mut v = Vault {
        resource_id: Some(Cow::Borrowed(id)),
        ..Vault::default()
    };
    let mut i = 0usize;
    while let Some(seg) = segs.get(i) {
        if is_name(seg, &N_SUBSCRIPTIONS) {
            v.subscription_id = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        } else if is_name(seg, &N_RESOURCEGROUPS) {
            v.resource_group = segs.get(i + 1).map(|s| Cow::Borrowed(*s));
            i += 1;
        }
        i += 1;
    }
    v.name = segs.last().map(|s| Cow::Borrowed(*s));
    v.resource_type = n
        .checked_sub(2)
        .and_then(|k| segs.get(k))
        .map(|s| Cow::Borrowed(*s));
    let provider = segs
        .iter()
        .position(|s| is_name(s, &N_PROVIDERS))
        .and_then(|k| segs.get(k + 1))
        .map(|s| Cow::Borrowed(*s));
    (v, provider)
}

/// The resource type in a provider spelled `MICROSOFT.KEYVAULT/VAULTS` (its last segment),
/// borrowed when the provider is.
pub(crate) fn provider_type<'a>(p: &Str<'a>) -> Option<Str<'a>> {
    fn last(p: &str) -> Option<&str> {
        let (_, t) = p.split_once('/')?;
        Some(t.rsplit('/').next().unwrap_or(t))
    }
    match p {
        Cow::Borrowed(s) => last(s).map(Cow::Borrowed),
        Cow::Owned(s) => last(s).map(|t| Cow::Owned(t.to_string())),
    }
}

/// True for a Managed HSM's resource type in the spellings Azure uses: `MANAGEDHSMS` (resource
/// ids, `ResourceType` columns), `managedHSMs` and `Microsoft.KeyVault/managedHSMs` (the
/// `resourceType` of Microsoft's example record, providers), `HSM`.
pub(crate) fn is_managed_hsm(resource_type: &str) -> bool {
    let t = resource_type
        .rsplit('/')
        .next()
        .unwrap_or(resource_type)
        .trim();
    ["managedhsms", "managedhsm", "hsm", "hsms"]
        .iter()
        .any(|n| t.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashes_are_memchr_iter() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let bytes = [b'/', b'a', b'.', 0x2f ^ 0x80, 0xaf, 0, 0x7f, b'Z'];
        for len in 0..70 {
            for _ in 0..50 {
                let v: Vec<u8> = (0..len).map(|_| bytes[(next() % 8) as usize]).collect();
                let want: Vec<usize> = memchr::memchr_iter(b'/', &v).collect();
                assert_eq!(Slashes::new(&v).collect::<Vec<_>>(), want, "{v:?}");
            }
        }
        let id = "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V";
        assert_eq!(
            Slashes::new(id.as_bytes()).collect::<Vec<_>>(),
            [0, 14, 16, 31, 33, 43, 62, 69]
        );
    }

    #[test]
    fn vault_of_matches_the_model() {
        let long = format!("/{}", "a/".repeat(MAX_SEGMENTS + 3));
        for id in [
            "/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/V",
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/managedHSMs/h/",
            "//subscriptions//s//x",
            "/subscriptions/providers/providers/X/resourcegroups",
            "/subscriptions",
            "providers",
            "/a/providers",
            "v",
            "",
            "///",
            "/SUBSCRIPTIONS/S/SUBSCRIPTIONS/T/RESOURCEGROUPS/é/PROVIDERS/P/PROVIDERS/Q",
            &long,
        ] {
            let (v, p) = vault_of(id);
            let want = Vault::from_resource_id(id);
            assert_eq!(
                serde_json::to_value(&v).unwrap(),
                serde_json::to_value(&want).unwrap(),
                "{id}"
            );
            assert_eq!(p.as_deref(), provider_of(id), "{id}");
        }
    }
}
