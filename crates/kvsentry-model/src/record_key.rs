//! The identity of an audit record, for reading the same record once however often it is
//! given (the same file twice, overlapping exports, the same event in two forms).
//!
//! Two events are the same record when they agree on: the time (to the 100 ns Azure writes),
//! the correlation id, the operation, the caller address, the vault and the caller's
//! identity (object id, else UPN, else app id). Those are what every form carries and what
//! two distinct calls cannot all share: Azure stamps each call at its own instant, and the
//! correlation id tells apart the calls a client makes at one instant when it sets one.
//! Names are compared without ASCII case, because forms spell them differently (Storage
//! upper-cases resource ids; AzureDiagnostics lower-cases GUID columns); addresses compare
//! by value, whatever their spelling.

use std::hash::Hasher;
use std::net::IpAddr;

use crate::event::{AuditEvent, CallerIp};

impl AuditEvent<'_> {
    /// Feeds the record's identity to `h` without building it: two events with equal
    /// [`AuditEvent::record_key`]s always hash equal; some with different keys hash equal
    /// too (names are folded coarser than ASCII case), so equal hashes only say "probably
    /// the same record" — a cheap first test before [`AuditEvent::record_key`] decides.
    pub fn hash_record_key<H: Hasher>(&self, h: &mut H) {
        h.write_i128(self.time.as_nanosecond());
        folded(h, self.correlation_id.as_deref().unwrap_or("").as_bytes());
        folded(h, self.operation.as_bytes());
        match &self.caller_ip {
            CallerIp::Missing => h.write_u8(0),
            CallerIp::Addr(IpAddr::V4(a)) => h.write_u32(u32::from(*a)),
            CallerIp::Addr(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(a) => h.write_u32(u32::from(a)),
                None => h.write_u128(u128::from(*a)),
            },
            CallerIp::Invalid(t) => folded(h, t.as_bytes()),
        }
        folded(h, self.vault.name.as_deref().unwrap_or("").as_bytes());
        folded(h, self.who().as_bytes());
    }

    /// The caller part of the identity: object id, else UPN, else app id.
    fn who(&self) -> &str {
        let id = &self.identity;
        id.object_id
            .as_deref()
            .or(id.upn.as_deref())
            .or(id.app_id.as_deref())
            .unwrap_or("")
    }

    /// Writes the record's identity into `out` (cleared first), as bytes that are equal
    /// exactly when the identities are (each part length-prefixed, so parts cannot run into
    /// each other).
    pub fn record_key(&self, out: &mut Vec<u8>) {
        out.clear();
        let nanos = self.time.as_nanosecond();
        // Sign bit flipped: the bytes then sort like the times.
        out.extend_from_slice(&((nanos as u128) ^ (1 << 127)).to_be_bytes());
        part(out, self.correlation_id.as_deref().unwrap_or("").as_bytes());
        part(out, self.operation.as_bytes());
        match &self.caller_ip {
            CallerIp::Missing => raw(out, b""),
            CallerIp::Addr(IpAddr::V4(a)) => raw(out, &a.octets()),
            CallerIp::Addr(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(a) => raw(out, &a.octets()),
                None => raw(out, &a.octets()),
            },
            // Tagged so that a text can never equal an address's octets.
            CallerIp::Invalid(t) => {
                out.push(0xff);
                part(out, t.as_bytes());
            }
        }
        part(out, self.vault.name.as_deref().unwrap_or("").as_bytes());
        part(out, self.who().as_bytes());
    }
}

/// Hashes `bytes` with bit 5 of every byte set, eight bytes at a time: ASCII letters of
/// either case hash alike (as do a few other pairs, which only costs a false "probably").
fn folded<H: Hasher>(h: &mut H, bytes: &[u8]) {
    const FOLD: u64 = 0x2020_2020_2020_2020;
    h.write_usize(bytes.len());
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        h.write_u64(u64::from_le_bytes(a) | FOLD);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        a[..rest.len()].copy_from_slice(rest);
        h.write_u64(u64::from_le_bytes(a) | FOLD);
    }
}

/// A name, compared without ASCII case.
fn part(out: &mut Vec<u8>, bytes: &[u8]) {
    len(out, bytes);
    out.extend(bytes.iter().map(u8::to_ascii_lowercase));
}

