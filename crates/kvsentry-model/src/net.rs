//! IP addresses as logs and threat feeds spell them.
//!
//! Key Vault writes IPv6 callers in lower case, feeds write them in any case and any
//! compression, some producers append a port, and IPv4 addresses sometimes arrive
//! IPv4-mapped (`::ffff:1.2.3.4`). Everything is parsed into [`IpAddr`] and canonicalised
//! so that one address has one value, whatever its spelling. Threat feeds also name
//! networks; [`parse_network`] reads those for every feed and STIX pattern alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Parses an IP address as found in a log or feed: surrounding whitespace, `[v6]`,
/// `[v6]:port`, `v4:port` and IPv4-mapped IPv6 are accepted; the result is canonical
/// (IPv4-mapped IPv6 becomes IPv4). Returns `None` for anything else.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    // Most callers are plain dotted IPv4, read here without trimming or the general parser.
    if let Some(v4) = plain_ipv4(text.as_bytes()) {
        return Some(IpAddr::V4(v4));
    }
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    // `[v6]` or `[v6]:port`
    if let Some(rest) = t.strip_prefix('[') {
        let end = rest.find(']')?;
        let inner = &rest[..end];
        let after = &rest[end + 1..];
        if !(after.is_empty() || (after.starts_with(':') && is_port(&after[1..]))) {
            return None;
        }
        return inner
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| canonical(IpAddr::V6(a)));
    }
    // `v4:port` (exactly one colon, so never an IPv6 address)
    if let Some((host, port)) = t.split_once(':')
        && !port.contains(':')
        && is_port(port)
    {
        return host.parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    None
}

/// `a.b.c.d` exactly as written by a logger: four parts of one to three digits, no leading
/// zero, each at most 255, nothing else (not even whitespace). A strict subset of what
/// `Ipv4Addr::from_str` accepts, with the same value; anything else is `None` and goes to
/// the general path, so this only saves time (a reader calls it once per record).
fn plain_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, octet) in octets.iter_mut().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() || i - start == 3 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || (len > 1 && b.get(start) == Some(&b'0')) {
            return None;
        }
        *octet = u8::try_from(v).ok()?;
    }
    (i == b.len()).then(|| Ipv4Addr::from(octets))
}

/// Parses an indicator value as feeds and STIX patterns write it: an address in any spelling
/// [`parse_ip`] accepts, or a CIDR `address/length` (whitespace around either part, `[v6]`
/// brackets). The result is canonical: hosts as /32 or /128, IPv4-mapped IPv6 as IPv4
/// (`::ffff:a.b.c.d/len` with `len >= 96` is `a.b.c.d/(len - 96)`), host bits cleared
/// (`1.2.3.4/24` is `1.2.3.0/24`). `None` for anything else, including an IPv4-mapped
/// prefix shorter than /96: it would span mapped and unmapped space, and callers are
/// canonicalised to IPv4, so as an IPv6 network it could never match the IPv4 part.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let t = text.trim();
    if let Some(ip) = parse_ip(t) {
        return Some(IpNet::from(ip));
    }
    let (addr, len) = t.split_once('/')?;
    let len: u8 = len.trim().parse().ok()?;
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let raw: IpAddr = addr.parse().ok()?;
    let (ip, len) = match (raw, canonical(raw)) {
        (IpAddr::V6(_), v4 @ IpAddr::V4(_)) => (v4, len.checked_sub(96)?),
        (_, c) => (c, len),
    };
    IpNet::new(ip, len).ok().map(|n| n.trunc())
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address; everything else is unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Why an address is not globally routable, or `None` when it is.
///
/// Real feeds carry private, loopback, link-local, carrier-grade NAT, documentation and
/// multicast addresses; matching them against logs only produces noise.
pub fn non_global_reason(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(a) => {
            let o = a.octets();
            if o[0] == 0 {
                Some("this-network (0.0.0.0/8)")
            } else if a.is_private() {
                Some("private (RFC 1918)")
            } else if a.is_loopback() {
                Some("loopback")
            } else if a.is_link_local() {
                Some("link-local")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("carrier-grade NAT (100.64.0.0/10)")
            } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
                Some("IETF protocol assignments (192.0.0.0/24)")
            } else if a.is_documentation() {
                Some("documentation (TEST-NET)")
            } else if o[0] == 198 && (o[1] & 0xfe) == 18 {
                Some("benchmarking (198.18.0.0/15)")
            } else if a.is_multicast() {
                Some("multicast")
            } else if o[0] >= 240 {
                Some("reserved (240.0.0.0/4) or broadcast")
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_unspecified() {
                Some("unspecified (::)")
            } else if a.is_loopback() {
                Some("loopback")
            } else if (s[0] & 0xffc0) == 0xfe80 {
                Some("link-local (fe80::/10)")
            } else if (s[0] & 0xfe00) == 0xfc00 {
                Some("unique local (fc00::/7)")
            } else if a.is_multicast() {
                Some("multicast")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("documentation (2001:db8::/32)")
            } else if s[0] == 0x0064 && s[1] == 0xff9b {
                Some("NAT64 (64:ff9b::/96)")
            } else if s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 {
                // ::/80 besides loopback/unspecified/mapped: IPv4-compatible and reserved.
                Some("reserved (::/80)")
            } else if s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0 {
                Some("discard-only (100::/64)")
            } else {
                None
            }
        }
    }
}

