//! `type = "files"`: a directory followed as it grows ([`Follow`]), resumed from its
//! checkpoint.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use kvsentry_ingest::{Follow, FollowCheckpoint, FollowOptions, ReadOptions};

use crate::serve::ServeError;
use crate::serve::config::{FilesInput, InputConfig};

/// A followed directory.
pub(crate) struct FilesSource(Follow);

impl FilesSource {
    pub fn open(
        config: &InputConfig,
        files: &FilesInput,
        read: &ReadOptions,
        first_source: u32,
        checkpoint: Option<&[u8]>,
    ) -> Result<FilesSource, ServeError> {
        let opts = FollowOptions {
            read: read.clone(),
            poll_interval: Duration::from_nanos(
                u64::try_from(files.poll_interval.as_nanos()).unwrap_or(1_000_000_000),
            ),
            once: true,
            first_source,
            ..FollowOptions::default()
        };
        let follow = match checkpoint {
            Some(bytes) => {
                let cp: FollowCheckpoint =
                    postcard::from_bytes(bytes).map_err(|e| ServeError::Checkpoint {
                        name: config.name.clone(),
                        reason: e.to_string(),
                    })?;
                Follow::resume(&files.path, opts, &cp)
            }
            None => Follow::new(&files.path, opts),
        }
        .map_err(|source| ServeError::Input {
            name: config.name.clone(),
            source,
        })?;
        Ok(FilesSource(follow))
    }

    pub fn checkpoint(&self, name: &str) -> Result<Vec<u8>, ServeError> {
        postcard::to_allocvec(&self.0.checkpoint()).map_err(|e| ServeError::Checkpoint {
            name: name.to_string(),
            reason: e.to_string(),
        })
    }
}

impl Deref for FilesSource {
    type Target = Follow;
    fn deref(&self) -> &Follow {
        &self.0
    }
}

impl DerefMut for FilesSource {
    fn deref_mut(&mut self) -> &mut Follow {
        &mut self.0
    }
}
