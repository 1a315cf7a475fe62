//! The configuration of `kvsentry serve`: a TOML file parsed into typed, validated values.
//!
//! Everything is checked at load, before serve starts: an unknown key or a bad value is
//! refused with the file, line, column and key path (`kvsentry.toml:12:1: `input[1].pool`:
//! unknown key ...`). Secrets are never in the file: it names environment variables
//! (`connection_string_env = "KV_EH_CONN"`), which [`ServeConfig::resolve_secrets`] reads
//! into [`Secret`]s that print as `***`.
//!
//! ```
//! use kvsentry_runtime::serve::config::{InputKind, ServeConfig};
//! let text = r#"
//! state_dir = "/var/lib/kvsentry"
//! [[input]]
//! type = "files"
//! path = "/data/kv-logs"
//! [[output]]
//! type = "stdout"
//! "#;
//! let config = ServeConfig::from_str(text, "kvsentry.toml").unwrap();
//! assert_eq!(config.inputs()[0].name, "files-1");
//! assert!(matches!(config.inputs()[0].kind, InputKind::Files(_)));
//! assert_eq!(config.idle_timeout().to_string(), "15m");
//! ```

mod error;
mod input;
mod load;
mod output;
mod top;
mod value;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, Invalid};
pub use input::{AzureBlobInput, BlobAuth, FilesInput, InputConfig, InputKind, KafkaInput};
pub use output::{FileOutput, KafkaOutput, OutputConfig, OutputKind, WebhookOutput};
pub use top::{LogLevel, LoggingConfig, LoggingFormat, TaxiiSource, TiConfig};
pub use value::{Secret, SecretEnv};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kvsentry_rules::Dur;

/// A loaded and validated `kvsentry serve` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    origin: String,
    state_dir: PathBuf,
    rules: Vec<PathBuf>,
    builtin: bool,
    allowed_lateness: Dur,
    idle_timeout: Dur,
    listen: SocketAddr,
    /// `listen` was in the file or set by [`ServeConfig::set_listen`].
    listen_given: bool,
    inputs: Vec<InputConfig>,
    outputs: Vec<OutputConfig>,
    ti: TiConfig,
    logging: LoggingConfig,
}

