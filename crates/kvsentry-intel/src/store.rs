//! Compact storage of indicator versions, for [`crate::IndicatorSet`].
//!
//! An export holds several versions per indicator and a selection keeps at most one per id,
//! so most versions are read only by the selection. Building a full [`Indicator`] (a dozen
//! owned strings) for each of them made the load allocate about 0.9 KB per row, most of it
//! thrown away. Instead, every version keeps only what the selection reads (id number,
//! times, network, flags) plus where the rest is:
//!
//! - ids are interned once per set (a [`StrPool`]), so grouping by id is an array lookup;
//! - the columns that repeat from row to row (provider, description, threat type, TLP,
//!   confidence, tags, ... and the file) are interned as one tuple (a [`StrPool`] of encoded
//!   tuples): a handful per export;
//! - the per-row texts (IP text, raw ExpirationDateTime) are appended to a text chunk;
//! - `origin` is built from the file and the line number.
//!
//! The full [`Indicator`] of a version is built the first time it is asked for (a selection
//! keeping it, or [`crate::IndicatorSet::iter`]) and kept, so every selection from one set
//! hands out the same `Arc`. Indicators pushed whole (other feeds) are kept as they are.

mod key;
mod pool;

use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use jiff::Timestamp;

use crate::model::{Indicator, IpColumn, SentinelColumns, parse_confidence, parse_list};
use key::{decimal, decode, encode, push_decimal, split_file};
use pool::StrPool;

/// A file rows came from: `origin` is `name:line`; `file_name` is the source of rows that
/// name no provider.
#[derive(Clone)]
pub(crate) struct FileNames {
    pub name: String,
    pub file_name: String,
}

/// A version whose full indicator was pushed whole (`Version::details`).
const WHOLE: u32 = u32::MAX;
/// `Version::exp_len` of a row without ExpirationDateTime text.
const NO_TEXT: u32 = u32::MAX;

/// One indicator version: what the selection reads, and where the rest is.
#[derive(Clone)]
pub(crate) struct Version {
    pub version_time: Timestamp,
    /// Meaningful when `has_expiration` (an `Option` would take 8 more bytes per version).
    expiration: Timestamp,
    pub network: IpNet,
    /// Number of the id in [`Store::ids`].
    pub id: u32,
    pub active: bool,
    pub revoked: bool,
    has_expiration: bool,
    ip_column: IpColumn,
    /// Number of the interned column tuple in [`Store::details`], or [`WHOLE`].
    details: u32,
    /// The IP text then the raw ExpirationDateTime, at `off` in the segment's text.
    off: u32,
    value_len: u32,
    exp_len: u32,
    line: u64,
}

impl Version {
    pub fn expiration(&self) -> Option<Timestamp> {
        self.has_expiration.then_some(self.expiration)
    }
}

/// Kept indicators from which [`Store::indicators`] builds on two threads: below, starting
/// a thread costs more than half the building saves.
const PARALLEL_BUILD_MIN: usize = 4096;

/// Versions in load order, a block of them at a time: the blocks parsed on other threads
/// are moved in whole, never copied into one growing array.
#[derive(Clone, Default)]
pub(crate) struct Segment {
    pub versions: Vec<Version>,
    /// The full indicator of each version, built when first asked for.
    built: Vec<OnceLock<Arc<Indicator>>>,
    /// IP and expiration texts (offsets are u32: a segment's text stays under 4 GiB).
    text: String,
}

impl Segment {
    fn text(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or("")
    }

    /// The IP text of version `i`, as the feed wrote it.
    pub fn value_text(&self, i: usize) -> &str {
        let Some(v) = self.versions.get(i) else {
            return "";
        };
        if v.details == WHOLE {
            return self
                .built
                .get(i)
                .and_then(OnceLock::get)
                .map_or("", |ind| ind.value_text.as_str());
        }
        let off = v.off as usize;
        self.text(off, off + v.value_len as usize)
    }
}

