//! Throughput of the JSON Lines hot path against the bare cost of parsing the same lines.
//!
//! `cargo bench -p kvsentry-ingest --bench parse [--features bench-sonic]` (the feature adds
//! the sonic-rs cases, x86_64 only). Input: the file named by
//! `KVSENTRY_BENCH_FILE` (e.g. `kvsentry gen --form storage ...`), else about 20 MB
//! synthesised from the Storage fixture's records. `KVSENTRY_BENCH_REPS` (default 5) sets how
//! often each case runs; the best run is printed (the machine is shared, the best is the
//! least disturbed). `KVSENTRY_BENCH_ONLY=<substring>` runs only the matching cases (handy
//! under callgrind).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use kvsentry_ingest::{LogFormat, ReadOptions, ReadStats, parse_lines};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// The Storage fixture (five records shaped like real exports), repeated with varied
/// correlation ids and times until the text is about `target` bytes.
fn synthesise(target: usize) -> String {
    let fixture = include_str!("../tests/fixtures/storage.jsonl");
    let recs: Vec<&str> = fixture.lines().filter(|l| l.starts_with('{')).collect();
    let mut out = String::with_capacity(target + 4096);
    let mut i = 0u64;
    while out.len() < target {
        let r = recs[(i % recs.len() as u64) as usize];
        let sec = i % 60;
        let min = (i / 60) % 60;
        let r = r
            .replacen(
                "\"correlationId\": \"",
                &format!("\"correlationId\": \"{i:08}-"),
                1,
            )
            .replacen(":25.", &format!(":{sec:02}."), 1)
            .replacen("T11:59", &format!("T11:{min:02}"), 1);
        out.push_str(&r);
        out.push('\n');
        i += 1;
    }
    out
}

/// The lines of `text`, split with memchr (the same split every case pays).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0usize;
    let mut it = memchr::memchr_iter(b'\n', text.as_bytes());
    std::iter::from_fn(move || {
        loop {
            let (end, next) = match it.next() {
                Some(i) => (i, i + 1),
                None if start < text.len() => (text.len(), text.len()),
                None => return None,
            };
            let l = &text[start..end];
            start = next;
            if !l.trim().is_empty() {
                return Some(l);
            }
        }
    })
}

/// The fields the mapping reads, typed and borrowed: the cheapest a fixed-schema parse can be.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Typed<'a> {
    #[serde(borrow)]
    time: Option<&'a str>,
    #[serde(borrow)]
    resource_id: Option<&'a str>,
    #[serde(borrow)]
    operation_name: Option<&'a str>,
    #[serde(borrow)]
    category: Option<&'a str>,
    #[serde(borrow)]
    result_type: Option<&'a str>,
    #[serde(borrow)]
    result_signature: Option<&'a str>,
    #[serde(borrow)]
    duration_ms: Option<&'a str>,
    #[serde(borrow)]
    caller_ip_address: Option<&'a str>,
    #[serde(borrow)]
    correlation_id: Option<&'a str>,
    #[serde(borrow)]
    identity: Option<TypedIdentity<'a>>,
    #[serde(borrow)]
    properties: Option<TypedProps<'a>>,
}

#[derive(Deserialize)]
struct TypedIdentity<'a> {
    #[serde(borrow)]
    #[allow(dead_code)]
    claim: Option<HashMap<&'a str, IgnoredAny>>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedProps<'a> {
    #[serde(borrow)]
    id: Option<&'a str>,
    #[serde(borrow)]
    client_info: Option<&'a str>,
    http_status_code: Option<u64>,
    #[serde(borrow)]
    request_uri: Option<&'a str>,
    #[serde(borrow)]
    tls_version: Option<&'a str>,
}

struct Case {
    name: &'static str,
    run: fn(&str) -> u64,
}

fn case_parse_lines(text: &str) -> u64 {
    let opts = ReadOptions::default();
    let mut stats = ReadStats::new();
    let mut n = 0u64;
    parse_lines(
        LogFormat::Storage,
        text,
        1,
        1,
        &opts,
        &mut stats,
        &mut |e| {
            black_box(e);
            n += 1
        },
    );
    n
}

fn case_split_only(text: &str) -> u64 {
    lines(text).fold(0u64, |n, l| n + u64::from(!black_box(l).is_empty()))
}

fn case_serde_ignored(text: &str) -> u64 {
    lines(text)
        .filter(|l| serde_json::from_str::<IgnoredAny>(l).is_ok())
        .count() as u64
}

fn case_serde_rawmap(text: &str) -> u64 {
    lines(text)
        .filter(|l| {
            serde_json::from_str::<HashMap<&str, &RawValue>>(l)
                .map(|m| black_box(m.len()))
                .is_ok()
        })
        .count() as u64
}