impl ServeConfig {
    /// Reads and validates a file. Relative paths in it are taken from the file's directory,
    /// so a deployment's config works whatever the working directory.
    pub fn from_path(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = ServeConfig::from_str(&text, &path.display().to_string())?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            config.rebase(dir);
        }
        Ok(config)
    }

    /// Validates a configuration's text; `origin` names it in messages (the file name).
    /// Relative paths are kept as written.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin: &str) -> Result<ServeConfig, ConfigError> {
        load::load(text, origin)
    }

    /// Reads every secret's environment variable. An unset or empty variable is an error
    /// naming the variable and the key, never a value.
    pub fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        self.resolve_secrets_with(|var| std::env::var(var).ok())
    }

    /// [`resolve_secrets`](Self::resolve_secrets) with another source than the process
    /// environment (tests, a secret store).
    pub fn resolve_secrets_with(
        &mut self,
        mut lookup: impl FnMut(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for s in self.secrets_mut() {
            match lookup(s.var()) {
                Some(v) if !v.is_empty() => s.set(Secret::new(v)),
                found => {
                    return Err(ConfigError::MissingEnv {
                        var: s.var().to_string(),
                        key: s.key.clone(),
                        at: s.at.clone(),
                        problem: if found.is_some() { "empty" } else { "not set" },
                    });
                }
            }
        }
        Ok(())
    }

    /// Every key that names a secret, in file order.
    pub fn secrets(&self) -> Vec<&SecretEnv> {
        let mut v = Vec::new();
        for i in &self.inputs {
            match &i.kind {
                InputKind::Files(_) => {}
                InputKind::AzureBlob(b) => v.push(match &b.auth {
                    BlobAuth::ConnectionString(s) => s,
                    BlobAuth::Key { key, .. } => key,
                    BlobAuth::Sas { sas, .. } => sas,
                }),
                InputKind::Kafka(k) => {
                    v.extend(&k.connection_string_env);
                    v.extend(k.secret_settings.values());
                }
            }
        }
        for t in &self.ti.taxii {
            v.extend(t.user_env.iter().chain(&t.password_env).chain(&t.token_env));
        }
        for o in &self.outputs {
            match &o.kind {
                OutputKind::Webhook(w) => v.extend(w.secret_headers.values()),
                OutputKind::Kafka(k) => {
                    v.extend(&k.connection_string_env);
                    v.extend(k.secret_settings.values());
                }
                OutputKind::File(_) | OutputKind::Stdout => {}
            }
        }
        v.sort_by_key(|s| s.span.start);
        v
    }

    fn secrets_mut(&mut self) -> Vec<&mut SecretEnv> {
        let mut v: Vec<&mut SecretEnv> = Vec::new();
        for i in &mut self.inputs {
            match &mut i.kind {
                InputKind::Files(_) => {}
                InputKind::AzureBlob(b) => v.push(match &mut b.auth {
                    BlobAuth::ConnectionString(s) => s,
                    BlobAuth::Key { key, .. } => key,
                    BlobAuth::Sas { sas, .. } => sas,
                }),
                InputKind::Kafka(k) => {
                    v.extend(&mut k.connection_string_env);
                    v.extend(k.secret_settings.values_mut());
                }
            }
        }
        for t in &mut self.ti.taxii {
            v.extend(t.user_env.iter_mut());
            v.extend(t.password_env.iter_mut());
            v.extend(t.token_env.iter_mut());
        }
        for o in &mut self.outputs {
            match &mut o.kind {
                OutputKind::Webhook(w) => v.extend(w.secret_headers.values_mut()),
                OutputKind::Kafka(k) => {
                    v.extend(&mut k.connection_string_env);
                    v.extend(k.secret_settings.values_mut());
                }
                OutputKind::File(_) | OutputKind::Stdout => {}
            }
        }
        v.sort_by_key(|s| s.span.start);
        v
    }

    /// Joins every relative path to `dir`.
    fn rebase(&mut self, dir: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        join(&mut self.state_dir);
        self.rules.iter_mut().for_each(join);
        self.ti.paths.iter_mut().for_each(join);
        for i in &mut self.inputs {
            if let InputKind::Files(f) = &mut i.kind {
                join(&mut f.path);
            }
        }
        for o in &mut self.outputs {
            if let OutputKind::File(f) = &mut o.kind {
                join(&mut f.path);
            }
        }
    }

    /// The file's name as given to [`from_path`](Self::from_path) or
    /// [`from_str`](Self::from_str).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `state_dir`: checkpoints, engine state, the alert ledger.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// `rules`: rule files and directories besides (or, with `builtin = false`, instead of)
    /// the built-ins.
    pub fn rules(&self) -> &[PathBuf] {
        &self.rules
    }

    /// `builtin` (default true): load the built-in rule pack.
    pub fn builtin(&self) -> bool {
        self.builtin
    }

    /// `allowed_lateness` (default 15m): the watermark is the newest event time seen minus
    /// this; later events are counted and dead-lettered.
    pub fn allowed_lateness(&self) -> &Dur {
        &self.allowed_lateness
    }

    /// `idle_timeout` (default: `allowed_lateness`): after this long caught up and idle, an
    /// input's watermark follows the wall clock.
    pub fn idle_timeout(&self) -> &Dur {
        &self.idle_timeout
    }

    /// `listen` (default 127.0.0.1:9464): `/healthz`, `/metrics`, `/reload`.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// Where serve answers HTTP: `listen` when the file names it or
    /// [`set_listen`](Self::set_listen) set it; `None` (no HTTP server) otherwise, so
    /// several serves on one host, and `--once` runs from cron, open no port unasked.
    pub fn http_listen(&self) -> Option<SocketAddr> {
        self.listen_given.then_some(self.listen)
    }

    /// Overrides `listen` (the `--listen` option).
    pub fn set_listen(&mut self, addr: SocketAddr) {
        self.listen = addr;
        self.listen_given = true;
    }

    /// The `[[input]]` sections, at least one, names unique.
    pub fn inputs(&self) -> &[InputConfig] {
        &self.inputs
    }

    /// The `[[output]]` sections, at least one, names unique.
    pub fn outputs(&self) -> &[OutputConfig] {
        &self.outputs
    }

    /// `[ti]` (empty when absent: no threat intelligence).
    pub fn ti(&self) -> &TiConfig {
        &self.ti
    }

    /// `[logging]`.
    pub fn logging(&self) -> &LoggingConfig {
        &self.logging
    }
}
