//! Where a Storage account is and how to sign in to it: a connection string, an account and
//! its key, or an account and a SAS token; the blob endpoint overridden for Azurite. Secrets
//! are kept out of `Debug`, of every error message and of every message built from an error
//! of the client ([`BlobAccount::redact`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

/// Azurite's (and the Storage emulator's) well-known account and key, which
/// `UseDevelopmentStorage=true` stands for: public, not a secret.
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// A Storage account's blob endpoint and credential. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct BlobAccount {
    account: String,
    /// The blob service's URL (`https://<account>.blob.core.windows.net`, or Azurite's
    /// `http://127.0.0.1:10000/devstoreaccount1`).
    endpoint: String,
    credential: Credential,
}

#[derive(Clone, PartialEq, Eq)]
enum Credential {
    /// The account key (base64).
    Key(String),
    /// A SAS token (the query string, without `?`).
    Sas(String),
}

/// A connection string or endpoint that cannot be used; the message names keys, never values
/// of secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BlobAccountError(pub String);

impl BlobAccount {
    /// An account signed in to with its shared key, at `https://<account>.blob.core.windows.net`.
    pub fn with_key(account: &str, key: &str) -> BlobAccount {
        BlobAccount {
            account: account.to_string(),
            endpoint: public_endpoint("https", account, "core.windows.net"),
            credential: Credential::Key(key.trim().to_string()),
        }
    }

    /// An account signed in to with a SAS token (with or without its leading `?`), at
    /// `https://<account>.blob.core.windows.net`.
    pub fn with_sas(account: &str, sas: &str) -> BlobAccount {
        BlobAccount {
            account: account.to_string(),
            endpoint: public_endpoint("https", account, "core.windows.net"),
            credential: Credential::Sas(sas.trim().trim_start_matches('?').to_string()),
        }
    }

    /// An account from its connection string (`AccountName`, `AccountKey`,
    /// `SharedAccessSignature`, `BlobEndpoint`, `DefaultEndpointsProtocol`, `EndpointSuffix`,
    /// or `UseDevelopmentStorage=true` for Azurite at its default address); other keys (the
    /// queue, table and file endpoints) are ignored.
    pub fn from_connection_string(s: &str) -> Result<BlobAccount, BlobAccountError> {
        let mut name = None;
        let mut key = None;
        let mut sas = None;
        let mut blob_endpoint = None;
        let mut protocol = None;
        let mut suffix = None;
        let mut dev = false;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                // The part may be a secret cut apart: name its position, not its text.
                return Err(BlobAccountError(
                    "connection string: a part without `=` (expected Key=Value pairs separated by `;`)"
                        .into(),
                ));
            };
            let v = v.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "accountname" => name = Some(v),
                "accountkey" => key = Some(v),
                "sharedaccesssignature" => sas = Some(v),
                "blobendpoint" => blob_endpoint = Some(v),
                "defaultendpointsprotocol" => protocol = Some(v),
                "endpointsuffix" => suffix = Some(v),
                "usedevelopmentstorage" => dev = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        if dev {
            let mut account = BlobAccount {
                account: DEV_ACCOUNT.into(),
                endpoint: DEV_ENDPOINT.into(),
                credential: Credential::Key(DEV_KEY.into()),
            };
            if let Some(e) = blob_endpoint {
                account = account.endpoint(&e)?;
            }
            return Ok(account);
        }
        let credential = match (key, sas) {
            (Some(k), None) => Credential::Key(k),
            (None, Some(s)) => Credential::Sas(s.trim_start_matches('?').to_string()),
            (Some(_), Some(_)) => {
                return Err(BlobAccountError(
                    "connection string: both `AccountKey` and `SharedAccessSignature`; give one"
                        .into(),
                ));
            }
            (None, None) => {
                return Err(BlobAccountError(
                    "connection string: no `AccountKey` nor `SharedAccessSignature`".into(),
                ));
            }
        };
        let endpoint = match (&blob_endpoint, &name) {
            (Some(e), _) => check_endpoint(e)?,
            (None, Some(n)) => {
                let protocol = protocol.as_deref().unwrap_or("https");
                if protocol != "https" && protocol != "http" {
                    return Err(BlobAccountError(format!(
                        "connection string: `DefaultEndpointsProtocol={protocol}`: expected https or http"
                    )));
                }
                public_endpoint(protocol, n, suffix.as_deref().unwrap_or("core.windows.net"))
            }
            (None, None) => {
                return Err(BlobAccountError(
                    "connection string: no `AccountName` nor `BlobEndpoint`".into(),
                ));
            }
        };
        let account = match name {
            Some(n) => n,
            None => account_of(&endpoint),
        };
        if matches!(credential, Credential::Key(_)) && account.is_empty() {
            return Err(BlobAccountError(
                "connection string: an `AccountKey` needs `AccountName`".into(),
            ));
        }
        Ok(BlobAccount {
            account,
            endpoint,
            credential,
        })
    }

    /// The same account at another blob endpoint (Azurite: `http://127.0.0.1:10000/devstoreaccount1`).
    pub fn endpoint(mut self, url: &str) -> Result<BlobAccount, BlobAccountError> {
        self.endpoint = check_endpoint(url)?;
        Ok(self)
    }

    /// The account's name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The blob endpoint used.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// `text` with every secret of this account (the key, the SAS token and its signature)
    /// replaced by `***`: for messages built from the client's errors, which may quote a
    /// request's URL.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let (whole, sig) = match &self.credential {
            Credential::Key(k) => (k.as_str(), None),
            Credential::Sas(s) => (s.as_str(), sas_signature(s)),
        };
        if !whole.is_empty() {
            out = out.replace(whole, "***");
        }
        if let Some(sig) = sig.filter(|s| !s.is_empty()) {
            // As given, decoded, and encoded again as a client writes it into a URL.
            let decoded = percent_decode(&sig);
            for form in [sig.clone(), percent_encode(&decoded), decoded] {
                if !form.is_empty() {
                    out = out.replace(&form, "***");
                }
            }
        }
        out
    }

    /// The object_store client of `container`: requests time out after `timeout` and are
    /// retried with exponential backoff for up to `retry_for`.
    pub(crate) fn store(
        &self,
        container: &str,
        timeout: Duration,
        retry_for: Duration,
    ) -> Result<Arc<dyn ObjectStore>, BlobAccountError> {
        let options = ClientOptions::new()
            .with_allow_http(self.endpoint.starts_with("http:"))
            .with_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(10)));
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 10,
            retry_timeout: retry_for,
        };
        let mut builder = MicrosoftAzureBuilder::new()
            .with_account(&self.account)
            .with_container_name(container)
            .with_endpoint(self.endpoint.clone())
            .with_client_options(options)
            .with_retry(retry);
        builder = match &self.credential {
            Credential::Key(k) => builder.with_access_key(k),
            Credential::Sas(s) => builder.with_config(AzureConfigKey::SasKey, s),
        };
        let store = builder
            .build()
            .map_err(|e| BlobAccountError(self.redact(&format!("blob client: {e}"))))?;
        Ok(Arc::new(store))
    }
}

