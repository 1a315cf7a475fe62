//! The field and resource names the mappings and `finish` compare keys with, in one place,
//! each as a [`Name`]: lower-case ASCII compared a word at a time in any case.

/// A lower-case ASCII name of at most 24 bytes, as three little-endian words, to compare
/// with a key's first 24 bytes ([`key_words`](kvsentry_json::key_words)) in a few word operations instead of byte by
/// byte: keys are compared with names for every member of every record.
pub(crate) struct Name {
    /// The name's length in bytes.
    pub(crate) len: usize,
    pub(crate) val: [u64; 3],
    /// `0x20` at the name's letters: a key's byte there may be either case.
    pub(crate) fold: [u64; 3],
    /// `0xff` at the name's bytes: what lies past it is not compared (see [`is_prefix`]).
    pub(crate) care: [u64; 3],
}

pub(crate) const fn name(s: &[u8]) -> Name {
    let mut n = Name {
        len: s.len(),
        val: [0; 3],
        fold: [0; 3],
        care: [0; 3],
    };
    let mut i = 0;
    while i < s.len() && i < 24 {
        let c = s[i];
        let shift = (i % 8) * 8;
        n.val[i / 8] |= (c as u64) << shift;
        n.care[i / 8] |= 0xff << shift;
        if c.is_ascii_lowercase() {
            n.fold[i / 8] |= 0x20 << shift;
        }
        i += 1;
    }
    n
}

pub(crate) const N__SUBSCRIPTIONID: Name = name(b"_subscriptionid");
pub(crate) const N_CALLERIPADDRESS: Name = name(b"calleripaddress");
pub(crate) const N_CATEGORY: Name = name(b"category");
pub(crate) const N_CLAIM: Name = name(b"claim");
pub(crate) const N_CLAIMS: Name = name(b"claims");
pub(crate) const N_CLIENTINFO: Name = name(b"clientinfo");
pub(crate) const N_CLIENTINFO_S: Name = name(b"clientinfo_s");
pub(crate) const N_CORRELATIONID: Name = name(b"correlationid");
pub(crate) const N_DURATIONMS: Name = name(b"durationms");
pub(crate) const N_HITS: Name = name(b"hits");
pub(crate) const N_HTTPSTATUSCODE: Name = name(b"httpstatuscode");
pub(crate) const N_HTTPSTATUSCODE_D: Name = name(b"httpstatuscode_d");
pub(crate) const N_ID_S: Name = name(b"id_s");
pub(crate) const N_IDENTITY: Name = name(b"identity");
pub(crate) const N_IDENTITY_CLAIM: Name = name(b"identity_claim");
pub(crate) const N_LOCATION: Name = name(b"location");
pub(crate) const N_OPERATIONNAME: Name = name(b"operationname");
pub(crate) const N_OPERATIONVERSION: Name = name(b"operationversion");
pub(crate) const N_PROPERTIES: Name = name(b"properties");
pub(crate) const N_REQUESTURI: Name = name(b"requesturi");
pub(crate) const N_REQUESTURI_S: Name = name(b"requesturi_s");
pub(crate) const N_RESOURCE: Name = name(b"resource");
pub(crate) const N_RESOURCEGROUP: Name = name(b"resourcegroup");
pub(crate) const N_RESOURCEID: Name = name(b"resourceid");
pub(crate) const N_RESOURCEPROVIDER: Name = name(b"resourceprovider");
pub(crate) const N_RESOURCETYPE: Name = name(b"resourcetype");
pub(crate) const N_RESULTSIGNATURE: Name = name(b"resultsignature");
pub(crate) const N_RESULTTYPE: Name = name(b"resulttype");
pub(crate) const N_SUBSCRIPTIONID: Name = name(b"subscriptionid");
pub(crate) const N_TIME: Name = name(b"time");
pub(crate) const N_TIMEGENERATED: Name = name(b"timegenerated");
pub(crate) const N_TLSVERSION: Name = name(b"tlsversion");
pub(crate) const N_TLSVERSION_S: Name = name(b"tlsversion_s");
pub(crate) const N_TYPE: Name = name(b"type");
pub(crate) const N_ID: Name = name(b"id");
pub(crate) const N_RECORDS: Name = name(b"records");
pub(crate) const N_TABLES: Name = name(b"tables");
pub(crate) const N_RESULTDESCRIPTION: Name = name(b"resultdescription");
pub(crate) const N__RESOURCEID: Name = name(b"_resourceid");
pub(crate) const N_IDENTITY_CLAIM_PREFIX: Name = name(b"identity_claim_");

