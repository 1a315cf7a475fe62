//! Writing generated events in a form: to one stream, or to a directory laid out as the
//! form's source lays it out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::config::GenConfig;
use crate::error::GenError;
use crate::event::{EventRef, RecordKind};
use crate::fmt;
use crate::forms::{self, Form, FormKind};
use crate::generate::Generator;
use crate::truth::GroundTruth;

/// How often one caller address appears in the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpSeen {
    pub ip: IpAddr,
    pub first: Timestamp,
    pub last: Timestamp,
    pub count: u64,
}

/// What a write produced.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Records written.
    pub records: u64,
    /// Events the form had no place for (Managed HSM and other categories in `AZKVAuditLogs`).
    pub skipped: u64,
    /// Key Vault `AuditEvent` records among those written.
    pub key_vault_records: u64,
    /// Bytes produced before compression.
    pub bytes: u64,
    pub ground_truth: Vec<GroundTruth>,
    /// Caller addresses that appear in the written records, with first and last time.
    pub caller_ips: Vec<IpSeen>,
    /// Files written (by `write_dir`).
    pub files: Vec<PathBuf>,
}

const FLUSH_AT: usize = 1 << 17;

struct IpTrack {
    seen: Vec<(i64, i64, u64)>,
}

impl IpTrack {
    fn new(n: usize) -> IpTrack {
        IpTrack {
            seen: vec![(i64::MAX, i64::MIN, 0); n],
        }
    }

    fn note(&mut self, ev: &EventRef) {
        if let Some(s) = self.seen.get_mut(ev.ev.ip as usize) {
            s.0 = s.0.min(ev.ev.ticks);
            s.1 = s.1.max(ev.ev.ticks);
            s.2 += 1;
        }
    }

    fn finish(self, g: &Generator) -> Vec<IpSeen> {
        self.seen
            .iter()
            .zip(&g.world().ips)
            .filter(|(s, _)| s.2 > 0)
            .map(|(s, info)| IpSeen {
                ip: info.addr,
                first: fmt::timestamp_of(s.0),
                last: fmt::timestamp_of(s.1),
                count: s.2,
            })
            .collect()
    }
}

/// Generates the configured events and writes them in one form to `out`.
pub fn write<W: Write>(form: Form, config: &GenConfig, out: W) -> Result<Summary, GenError> {
    let g = Generator::new(config)?;
    write_generated(form, &g, out)
}

/// As [`write()`] for an already built generator.
pub fn write_generated<W: Write>(form: Form, g: &Generator, out: W) -> Result<Summary, GenError> {
    if form.gzip {
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        let s = stream(form.kind, g, &mut enc)?;
        enc.finish()?.flush()?;
        Ok(s)
    } else {
        let mut out = out;
        let s = stream(form.kind, g, &mut out)?;
        out.flush()?;
        Ok(s)
    }
}

