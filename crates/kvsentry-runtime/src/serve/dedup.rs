//! The same record read twice (a file copied into the followed directory, a vault whose
//! diagnostic setting writes to both a Storage account and an Event Hub that serve reads)
//! counts once, as in `hunt`.
//!
//! Each record's identity (`AuditEvent::hash_record_key`: time, correlation id, operation,
//! caller, vault, identity) is hashed to 128 bits with seeds drawn for this state directory
//! (record fields are attacker-controlled: a fixed, public seed would let crafted records
//! collide with real ones). The hashes are kept, by minute of event time, until the engine's
//! watermark passes the minute: a copy older than that is late and dead-lettered anyway.
//! Each pass commits only the minutes it changed, with the engine state, so a restart
//! drops exactly the copies the engine already counted.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};

use foldhash::HashSet;
use foldhash::fast::FixedState;
use kvsentry_model::AuditEvent;

use super::ServeError;
use super::state::Commit;

/// The key of the seeds and of each minute's hashes among the stored positions.
pub(crate) const INPUT: &str = "\0dedup";
const SEEDS: &[u8] = b"seeds";

const MINUTE: i64 = 60_000_000_000;

/// Hashes a record's identity; `Sync`, used on the workers.
#[derive(Clone)]
pub(crate) struct KeyHasher([FixedState; 2]);

impl KeyHasher {
    #[inline]
    pub fn key(&self, ev: &AuditEvent<'_>) -> u128 {
        let mut a = self.0[0].build_hasher();
        let mut b = self.0[1].build_hasher();
        ev.hash_record_key(&mut a);
        ev.hash_record_key(&mut b);
        (u128::from(a.finish()) << 64) | u128::from(b.finish())
    }
}

/// The identities of the records the engine holds, by minute of event time.
pub(crate) struct Dedup {
    seeds: [u64; 2],
    minutes: BTreeMap<i64, HashSet<u128>>,
    /// Minutes changed since the last commit, and minutes forgotten.
    dirty: BTreeSet<i64>,
    gone: BTreeSet<i64>,
    new_seeds: bool,
}

impl Dedup {
    /// From the stored positions (`INPUT`'s), or new with fresh seeds.
    pub fn load<'a>(
        stored: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) -> Result<Dedup, ServeError> {
        let bad = |e: postcard::Error| ServeError::Checkpoint {
            name: "record identities".into(),
            reason: e.to_string(),
        };
        let mut seeds = None;
        let mut minutes = BTreeMap::new();
        for (key, bytes) in stored {
            if key == SEEDS {
                seeds = Some(postcard::from_bytes::<[u64; 2]>(bytes).map_err(bad)?);
            } else if let Ok(m) = <[u8; 8]>::try_from(key) {
                let keys: Vec<u128> = postcard::from_bytes(bytes).map_err(bad)?;
                minutes.insert(i64::from_be_bytes(m), keys.into_iter().collect());
            }
        }
        let new_seeds = seeds.is_none();
        let seeds = seeds.unwrap_or_else(|| {
            let s = foldhash::fast::RandomState::default();
            [s.hash_one(1u8), s.hash_one(2u8)]
        });
        Ok(Dedup {
            seeds,
            minutes,
            dirty: BTreeSet::new(),
            gone: BTreeSet::new(),
            new_seeds,
        })
    }

    pub fn hasher(&self) -> KeyHasher {
        KeyHasher([
            FixedState::with_seed(self.seeds[0]),
            FixedState::with_seed(self.seeds[1]),
        ])
    }

    /// True when the record was seen already; else remembers it.
    #[inline]
    pub fn seen(&mut self, key: u128, time: i64) -> bool {
        let minute = time.div_euclid(MINUTE);
        let set = self.minutes.entry(minute).or_default();
        if set.insert(key) {
            self.dirty.insert(minute);
            false
        } else {
            true
        }
    }

    /// Forgets the minutes ending at or before the watermark `w` (ns).
    pub fn prune(&mut self, w: i64) {
        while let Some(entry) = self.minutes.first_entry() {
            if entry.key().saturating_add(1).saturating_mul(MINUTE) > w {
                break;
            }
            let minute = entry.remove_entry().0;
            self.dirty.remove(&minute);
            self.gone.insert(minute);
        }
    }

    /// Adds what changed since the last commit to `commit`.
    pub fn commit(&mut self, commit: &mut Commit) -> Result<(), ServeError> {
        let bad = |e: postcard::Error| ServeError::Checkpoint {
            name: "record identities".into(),
            reason: e.to_string(),
        };
        if self.new_seeds {
            commit.position(
                INPUT,
                SEEDS,
                &postcard::to_allocvec(&self.seeds).map_err(bad)?,
            );
        }
        for m in &self.dirty {
            if let Some(set) = self.minutes.get(m) {
                let mut keys: Vec<u128> = set.iter().copied().collect();
                keys.sort_unstable();
                let bytes = postcard::to_allocvec(&keys).map_err(bad)?;
                commit.position(INPUT, &m.to_be_bytes(), &bytes);
            }
        }
        for m in &self.gone {
            commit.forget_position(INPUT, &m.to_be_bytes());
        }
        Ok(())
    }

    /// The last commit went through.
    pub fn committed(&mut self) {
        self.new_seeds = false;
        self.dirty.clear();
        self.gone.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::state::StateStore;

    fn stored(store: &StateStore) -> Vec<(Vec<u8>, Vec<u8>)> {
        let loaded = store.load().unwrap().unwrap();
        loaded
            .positions
            .into_iter()
            .filter(|((input, _), _)| input == INPUT)
            .map(|((_, k), v)| (k, v))
            .collect()
    }

    /// What a commit stores loads back: the seeds (so hashes agree across restarts) and
    /// the minutes not yet passed; minutes the watermark passed are forgotten, in memory
    /// and in the store.
    #[test]
    fn commits_what_changed_and_loads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let mut d = Dedup::load(std::iter::empty()).unwrap();
        assert!(!d.seen(7, 10 * MINUTE + 5));
        assert!(d.seen(7, 10 * MINUTE + 5));
        assert!(!d.seen(8, 12 * MINUTE));
        let mut c = Commit::new(Vec::new());
        d.commit(&mut c).unwrap();
        store.commit(&c).unwrap();
        d.committed();
        let rows = stored(&store);
        assert_eq!(rows.len(), 3, "seeds and two minutes");
        let mut again =
            Dedup::load(rows.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))).unwrap();
        assert_eq!(again.seeds, d.seeds);
        assert!(again.seen(7, 10 * MINUTE + 5));
        assert!(again.seen(8, 12 * MINUTE));
        d.prune(11 * MINUTE);
        assert!(!d.seen(7, 10 * MINUTE + 5), "a minute passed is forgotten");
        d.prune(11 * MINUTE);
        let mut c = Commit::new(Vec::new());
        d.commit(&mut c).unwrap();
        store.commit(&c).unwrap();
        d.committed();
        assert_eq!(stored(&store).len(), 2, "seeds and minute 12");
    }
}
