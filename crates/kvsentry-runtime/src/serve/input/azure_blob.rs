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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::{InputKind, ServeConfig};

    /// The input of a configuration whose `[[input]]` has `keys`, its secrets from `env`.
    fn input(keys: &str, env: &[(&str, &str)]) -> (InputConfig, AzureBlobInput) {
        let text = format!(
            "state_dir = \"state\"\n[[input]]\nname = \"storage\"\ntype = \"azure_blob\"\n\
             container = \"insights-logs-auditevent\"\n{keys}\n[[output]]\ntype = \"stdout\"\n"
        );
        let mut config = ServeConfig::from_str(&text, "test.toml").unwrap();
        config
            .resolve_secrets_with(|var| {
                env.iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap();
        let i = config.inputs()[0].clone();
        let InputKind::AzureBlob(b) = i.kind.clone() else {
            panic!("not azure_blob");
        };
        (i, b)
    }

    #[test]
    fn each_way_to_sign_in_gives_its_account() {
        let (_, b) = input(
            "connection_string_env = \"CONN\"",
            &[(
                "CONN",
                "DefaultEndpointsProtocol=https;AccountName=kvlogs;AccountKey=a2V5;EndpointSuffix=core.windows.net",
            )],
        );
        let a = account(&b).unwrap();
        assert_eq!(a.account(), "kvlogs");
        assert_eq!(a.endpoint_url(), "https://kvlogs.blob.core.windows.net");
        let (_, b) = input(
            "account = \"kvlogs\"\nkey_env = \"KEY\"\nendpoint = \"http://127.0.0.1:10000/kvlogs\"",
            &[("KEY", "a2V5")],
        );
        let a = account(&b).unwrap();
        assert_eq!(a.endpoint_url(), "http://127.0.0.1:10000/kvlogs");
        let (_, b) = input(
            "account = \"kvlogs\"\nsas_env = \"SAS\"",
            &[("SAS", "?sv=2022-11-02&sp=rl&sig=c2ln")],
        );
        let a = account(&b).unwrap();
        assert_eq!(a.endpoint_url(), "https://kvlogs.blob.core.windows.net");
        assert_eq!(a.redact("sig=c2ln"), "sig=***");
    }

    #[test]
    fn a_bad_connection_string_is_refused_without_its_secret() {
        let (i, b) = input(
            "connection_string_env = \"CONN\"",
            &[(
                "CONN",
                "AccountName=kvlogs;AccountKey=T0PSECRET;DefaultEndpointsProtocol=ftp",
            )],
        );
        let read = ReadOptions::default();
        let Err(e) = BlobInput::open(&i, &b, &read, 0, None) else {
            panic!("opened");
        };
        let msg = e.to_string();
        assert!(msg.starts_with("input storage: "), "{msg}");
        assert!(msg.contains("DefaultEndpointsProtocol=ftp"), "{msg}");
        assert!(!msg.contains("T0PSECRET"), "{msg}");
    }

    #[test]
    fn a_checkpoint_round_trips_and_a_bad_one_is_refused() {
        let (i, b) = input(
            "account = \"kvlogs\"\nkey_env = \"KEY\"\nendpoint = \"http://127.0.0.1:9/kvlogs\"",
            &[("KEY", "a2V5")],
        );
        let read = ReadOptions::default();
        let opened = BlobInput::open(&i, &b, &read, 5 << 24, None).unwrap();
        let cp = opened.checkpoint("storage").unwrap();
        let again = BlobInput::open(&i, &b, &read, 5 << 24, Some(&cp)).unwrap();
        assert_eq!(again.checkpoint("storage").unwrap(), cp);
        let Err(e) = BlobInput::open(&i, &b, &read, 5 << 24, Some(&[0xff, 0xff, 0xff])) else {
            panic!("a bad checkpoint opened");
        };
        assert!(matches!(e, ServeError::Checkpoint { .. }), "{e}");
    }
}
