//! Turning command-line arguments into the list of inputs.

use std::path::Path;

use walkdir::WalkDir;

use crate::{IngestError, Input};

/// Expands arguments into inputs: `-` is standard input; a file is itself; a directory is
/// every file below it, recursively, sorted by path so Storage's `y=/m=/d=/h=/m=` layout
/// comes in time order (names starting with `.` are left out); anything else with `*`, `?`
/// or `[` is a glob pattern. A path that does not exist, or a pattern that matches nothing,
/// is an error naming it.
pub fn discover(args: &[String]) -> Result<Vec<Input>, IngestError> {
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            out.push(Input::stdin());
            continue;
        }
        let p = Path::new(a);
        if p.is_dir() {
            walk_dir(p, &mut out)?;
        } else if p.exists() {
            out.push(Input::file(p));
        } else if a.contains(['*', '?', '[']) {
            let paths = glob::glob(a).map_err(|e| IngestError::BadPattern {
                pattern: a.clone(),
                message: e.to_string(),
            })?;
            let mut found = false;
            for entry in paths {
                let path = entry.map_err(|e| IngestError::Walk {
                    path: e.path().display().to_string(),
                    message: e.error().to_string(),
                })?;
                found = true;
                if path.is_dir() {
                    walk_dir(&path, &mut out)?;
                } else {
                    out.push(Input::file(path));
                }
            }
            if !found {
                return Err(IngestError::NoMatch { pattern: a.clone() });
            }
        } else {
            return Err(IngestError::NotFound { path: a.clone() });
        }
    }
    Ok(out)
}

fn walk_dir(dir: &Path, out: &mut Vec<Input>) -> Result<(), IngestError> {
    let walker = WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| IngestError::Walk {
            path: e
                .path()
                .map_or_else(|| dir.display().to_string(), |p| p.display().to_string()),
            message: e.to_string(),
        })?;
        if entry.file_type().is_file() {
            out.push(Input::file(entry.into_path()));
        }
    }
    Ok(())
}

/// The hour a Storage blob covers, from its path
/// (`.../y=2025/m=06/d=30/h=01/m=00/PT1H.json`), as a sortable number `YYYYMMDDHHmm`.
pub fn blob_hour(path: &str) -> Option<u64> {
    const PARTS: [(&str, usize); 5] = [("y=", 4), ("m=", 2), ("d=", 2), ("h=", 2), ("m=", 2)];
    let segs: Vec<&str> = path.split(['/', '\\']).collect();
    let start = segs
        .iter()
        .rposition(|s| s.starts_with("y=") && s.len() == 6)?;
    let mut key = 0u64;
    for (i, (prefix, digits)) in PARTS.iter().enumerate() {
        let seg = segs.get(start + i)?.strip_prefix(prefix)?;
        if seg.len() != *digits {
            return None;
        }
        key = key * 10u64.pow(*digits as u32) + seg.parse::<u64>().ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_and_globs() {
        let root = std::env::temp_dir().join(format!("kvsentry-discover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for p in [
            "y=2024/m=02/d=01/h=00/m=00/PT1H.json",
            "y=2024/m=01/d=31/h=23/m=00/PT1H.json",
            "y=2024/m=01/d=31/h=05/m=00/PT1H.json",
            ".hidden/x.json",
            "y=2024/.DS_Store",
        ] {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, "{}").unwrap();
        }
        let got = discover(&[root.display().to_string()]).unwrap();
        let rel: Vec<String> = got
            .iter()
            .map(|i| {
                i.path
                    .as_ref()
                    .unwrap()
                    .strip_prefix(&root)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            rel,
            [
                "y=2024/m=01/d=31/h=05/m=00/PT1H.json",
                "y=2024/m=01/d=31/h=23/m=00/PT1H.json",
                "y=2024/m=02/d=01/h=00/m=00/PT1H.json"
            ]
        );
        let pat = format!("{}/y=2024/m=01/d=31/h=*/m=00/*.json", root.display());
        assert_eq!(discover(&[pat]).unwrap().len(), 2);
        let none = format!("{}/nope*.json", root.display());
        let e = discover(std::slice::from_ref(&none)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{none}: no files match this pattern")
        );
        let missing = root.join("missing.json").display().to_string();
        let e = discover(&["-".to_string(), missing.clone()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{missing}: no such file or directory")
        );
        assert_eq!(discover(&["-".to_string()]).unwrap(), vec![Input::stdin()]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
