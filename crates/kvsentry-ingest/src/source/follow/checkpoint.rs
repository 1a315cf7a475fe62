//! Where a followed directory's reading stands, serialisable: per file (by its path
//! relative to the directory) its source index, how far it was read and which file it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A followed directory's position: what [`super::Follow::resume`] continues from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowCheckpoint {
    /// By path relative to the directory, `/`-separated.
    pub files: BTreeMap<String, FilePosition>,
}

/// How far one file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Its source index (the `source` of its blocks and events' origins).
    pub source: u32,
    /// Bytes read: of the file for a followed JSON Lines file (a UTF-8 byte-order mark
    /// included), of its decoded text for a file read whole (gzip, UTF-16).
    pub offset: u64,
    /// The number of the line that starts at `offset`.
    pub line: u64,
    /// Which file it was, to notice one replaced under the same name.
    #[serde(default)]
    pub identity: Option<FileIdentity>,
    /// A file read whole: read to its end, when it was `size` bytes long.
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub size: u64,
}

/// A file's identity on its file system (device and inode on Unix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
}
