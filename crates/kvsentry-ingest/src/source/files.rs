//! Files and standard input as a [`Source`]: opened, gunzipped by magic bytes, BOM dropped,
//! UTF-16 decoded, form and container detected; JSON Lines cut into blocks, the rest handed
//! over whole.

use std::fs::File;
use std::io::{self, Cursor, Read};

use kvsentry_read::Guarded;

use super::lines::LineBlocks;
use super::{Checkpoint, InputEnd, Source, Stream, Unit, read_error};
use crate::detect::json_container;
use crate::stats::ReadStats;
use crate::{Container, Foreign, IngestError, Input, LogFormat, ReadOptions, sniff};

/// How many bytes of an input detection is shown.
const HEAD_BYTES: usize = 64 * 1024;

/// Spare block buffers a source keeps for reuse.
const MAX_SPARE: usize = 64;

/// An input's bytes (a file or stdin), gunzipped when they start with gzip's magic.
pub(crate) type Decoder = kvsentry_read::Decoder<Box<dyn Read + Send>>;

/// Files and standard input, one after the other, as a [`Source`].
pub struct Files<'i> {
    inputs: &'i [Input],
    /// The source index of `inputs[0]`.
    first: u32,
    next: usize,
    format: LogFormat,
    chunk: usize,
    current: Option<Current>,
    spare: Vec<Vec<u8>>,
    sizes: Vec<u64>,
    consumed_before: u64,
}

