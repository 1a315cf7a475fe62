//! The tables of the state store and how values are laid out in them.
//!
//! Sink names and input names are the configured names; alert ids are kvsentry's alert ids;
//! times are microseconds since the Unix epoch.

use std::net::{IpAddr, Ipv6Addr};

use redb::TableDefinition;

/// The on-disk format this build writes; bumped when a table's layout changes.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Small values keyed by name: [`KEY_FORMAT`], [`KEY_ENGINE`], [`KEY_CHECKPOINT`].
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const KEY_FORMAT: &str = "format";
pub(crate) const KEY_ENGINE: &str = "engine";
/// How many checkpoints were committed (u64, little-endian).
pub(crate) const KEY_CHECKPOINT: &str = "checkpoint";

/// (input, partition) -> opaque position.
pub(crate) const POSITIONS: TableDefinition<(&str, &[u8]), &[u8]> =
    TableDefinition::new("positions");

/// sink -> (next sequence number, pending, delivered).
pub(crate) const SINKS: TableDefinition<&str, (u64, u64, u64)> = TableDefinition::new("sinks");

/// (sink, seq) -> (alert id, encoded alert): what waits for delivery, in order.
pub(crate) const OUTBOX: TableDefinition<(&str, u64), (&str, &[u8])> =
    TableDefinition::new("outbox");
/// (sink, alert id) -> seq: which ids wait, so a replayed alert is not queued twice.
pub(crate) const OUTBOX_IDS: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("outbox_ids");

/// (sink, alert id) -> delivery time: the ledger of delivered alerts.
pub(crate) const LEDGER: TableDefinition<(&str, &str), i64> = TableDefinition::new("ledger");
/// (sink, delivery time, seq) -> alert id: the ledger in delivery order, for pruning and
/// for reconciling a sink against its newest deliveries.
pub(crate) const LEDGER_ORDER: TableDefinition<(&str, i64, u64), &str> =
    TableDefinition::new("ledger_order");

/// sink -> alerts moved from its outbox to its ledger without delivery, because the
/// receiver refused them for good (they went to the sink's dead-letter file instead).
pub(crate) const DEAD_LETTERED: TableDefinition<&str, u64> = TableDefinition::new("dead_lettered");

/// Caller IP (16 bytes, IPv4 mapped into IPv6) -> last time seen.
pub(crate) const IPS: TableDefinition<&[u8; 16], i64> = TableDefinition::new("ips");

/// The per-sink counters as stored: (next seq, pending, delivered).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SinkRow {
    pub(crate) next_seq: u64,
    pub(crate) pending: u64,
    pub(crate) delivered: u64,
}

impl SinkRow {
    pub(crate) fn from_tuple((next_seq, pending, delivered): (u64, u64, u64)) -> Self {
        SinkRow {
            next_seq,
            pending,
            delivered,
        }
    }

    pub(crate) fn tuple(self) -> (u64, u64, u64) {
        (self.next_seq, self.pending, self.delivered)
    }
}

/// The stored form of an IP: IPv4 as its IPv6-mapped form, so both fit 16 bytes.
pub(crate) fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IP an [`ip_key`] stands for (IPv4-mapped addresses come back as IPv4).
pub(crate) fn ip_from_key(key: &[u8; 16]) -> IpAddr {
    Ipv6Addr::from(*key).to_canonical()
}

/// The stored form of a time.
pub(crate) fn micros(t: jiff::Timestamp) -> i64 {
    t.as_microsecond()
}

/// The time a stored value stands for (out-of-range values, which kvsentry never writes,
/// clamp to the representable range).
pub(crate) fn timestamp(us: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_round_trip_through_sixteen_bytes() {
        for ip in ["203.0.113.7", "2001:db8::1", "::1", "0.0.0.0"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_from_key(&ip_key(ip)), ip);
        }
        assert_eq!(
            ip_key("203.0.113.7".parse().unwrap())[..12],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        );
    }

    #[test]
    fn times_round_trip_at_microsecond_precision() {
        let t: jiff::Timestamp = "2026-03-01T12:34:56.123456Z".parse().unwrap();
        assert_eq!(timestamp(micros(t)), t);
        assert_eq!(timestamp(i64::MAX), jiff::Timestamp::MAX);
    }
}
