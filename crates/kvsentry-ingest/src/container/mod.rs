//! Container layers: how records are laid out in an input.

pub(crate) mod csv;