/// A Sentinel `ThreatIntelligenceIndicator` row, as the loader read it (borrowed from the
/// row): what [`Store::push_classic`] keeps and [`Store::build`] makes an [`Indicator`] of.
pub(crate) struct ClassicRow<'r> {
    pub id: &'r str,
    pub network: IpNet,
    pub value_text: &'r str,
    pub ip_column: IpColumn,
    pub version_time: Timestamp,
    pub expiration: Option<Timestamp>,
    /// The raw ExpirationDateTime text (non-blank).
    pub expiration_text: Option<&'r str>,
    pub active: bool,
    /// IndicatorProvider, else SourceSystem (non-blank); none: the file name.
    pub source: Option<&'r str>,
    pub description: Option<&'r str>,
    pub threat_type: Option<&'r str>,
    pub url: Option<&'r str>,
    pub tags: Option<&'r str>,
    pub tlp: Option<&'r str>,
    pub activity_group_names: Option<&'r str>,
    pub confidence_score: Option<&'r str>,
}

/// The repeated columns of a [`ClassicRow`], in the order they are encoded.
const DETAIL_FIELDS: usize = 8;

/// Every version of a set, compactly. See the module docs.
#[derive(Clone, Default)]
pub(crate) struct Store {
    pub segments: Vec<Segment>,
    /// Index of the first version of each segment.
    starts: Vec<usize>,
    len: usize,
    pub ids: StrPool,
    details: StrPool,
    files: Vec<FileNames>,
    /// Reused for encoding a row's detail tuple.
    scratch: String,
    /// The detail tuple of the last Sentinel row pushed.
    last: LastDetails,
}

/// The repeated columns of the last row pushed, and their tuple's number. The versions of
/// one indicator come one after the other and share their columns: comparing with the last
/// row's skips encoding the tuple, hashing it and comparing it in the pool, which were a
/// tenth of the load's instructions.
#[derive(Clone, Default)]
struct LastDetails {
    /// `None`: no row yet.
    details: Option<u32>,
    file: u32,
    /// The fields' texts end to end, and each field's range in it.
    text: String,
    fields: [Option<(usize, usize)>; DETAIL_FIELDS],
}

impl LastDetails {
    /// The tuple's number when `file` and `fields` are the last row's.
    fn same(&self, file: u32, fields: &[Option<&str>; DETAIL_FIELDS]) -> Option<u32> {
        let details = self.details?;
        let same = self.file == file
            && self
                .fields
                .iter()
                .zip(fields)
                .all(|(kept, f)| match (kept, f) {
                    (None, None) => true,
                    (Some((a, b)), Some(f)) => self.text.get(*a..*b) == Some(*f),
                    _ => false,
                });
        same.then_some(details)
    }

    fn remember(&mut self, details: u32, file: u32, fields: &[Option<&str>; DETAIL_FIELDS]) {
        self.details = Some(details);
        self.file = file;
        self.text.clear();
        for (kept, f) in self.fields.iter_mut().zip(fields) {
            *kept = f.map(|f| {
                let start = self.text.len();
                self.text.push_str(f);
                (start, self.text.len())
            });
        }
    }
}

/// Largest segment text: offsets into it are u32.
const TEXT_MAX: usize = u32::MAX as usize;

impl Store {
    pub fn len(&self) -> usize {
        self.len
    }

    fn file(&mut self, name: &str, file_name: &str) -> u32 {
        let found = match self.files.last() {
            Some(f) if f.name == name && f.file_name == file_name => Some(self.files.len() - 1),
            _ => self
                .files
                .iter()
                .position(|f| f.name == name && f.file_name == file_name),
        };
        match found {
            Some(i) => i as u32,
            None => {
                self.files.push(FileNames {
                    name: name.to_string(),
                    file_name: file_name.to_string(),
                });
                (self.files.len() - 1) as u32
            }
        }
    }