/// Bytes compared as they are (an address's octets).
fn raw(out: &mut Vec<u8>, bytes: &[u8]) {
    len(out, bytes);
    out.extend_from_slice(bytes);
}

fn len(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use jiff::Timestamp;

    use super::*;

    fn event(t: &str) -> AuditEvent<'static> {
        let time: Timestamp = t.parse().unwrap();
        let mut e = AuditEvent::new(
            time,
            Cow::Borrowed("AuditEvent"),
            Cow::Borrowed("SecretGet"),
        );
        e.correlation_id = Some(Cow::Borrowed("1e00f8e4-d4c8-46fe-ba9b-3863dde1ff54"));
        e.caller_ip = CallerIp::parse(Cow::Borrowed("52.178.17.9"));
        e.vault.name = Some(Cow::Borrowed("CONTOSO-KV"));
        e.identity.object_id = Some(Cow::Borrowed("d9da5048-2737-4770-bd64-0123456789ab"));
        e.identity.upn = Some(Cow::Borrowed("alice@contoso.com"));
        e
    }

    fn key(e: &AuditEvent<'_>) -> Vec<u8> {
        let mut k = vec![1, 2, 3];
        e.record_key(&mut k);
        k
    }

    #[test]
    fn same_record_in_other_spellings_has_one_key() {
        let a = event("2025-06-30T01:40:15.1553864Z");
        let mut b = event("2025-06-30T01:40:15.1553864Z");
        // AzureDiagnostics spellings: lower-case vault column, upper-case GUIDs, an
        // IPv4-mapped IPv6 caller; other fields differ freely.
        b.vault.name = Some(Cow::Borrowed("contoso-kv"));
        b.identity.object_id = Some(Cow::Borrowed("D9DA5048-2737-4770-BD64-0123456789AB"));
        b.caller_ip = CallerIp::parse(Cow::Borrowed("::ffff:52.178.17.9"));
        b.client_info = Some(Cow::Borrowed("curl/8"));
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn each_part_tells_records_apart() {
        let a = event("2025-06-30T01:40:15.1553864Z");
        let base = key(&a);
        let mut v = Vec::new();
        let mut e = event("2025-06-30T01:40:15.1553865Z");
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        e.correlation_id = None;
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        e.operation = Cow::Borrowed("SecretList");
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        e.caller_ip = CallerIp::parse(Cow::Borrowed("52.178.17.10"));
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        // 'A' and 'a' as octets: addresses are not case-folded.
        e.caller_ip = CallerIp::parse(Cow::Borrowed("65.178.17.9"));
        let a65 = key(&e);
        e.caller_ip = CallerIp::parse(Cow::Borrowed("97.178.17.9"));
        assert_ne!(a65, key(&e));
        e.caller_ip = CallerIp::Invalid(Cow::Borrowed("4\u{0}\u{0}\u{0}"));
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        e.vault.name = Some(Cow::Borrowed("CONTOSO-KV2"));
        v.push(key(&e));
        e = event("2025-06-30T01:40:15.1553864Z");
        e.identity.object_id = None;
        v.push(key(&e));
        for (i, k) in v.iter().enumerate() {
            assert_ne!(k, &base, "variant {i}");
        }
    }

    fn hash(e: &AuditEvent<'_>) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        e.hash_record_key(&mut h);
        h.finish()
    }

    #[test]
    fn equal_keys_hash_equal() {
        let a = event("2025-06-30T01:40:15.1553864Z");
        let mut b = event("2025-06-30T01:40:15.1553864Z");
        b.vault.name = Some(Cow::Borrowed("contoso-kv"));
        b.identity.object_id = Some(Cow::Borrowed("D9DA5048-2737-4770-BD64-0123456789AB"));
        b.caller_ip = CallerIp::parse(Cow::Borrowed("::ffff:52.178.17.9"));
        assert_eq!(key(&a), key(&b));
        assert_eq!(hash(&a), hash(&b));
        let mut c = event("2025-06-30T01:40:15.1553864Z");
        c.operation = Cow::Borrowed("SecretList");
        assert_ne!(hash(&a), hash(&c));
        let d = event("2025-06-30T01:40:15.1553865Z");
        assert_ne!(hash(&a), hash(&d));
    }

    #[test]
    fn keys_sort_like_times() {
        let early = key(&event("1969-12-31T23:59:59Z"));
        let late = key(&event("2025-06-30T01:40:15Z"));
        assert!(early < late);
    }
}
