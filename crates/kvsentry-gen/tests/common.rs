//! Helpers shared by the integration tests.
#![allow(dead_code)]

use kvsentry_gen::{Form, GenConfig, write};

pub fn cfg(events: u64) -> GenConfig {
    GenConfig::default()
        .events(events)
        .with_standard_scenarios()
        .mixed_records(true)
}

pub fn bytes(form: &str, cfg: &GenConfig) -> Vec<u8> {
    let mut out = Vec::new();
    write(form.parse::<Form>().unwrap(), cfg, &mut out).unwrap();
    out
}

/// Minute index of an RFC 3339 time.
pub fn minute_of(t: &str) -> i64 {
    let ts: jiff::Timestamp = t.parse().unwrap();
    ts.as_second().div_euclid(60)
}

/// Identity key of a raw record: UPN (short or long claim), else app id.
pub fn principal(rec: &serde_json::Value) -> Option<String> {
    let claim = rec.get("identity")?.get("claim")?;
    for k in [
        "upn",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
        "appid",
    ] {
        if let Some(v) = claim.get(k).and_then(|v| v.as_str()) {
            return Some(v.to_string());
        }
    }
    None
}