impl fmt::Debug for BlobAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credential = match self.credential {
            Credential::Key(_) => "key",
            Credential::Sas(_) => "sas",
        };
        f.debug_struct("BlobAccount")
            .field("account", &self.account)
            .field("endpoint", &self.endpoint)
            .field("credential", &credential)
            .finish()
    }
}

fn public_endpoint(protocol: &str, account: &str, suffix: &str) -> String {
    format!("{protocol}://{account}.blob.{suffix}")
}

/// An endpoint URL, without a trailing `/`; refused unless http(s) with a host.
fn check_endpoint(url: &str) -> Result<String, BlobAccountError> {
    let url = url.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !url.contains('?') => Ok(url.into()),
        _ => Err(BlobAccountError(format!(
            "blob endpoint `{url}`: expected an http(s) URL such as https://<account>.blob.core.windows.net"
        ))),
    }
}

/// The account an endpoint names: Azurite's path (`http://host:port/<account>`), else the
/// host's first label (`https://<account>.blob.core.windows.net`).
fn account_of(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    match path.split('/').find(|p| !p.is_empty()) {
        Some(p) => p.to_string(),
        None => host.split('.').next().unwrap_or_default().to_string(),
    }
}

/// The `sig` parameter of a SAS token.
fn sas_signature(sas: &str) -> Option<String> {
    sas.split('&')
        .find_map(|kv| kv.strip_prefix("sig="))
        .map(str::to_string)
}

