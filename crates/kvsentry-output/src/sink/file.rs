//! A JSON-lines alert file, rotated by size, that a restart after a crash can reconcile.
//!
//! Each alert is one line appended with one write, so after `kill -9` the file holds every
//! alert delivered before it whole and at most one cut line at its end. Crash-safe delivery
//! goes: [`FileTransport::reconcile`] at start (drops the cut line, tells which alert ids the
//! files already hold, so they are not written twice), then for each batch
//! [`deliver`](Transport::deliver), [`FileTransport::sync`], and only then record the alerts
//! as delivered.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kvsentry_model::Alert;

use super::{DeliveryError, Transport};

/// Appends alerts, one JSON line each, to a file, and rotates it by size:
/// `alerts.jsonl` → `alerts.jsonl.1` → … → `alerts.jsonl.<keep>`, the oldest removed.
///
/// Each alert's bytes must be exactly one line (what [`JsonLines::new`] writes); anything
/// else is refused as that alert's failure, since the file would no longer reconcile.
///
/// [`JsonLines::new`]: crate::encode::JsonLines::new
#[derive(Debug)]
pub struct FileTransport {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    len: u64,
    /// Rotate before an alert would take the file past this size; `None`: never.
    rotate_bytes: Option<u64>,
    /// Rotated files kept.
    keep: usize,
}

/// What [`FileTransport::reconcile`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The ids of the alerts in the file and its rotated files.
    pub alert_ids: BTreeSet<String>,
    /// Bytes of a cut last line removed from the file (0 when it ended cleanly).
    pub truncated_bytes: u64,
    /// Whole lines that are not an alert (no `alert_id`), left as they are.
    pub unreadable_lines: usize,
}

