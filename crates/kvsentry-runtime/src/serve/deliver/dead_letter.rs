//! An output's dead-letter file, `<state_dir>/dead-letter/<output>.jsonl`: the alerts its
//! receiver refused for good, one JSON line each with the reason, for someone to look at
//! (and send again by hand).
//!
//! A line is written and synced before the alert leaves the outbox; the ids the file holds
//! are read when the worker starts, so an alert a crash left written but still pending is
//! recorded, not written twice.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use kvsentry_output::sink::FileTransport;

use crate::serve::state::Pending;

/// The directory under `state_dir` that holds the dead-letter files.
pub const DEAD_LETTER_DIR: &str = "dead-letter";

/// The dead-letter file of output `name`.
pub fn dead_letter_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir
        .join(DEAD_LETTER_DIR)
        .join(format!("{name}.jsonl"))
}

/// One output's dead-letter file, opened when first needed.
pub(crate) struct DeadLetters {
    output: String,
    path: PathBuf,
    file: Option<File>,
    /// Ids the file holds.
    held: BTreeSet<String>,
}

impl DeadLetters {
    /// Reads the ids `output`'s dead-letter file holds (removing a cut last line).
    pub(crate) fn open(state_dir: &Path, output: &str) -> io::Result<DeadLetters> {
        let path = dead_letter_path(state_dir, output);
        let held = FileTransport::reconcile(&path, 0)?.alert_ids;
        Ok(DeadLetters {
            output: output.to_owned(),
            path,
            file: None,
            held,
        })
    }

    /// Whether the file holds this alert.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.held.contains(id)
    }

    /// Appends `alert` with why it was refused and how often it was tried, durably.
    pub(crate) fn write(&mut self, alert: &Pending, reason: &str, attempts: u32) -> io::Result<()> {
        let body = alert.encoded.strip_suffix(b"\n").unwrap_or(&alert.encoded);
        let alert_json = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => v,
            Err(_) => serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
        };
        let line = serde_json::json!({
            "alert_id": alert.id,
            "output": self.output,
            "reason": reason,
            "attempts": attempts,
            "dead_lettered_at": jiff::Timestamp::now().to_string(),
            "alert": alert_json,
        });
        let mut bytes = serde_json::to_vec(&line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                if let Some(dir) = self.path.parent() {
                    fs::create_dir_all(dir)?;
                }
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?;
                self.file.insert(f)
            }
        };
        // A write cut short (a full disk) is cut back, so the file stays whole lines.
        let len = file.metadata()?.len();
        if let Err(e) = file.write_all(&bytes) {
            let _ = file.set_len(len);
            return Err(e);
        }
        file.sync_data()?;
        self.held.insert(alert.id.clone());
        Ok(())
    }
}
