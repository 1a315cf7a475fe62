//! `cargo bench -p kvsentry-intel`: loads 1,000,000 Sentinel-style rows from a CSV written
//! to a temp file, selects them (retro and as-of), and measures lookups per second for hits
//! and misses, IPv4 and IPv6. Prints the figures; not a timed test.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// CPU time of this thread so far (user + system, from `/proc/thread-self/schedstat`): on a
/// shared machine wall time says more about the neighbours than about the code. Zero where
/// unavailable.
fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

use kvsentry_intel::{IndicatorSet, Selection, TiFormat, load_path};

const ROWS: u32 = 1_000_000;
const IDS: u32 = 900_000; // rows past this are second versions of earlier ids
const V6_EVERY: u32 = 10; // every 10th id is IPv6
const CIDR_EVERY: u32 = 100; // every 100th id is a /24

/// A public IPv4 address for `n` (first octet 20..=79: no private/CGNAT/reserved).
fn v4(n: u32) -> Ipv4Addr {
    let a = 20 + (n >> 16) % 60;
    Ipv4Addr::new(a as u8, (n >> 8) as u8, n as u8, 7)
}

fn v6(n: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2a01, 0x111, 0xf400, 0, 0, 0, (n >> 16) as u16, n as u16)
}

fn value(id: u32) -> String {
    if id.is_multiple_of(V6_EVERY) {
        v6(id).to_string()
    } else if id % CIDR_EVERY == 1 {
        let o = v4(id).octets();
        format!("{}.{}.{}.0/24", o[0], o[1], o[2])
    } else {
        v4(id).to_string()
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("kvsentry-intel-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("ti_1m.csv");

    let t = Instant::now();
    let mut csv = String::with_capacity(ROWS as usize * 200);
    csv.push_str("TimeGenerated [UTC],IndicatorId,ThreatType,Active,ExpirationDateTime [UTC],ConfidenceScore,Description,NetworkIP,NetworkDestinationIP,NetworkSourceIP,EmailSourceIpAddress,Tags,TrafficLightProtocolLevel,IndicatorProvider\n");
    for row in 0..ROWS {
        let id = row % IDS;
        let second = row >= IDS;
        let day = if second { 12 } else { 5 };
        let ip = value(id);
        // Spread the IP over the iff-chain columns.
        let (a, b, c) = match id % 4 {
            0 | 1 => (ip.as_str(), "", ""),
            2 => ("", ip.as_str(), ""),
            _ => ("", "", ip.as_str()),
        };
        let _ = writeln!(
            csv,
            "2025-06-{day:02}T10:00:00.000Z,IND-{id:08},C2,true,2025-12-31T00:00:00Z,{conf},\"Botnet C2 \"\"node\"\" {id}\",{a},{b},{c},,\"[\"\"c2\"\"]\",green,Bench TI",
            conf = 50 + id % 50,
        );
    }
    std::fs::write(&path, &csv).expect("write bench csv");
    let size_mb = csv.len() as f64 / 1e6;
    drop(csv);
    println!(
        "generated {ROWS} rows ({size_mb:.0} MB CSV) in {:.2?}",
        t.elapsed()
    );

    let (t, c) = (Instant::now(), cpu());
    let mut set = IndicatorSet::new();
    let rep = load_path(&path, Some(TiFormat::Sentinel), &mut set).expect("load");
    let (load, load_cpu) = (t.elapsed(), cpu() - c);
    println!(
        "load:   {} records in {load:.2?} (cpu {load_cpu:.2?})",
        rep.records()
    );

    let (t, c) = (Instant::now(), cpu());
    let (index, sel) = set.select(Selection::Retro { compat: false });
    let (select, select_cpu) = (t.elapsed(), cpu() - c);
    println!(
        "select retro:  kept {} of {} ids ({} superseded) in {select:.2?} (cpu {select_cpu:.2?})",
        sel.kept, sel.distinct_ids, sel.superseded
    );
    println!(
        "load+select: {:.2?} (cpu {:.2?})",
        load + select,
        load_cpu + select_cpu
    );
    let (t, c) = (Instant::now(), cpu());
    let (_, sel2) = set.select(Selection::AsOf {
        at: "2025-06-13T00:00:00Z".parse().expect("ts"),
        compat: true,
    });
    println!(
        "select as-of compat: kept {} in {:.2?} (cpu {:.2?})",
        sel2.kept,
        t.elapsed(),
        cpu() - c
    );

    let n = 1_000_000u32;
    let probe = |name: &str, f: &dyn Fn(u32) -> IpAddr| {
        let ips: Vec<IpAddr> = (0..n).map(f).collect();
        let t = Instant::now();
        let mut hits = 0usize;
        for ip in &ips {
            hits += black_box(index.lookup(black_box(*ip))).len();
        }
        let e = t.elapsed();
        println!(
            "lookup {name:<9}: {:>6.1} M lookups/s ({hits} results for {n} lookups)",
            n as f64 / e.as_secs_f64() / 1e6
        );
    };
    // Hits: ids that are plain single IPv4 / IPv6 addresses.
    probe("v4 hit", &|i| {
        let mut id = (i * 7) % IDS;
        if id.is_multiple_of(V6_EVERY) || id % CIDR_EVERY == 1 {
            id += 2;
        }
        IpAddr::V4(v4(id))
    });
    probe("v4 miss", &|i| {
        IpAddr::V4(Ipv4Addr::new(185, (i >> 16) as u8, (i >> 8) as u8, i as u8))
    });
    probe("v6 hit", &|i| {
        IpAddr::V6(v6(((i * 7) % (IDS / V6_EVERY)) * V6_EVERY))
    });
    probe("v6 miss", &|i| {
        IpAddr::V6(Ipv6Addr::new(
            0x2a01,
            0x112,
            0,
            0,
            0,
            0,
            (i >> 16) as u16,
            i as u16,
        ))
    });
    let _ = std::fs::remove_dir_all(&dir);
}
