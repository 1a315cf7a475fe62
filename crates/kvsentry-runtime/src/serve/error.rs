//! Why a serve run stopped.

use super::config::{ConfigError, OutputConfig};
use super::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
    #[error(transparent)]
    Ti(#[from] crate::ti::TiError),
    #[error(transparent)]
    Engine(#[from] kvsentry_engine::EngineError),
    #[error("input {name}: {source}")]
    Input {
        name: String,
        source: kvsentry_ingest::IngestError,
    },
    /// An input's client could not be set up (a bad librdkafka setting, ...).
    #[error("input {name}: {message}")]
    InputClient { name: String, message: String },
    #[error("input {name}: its stored checkpoint cannot be read ({reason})")]
    Checkpoint { name: String, reason: String },
    #[error("output {name}: {source}")]
    Output {
        name: String,
        source: std::io::Error,
    },
    #[error("cannot write late events to the dead-letter file: {0}")]
    DeadLetter(String),
    #[error("cannot encode an alert: {0}")]
    Encode(std::io::Error),
    /// An option this version of serve does not run yet.
    #[error("{what}: {feature} is not supported by serve in this version")]
    NotYet { what: String, feature: &'static str },
}

impl ServeError {
    pub(crate) fn output(o: &OutputConfig, source: std::io::Error) -> ServeError {
        ServeError::Output {
            name: o.name.clone(),
            source,
        }
    }
}
