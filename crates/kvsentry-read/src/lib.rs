//! The byte readers kvsentry's log readers (kvsentry-ingest's `Files`) and its
//! threat-intelligence loaders (kvsentry-intel's `sources`) share (an internal crate): one
//! way to open an input as text and one way to cut a stream of lines into blocks.
//!
//! - [`open`]: an input's bytes, gunzipped when they start with gzip's magic (whatever the
//!   name), its head read with a UTF-8 byte-order mark dropped and UTF-16 decoded.
//! - [`LineCutter`]: the one cutter of a byte stream into [`Lines`], blocks of whole lines
//!   with the number of their first line and their offset, which can be parsed in any order
//!   and on any thread.
//! - [`Guarded`]: a reader whose first error ends the data and is kept, so that everything
//!   read before damage is delivered and the damage reported after it.
//!
//! Nothing here knows a log form or a feed format: detection and parsing stay with the
//! readers.

mod lines;
mod open;

pub use lines::{Guarded, LineCutter, Lines};
pub use open::{Decoder, Opened, open, strip_bom};
