//! The JSON containers records come in, down to single records: lines ([`lines`]), whole
//! documents, arrays, envelopes and `_search` responses ([`documents`]), the REST API's
//! `tables` ([`tables`]). A record is read with its form's mapping ([`crate::forms`]) into a
//! [`crate::event::Builder`] and delivered ([`ctx`]). CSV rows are read by [`csv`].
//!
//! Layers, each using only the ones before: `ctx` ← `tables` ← `documents` ← `lines`.

pub(crate) mod csv;
mod ctx;
mod documents;
mod lines;
mod tables;

pub(crate) use crate::forms::mapper;
pub(crate) use ctx::{Ctx, deliver_row};
pub(crate) use documents::parse_documents;
pub use lines::parse_lines;
