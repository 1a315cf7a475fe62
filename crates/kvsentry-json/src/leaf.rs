//! [`Leaf`]: a scalar of a record as a walk hands it over.

use std::borrow::Cow;

/// A scalar found in a record (arrays come as their JSON text).
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An array, as compact JSON text.
    Json(String),
}

impl<'a> Leaf<'a> {
    /// The value as text (`None` for null), borrowing where it can.
    #[inline]
    pub fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Leaf::Null => None,
            Leaf::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Leaf::U64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::I64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::F64(n) => Some(Cow::Owned(n.to_string())),
            Leaf::Str(s) => Some(s),
            Leaf::Json(s) => Some(Cow::Owned(s)),
        }
    }

    pub fn into_owned(self) -> Leaf<'static> {
        match self {
            Leaf::Null => Leaf::Null,
            Leaf::Bool(b) => Leaf::Bool(b),
            Leaf::U64(n) => Leaf::U64(n),
            Leaf::I64(n) => Leaf::I64(n),
            Leaf::F64(n) => Leaf::F64(n),
            Leaf::Str(s) => Leaf::Str(Cow::Owned(s.into_owned())),
            Leaf::Json(s) => Leaf::Json(s),
        }
    }

    /// A non-negative whole number from a number or a numeric string (`"200"`, `"200.0"`);
    /// `None` for `"None"`, empty, negative or fractional values.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Leaf::U64(n) => Some(*n),
            Leaf::I64(n) => u64::try_from(*n).ok(),
            Leaf::F64(f) => f64_to_u64(*f),
            // Plain digits (`"11"`, Key Vault's `durationMs`), at most 19 of them so that
            // they fit: the value `parse` gives, without the Unicode trim before it.
            Leaf::Str(s)
                if (1..=19).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_digit()) =>
            {
                Some(s.bytes().fold(0u64, |n, c| n * 10 + u64::from(c - b'0')))
            }
            Leaf::Str(s) => {
                let t = s.trim();
                t.parse::<u64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().and_then(f64_to_u64))
            }
            _ => None,
        }
    }

    /// As [`Leaf::as_u64`], but a fractional value is rounded (durations).
    pub fn as_u64_rounded(&self) -> Option<u64> {
        self.as_u64().or_else(|| {
            let f = match self {
                Leaf::F64(f) => *f,
                Leaf::Str(s) => s.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            f64_to_u64(f.round())
        })
    }
}

fn f64_to_u64(f: f64) -> Option<u64> {
    (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 1.8e19).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain digit strings read directly give what `trim` + `parse` (+ the float reading)
    /// gives, at every length around the 19 read directly.
    #[test]
    fn digit_strings_read_as_parsed() {
        let general = |s: &str| {
            let t = s.trim();
            t.parse::<u64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(f64_to_u64))
        };
        let mut texts = vec![
            String::new(),
            "0".to_string(),
            "00".to_string(),
            "007".to_string(),
            "+5".to_string(),
            " 5".to_string(),
            "5 ".to_string(),
            "-0".to_string(),
            "1e3".to_string(),
            "\u{0660}".to_string(),
            "18446744073709551615".to_string(),
            "18446744073709551616".to_string(),
        ];
        for n in 1..=21 {
            texts.push("9".repeat(n));
            texts.push(format!("1{}", "0".repeat(n - 1)));
        }
        for t in &texts {
            assert_eq!(Leaf::Str(t.as_str().into()).as_u64(), general(t), "{t:?}");
        }
        assert_eq!(
            Leaf::Str("9".repeat(19).into()).as_u64(),
            Some(9_999_999_999_999_999_999)
        );
    }

    #[test]
    fn numbers_from_anything() {
        assert_eq!(Leaf::Str("200".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("200.0".into()).as_u64(), Some(200));
        assert_eq!(Leaf::Str("None".into()).as_u64(), None);
        assert_eq!(Leaf::F64(41.0).as_u64(), Some(41));
        assert_eq!(Leaf::F64(41.5).as_u64(), None);
        assert_eq!(Leaf::I64(-1).as_u64(), None);
        assert_eq!(Leaf::U64(488).as_u64(), Some(488));
        assert_eq!(Leaf::F64(12.6).as_u64_rounded(), Some(13));
        assert_eq!(Leaf::Str("12.4".into()).as_u64_rounded(), Some(12));
        assert_eq!(Leaf::Str("None".into()).as_u64_rounded(), None);
        assert_eq!(Leaf::F64(-2.0).as_u64_rounded(), None);
    }
}