fn stream<W: Write>(kind: FormKind, g: &Generator, out: &mut W) -> Result<Summary, GenError> {
    let mut w = forms::FormWriter::new(kind, g.config().batch);
    let mut buf = Vec::with_capacity(FLUSH_AT + 64 * 1024);
    let mut ips = IpTrack::new(g.world().ips.len());
    let (mut records, mut skipped, mut kv, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    w.begin(&mut buf);
    for ev in g.events() {
        if w.record(&mut buf, &ev) {
            records += 1;
            kv += u64::from(ev.is_key_vault_audit());
            ips.note(&ev);
        } else {
            skipped += 1;
        }
        if buf.len() >= FLUSH_AT {
            out.write_all(&buf)?;
            bytes += buf.len() as u64;
            buf.clear();
        }
    }
    w.end(&mut buf);
    out.write_all(&buf)?;
    bytes += buf.len() as u64;
    Ok(Summary {
        records,
        skipped,
        key_vault_records: kv,
        bytes,
        ground_truth: g.ground_truth().to_vec(),
        caller_ips: ips.finish(g),
        files: Vec::new(),
    })
}

fn create(path: &Path) -> Result<File, GenError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| GenError::File {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    File::create(path).map_err(|source| GenError::File {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the output into a directory, and nothing else: a reader of the directory sees
/// logs only. The ground truth is in the returned [`Summary`] (see [`write_ground_truth`](crate::write_ground_truth));
/// write it beside the directory, not in it.
///
/// The `storage` form is laid out as Azure Storage does it, one blob per resource and hour:
/// `insights-logs-auditevent/resourceId=/SUBSCRIPTIONS/<SUB>/RESOURCEGROUPS/<RG>/PROVIDERS/
/// MICROSOFT.KEYVAULT/VAULTS/<NAME>/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json` (Managed HSM
/// records land in the same container, as they do in Azure; other categories in their own
/// container). Every other form is written as one file named by [`Form::file_name`].
pub fn write_dir(form: Form, config: &GenConfig, dir: &Path) -> Result<Summary, GenError> {
    let g = Generator::new(config)?;
    write_dir_generated(form, &g, dir)
}

/// As [`write_dir`] for an already built generator.
pub fn write_dir_generated(form: Form, g: &Generator, dir: &Path) -> Result<Summary, GenError> {
    let summary = if form.kind == FormKind::Storage {
        write_blobs(form.gzip, g, dir)?
    } else {
        let path = dir.join(form.file_name());
        let file = create(&path)?;
        let mut s = write_generated(form, g, BufWriter::new(file)).map_err(|e| match e {
            GenError::Io(source) => GenError::File {
                path: path.clone(),
                source,
            },
            e => e,
        })?;
        s.files.push(path);
        s
    };
    Ok(summary)
}

enum BlobOut {
    Plain(BufWriter<File>),
    // Boxed: zlib-rs's encoder state is large and many blobs are open at once.
    Gz(Box<flate2::write::GzEncoder<BufWriter<File>>>),
}

impl BlobOut {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            BlobOut::Plain(w) => w.write_all(b),
            BlobOut::Gz(w) => w.write_all(b),
        }
    }
    fn finish(self) -> std::io::Result<()> {
        match self {
            BlobOut::Plain(mut w) => w.flush(),
            BlobOut::Gz(w) => (*w).finish()?.flush(),
        }
    }
}

fn write_blobs(gzip: bool, g: &Generator, dir: &Path) -> Result<Summary, GenError> {
    let mut open: HashMap<(RecordKind, u32), (PathBuf, BlobOut)> = HashMap::new();
    let mut hour = i64::MIN;
    let mut files = Vec::new();
    let mut created: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut w = forms::FormWriter::new(FormKind::Storage, 1);
    let mut line = Vec::with_capacity(4096);
    let mut path_buf = Vec::with_capacity(256);
    let mut ips = IpTrack::new(g.world().ips.len());
    let (mut records, mut kv, mut bytes) = (0u64, 0u64, 0u64);
    let close_all = |open: &mut HashMap<(RecordKind, u32), (PathBuf, BlobOut)>| {
        let mut keys: Vec<_> = open.keys().copied().collect();
        keys.sort_by_key(|k| (k.0 as u8, k.1));
        for k in keys {
            if let Some((path, out)) = open.remove(&k) {
                out.finish()
                    .map_err(|source| GenError::File { path, source })?;
            }
        }
        Ok::<(), GenError>(())
    };
    for ev in g.events() {
        let h = ev.ev.ticks.div_euclid(fmt::TICKS_PER_HOUR);
        if h != hour {
            close_all(&mut open)?;
            hour = h;
        }
        line.clear();
        w.record(&mut line, &ev);
        records += 1;
        kv += u64::from(ev.is_key_vault_audit());
        bytes += line.len() as u64;
        ips.note(&ev);
        let key = (ev.ev.kind, ev.ev.vault);
        if let std::collections::hash_map::Entry::Vacant(slot) = open.entry(key) {
            path_buf.clear();
            push_blob_path_into(&mut path_buf, &ev);
            let mut rel = String::from_utf8_lossy(&path_buf).into_owned();
            if gzip {
                rel.push_str(".gz");
            }
            let container = if ev.ev.kind == RecordKind::OtherCategory {
                "insights-logs-azurepolicyevaluationdetails"
            } else {
                "insights-logs-auditevent"
            };
            // The resource id starts with '/': join piecewise so it stays under `dir`.
            let mut path = dir.join(container);
            for part in rel.split('/').filter(|p| !p.is_empty()) {
                path.push(part);
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| GenError::File {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            // A blob left by an earlier run is replaced; one reopened in this run (not
            // expected, events come in time order) is appended to, as Azure appends.
            let reopened = created.contains(&path);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(reopened)
                .truncate(!reopened)
                .open(&path)
                .map_err(|source| GenError::File {
                    path: path.clone(),
                    source,
                })?;
            let bw = BufWriter::new(file);
            let out = if gzip {
                BlobOut::Gz(Box::new(flate2::write::GzEncoder::new(
                    bw,
                    flate2::Compression::fast(),
                )))
            } else {
                BlobOut::Plain(bw)
            };
            if created.insert(path.clone()) {
                files.push(path.clone());
            }
            slot.insert((path, out));
        }
        if let Some((path, out)) = open.get_mut(&key) {
            out.write_all(&line).map_err(|source| GenError::File {
                path: path.clone(),
                source,
            })?;
        }
    }
    close_all(&mut open)?;
    Ok(Summary {
        records,
        skipped: 0,
        key_vault_records: kv,
        bytes,
        ground_truth: g.ground_truth().to_vec(),
        caller_ips: ips.finish(g),
        files,
    })
}

fn push_blob_path_into(buf: &mut Vec<u8>, ev: &EventRef) {
    forms::push_blob_path(buf, ev.resource_id(), ev.ev.ticks);
}