    /// The segment to append to, with room for `text` more bytes of text.
    fn tail(&mut self, text: usize) -> &mut Segment {
        if self
            .segments
            .last()
            .is_none_or(|s| s.text.len() + text > TEXT_MAX)
        {
            self.starts.push(self.len);
            self.segments.push(Segment::default());
        }
        self.len += 1;
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Adds a version pushed as a whole indicator.
    pub fn push_whole(&mut self, ind: Indicator) {
        let id = self.ids.intern(&ind.id);
        let v = Version {
            version_time: ind.version_time,
            expiration: ind.expiration.unwrap_or(Timestamp::UNIX_EPOCH),
            has_expiration: ind.expiration.is_some(),
            network: ind.network,
            id,
            active: ind.active,
            revoked: ind.revoked,
            ip_column: IpColumn::NetworkIP,
            details: WHOLE,
            off: 0,
            value_len: 0,
            exp_len: NO_TEXT,
            line: 0,
        };
        let seg = self.tail(0);
        seg.versions.push(v);
        seg.built.push(OnceLock::from(Arc::new(ind)));
    }

    /// Adds a Sentinel row read from line `line` of file `name` (`file_name`: its short name).
    pub fn push_classic(&mut self, row: &ClassicRow<'_>, name: &str, file_name: &str, line: usize) {
        let exp = row.expiration_text.unwrap_or("");
        let texts = row.value_text.len() + exp.len();
        let (Ok(line64), Ok(value_len), Ok(exp_len)) = (
            u64::try_from(line),
            u32::try_from(row.value_text.len()),
            u32::try_from(exp.len()),
        ) else {
            return self.push_whole(build_classic(row, name, file_name, line));
        };
        if texts >= TEXT_MAX || exp_len == NO_TEXT {
            return self.push_whole(build_classic(row, name, file_name, line));
        }
        let file = self.file(name, file_name);
        let fields = [
            row.source,
            row.description,
            row.threat_type,
            row.url,
            row.tags,
            row.tlp,
            row.activity_group_names,
            row.confidence_score,
        ];
        let details = match self.last.same(file, &fields) {
            Some(details) => details,
            None => {
                let mut key = std::mem::take(&mut self.scratch);
                key.clear();
                push_decimal(&mut key, file as usize);
                for f in fields {
                    encode(&mut key, f);
                }
                let details = self.details.intern(&key);
                self.scratch = key;
                self.last.remember(details, file, &fields);
                details
            }
        };
        let id = self.ids.intern(row.id);
        let seg = self.tail(texts);
        let off = seg.text.len() as u32;
        seg.text.push_str(row.value_text);
        seg.text.push_str(exp);
        seg.versions.push(Version {
            version_time: row.version_time,
            expiration: row.expiration.unwrap_or(Timestamp::UNIX_EPOCH),
            has_expiration: row.expiration.is_some(),
            network: row.network,
            id,
            active: row.active,
            revoked: false,
            ip_column: row.ip_column,
            details,
            off,
            value_len,
            exp_len: if row.expiration_text.is_some() {
                exp_len
            } else {
                NO_TEXT
            },
            line: line64,
        });
        seg.built.push(OnceLock::new());
    }

    /// Reserves room for `rows` more versions with `text` bytes of IP/expiration text and
    /// `id_bytes` of new ids: a block parsed on a worker then fills arrays allocated once
    /// instead of growing them step by step (each step is fresh memory the kernel zeroes).
    pub fn reserve(&mut self, rows: usize, text: usize, id_bytes: usize) {
        if self.segments.is_empty() {
            self.starts.push(self.len);
            self.segments.push(Segment::default());
        }
        if let Some(seg) = self.segments.last_mut() {
            seg.versions.reserve(rows);
            seg.built.reserve(rows);
            seg.text.reserve(text.min(TEXT_MAX));
        }
        self.ids.reserve(rows, id_bytes);
    }

    /// Frees the room reserved for more versions when much of it is unused (a set that is
    /// done loading).
    pub fn shrink(&mut self) {
        fn loose(len: usize, cap: usize) -> bool {
            cap - len > len / 8
        }
        for s in &mut self.segments {
            if loose(s.versions.len(), s.versions.capacity()) {
                s.versions.shrink_to_fit();
                s.built.shrink_to_fit();
            }
            if loose(s.text.len(), s.text.capacity()) {
                s.text.shrink_to_fit();
            }
        }
    }

    /// Moves every version of `other` after this store's: its segments are moved, with
    /// their ids and tuples renumbered.
    pub fn absorb(&mut self, other: Store) {
        let ids: Vec<u32> = (0..other.ids.len() as u32)
            .map(|i| self.ids.intern(other.ids.get(i)))
            .collect();
        let files: Vec<u32> = other
            .files
            .iter()
            .map(|f| self.file(&f.name, &f.file_name))
            .collect();
        let details: Vec<u32> = (0..other.details.len() as u32)
            .map(|i| {
                let key = other.details.get(i);
                // The tuple starts with its file number: renumber it.
                let (file, rest) = split_file(key);
                let file = files.get(file as usize).copied().unwrap_or(file);
                let mut k = file.to_string();
                k.push_str(rest);
                self.details.intern(&k)
            })
            .collect();
        for mut seg in other.segments {
            for v in &mut seg.versions {
                v.id = ids.get(v.id as usize).copied().unwrap_or(v.id);
                if v.details != WHOLE {
                    v.details = details
                        .get(v.details as usize)
                        .copied()
                        .unwrap_or(v.details);
                }
            }
            self.starts.push(self.len);
            self.len += seg.versions.len();
            self.segments.push(seg);
        }
    }

    /// The segment holding version `i`, and its position there.
    fn locate(&self, i: usize) -> Option<(&Segment, usize)> {
        let s = self
            .starts
            .partition_point(|&start| start <= i)
            .checked_sub(1)?;
        let seg = self.segments.get(s)?;
        Some((seg, i - self.starts.get(s)?))
    }

    pub fn version(&self, i: usize) -> Option<&Version> {
        let (seg, j) = self.locate(i)?;
        seg.versions.get(j)
    }

    /// The full indicator of version `i`, built the first time.
    pub fn indicator(&self, i: usize) -> Option<&Arc<Indicator>> {
        let (seg, j) = self.locate(i)?;
        let slot = seg.built.get(j)?;
        Some(slot.get_or_init(|| Arc::new(self.build(seg, j))))
    }

    /// The full indicators of versions `which`, in that order.
    ///
    /// With many to build, a second thread builds the second half meanwhile: the selection
    /// runs before the hunt starts, alone, so on one thread it left a core idle for a third
    /// of `ti stats`' wall time. Each version's slot is built once whichever thread gets to
    /// it, so the answer is the one-thread answer.
    pub fn indicators(&self, which: &[usize]) -> Vec<Arc<Indicator>> {
        if which.len() >= PARALLEL_BUILD_MIN {
            let (mine, theirs) = which.split_at(which.len() / 2);
            std::thread::scope(|scope| {
                // No thread (e.g. a process limit): the loop below builds the rest.
                let _ = std::thread::Builder::new().spawn_scoped(scope, || {
                    for &i in theirs {
                        self.indicator(i);
                    }
                });
                for &i in mine {
                    self.indicator(i);
                }
            });
        }
        which
            .iter()
            .filter_map(|&i| self.indicator(i).cloned())
            .collect()
    }

    /// Makes the [`Indicator`] of a version stored compactly (what the loader used to build
    /// at once: [`build_classic`]).
    fn build(&self, seg: &Segment, j: usize) -> Indicator {
        let Some(v) = seg.versions.get(j) else {
            return Indicator::new("", IpNet::default(), "", "", Timestamp::UNIX_EPOCH, "");
        };
        let off = v.off as usize;
        let value_end = off + v.value_len as usize;
        let value_text = seg.text(off, value_end);
        let expiration_text =
            (v.exp_len != NO_TEXT).then(|| seg.text(value_end, value_end + v.exp_len as usize));
        let key = self.details.get(v.details);
        let (file, mut rest) = split_file(key);
        let mut f: [Option<&str>; DETAIL_FIELDS] = [None; DETAIL_FIELDS];
        for slot in &mut f {
            let (x, r) = decode(rest);
            *slot = x;
            rest = r;
        }
        let [
            source,
            description,
            threat_type,
            url,
            tags,
            tlp,
            activity_group_names,
            confidence_score,
        ] = f;
        let row = ClassicRow {
            id: self.ids.get(v.id),
            network: v.network,
            value_text,
            ip_column: v.ip_column,
            version_time: v.version_time,
            expiration: v.expiration(),
            expiration_text,
            active: v.active,
            source,
            description,
            threat_type,
            url,
            tags,
            tlp,
            activity_group_names,
            confidence_score,
        };
        let (name, file_name) = self
            .files
            .get(file as usize)
            .map_or(("", ""), |f| (f.name.as_str(), f.file_name.as_str()));
        build_classic(&row, name, file_name, usize::try_from(v.line).unwrap_or(0))
    }
}

/// The [`Indicator`] of a Sentinel row (`ThreatIntelligenceIndicator`).
pub(crate) fn build_classic(
    row: &ClassicRow<'_>,
    name: &str,
    file_name: &str,
    line: usize,
) -> Indicator {
    let own = |s: Option<&str>| s.map(str::to_string);
    let mut ind = Indicator::new(
        row.id,
        row.network,
        row.value_text,
        row.source.unwrap_or(file_name),
        row.version_time,
        origin(name, line),
    );
    ind.description = own(row.description);
    ind.threat_type = own(row.threat_type);
    ind.url = own(row.url);
    ind.confidence = row.confidence_score.and_then(parse_confidence);
    ind.activity_groups = row.activity_group_names.map(parse_list).unwrap_or_default();
    ind.tags = row.tags.map(parse_list).unwrap_or_default();
    ind.tlp = own(row.tlp);
    ind.expiration = row.expiration;
    ind.active = row.active;
    ind.sentinel = Some(SentinelColumns {
        activity_group_names: own(row.activity_group_names),
        expiration_date_time: own(row.expiration_text),
        confidence_score: own(row.confidence_score),
        ip_column: Some(row.ip_column),
    });
    ind
}

/// `name:line`.
pub(crate) fn origin(name: &str, line: usize) -> String {
    // `format!` would do, but this runs once per kept row of exports with millions.
    let (digits, start) = decimal(line);
    let digits = std::str::from_utf8(digits.get(start..).unwrap_or_default()).unwrap_or("");
    let mut s = String::with_capacity(name.len() + 1 + digits.len());
    s.push_str(name);
    s.push(':');
    s.push_str(digits);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(origin("f.jsonl", 0), "f.jsonl:0");
        assert_eq!(origin("f.jsonl", 1234567), "f.jsonl:1234567");
        assert_eq!(origin("", usize::MAX), ":18446744073709551615");
    }
}
#[cfg(test)]
mod round_trip {
    use super::*;