/// `%XX` escapes decoded (a SAS signature's `%2B`, `%2F`, `%3D`); bad escapes kept.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every byte but letters, digits and `-._~` as `%XX` (upper-case hex).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_string_with_a_key() {
        let a = BlobAccount::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=kvlogs;AccountKey=c2VjcmV0a2V5PT0=;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(a.account(), "kvlogs");
        assert_eq!(a.endpoint_url(), "https://kvlogs.blob.core.windows.net");
        assert!(a.credential == Credential::Key("c2VjcmV0a2V5PT0=".into()));
        // Another cloud's suffix, http.
        let a = BlobAccount::from_connection_string(
            "AccountName=kvlogs;AccountKey=k;EndpointSuffix=core.chinacloudapi.cn;DefaultEndpointsProtocol=http",
        )
        .unwrap();
        assert_eq!(a.endpoint_url(), "http://kvlogs.blob.core.chinacloudapi.cn");
    }

    #[test]
    fn a_connection_string_with_a_sas_and_an_endpoint() {
        let a = BlobAccount::from_connection_string(
            "BlobEndpoint=https://kvlogs.blob.core.windows.net/;QueueEndpoint=https://kvlogs.queue.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rl&sig=AbC%2Bd%3D",
        )
        .unwrap();
        assert_eq!(a.account(), "kvlogs");
        assert_eq!(a.endpoint_url(), "https://kvlogs.blob.core.windows.net");
        assert!(
            a.credential
                == Credential::Sas("sv=2022-11-02&ss=b&srt=co&sp=rl&sig=AbC%2Bd%3D".into())
        );
        // Azurite's path-style endpoint names the account in its path.
        let a = BlobAccount::from_connection_string(
            "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=?sv=1&sig=x",
        )
        .unwrap();
        assert_eq!(a.account(), "devstoreaccount1");
        assert!(a.credential == Credential::Sas("sv=1&sig=x".into()));
    }

    #[test]
    fn development_storage_is_azurite() {
        let a = BlobAccount::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(a.account(), "devstoreaccount1");
        assert_eq!(a.endpoint_url(), "http://127.0.0.1:10000/devstoreaccount1");
        let a = BlobAccount::from_connection_string(
            "UseDevelopmentStorage=true;BlobEndpoint=http://127.0.0.1:4711/devstoreaccount1/",
        )
        .unwrap();
        assert_eq!(a.endpoint_url(), "http://127.0.0.1:4711/devstoreaccount1");
    }

    #[test]
    fn bad_connection_strings_name_keys_not_secrets() {
        let cases = [
            (
                "AccountName=a;AccountKey=SECRETKEY;SharedAccessSignature=sig=SECRETSIG",
                "both",
            ),
            ("AccountName=a", "no `AccountKey`"),
            ("AccountKey=SECRETKEY", "no `AccountName`"),
            ("AccountName=a;SECRETKEY", "without `=`"),
            (
                "AccountName=a;AccountKey=SECRETKEY;DefaultEndpointsProtocol=ftp",
                "ftp",
            ),
            (
                "AccountKey=SECRETKEY;BlobEndpoint=ftp://x",
                "expected an http(s) URL",
            ),
        ];
        for (s, want) in cases {
            let e = BlobAccount::from_connection_string(s).unwrap_err().0;
            assert!(e.contains(want), "{s}: {e}");
            assert!(!e.contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn debug_and_redact_hide_secrets() {
        let a = BlobAccount::with_sas("kvlogs", "?sv=2022-11-02&sp=rl&sig=Ab%2Bc%2FdSECRET%3D");
        let d = format!("{a:?}");
        assert!(
            !d.contains("SECRET") && d.contains("sas") && d.contains("kvlogs"),
            "{d}"
        );
        let msg = "GET https://kvlogs.blob.core.windows.net/c/x?sv=2022-11-02&sp=rl&sig=Ab%2Bc%2FdSECRET%3D failed; sig Ab+c/dSECRET=";
        let r = a.redact(msg);
        assert!(!r.contains("SECRET"), "{r}");
        assert!(
            r.starts_with("GET https://kvlogs.blob.core.windows.net/c/x?"),
            "{r}"
        );
        // A signature given with lower-case escapes, quoted as a client encodes it.
        let a = BlobAccount::with_sas("kvlogs", "sv=1&sig=Ab%2bSECRET%2f");
        let r = a.redact("GET https://x/c?sig=Ab%2BSECRET%2F&sv=1");
        assert!(!r.contains("SECRET"), "{r}");
        let k = BlobAccount::with_key("kvlogs", "S3CRETKEY==");
        assert!(!format!("{k:?}").contains("S3CRET"));
        assert_eq!(k.redact("key S3CRETKEY== used"), "key *** used");
    }

    #[test]
    fn an_endpoint_override() {
        let a = BlobAccount::with_key("devstoreaccount1", DEV_KEY)
            .endpoint("http://127.0.0.1:10000/devstoreaccount1/")
            .unwrap();
        assert_eq!(a.endpoint_url(), "http://127.0.0.1:10000/devstoreaccount1");
        assert!(
            BlobAccount::with_key("a", "k")
                .endpoint("127.0.0.1:10000")
                .is_err()
        );
    }
}
