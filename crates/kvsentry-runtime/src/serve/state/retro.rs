//! The compact history of caller IPs (16 bytes and a last-seen time each) that new threat
//! intel is matched against retroactively.

use std::net::IpAddr;

use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::error::StateError;
use super::tables::{IPS, ip_from_key, ip_key, micros, timestamp};

/// Records `seen` within `txn`, keeping each IP's latest time.
pub(crate) fn record(
    txn: &WriteTransaction,
    seen: &[(IpAddr, Timestamp)],
) -> Result<(), StateError> {
    if seen.is_empty() {
        return Ok(());
    }
    let mut ips = txn.open_table(IPS)?;
    for &(ip, at) in seen {
        let key = ip_key(ip);
        let at = micros(at);
        let newer = match ips.get(&key)? {
            Some(old) => old.value() < at,
            None => true,
        };
        if newer {
            ips.insert(&key, at)?;
        }
    }
    Ok(())
}

pub(crate) fn since(
    db: &Database,
    since: Timestamp,
) -> Result<Vec<(IpAddr, Timestamp)>, StateError> {
    let since = micros(since);
    let txn = db.begin_read()?;
    let mut out = Vec::new();
    for r in txn.open_table(IPS)?.iter()? {
        let (k, v) = r?;
        if v.value() >= since {
            out.push((ip_from_key(k.value()), timestamp(v.value())));
        }
    }
    Ok(out)
}

pub(crate) fn prune_before(db: &Database, before: Timestamp) -> Result<u64, StateError> {
    let before = micros(before);
    let txn = db.begin_write()?;
    let removed;
    {
        let mut ips = txn.open_table(IPS)?;
        let len = ips.len()?;
        ips.retain(|_, at| at >= before)?;
        removed = len - ips.len()?;
    }
    txn.commit()?;
    Ok(removed)
}
