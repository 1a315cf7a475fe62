//! The text key of a tuple of repeated columns: a file number, then each field encoded so
//! that any text, separators included, reads back.

/// Appends one optional field to a tuple key: `-` for none, else `+`, the length in
/// decimal, `:` and the text (so any text, separators included, reads back).
pub(super) fn encode(key: &mut String, f: Option<&str>) {
    match f {
        None => key.push('-'),
        Some(s) => {
            key.push('+');
            push_decimal(key, s.len());
            key.push(':');
            key.push_str(s);
        }
    }
}

/// Appends `n` in decimal (`write!` goes through the formatting machinery: this runs a few
/// times per row).
pub(super) fn push_decimal(key: &mut String, n: usize) {
    let (digits, start) = decimal(n);
    // ASCII digits: pushed as chars, without validating them as UTF-8 again.
    for &d in digits.get(start..).unwrap_or_default() {
        key.push(char::from(d));
    }
}

/// The decimal digits of `n`, at `start..` of the buffer.
pub(super) fn decimal(mut n: usize) -> ([u8; 20], usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    (digits, i)
}

/// Reads one field [`encode`] wrote; the rest of the key.
pub(super) fn decode(key: &str) -> (Option<&str>, &str) {
    let Some(rest) = key.strip_prefix('+') else {
        return (None, key.get(1..).unwrap_or(""));
    };
    let Some((len, rest)) = rest.split_once(':') else {
        return (None, "");
    };
    let len: usize = len.parse().unwrap_or(0);
    match (rest.get(..len), rest.get(len..)) {
        (Some(s), Some(r)) => (Some(s), r),
        _ => (None, ""),
    }
}

/// The file number a tuple key starts with, and the rest.
pub(super) fn split_file(key: &str) -> (u32, &str) {
    let end = key.find(|c: char| !c.is_ascii_digit()).unwrap_or(key.len());
    (
        key.get(..end).and_then(|d| d.parse().ok()).unwrap_or(0),
        key.get(end..).unwrap_or(""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_keys_read_back() {
        let mut k = String::from("12");
        for f in [Some("a:+-9"), None, Some(""), Some("é,\"x\"")] {
            encode(&mut k, f);
        }
        let (file, mut rest) = split_file(&k);
        assert_eq!(file, 12);
        let mut got = Vec::new();
        for _ in 0..4 {
            let (x, r) = decode(rest);
            got.push(x);
            rest = r;
        }
        assert_eq!(got, [Some("a:+-9"), None, Some(""), Some("é,\"x\"")]);
        assert_eq!(rest, "");
    }
}