impl FileTransport {
    /// Opens `path` for appending, creating it and its directory if needed, without rotation.
    ///
    /// A cut last line (a write interrupted by a crash) is removed first so the next alert
    /// starts on a line of its own; [`reconcile`](Self::reconcile) before opening also tells
    /// which alerts the file holds.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        truncate_cut_line(&mut file)?;
        let len = file.metadata()?.len();
        Ok(FileTransport {
            path,
            file,
            len,
            rotate_bytes: None,
            keep: 0,
        })
    }

    /// Rotates the file before an alert would take it past `rotate_bytes` (an alert larger
    /// than that gets a file of its own), keeping `keep` rotated files (`keep = 0`: the old
    /// alerts are dropped).
    pub fn with_rotation(mut self, rotate_bytes: u64, keep: usize) -> Self {
        self.rotate_bytes = Some(rotate_bytes.max(1));
        self.keep = keep;
        self
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every alert delivered so far durable (`fsync`): call it before recording them as
    /// delivered. (Alerts are written unbuffered, so a killed process loses none; this is
    /// for a power loss.)
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_data()
    }

    /// Prepares `path` (and its rotated files up to `.keep`) after a crash: removes a cut
    /// last line from `path` and returns the ids of the alerts the files hold, so each alert
    /// is written once. A missing file holds nothing.
    pub fn reconcile(path: &Path, keep: usize) -> io::Result<Recovered> {
        let mut found = Recovered::default();
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(mut file) => {
                found.truncated_bytes = truncate_cut_line(&mut file)?;
                file.seek(SeekFrom::Start(0))?;
                read_ids(file, &mut found)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in 1..=keep {
            match File::open(rotated(path, n)) {
                Ok(file) => read_ids(file, &mut found)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Shifts `path.1 … path.(keep-1)` up by one (dropping `path.keep`), moves the current
    /// file to `path.1` and starts a new one.
    fn rotate(&mut self) -> io::Result<()> {
        // The rotated file is never written again: make it durable before it moves.
        self.file.sync_data()?;
        if self.keep == 0 {
            fs::remove_file(&self.path)?;
        } else {
            remove_if_present(&rotated(&self.path, self.keep))?;
            for n in (1..self.keep).rev() {
                rename_if_present(&rotated(&self.path, n), &rotated(&self.path, n + 1))?;
            }
            fs::rename(&self.path, rotated(&self.path, 1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
        self.len = 0;
        sync_dir(&self.path)
    }
}

impl Transport for FileTransport {
    fn deliver(&mut self, _alert: &Alert, bytes: &[u8]) -> Result<(), DeliveryError> {
        let one_line = bytes.iter().position(|&b| b == b'\n') == Some(bytes.len().wrapping_sub(1));
        if !one_line {
            return Err(DeliveryError::Alert(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an alert file takes one JSON line per alert",
            )));
        }
        let size = bytes.len() as u64;
        if self
            .rotate_bytes
            .is_some_and(|max| self.len > 0 && self.len + size > max)
        {
            self.rotate().map_err(DeliveryError::Closed)?;
        }
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += size;
                Ok(())
            }
            // Cut back what was written (a full disk takes part of a line), so the file
            // stays whole lines and the alert can be tried again; if even that fails, the
            // file can take nothing more.
            Err(e) => match self.file.set_len(self.len) {
                Ok(()) => Err(DeliveryError::Alert(e)),
                Err(_) => Err(DeliveryError::Closed(e)),
            },
        }
    }

    fn finish(&mut self, trailer: &[u8]) -> io::Result<()> {
        self.file.write_all(trailer)?;
        self.len += trailer.len() as u64;
        self.sync()
    }
}

/// `path.n`: the `n`th rotated file.
fn rotated(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A crash in the middle of a rotation leaves gaps in the numbering; they are skipped.
fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes the renames of a rotation durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Cuts the file back to just after its last newline; returns the bytes removed.
fn truncate_cut_line(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = [0u8; 8192];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end < len {
        file.set_len(end)?;
        file.sync_data()?;
    }
    Ok(len - end)
}

/// Adds the id of each whole line's alert; a last line without its newline is not counted.
fn read_ids(file: File, found: &mut Recovered) -> io::Result<()> {
    #[derive(serde::Deserialize)]
    struct Line {
        alert_id: String,
    }
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(());
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(l) => {
                found.alert_ids.insert(l.alert_id);
            }
            Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
            Err(_) => found.unreadable_lines += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_names_append_the_number() {
        assert_eq!(
            rotated(Path::new("/var/log/alerts.jsonl"), 3),
            PathBuf::from("/var/log/alerts.jsonl.3")
        );
    }

    #[test]
    fn a_cut_line_is_removed_back_to_the_last_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        // Longer than one 8 KiB read, so the newline is found in an earlier chunk.
        let cut = vec![b'x'; 20_000];
        fs::write(&path, [b"{\"alert_id\":\"a\"}\n".as_slice(), &cut].concat()).unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert_eq!(truncate_cut_line(&mut file).unwrap(), 20_000);
        assert_eq!(fs::read(&path).unwrap(), b"{\"alert_id\":\"a\"}\n");
        assert_eq!(truncate_cut_line(&mut file).unwrap(), 0);

        fs::write(&path, b"no newline at all").unwrap();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        assert_eq!(truncate_cut_line(&mut file).unwrap(), 17);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    }

    /// A device that is always full and cannot be cut back: the transport is closed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_write_that_fails_and_cannot_be_undone_closes_the_transport() {
        let mut t = FileTransport::open("/dev/full").unwrap();
        match t.deliver(&crate::testutil::alert(), b"{}\n") {
            Err(DeliveryError::Closed(e)) => assert_eq!(e.raw_os_error(), Some(28), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bytes_that_are_not_one_line_are_that_alerts_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = FileTransport::open(dir.path().join("a.jsonl")).unwrap();
        let a = crate::testutil::alert();
        for bad in [&b"{}"[..], b"{\n}\n", b""] {
            match t.deliver(&a, bad) {
                Err(DeliveryError::Alert(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
                other => panic!("{other:?}"),
            }
        }
        t.deliver(&a, b"{}\n").unwrap();
        assert_eq!(fs::read(t.path()).unwrap(), b"{}\n");
    }
}
