//! What can go wrong with the state store.

use std::path::PathBuf;

/// An error of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state directory could not be created or read.
    #[error("state directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another store in this one) has the state open.
    #[error(
        "state store {} is in use by another kvsentry serve: two processes must not share a state_dir",
        path.display()
    )]
    Locked { path: PathBuf },
    /// The store was written by a newer kvsentry.
    #[error(
        "state store {} has format version {found}, this kvsentry reads up to {supported}: \
         run the newer kvsentry, or start with an empty state_dir",
        path.display()
    )]
    NewerFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The store holds something this version cannot have written.
    #[error("state store {} is damaged: {what}", path.display())]
    Corrupt { path: PathBuf, what: String },
    /// The underlying database failed (I/O, corruption it detected).
    #[error("state store: {0}")]
    Store(#[from] redb::Error),
}

impl From<redb::StorageError> for StateError {
    fn from(e: redb::StorageError) -> Self {
        StateError::Store(e.into())
    }
}

impl From<redb::TableError> for StateError {
    fn from(e: redb::TableError) -> Self {
        StateError::Store(e.into())
    }
}

impl From<redb::TransactionError> for StateError {
    fn from(e: redb::TransactionError) -> Self {
        StateError::Store(e.into())
    }
}

impl From<redb::CommitError> for StateError {
    fn from(e: redb::CommitError) -> Self {
        StateError::Store(e.into())
    }
}