fn case_serde_typed(text: &str) -> u64 {
    lines(text)
        .filter(|l| {
            serde_json::from_str::<Typed<'_>>(l)
                .map(|t| black_box(t.time.is_some()))
                .is_ok()
        })
        .count() as u64
}

#[cfg(all(feature = "bench-sonic", target_arch = "x86_64"))]
mod sonic {
    use super::*;
    use sonic_rs::JsonValueTrait;

    pub fn ignored(text: &str) -> u64 {
        lines(text)
            .filter(|l| sonic_rs::from_str::<IgnoredAny>(l).is_ok())
            .count() as u64
    }

    pub fn typed(text: &str) -> u64 {
        lines(text)
            .filter(|l| {
                sonic_rs::from_str::<Typed<'_>>(l)
                    .map(|t| black_box(t.time.is_some()))
                    .is_ok()
            })
            .count() as u64
    }

    /// Top-level keys as lazy values, nested objects (`identity`, `properties`) iterated the
    /// same way: the shape of kvsentry's walk.
    pub fn lazy_walk(text: &str) -> u64 {
        let mut n = 0u64;
        for l in lines(text) {
            let mut ok = true;
            let mut leaves = 0u64;
            for kv in sonic_rs::to_object_iter(l) {
                match kv {
                    Ok((k, v)) => {
                        if v.is_object() {
                            for kv2 in sonic_rs::to_object_iter(v.as_raw_str()) {
                                match kv2 {
                                    Ok((_, v2)) => {
                                        leaves += black_box(v2.as_raw_str().len()) as u64 & 1
                                    }
                                    Err(_) => ok = false,
                                }
                            }
                        } else {
                            leaves += black_box(k.len() + v.as_raw_str().len()) as u64 & 1;
                        }
                    }
                    Err(_) => ok = false,
                }
            }
            black_box(leaves);
            n += ok as u64;
        }
        n
    }

    /// Three fields fetched by JSON pointer (each `get` rescans the line).
    pub fn get_pointer(text: &str) -> u64 {
        lines(text)
            .filter(|l| {
                let a = sonic_rs::get(*l, &["time"]);
                let b = sonic_rs::get(*l, &["operationName"]);
                let c = sonic_rs::get(*l, &["properties", "httpStatusCode"]);
                black_box((&a, &b, &c));
                a.is_ok() && b.is_ok()
            })
            .count() as u64
    }
}

fn main() {
    let text = match std::env::var("KVSENTRY_BENCH_FILE") {
        Ok(p) => {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {p}: {e}"));
            String::from_utf8(bytes).unwrap_or_else(|e| panic!("{p} is not UTF-8: {e}"))
        }
        Err(_) => synthesise(20_000_000),
    };
    let reps: usize = std::env::var("KVSENTRY_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let only = std::env::var("KVSENTRY_BENCH_ONLY").ok();
    let records = lines(&text).count() as f64;
    let mb = text.len() as f64 / 1e6;
    println!(
        "input: {mb:.1} MB, {records} records ({:.0} bytes/record), best of {reps}",
        text.len() as f64 / records
    );

    // Extended below when the sonic-rs cases are built.
    #[allow(unused_mut)]
    let mut cases = vec![
        Case {
            name: "kvsentry parse_lines (Storage, full mapping)",
            run: case_parse_lines,
        },
        Case {
            name: "split lines only (memchr)",
            run: case_split_only,
        },
        Case {
            name: "serde_json IgnoredAny per line",
            run: case_serde_ignored,
        },
        Case {
            name: "serde_json HashMap<&str,&RawValue> per line",
            run: case_serde_rawmap,
        },
        Case {
            name: "serde_json typed borrowed struct per line",
            run: case_serde_typed,
        },
    ];
    #[cfg(all(feature = "bench-sonic", target_arch = "x86_64"))]
    cases.extend([
        Case {
            name: "sonic-rs IgnoredAny per line",
            run: sonic::ignored,
        },
        Case {
            name: "sonic-rs typed borrowed struct per line",
            run: sonic::typed,
        },
        Case {
            name: "sonic-rs to_object_iter walk (2 levels)",
            run: sonic::lazy_walk,
        },
        Case {
            name: "sonic-rs get x3 by pointer",
            run: sonic::get_pointer,
        },
    ]);

    for c in &cases {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let mut best = Duration::MAX;
        let mut got = 0;
        for _ in 0..reps {
            let t = Instant::now();
            got = (c.run)(black_box(&text));
            best = best.min(t.elapsed());
        }
        let s = best.as_secs_f64();
        println!(
            "{:<48} {:>8.1} MB/s {:>10.0} records/s  ({got} ok)",
            c.name,
            mb / s,
            records / s
        );
    }
}
