//! A deliberately small reader of STIX patterns for the IP values they name, used for the
//! `ThreatIntelIndicators.Pattern` column: comparisons `ipv4-addr:value = '…'`,
//! `ipv6-addr:value = '…'`, `network-traffic:(dst|src)_ref.value = '…'` (also `ISSUBSET`)
//! joined by `OR`. Anything whose meaning for a single caller IP is not "any of these
//! addresses" (AND, FOLLOWEDBY, NOT, MATCHES, ranges) is refused rather than guessed.

const IP_PATHS: &[&str] = &[
    "ipv4-addr:value",
    "ipv6-addr:value",
    "network-traffic:dst_ref.value",
    "network-traffic:src_ref.value",
];

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct,
}

fn tokens(p: &str) -> Result<Vec<Tok>, &'static str> {
    let mut out = Vec::new();
    let mut it = p.chars().peekable();
    while let Some(&c) = it.peek() {
        if c.is_whitespace() {
            it.next();
        } else if c == '\'' {
            it.next();
            let mut s = String::new();
            loop {
                match it.next() {
                    Some('\\') => match it.next() {
                        Some(x) => s.push(x),
                        None => return Err("unterminated string in STIX pattern"),
                    },
                    Some('\'') => break,
                    Some(x) => s.push(x),
                    None => return Err("unterminated string in STIX pattern"),
                }
            }
            out.push(Tok::Str(s));
        } else if "[]()".contains(c) {
            it.next();
            out.push(Tok::Punct);
        } else if "=!<>".contains(c) {
            let mut s = String::new();
            while let Some(&x) = it.peek() {
                if "=!<>".contains(x) {
                    s.push(x);
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Tok::Word(s));
        } else {
            let mut s = String::new();
            while let Some(&x) = it.peek() {
                if x.is_whitespace() || "[]()'=!<>".contains(x) {
                    break;
                }
                s.push(x);
                it.next();
            }
            out.push(Tok::Word(s));
        }
    }
    Ok(out)
}

/// The IP/CIDR literals of a pattern (empty when it names no IP), or why it is refused.
pub fn ip_values(pattern: &str) -> Result<Vec<String>, &'static str> {
    let toks = tokens(pattern)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Tok::Word(w) = &toks[i] {
            let up = w.to_ascii_uppercase();
            match up.as_str() {
                "AND" | "FOLLOWEDBY" | "NOT" | "MATCHES" | "LIKE" | "ISSUPERSET" | "IN" | "!="
                | "<" | ">" | "<=" | ">=" => {
                    return Err("unsupported STIX pattern (only OR of IP equality)");
                }
                _ => {}
            }
            if IP_PATHS.contains(&w.as_str()) {
                if let (Some(Tok::Word(op)), Some(Tok::Str(lit))) = (toks.get(i + 1), toks.get(i + 2))
                {
                    if op == "=" || op.eq_ignore_ascii_case("ISSUBSET") {
                        out.push(lit.clone());
                        i += 3;
                        continue;
                    }
                }
                return Err("unsupported STIX pattern (only OR of IP equality)");
            }
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ip_comparisons() {
        assert_eq!(
            ip_values("[ipv4-addr:value = '104.40.82.76']").unwrap(),
            vec!["104.40.82.76"]
        );
        assert_eq!(
            ip_values("[domain-name:value = 'x.example' OR ipv4-addr:value = '52.178.1.1' OR ipv6-addr:value='2a01:111:f400::1']")
                .unwrap(),
            vec!["52.178.1.1", "2a01:111:f400::1"]
        );
        assert_eq!(
            ip_values("[ipv4-addr:value ISSUBSET '52.178.0.0/16']").unwrap(),
            vec!["52.178.0.0/16"]
        );
        assert_eq!(ip_values("[file:hashes.MD5 = 'abc']").unwrap(), Vec::<String>::new());
        assert!(ip_values("[ipv4-addr:value = '1.1.1.1' AND ipv4-addr:value = '2.2.2.2']").is_err());
        assert!(ip_values("[ipv4-addr:value != '1.1.1.1']").is_err());
        assert!(ip_values("[ipv4-addr:value = '1.1.1.1").is_err());
        assert!(ip_values("[ipv4-addr:value = '1.1.1.1]").is_err());
    }
}