pub(crate) const N_AUDITEVENT: Name = name(b"auditevent");
pub(crate) const N_MICROSOFT_KEYVAULT: Name = name(b"microsoft.keyvault");
pub(crate) const N_SUBSCRIPTIONS: Name = name(b"subscriptions");
pub(crate) const N_RESOURCEGROUPS: Name = name(b"resourcegroups");
pub(crate) const N_PROVIDERS: Name = name(b"providers");

/// `text` is `n` (its lower-case name of `len` bytes) in any case: `eq_ignore_ascii_case`
/// a word at a time, for the names `finish` checks in every record.
#[inline]
pub(crate) fn is_name(text: &str, n: &Name) -> bool {
    text.len() == n.len && is_prefix(&kvsentry_json::key_words(text.as_bytes()), n)
}

/// The key's first bytes are `n` in any case. With a key as long as `n` (the callers
/// dispatch on length first), the key is `n`: the words past both ends are zero. Exact for
/// every byte: `c | 0x20` is a lower-case letter only for that letter and its upper case.
#[inline]
pub(crate) fn is_prefix(k: &[u64; 3], n: &Name) -> bool {
    let d = |i: usize| ((k[i] | n.fold[i]) & n.care[i]) ^ n.val[i];
    (d(0) | d(1) | d(2)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word-wise name comparison is exactly `eq_ignore_ascii_case`, for every byte at every
    /// position of every name, and a prefix test for the claim columns.
    #[test]
    fn names_compare_like_eq_ignore_ascii_case() {
        let names = [
            &b"id"[..],
            b"time",
            b"_resourceid",
            b"identity_claim",
            b"httpstatuscode_d",
            b"resultdescription",
            b"identity_claim_",
        ];
        for lit in names {
            let n = name(lit);
            for at in 0..lit.len() {
                for c in 0..=255u8 {
                    let mut k = lit.to_vec();
                    k[at] = c;
                    assert_eq!(
                        is_prefix(&kvsentry_json::key_words(&k), &n),
                        k.eq_ignore_ascii_case(lit),
                        "{lit:?} {at} {c}"
                    );
                }
            }
            let mut long = lit.to_ascii_uppercase();
            long.extend_from_slice(b"_more_bytes_than_twenty_four");
            assert!(is_prefix(&kvsentry_json::key_words(&long), &n));
            assert!(!is_prefix(
                &kvsentry_json::key_words(&lit[..lit.len() - 1]),
                &n
            ));
        }
    }

    #[test]
    fn names_checked_in_finish_compare_like_eq_ignore_ascii_case() {
        for (lit, n) in [
            ("AuditEvent", &N_AUDITEVENT),
            ("microsoft.keyvault", &N_MICROSOFT_KEYVAULT),
            ("subscriptions", &N_SUBSCRIPTIONS),
            ("resourcegroups", &N_RESOURCEGROUPS),
            ("providers", &N_PROVIDERS),
        ] {
            for text in [
                lit.to_string(),
                lit.to_uppercase(),
                lit.to_lowercase(),
                format!("{lit}x"),
                lit[1..].to_string(),
                lit.replace('e', "é"),
                lit.replace('.', "n"),
                lit.replace('o', "O").replace('s', "\u{17f}"),
                String::new(),
            ] {
                assert_eq!(is_name(&text, n), text.eq_ignore_ascii_case(lit), "{text}");
            }
        }
    }
}
