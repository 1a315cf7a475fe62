//! The byte-level JSON scanning kvsentry's readers share (an internal crate).
//!
//! Reading JSON records is most of the cost of a hunt and of a threat-intelligence load, so
//! records are not parsed into values: they are walked, and each leaf is handed to the
//! caller where it lies in the text.
//!
//! - [`walk_text`]: the reference walk, built on serde_json: every leaf of a JSON value with
//!   its lower-cased, dot-joined path. Exact by construction; also the fallback of the fast
//!   walks.
//! - [`walk_fast`]: the same leaves as [`walk_text`], read byte by byte; it gives
//!   up ([`Undecided`]) on anything it cannot fully check, and the caller walks again with
//!   [`walk_text`].
//! - [`walk_keyed`]: a walk driven key by key by a mapping ([`KeyMap`]): no paths are built,
//!   keys are matched at their level (and remembered between records in a [`KeyCache`]),
//!   values nothing reads are checked and dropped. Same result as [`walk_fast`] with the path
//!   mapping the [`KeyMap`] stands for, or [`Undecided`].
//! - [`LineCounter`]: line numbers from positions in a text.
//! - [`flat`]: the pieces of a reader of flat objects of plain values (table rows), with the
//!   keys it remembers from line to line.
//!
//! Each fast path is checked in its tests against the reference beside it (the serde walk,
//! slice equality), on fixed cases and on randomly damaged records.
//!
//! One rule of kvsentry's records is known to the walks: the value of a token claim under
//! `identity.claim` (also under Elastic's `azure.platformlogs.`) that is an object is handed
//! over whole, as JSON text (see [`claim_value_object`]).

mod bytes;
pub mod flat;
mod keyed;
mod leaf;
mod lines;
mod path;
mod scan;

pub use keyed::{Key, KeyCache, KeyMap, Role, key_words, walk_keyed};
pub use leaf::Leaf;
pub use lines::LineCounter;
pub use path::{LeafFn, claim_value_object, walk_fast, walk_text};
pub use scan::Undecided;

/// A seeded xorshift for the damage tests: `next(n)` is a pseudo-random index below `n`, the
/// same sequence on every run.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
