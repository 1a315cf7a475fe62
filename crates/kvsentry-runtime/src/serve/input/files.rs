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

impl FilesSource {
    /// See `ServeInput::unread_floor`: the start of the earliest blob hour waiting.
    pub fn unread_floor(&self) -> Option<Option<i64>> {
        self.0.unread_hour().map(|h| h.and_then(hour_start))
    }
}

/// A blob hour key (`YYYYMMDDHHMM`) as ns since the epoch, UTC.
fn hour_start(key: u64) -> Option<i64> {
    let n = |div: u64, m: u64| i8::try_from(key / div % m).ok();
    let year = i16::try_from(key / 100_000_000).ok()?;
    jiff::civil::DateTime::new(
        year,
        n(1_000_000, 100)?,
        n(10_000, 100)?,
        n(100, 100)?,
        n(1, 100)?,
        0,
        0,
    )
    .ok()?
    .to_zoned_datetime(jiff::tz::TimeZone::UTC)
    .ok()
    .and_then(|z| i64::try_from(z.timestamp().as_nanosecond()).ok())
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_hour_key_is_its_start() {
        let t: jiff::Timestamp = "2025-07-01T10:00:00Z".parse().unwrap();
        assert_eq!(
            super::hour_start(202507011000),
            Some(t.as_nanosecond() as i64)
        );
        assert_eq!(super::hour_start(202513011000), None);
    }
}
