//! Durations as rules write them: `30s`, `1m`, `5m`, `1h`, `1d`, `500ms`, `0`.

use std::fmt;

use jiff::SignedDuration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration, kept with its spelling so `rules show` prints what the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dur {
    text: String,
    nanos: i64,
}

impl Dur {
    pub const ZERO: Dur = Dur {
        text: String::new(),
        nanos: 0,
    };

    /// Parses `<integer><unit>` with unit `ms`, `s`, `m`, `h` or `d` (or a bare `0`).
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(Dur {
                text: "0".into(),
                nanos: 0,
            });
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || {
            format!(
                "bad duration `{text}`: write a whole number and a unit, e.g. 30s, 1m, 5m, 1h, 1d"
            )
        };
        let n: i64 = num.parse().map_err(|_| bad())?;
        let unit_nanos: i64 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(bad()),
        };
        let nanos = n
            .checked_mul(unit_nanos)
            .ok_or_else(|| format!("duration `{text}` is too long"))?;
        Ok(Dur {
            text: t.to_string(),
            nanos,
        })
    }

    pub fn from_nanos(nanos: i64) -> Dur {
        Dur {
            text: format!("{}s", nanos / 1_000_000_000),
            nanos,
        }
    }

    pub fn as_nanos(&self) -> i64 {
        self.nanos
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    pub fn as_signed_duration(&self) -> SignedDuration {
        SignedDuration::from_nanos(self.nanos)
    }
}

impl Default for Dur {
    fn default() -> Self {
        Dur::ZERO
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&self.text)
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.nanos == 0 {
            // `0` needs no unit; printed as a number so `rules show` gives `suppression: 0`.
            s.serialize_u64(0)
        } else {
            s.collect_str(self)
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 1m, 1h")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                if v == 0 {
                    Ok(Dur::parse("0").map_err(E::custom)?)
                } else {
                    Err(E::custom(format!(
                        "bad duration `{v}`: add a unit, e.g. {v}s or {v}m"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                match u64::try_from(v) {
                    Ok(u) => self.visit_u64(u),
                    Err(_) => Err(E::custom(format!(
                        "bad duration `{v}`: must not be negative"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(Dur::parse("30s").unwrap().as_nanos(), 30_000_000_000);
        assert_eq!(Dur::parse("1m").unwrap().as_nanos(), 60_000_000_000);
        assert_eq!(Dur::parse("1h").unwrap().as_nanos(), 3_600_000_000_000);
        assert_eq!(Dur::parse("500ms").unwrap().as_nanos(), 500_000_000);
        assert_eq!(Dur::parse("0").unwrap().as_nanos(), 0);
        assert_eq!(Dur::parse("5m").unwrap().to_string(), "5m");
        for bad in ["1", "m", "1x", "-1m", "1.5m", ""] {
            assert!(Dur::parse(bad).is_err(), "{bad}");
        }
    }
}
