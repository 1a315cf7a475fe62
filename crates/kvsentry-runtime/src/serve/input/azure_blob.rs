//! `type = "azure_blob"`: the Storage container a diagnostic setting archives to, read as
//! its append blobs grow ([`BlobSource`]), resumed from its checkpoint.

use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use kvsentry_ingest::{
    BlobAccount, BlobAccountError, BlobCheckpoint, BlobOptions, BlobSource, IngestError,
    ReadOptions,
};

use crate::serve::ServeError;
use crate::serve::config::{AzureBlobInput, BlobAuth, InputConfig};

/// A container read as it grows.
pub(crate) struct BlobInput(BlobSource);

impl BlobInput {
    pub fn open(
        config: &InputConfig,
        blob: &AzureBlobInput,
        read: &ReadOptions,
        first_source: u32,
        checkpoint: Option<&[u8]>,
    ) -> Result<BlobInput, ServeError> {
        let refused = |e: BlobAccountError| ServeError::Input {
            name: config.name.clone(),
            source: IngestError::Open {
                file: blob.container.clone(),
                source: io::Error::other(e.0),
            },
        };
        let account = account(blob).map_err(refused)?;
        let opts = BlobOptions {
            read: read.clone(),
            prefix: blob.prefix.clone(),
            poll_interval: Duration::from_nanos(
                u64::try_from(blob.poll_interval.as_nanos()).unwrap_or(60_000_000_000),
            ),
            once: true,
            first_source,
            ..BlobOptions::default()
        };
        let source = match checkpoint {
            Some(bytes) => {
                let cp: BlobCheckpoint =
                    postcard::from_bytes(bytes).map_err(|e| ServeError::Checkpoint {
                        name: config.name.clone(),
                        reason: e.to_string(),
                    })?;
                BlobSource::resume(&account, &blob.container, opts, &cp)
            }
            None => BlobSource::new(&account, &blob.container, opts),
        }
        .map_err(refused)?;
        Ok(BlobInput(source))
    }

    pub fn checkpoint(&self, name: &str) -> Result<Vec<u8>, ServeError> {
        postcard::to_allocvec(&self.0.checkpoint()).map_err(|e| ServeError::Checkpoint {
            name: name.to_string(),
            reason: e.to_string(),
        })
    }
}

/// The account the configuration signs in to, its secrets taken from the environment
/// (resolved when the configuration was loaded).
fn account(blob: &AzureBlobInput) -> Result<BlobAccount, BlobAccountError> {
    let secret = |s: &crate::serve::config::SecretEnv| {
        s.secret().map(|v| v.expose().to_string()).ok_or_else(|| {
            BlobAccountError(format!("the environment variable {} is not set", s.var()))
        })
    };
    let account = match &blob.auth {
        BlobAuth::ConnectionString(c) => BlobAccount::from_connection_string(&secret(c)?)?,
        BlobAuth::Key { account, key } => BlobAccount::with_key(account, &secret(key)?),
        BlobAuth::Sas { account, sas } => BlobAccount::with_sas(account, &secret(sas)?),
    };
    match &blob.endpoint {
        Some(url) => account.endpoint(url.as_str()),
        None => Ok(account),
    }
}

impl Deref for BlobInput {
    type Target = BlobSource;
    fn deref(&self) -> &BlobSource {
        &self.0
    }
}

impl DerefMut for BlobInput {
    fn deref_mut(&mut self) -> &mut BlobSource {
        &mut self.0
    }
}
