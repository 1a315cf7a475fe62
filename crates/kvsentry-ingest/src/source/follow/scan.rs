//! Looking at a followed directory: the files below it in reading order, a file's
//! identity, and the end of the last complete line in a range of a file.

use crate::discover::blob_hour;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use walkdir::WalkDir;

use super::FileIdentity;

/// A file found below the directory.
pub(super) struct Found {
    /// Relative to the directory, `/`-separated.
    pub rel: String,
}

/// Every file below `dir`, recursively, as `discover` finds them (links followed, names
/// starting with `.` left out), in reading order: by path, then Storage blobs hour by hour
/// across vaults (as a hunt reads them). Entries that cannot be read are counted in
/// `errors` and left out.
pub(super) fn list(dir: &Path, errors: &mut u64) -> Vec<Found> {
    let walker = WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut out = Vec::new();
    for entry in walker {
        let Ok(entry) = entry else {
            *errors += 1;
            continue;
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        out.push(Found { rel });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    order_by_blob_hour(&mut out);
    out
}

/// Hour by hour when at least two paths carry a blob hour (a stable sort: files without
/// one keep their place before the hourly ones), as kvsentry-runtime's hunt orders inputs.
fn order_by_blob_hour(found: &mut [Found]) {
    if found
        .iter()
        .filter(|f| blob_hour(&f.rel).is_some())
        .take(2)
        .count()
        < 2
    {
        return;
    }
    found.sort_by_key(|f| blob_hour(&f.rel));
}

/// The file's identity, where the platform has one.
#[cfg(unix)]
pub(super) fn identity(meta: &Metadata) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    Some(FileIdentity {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

#[cfg(not(unix))]
pub(super) fn identity(_meta: &Metadata) -> Option<FileIdentity> {
    None
}

/// The offset just after the last newline in `from..to` of `file`, read backwards in
/// slices (only the tail after the last complete line is read twice).
pub(super) fn line_end_before(file: &mut File, from: u64, to: u64) -> io::Result<Option<u64>> {
    const SLICE: u64 = 64 * 1024;
    let mut buf = Vec::new();
    let mut end = to;
    while end > from {
        let start = end.saturating_sub(SLICE).max(from);
        buf.clear();
        file.seek(SeekFrom::Start(start))?;
        file.by_ref().take(end - start).read_to_end(&mut buf)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf) {
            return Ok(Some(start + i as u64 + 1));
        }
        if buf.is_empty() {
            // Shorter than it was a moment ago: the next look notices.
            return Ok(None);
        }
        end = start;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_hours_sort_across_vaults_and_plain_files_first() {
        let f = |rel: &str| Found {
            rel: rel.to_string(),
        };
        let v = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS";
        let mut found = vec![
            f("extra.json"),
            f(&format!("{v}/A/y=2025/m=07/d=01/h=10/m=00/PT1H.json")),
            f(&format!("{v}/A/y=2025/m=07/d=01/h=11/m=00/PT1H.json")),
            f(&format!("{v}/B/y=2025/m=07/d=01/h=10/m=00/PT1H.json")),
        ];
        assert_eq!(blob_hour(&found[1].rel), Some(202507011000));
        assert_eq!(blob_hour("y=2025/m=7/d=01/h=10/m=00/PT1H.json"), None);
        order_by_blob_hour(&mut found);
        let got: Vec<String> = found
            .iter()
            .map(|f| f.rel.replace(v, "").replace("/m=00/PT1H.json", ""))
            .collect();
        assert_eq!(
            got,
            [
                "extra.json",
                "/A/y=2025/m=07/d=01/h=10",
                "/B/y=2025/m=07/d=01/h=10",
                "/A/y=2025/m=07/d=01/h=11"
            ]
        );
    }

    #[test]
    fn finds_the_last_line_end_across_slices() {
        let dir = std::env::temp_dir().join(format!("kvsentry-follow-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a");
        let mut text = vec![b'x'; 200_000];
        text[10] = b'\n';
        text[70_000] = b'\n';
        std::fs::write(&p, &text).unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(line_end_before(&mut f, 0, 200_000).unwrap(), Some(70_001));
        assert_eq!(line_end_before(&mut f, 0, 70_000).unwrap(), Some(11));
        assert_eq!(line_end_before(&mut f, 11, 70_000).unwrap(), None);
        assert_eq!(line_end_before(&mut f, 70_001, 200_000).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