    /// A row kept compactly gives back exactly the indicator built from it at once.
    #[test]
    fn compact_rows_build_the_indicator_of_the_row() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let base = ClassicRow {
            id: "ID-1",
            network: "52.178.1.1/32".parse().unwrap(),
            value_text: " 52.178.1.1",
            ip_column: IpColumn::NetworkSourceIP,
            version_time: t("2025-07-01T00:00:00Z"),
            expiration: Some(t("2025-08-01T00:00:00.120Z")),
            expiration_text: Some("2025-08-01T00:00:00.12Z"),
            active: true,
            source: None,
            description: Some("a +3:b -,\"x\"\n"),
            threat_type: Some(""),
            url: None,
            tags: Some("[\"c2\",\"x\"]"),
            tlp: Some("green"),
            activity_group_names: Some("g1, g2"),
            confidence_score: Some("75.5"),
        };
        let other = ClassicRow {
            id: "",
            value_text: "2a01:111:f400::1",
            network: "2a01:111:f400::1/128".parse().unwrap(),
            expiration: None,
            expiration_text: None,
            active: false,
            source: Some("Prov"),
            description: None,
            tags: None,
            activity_group_names: None,
            confidence_score: None,
            ..base
        };
        let mut store = Store::default();
        store.push_classic(&base, "dir/f.jsonl", "f.jsonl", 7);
        store.push_classic(&other, "dir/f.jsonl", "f.jsonl", 8);
        store.push_classic(&base, "g.csv", "g.csv", 1);
        let mut second = Store::default();
        second.push_classic(&other, "h.json", "h.json", 2);
        second.push_classic(&base, "dir/f.jsonl", "f.jsonl", 9);
        store.absorb(second);
        let want = [
            build_classic(&base, "dir/f.jsonl", "f.jsonl", 7),
            build_classic(&other, "dir/f.jsonl", "f.jsonl", 8),
            build_classic(&base, "g.csv", "g.csv", 1),
            build_classic(&other, "h.json", "h.json", 2),
            build_classic(&base, "dir/f.jsonl", "f.jsonl", 9),
        ];
        assert_eq!(store.len(), 5);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(store.indicator(i).map(|a| a.as_ref()), Some(w), "{i}");
        }
        assert_eq!(want[0].source, "f.jsonl");
        assert_eq!(want[0].origin, "dir/f.jsonl:7");
        assert_eq!(want[3].origin, "h.json:2");
        assert_eq!(want[1].source, "Prov");
        assert_eq!(store.ids.len(), 2);
        assert_eq!(store.details.len(), 4);
        assert_eq!(store.files.len(), 3);
    }

    /// Enough kept versions to build on two threads, spread over absorbed blocks, asked in
    /// an order that is not load order, some twice: the indicators are those built one at a
    /// time, in the order asked, and a version asked twice is one shared indicator.
    #[test]
    fn two_thread_build_is_the_one_thread_build() {
        fn row<'a>(k: usize, id: &'a str, text: &'a str) -> ClassicRow<'a> {
            let t = |s: &str| s.parse::<Timestamp>().unwrap();
            ClassicRow {
                id,
                network: format!("{text}/32").parse().unwrap(),
                value_text: text,
                ip_column: IpColumn::NetworkIP,
                version_time: t("2025-07-01T00:00:00Z"),
                expiration: None,
                expiration_text: None,
                active: !k.is_multiple_of(3),
                source: k.is_multiple_of(2).then_some("Prov"),
                description: Some(if k.is_multiple_of(5) { "five" } else { "other" }),
                threat_type: None,
                url: None,
                tags: None,
                tlp: Some("green"),
                activity_group_names: None,
                confidence_score: Some("70"),
            }
        }
        let n = PARALLEL_BUILD_MIN + 1001;
        let texts: Vec<String> = (0..n)
            .map(|k| format!("52.{}.{}.{}", 1 + k / 65536, (k / 256) % 256, k % 256))
            .collect();
        let ids: Vec<String> = (0..n).map(|k| format!("ID-{}", k / 2)).collect();
        let mut store = Store::default();
        let mut want = Vec::with_capacity(n);
        let mut block = Store::default();
        for k in 0..n {
            let r = row(k, &ids[k], &texts[k]);
            want.push(build_classic(&r, "b.jsonl", "b.jsonl", k + 1));
            block.push_classic(&r, "b.jsonl", "b.jsonl", k + 1);
            if k % 1000 == 999 {
                store.absorb(std::mem::take(&mut block));
            }
        }
        store.absorb(block);
        assert_eq!(store.len(), n);
        // Backwards, every version, then the first ten again.
        let which: Vec<usize> = (0..n).rev().chain(0..10).collect();
        assert!(which.len() >= PARALLEL_BUILD_MIN);
        let got = store.indicators(&which);
        assert_eq!(got.len(), n + 10);
        for (g, &i) in got.iter().zip(&which) {
            assert_eq!(g.as_ref(), &want[i], "version {i}");
        }
        assert_eq!(got[n].origin, "b.jsonl:1");
        assert_eq!(got[0].value_text, texts[n - 1]);
        assert!(Arc::ptr_eq(&got[n], &got[n - 1]));
        // Few enough to stay on this thread: the same indicators, already built.
        let small = store.indicators(&[3, 1]);
        assert!(Arc::ptr_eq(&small[0], &got[n - 4]));
        assert_eq!(small[1].as_ref(), &want[1]);
    }

    /// Rows repeating the last row's columns reuse its tuple; a row differing in one field
    /// (a text, empty against none, a field's text moved to the next field) or in its file
    /// gets its own.
    #[test]
    fn rows_like_the_last_share_its_tuple() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let base = ClassicRow {
            id: "ID-1",
            network: "52.178.1.1/32".parse().unwrap(),
            value_text: "52.178.1.1",
            ip_column: IpColumn::NetworkIP,
            version_time: t("2025-07-01T00:00:00Z"),
            expiration: None,
            expiration_text: None,
            active: true,
            source: Some("Prov"),
            description: Some("ab"),
            threat_type: Some(""),
            url: None,
            tags: None,
            tlp: Some("green"),
            activity_group_names: None,
            confidence_score: Some("70"),
        };
        let rows = [
            ClassicRow { ..base },
            ClassicRow { id: "ID-2", ..base },
            ClassicRow {
                description: Some("ac"),
                ..base
            },
            ClassicRow {
                threat_type: None,
                description: Some("ac"),
                ..base
            },
            ClassicRow {
                source: Some("Pro"),
                description: Some("vab"),
                ..base
            },
            ClassicRow {
                description: None,
                threat_type: Some("ab"),
                ..base
            },
            ClassicRow { ..base },
        ];
        let mut store = Store::default();
        for (i, r) in rows.iter().enumerate() {
            store.push_classic(r, "f.jsonl", "f.jsonl", i + 1);
        }
        store.push_classic(&base, "g.jsonl", "g.jsonl", 8);
        for (i, r) in rows.iter().enumerate() {
            let want = build_classic(r, "f.jsonl", "f.jsonl", i + 1);
            assert_eq!(store.indicator(i).map(|a| a.as_ref()), Some(&want), "{i}");
        }
        let want = build_classic(&base, "g.jsonl", "g.jsonl", 8);
        assert_eq!(store.indicator(7).map(|a| a.as_ref()), Some(&want));
        let tuples: Vec<u32> = store.segments[0]
            .versions
            .iter()
            .map(|v| v.details)
            .collect();
        assert_eq!(tuples, [0, 0, 1, 2, 3, 4, 0, 5]);
    }
}