impl<'i> Files<'i> {
    /// Reads `inputs` in order; the first is source `first`, the next `first + 1`...
    /// JSON Lines are cut into blocks of about `opts.chunk_bytes`.
    pub fn new(inputs: &'i [Input], first: u32, opts: &ReadOptions) -> Files<'i> {
        let sizes = inputs
            .iter()
            .map(|i| {
                i.path
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map_or(0, |m| m.len())
            })
            .collect();
        Files {
            inputs,
            first,
            next: 0,
            format: opts.format,
            chunk: opts.chunk_bytes,
            current: None,
            spare: Vec::new(),
            sizes,
            consumed_before: 0,
        }
    }

    /// Opens input `i`: a stream or the input's end, or `None` when it is JSON Lines, whose
    /// blocks the cutter it leaves in `current` gives.
    fn open_next(&mut self, i: usize, input: &Input) -> Option<Unit> {
        let source = self.first.wrapping_add(i as u32);
        let file = &input.display;
        let size = self.sizes.get(i).copied().unwrap_or(0);
        let mut stats = ReadStats::new();
        let end = |mut stats: ReadStats, error: Option<IngestError>| {
            if error.is_some() {
                stats.failed_files += 1;
            }
            Some(Unit::End(InputEnd {
                source,
                stats,
                error,
            }))
        };
        let Opened {
            guarded,
            head,
            gz,
            blank,
        } = match open(input) {
            Ok(o) => o,
            Err(e) => {
                self.consumed_before += size;
                return end(stats, Some(e));
            }
        };
        if blank {
            self.consumed_before += size;
            stats.empty_files += 1;
            stats.foreign_input(source, Foreign::Empty);
            stats.bytes += guarded.bytes;
            let error = guarded.err.map(|e| read_error(file, gz, 0, e));
            return end(stats, error);
        }
        let (form, container) = match resolve(&head, self.format, file) {
            Ok(found) => found,
            Err((e, foreign)) => {
                self.consumed_before += size;
                if let Some(f) = foreign {
                    stats.foreign_input(source, f);
                }
                return end(stats, Some(e));
            }
        };
        if container != Container::JsonLines {
            self.consumed_before += size;
            return Some(Unit::Stream(Stream {
                source,
                form,
                container,
                display: file.clone(),
                gz,
                reader: Cursor::new(head).chain(guarded),
            }));
        }
        stats.form(form).files += 1;
        stats.source_forms.insert(source, form);
        let at = Checkpoint {
            source,
            offset: 0,
            line: 1,
        };
        let buf = self.spare.pop().unwrap_or_default();
        self.current = Some(Current {
            blocks: LineBlocks::after_head(guarded, &head, buf, at, form, self.chunk),
            display: file.clone(),
            gz,
            stats,
        });
        None
    }
}

impl Source for Files<'_> {
    fn next_unit(&mut self) -> Option<Unit> {
        loop {
            if let Some(current) = &mut self.current {
                if let Some(block) = current.blocks.next_block(&mut self.spare) {
                    return Some(Unit::Block(block));
                }
                let current = self.current.take()?;
                self.consumed_before += current.blocks.get_ref().consumed();
                let (end, buf) = current.end();
                self.recycle(buf);
                return Some(Unit::End(end));
            }
            let i = self.next;
            let input = self.inputs.get(i)?;
            self.next += 1;
            if let Some(unit) = self.open_next(i, input) {
                return Some(unit);
            }
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < MAX_SPARE && !buffer.is_empty() {
            self.spare.push(buffer);
        }
    }

    fn progress(&self) -> (u64, u64) {
        let current = self
            .current
            .as_ref()
            .map_or(0, |c| c.blocks.get_ref().consumed());
        (self.consumed_before + current, self.sizes.iter().sum())
    }
}

/// A JSON Lines input being cut into blocks.
struct Current {
    blocks: LineBlocks<Decoder>,
    display: String,
    gz: bool,
    /// What opening it counted.
    stats: ReadStats,
}

impl Current {
    /// The input's end, and the buffer for reuse.
    fn end(self) -> (InputEnd, Vec<u8>) {
        let mut stats = self.stats;
        stats.bytes += self.blocks.bytes_read();
        let at = self.blocks.position();
        let (err, buf) = self.blocks.finish();
        let error = err.map(|e| read_error(&self.display, self.gz, at.line.saturating_sub(1), e));
        if error.is_some() {
            stats.failed_files += 1;
        }
        let end = InputEnd {
            source: at.source,
            stats,
            error,
        };
        (end, buf)
    }
}

/// The form and container of an input, detected from its head as [`Files`] reads it
/// (gunzipped, BOM dropped, UTF-16 decoded); `None` when it cannot be opened or is no form
/// kvsentry reads.
pub fn detect_input(input: &Input) -> Option<(LogFormat, Container)> {
    let opened = open(input).ok()?;
    crate::detect(&opened.head[..opened.head.len().min(HEAD_BYTES)])
}

/// An input opened for reading: gunzipped, its head read (BOM dropped, UTF-16 decoded).
struct Opened {
    guarded: Guarded<Decoder>,
    head: Vec<u8>,
    gz: bool,
    /// Nothing but whitespace, to the end.
    blank: bool,
}

fn open(input: &Input) -> Result<Opened, IngestError> {
    let file = &input.display;
    let inner: Box<dyn Read + Send> = match &input.path {
        Some(p) => Box::new(File::open(p).map_err(|e| IngestError::Open {
            file: file.clone(),
            source: e,
        })?),
        None => Box::new(io::stdin()),
    };
    let opened = kvsentry_read::open(inner, HEAD_BYTES).map_err(|e| IngestError::Read {
        file: file.clone(),
        line: 0,
        source: e,
    })?;
    let head = opened.head;
    let blank =
        head.iter().all(u8::is_ascii_whitespace) && (opened.utf16 || head.len() < HEAD_BYTES);
    Ok(Opened {
        guarded: opened.reader,
        head,
        gz: opened.gz,
        blank,
    })
}

/// The form and layout to read a (non-blank) head with: detected, or forced by `format`.
/// A forced form must not contradict what detection finds (another form, another
/// product's logs); when detection finds nothing it knows, the forced form is read, which
/// is what forcing is for. On error, what the input is instead, when that is known.
pub(super) fn resolve(
    head: &[u8],
    format: LogFormat,
    file: &str,
) -> Result<(LogFormat, Container), (IngestError, Option<Foreign>)> {
    let sniffed = sniff(&head[..head.len().min(HEAD_BYTES)]);
    match (format, sniffed) {
        (LogFormat::Auto, Ok(d)) => Ok((d.form, d.container)),
        (LogFormat::Auto, Err(f)) if f.is_other_product() => Err((
            IngestError::OtherProduct {
                file: file.to_string(),
                what: f,
            },
            Some(f),
        )),
        // (`Empty` here: a head of whitespace with more after it, not an empty file.)
        (LogFormat::Auto, Err(f)) => Err((
            IngestError::UnknownFormat {
                file: file.to_string(),
                preview: preview(head),
            },
            Some(f).filter(|f| *f != Foreign::Empty),
        )),
        (forced, Ok(d))
            if d.form != forced && !(forced.is_table() && d.form.is_table() && !d.certain) =>
        {
            Err((
                IngestError::NotForcedForm {
                    file: file.to_string(),
                    forced,
                    found: d.form.name().to_string(),
                },
                None,
            ))
        }
        (forced, Err(f)) if f.is_other_product() => Err((
            IngestError::NotForcedForm {
                file: file.to_string(),
                forced,
                found: f.describe().to_string(),
            },
            Some(f),
        )),
        (forced, _) => Ok((forced, forced_container(head, forced))),
    }
}

/// The layout when the form is forced: JSON by its first byte, else CSV for the table
/// forms and JSON Lines (whose bad lines are then skipped one by one) for the others.
fn forced_container(head: &[u8], form: LogFormat) -> Container {
    let t = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &head[i..]);
    match t.first() {
        Some(b'{') | Some(b'[') => json_container(t),
        _ if form.is_table() => Container::Csv,
        _ => Container::JsonLines,
    }
}

/// The first bytes, printable, for an error message.
pub(super) fn preview(head: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in head.iter().take(24) {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s.push('"');
    s
}