/// True when the address is globally routable (see [`non_global_reason`]).
pub fn is_global(ip: IpAddr) -> bool {
    non_global_reason(ip).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ipv4_agrees_with_the_general_parser() {
        assert_eq!(
            plain_ipv4(b"104.40.82.76"),
            Some(Ipv4Addr::new(104, 40, 82, 76))
        );
        assert_eq!(plain_ipv4(b"0.0.0.0"), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(plain_ipv4(b"255.255.255.255"), Some(Ipv4Addr::BROADCAST));
        for t in [
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.4:80",
            "1..2.3",
            "1.2.3.1000",
            "1.2.3.-1",
            "1.2.3.4.5",
            "a.b.c.d",
            "1.2.3.٣",
        ] {
            assert_eq!(plain_ipv4(t.as_bytes()), None, "{t}");
        }
        // Every short spelling over a small alphabet: whatever the fast path accepts, the
        // general parser accepts with the same value.
        let alphabet = [b'0', b'1', b'2', b'5', b'9', b'.', b' '];
        let mut accepted = 0;
        let mut buf = Vec::new();
        for len in 7..=9u32 {
            for code in 0..alphabet.len().pow(len) {
                buf.clear();
                let mut c = code;
                for _ in 0..len {
                    buf.push(alphabet[c % alphabet.len()]);
                    c /= alphabet.len();
                }
                let text = std::str::from_utf8(&buf).unwrap();
                let std = text.parse::<Ipv4Addr>().ok();
                match plain_ipv4(&buf) {
                    Some(fast) => {
                        accepted += 1;
                        assert_eq!(Some(fast), std, "{text}");
                    }
                    None => assert!(std.is_none() || text.len() > 15, "{text}: {std:?}"),
                }
            }
        }
        assert!(accepted > 1000, "{accepted}");
    }

    #[test]
    fn parses_every_spelling_to_one_value() {
        let v6 = parse_ip("2001:DB8:0:0:0:0:0:1").unwrap();
        assert_eq!(parse_ip("2001:db8::1"), Some(v6));
        assert_eq!(parse_ip("[2001:db8::1]:443"), Some(v6));
        assert_eq!(parse_ip(" [2001:db8::1] "), Some(v6));
        assert_eq!(parse_ip("::ffff:104.40.82.76"), parse_ip("104.40.82.76"));
        assert_eq!(parse_ip("104.40.82.76:50123"), parse_ip("104.40.82.76"));
    }

    #[test]
    fn rejects_non_addresses() {
        for bad in [
            "",
            "<Redacted>",
            "X.X.X.X",
            "1.2.3",
            "1.2.3.4:99999x",
            "[::1",
            "1.2.3.4/24",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
    }

    #[test]
    fn networks_are_canonical() {
        let net = |t: &str| parse_network(t).map(|n| n.to_string());
        assert_eq!(net("104.40.82.76").unwrap(), "104.40.82.76/32");
        assert_eq!(
            net("2A01:111:F400:0:0:0:0:1").unwrap(),
            "2a01:111:f400::1/128"
        );
        assert_eq!(net("::ffff:104.40.82.76").unwrap(), "104.40.82.76/32");
        assert_eq!(net("1.10.16.7/20").unwrap(), "1.10.16.0/20");
        assert_eq!(net("::ffff:52.178.0.0/112").unwrap(), "52.178.0.0/16");
        assert_eq!(net("2a01:111:f400::/48").unwrap(), "2a01:111:f400::/48");
        assert_eq!(net("223.166.0.0/15").unwrap(), "223.166.0.0/15");
        assert_eq!(net("52.178.17.9/24").unwrap(), "52.178.17.0/24");
        assert_eq!(net("2A01:111:F400::/48").unwrap(), "2a01:111:f400::/48");
        assert_eq!(net(" 52.178.17.9 / 24 ").unwrap(), "52.178.17.0/24");
        assert_eq!(net("[2a01:111:f400::]/48").unwrap(), "2a01:111:f400::/48");
        assert_eq!(net("104.40.82.76:443").unwrap(), "104.40.82.76/32");
    }

    #[test]
    fn rejects_non_networks() {
        for bad in [
            "1.2.3.4/33",
            "1.2.3.0/33",
            "1.2.3.0/",
            "1.2.3.0/x",
            "/24",
            "2a01::/129",
            "example.com",
            "bad.example",
            "1.2.3.0/-1",
            "::ffff:1.2.3.0/90",
        ] {
            assert_eq!(parse_network(bad), None, "{bad}");
        }
    }

    #[test]
    fn classifies_non_global() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.1.2.3",
            "224.0.0.1",
            "198.51.100.7",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "2001:db8::5",
            "ff02::1",
        ] {
            assert!(!is_global(parse_ip(ip).unwrap()), "{ip}");
        }
        for ip in ["104.40.82.76", "8.8.8.8", "2a01:111:f400::1", "100.128.0.1"] {
            assert!(is_global(parse_ip(ip).unwrap()), "{ip}");
        }
    }
}
