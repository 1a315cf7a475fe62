//! The blob source over object_store's in-memory store (a blob "grows" by being put again
//! longer, as an append blob does); Azurite itself is driven by kvsentry-runtime's tests.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::*;

const CONTAINER: &str = "insights-logs-auditevent";

fn blob(vault: &str, hour: u32) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/0A1B/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}/y=2026/m=03/d=04/h={hour:02}/m=00/PT1H.json"
    )
}

fn record(vault: &str, i: u32) -> String {
    format!(
        "{{ \"time\": \"2026-03-04T10:{:02}:{:02}.0000000Z\", \"category\": \"AuditEvent\", \"operationName\": \"SecretGet\", \"resourceId\": \"/SUBSCRIPTIONS/0A1B/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}\", \"resultSignature\": \"OK\", \"callerIpAddress\": \"10.0.0.{}\", \"identity\": {{\"claim\": {{\"oid\": \"u{i}\"}}}}, \"properties\": {{\"id\": \"https://{vault}.vault.azure.net/secrets/s{i}\"}}}}\n",
        i / 60 % 60,
        i % 60,
        i % 250
    )
}

fn records(vault: &str, from: u32, to: u32) -> String {
    (from..to).map(|i| record(vault, i)).collect()
}

struct Bucket {
    store: Arc<InMemory>,
    rt: tokio::runtime::Runtime,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            store: Arc::new(InMemory::new()),
            rt: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    }

    fn put(&self, name: &str, data: &str) {
        let payload = PutPayload::from(data.as_bytes().to_vec());
        self.rt
            .block_on(self.store.put(&Path::from(name), payload))
            .unwrap();
    }

    fn source(&self, once: bool) -> BlobSource {
        let store: Arc<dyn ObjectStore> = self.store.clone();
        let opts = BlobOptions {
            once,
            poll_interval: if once {
                Duration::ZERO
            } else {
                Duration::from_millis(20)
            },
            first_source: 7 << 24,
            ..BlobOptions::default()
        };
        BlobSource::over(store, CONTAINER, opts).unwrap()
    }
}

/// What one `once` pass hands out: (source, first line, offset, text) per block, and the
/// sources whose ends carried an error.
#[derive(Debug, Default)]
struct Pass {
    blocks: Vec<(u32, u64, u64, String)>,
    ends: Vec<u32>,
    errors: Vec<String>,
}

impl Pass {
    fn text(&self) -> String {
        self.blocks.iter().map(|b| b.3.as_str()).collect()
    }
}

fn pass(s: &mut BlobSource) -> Pass {
    let mut p = Pass::default();
    while let Some(unit) = s.next_unit() {
        match unit {
            Unit::Block(b) => {
                let text = String::from_utf8(b.data().to_vec()).unwrap();
                p.blocks.push((b.source, b.first_line, b.offset, text));
                s.recycle(b.into_buffer());
            }
            Unit::End(e) => {
                p.ends.push(e.source);
                if let Some(err) = e.error {
                    p.errors.push(err.to_string());
                }
            }
            Unit::Stream(_) => panic!("blobs are read as lines"),
        }
    }
    p
}

#[test]
fn blobs_are_read_as_they_grow_and_only_their_new_bytes() {
    let bucket = Bucket::new();
    let (a, b) = (blob("KV-A", 10), blob("KV-B", 10));
    bucket.put(&a, &records("kv-a", 0, 3));
    bucket.put(&b, &records("kv-b", 0, 2));
    let mut s = bucket.source(true);
    let first = pass(&mut s);
    assert_eq!(
        first.text(),
        records("kv-a", 0, 3) + &records("kv-b", 0, 2),
        "in name order"
    );
    let base = 7 << 24;
    assert_eq!(first.ends, vec![base, base + 1]);
    assert_eq!(s.names()[0], format!("{CONTAINER}/{a}"));
    assert_eq!(s.source_of(&b), Some(base + 1));
    // Nothing new: nothing read.
    assert!(pass(&mut s).blocks.is_empty());
    // A appended to, a new hour of B: only what is new, lines numbered within each blob.
    let c = blob("KV-B", 11);
    bucket.put(&a, &records("kv-a", 0, 5));
    bucket.put(&c, &records("kv-b", 100, 101));
    let next = pass(&mut s);
    assert_eq!(
        next.text(),
        records("kv-a", 3, 5) + &records("kv-b", 100, 101)
    );
    let a_len = records("kv-a", 0, 3).len() as u64;
    assert_eq!(next.blocks[0].0, base);
    assert_eq!((next.blocks[0].1, next.blocks[0].2), (4, a_len));
    assert_eq!((next.blocks[1].0, next.blocks[1].1), (base + 2, 1));
    let cp = s.checkpoint();
    assert_eq!(cp.blobs[&a].offset, records("kv-a", 0, 5).len() as u64);
    assert_eq!(cp.blobs[&a].line, 6);
    assert_eq!(cp.blobs[&a].form.as_deref(), Some("storage"));
    assert_eq!(s.progress(), {
        let n = (records("kv-a", 0, 5) + &records("kv-b", 0, 2) + &records("kv-b", 100, 101)).len()
            as u64;
        (n, n)
    });
}

#[test]
fn a_partial_last_line_waits_until_it_is_complete() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    let all = records("kv-a", 0, 4);
    let cut = records("kv-a", 0, 2).len() + 40;
    bucket.put(&a, &all[..cut]);
    let mut s = bucket.source(true);
    assert_eq!(pass(&mut s).text(), records("kv-a", 0, 2));
    assert_eq!(
        s.checkpoint().blobs[&a].offset,
        records("kv-a", 0, 2).len() as u64
    );
    // Still unfinished: nothing more, the tail is fetched again and held back again.
    assert!(pass(&mut s).blocks.is_empty());
    bucket.put(&a, &all);
    let p = pass(&mut s);
    assert_eq!(p.text(), records("kv-a", 2, 4));
    assert_eq!(p.blocks[0].1, 3);
}

#[test]
fn settle_all_delivers_an_unfinished_last_line() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    let all = records("kv-a", 0, 2);
    let partial = all.trim_end_matches('\n');
    bucket.put(&a, partial);
    let mut s = bucket.source(true);
    assert_eq!(pass(&mut s).text(), records("kv-a", 0, 1));
    s.settle_all();
    assert_eq!(
        pass(&mut s).text(),
        records("kv-a", 1, 2).trim_end_matches('\n')
    );
    assert_eq!(s.checkpoint().blobs[&a].offset, partial.len() as u64);
}

#[test]
fn a_resumed_source_reads_nothing_twice_and_keeps_its_indexes() {
    let bucket = Bucket::new();
    let (a, b) = (blob("KV-A", 10), blob("KV-B", 10));
    bucket.put(&b, &records("kv-b", 0, 3));
    let mut s = bucket.source(true);
    pass(&mut s);
    let cp = s.checkpoint();
    // A sorts before B but appears later: B keeps its index, A gets the next one.
    bucket.put(&a, &records("kv-a", 0, 2));
    bucket.put(&b, &records("kv-b", 0, 4));
    let mut r = bucket.source(true);
    r.restore(&cp);
    let p = pass(&mut r);
    assert_eq!(p.text(), records("kv-a", 0, 2) + &records("kv-b", 3, 4));
    let base = 7 << 24;
    assert_eq!(r.source_of(&b), Some(base));
    assert_eq!(r.source_of(&a), Some(base + 1));
    assert_eq!(p.blocks[1].1, 4, "lines go on from the checkpoint");
    // The checkpoint survives serialisation as it is.
    let json = serde_json::to_string(&r.checkpoint()).unwrap();
    let back: BlobCheckpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.checkpoint());
}

#[test]
fn a_blob_shorter_than_its_offset_is_read_again_and_reported() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    bucket.put(&a, &records("kv-a", 0, 5));
    let mut s = bucket.source(true);
    pass(&mut s);
    bucket.put(&a, &records("kv-a", 50, 52));
    let p = pass(&mut s);
    assert_eq!(p.text(), records("kv-a", 50, 52));
    assert_eq!(p.blocks[0].1, 1);
    assert_eq!(s.restarts(), 1);
    let r = s.take_restarts();
    assert_eq!(r[0].file, a);
    assert_eq!(
        r[0].reason,
        RestartReason::Shrunk {
            read: records("kv-a", 0, 5).len() as u64,
            size: records("kv-a", 50, 52).len() as u64
        }
    );
    assert!(s.take_restarts().is_empty());
}

#[test]
fn the_prefix_limits_the_blobs_read() {
    let bucket = Bucket::new();
    bucket.put(&blob("KV-A", 10), &records("kv-a", 0, 1));
    bucket.put(&blob("KV-B", 10), &records("kv-b", 0, 1));
    bucket.put("other/PT1H.json", &records("kv-c", 0, 1));
    let store: Arc<dyn ObjectStore> = bucket.store.clone();
    let prefix =
        "resourceId=/SUBSCRIPTIONS/0A1B/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV-B";
    let opts = BlobOptions {
        once: true,
        prefix: Some(prefix.into()),
        ..BlobOptions::default()
    };
    let mut s = BlobSource::over(store, CONTAINER, opts).unwrap();
    assert_eq!(pass(&mut s).text(), records("kv-b", 0, 1));
    assert_eq!(s.names().len(), 1);
}

#[test]
fn a_blob_of_no_form_kvsentry_reads_is_reported_once_and_left_alone() {
    let bucket = Bucket::new();
    let bad = blob("KV-A", 10);
    bucket.put(&bad, "hello world\nsecond line\n");
    bucket.put(&blob("KV-B", 10), &records("kv-b", 0, 1));
    let mut s = bucket.source(true);
    let p = pass(&mut s);
    assert_eq!(p.text(), records("kv-b", 0, 1));
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(p.errors[0].contains(&bad), "{}", p.errors[0]);
    bucket.put(&bad, "hello world\nsecond line\nthird\n");
    let p = pass(&mut s);
    assert!(p.errors.is_empty() && p.blocks.is_empty());
    // A blob of the old layout: one pretty-printed document.
    let old = blob("KV-C", 10);
    let doc = format!(
        "{{\n\"records\": [\n{}]\n}}\n",
        record("kv-c", 0).trim_end()
    );
    bucket.put(&old, &doc);
    let p = pass(&mut s);
    assert_eq!(p.errors.len(), 1, "{:?}", p.errors);
    assert!(
        p.errors[0].contains(&old) && p.errors[0].contains("blobs are read as JSON lines"),
        "{}",
        p.errors[0]
    );
}

#[test]
fn big_blobs_come_in_several_blocks_of_whole_lines() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    let all = records("kv-a", 0, 1500);
    assert!(all.len() > 3 * MIN_CHUNK);
    bucket.put(&a, &all);
    let store: Arc<dyn ObjectStore> = bucket.store.clone();
    let opts = BlobOptions {
        once: true,
        read: ReadOptions {
            chunk_bytes: 1,
            ..ReadOptions::default()
        },
        ..BlobOptions::default()
    };
    let mut s = BlobSource::over(store, CONTAINER, opts).unwrap();
    let p = pass(&mut s);
    assert!(p.blocks.len() >= 3, "{}", p.blocks.len());
    assert_eq!(p.text(), all);
    let mut line = 1;
    let mut offset = 0;
    for (_, first, at, text) in &p.blocks {
        assert_eq!((*first, *at), (line, offset));
        assert!(text.ends_with('\n'));
        line += text.matches('\n').count() as u64;
        offset += text.len() as u64;
    }
}

#[test]
fn an_endless_source_stops_when_asked() {
    let bucket = Bucket::new();
    bucket.put(&blob("KV-A", 10), &records("kv-a", 0, 1));
    let mut s = bucket.source(false);
    let stop = s.stop_handle();
    assert!(matches!(s.next_unit(), Some(Unit::Block(_))));
    assert!(matches!(s.next_unit(), Some(Unit::End(_))));
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    assert!(s.next_unit().is_none());
    assert!(started.elapsed() < Duration::from_secs(5));
    t.join().unwrap();
}

#[test]
fn an_unreachable_account_is_reported_without_its_secret() {
    let account = BlobAccount::with_sas("kvlogs", "sv=2022-11-02&sp=rl&sig=TOPSECRETSIG")
        .endpoint("http://127.0.0.1:9/kvlogs")
        .unwrap();
    let opts = BlobOptions {
        once: true,
        first_source: 7 << 24,
        timeout: Duration::from_millis(500),
        retry_for: Duration::from_millis(300),
        ..BlobOptions::default()
    };
    let mut s = BlobSource::new(&account, CONTAINER, opts).unwrap();
    let p = pass(&mut s);
    assert_eq!((p.blocks.len(), p.ends.clone()), (0, vec![7 << 24]));
    assert_eq!(s.errors(), 1);
    assert_eq!(p.errors.len(), 1);
    let msg = &p.errors[0];
    assert!(msg.contains(CONTAINER), "{msg}");
    assert!(!msg.contains("TOPSECRET"), "{msg}");
}

#[test]
fn the_container_is_listed_at_most_once_per_poll_interval() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    let all = records("kv-a", 0, 3);
    let partial = all.trim_end_matches('\n');
    bucket.put(&a, &records("kv-a", 0, 1));
    let store: Arc<dyn ObjectStore> = bucket.store.clone();
    let opts = BlobOptions {
        once: true,
        poll_interval: Duration::from_secs(3600),
        ..BlobOptions::default()
    };
    let mut s = BlobSource::over(store, CONTAINER, opts).unwrap();
    assert_eq!(pass(&mut s).text(), records("kv-a", 0, 1));
    bucket.put(&a, partial);
    assert!(pass(&mut s).blocks.is_empty(), "not listed again so soon");
    // A final flush looks again, and takes the unfinished line too.
    s.settle_all();
    assert_eq!(pass(&mut s).text(), partial[records("kv-a", 0, 1).len()..]);
}

/// An in-memory store whose `fail`-th read fails (as a network that drops).
#[derive(Debug)]
struct Flaky {
    inner: Arc<InMemory>,
    reads: std::sync::atomic::AtomicUsize,
    fail: usize,
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flaky")
    }
}

#[async_trait::async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        let n = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.fail {
            return Err(object_store::Error::Generic {
                store: "Flaky",
                source: "connection reset".into(),
            });
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: futures_util::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures_util::stream::BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures_util::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>>
    {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[test]
fn a_read_that_fails_keeps_the_blob_where_it_was_and_nothing_is_skipped() {
    let bucket = Bucket::new();
    let (a, b) = (blob("KV-A", 10), blob("KV-B", 10));
    let all = records("kv-a", 0, 1500);
    assert!(all.len() > 3 * MIN_CHUNK);
    bucket.put(&a, &all);
    bucket.put(&b, &records("kv-b", 0, 2));
    // The second read of A fails.
    let store: Arc<dyn ObjectStore> = Arc::new(Flaky {
        inner: bucket.store.clone(),
        reads: Default::default(),
        fail: 2,
    });
    let opts = BlobOptions {
        once: true,
        poll_interval: Duration::ZERO,
        read: ReadOptions {
            chunk_bytes: 1,
            ..ReadOptions::default()
        },
        ..BlobOptions::default()
    };
    let mut s = BlobSource::over(store, CONTAINER, opts).unwrap();
    let first = pass(&mut s);
    assert_eq!(first.errors.len(), 1, "{:?}", first.errors);
    assert!(first.errors[0].contains(&a) && first.errors[0].contains("connection reset"));
    assert_eq!(first.blocks.len(), 2, "A's first block, then B whole");
    let kept = first.blocks[0].3.len() as u64;
    assert_eq!(s.checkpoint().blobs[&a].offset, kept);
    assert_eq!(s.errors(), 1);
    // The next look reads on from there.
    let second = pass(&mut s);
    assert!(second.errors.is_empty());
    let text = first.blocks[0].3.clone() + &second.text();
    assert_eq!(text, all, "every line once, in order");
    let lines = first.blocks[0].3.matches('\n').count() as u64;
    assert_eq!((second.blocks[0].1, second.blocks[0].2), (lines + 1, kept));
    assert_eq!(s.errors(), 1);
}

fn blob_on(vault: &str, day: u32, hour: u32) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/0A1B/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{vault}/y=2026/m=03/d={day:02}/h={hour:02}/m=00/PT1H.json"
    )
}

#[test]
fn hours_long_read_are_forgotten_and_passed_over() {
    let bucket = Bucket::new();
    let old_a = blob_on("KV-A", 1, 23);
    let old_b = blob_on("KV-B", 2, 0);
    let new_a = blob_on("KV-A", 4, 1);
    bucket.put(&old_a, &records("kv-a", 0, 2));
    // B's old hour is not read to its end yet: its last line is unfinished.
    bucket.put(&old_b, records("kv-b", 0, 2).trim_end());
    let mut s = bucket.source(true);
    pass(&mut s);
    bucket.put(&new_a, &records("kv-a", 10, 12));
    pass(&mut s);
    // 4 March 01:00 less 48h is 2 March 01:00: both old hours are before it, but B's blob
    // holds them back.
    let cp = s.checkpoint();
    assert_eq!(cp.done_before, None);
    assert_eq!(cp.blobs.len(), 3);
    bucket.put(&old_b, &records("kv-b", 0, 2));
    assert_eq!(pass(&mut s).text(), records("kv-b", 1, 2));
    // A blob deleted before it was read to its end holds nothing back.
    let gone = blob_on("KV-C", 1, 5);
    bucket.put(&gone, records("kv-c", 0, 1).trim_end());
    pass(&mut s);
    assert_eq!(s.checkpoint().done_before, None);
    bucket
        .rt
        .block_on(bucket.store.delete(&Path::from(gone.as_str())))
        .unwrap();
    pass(&mut s);
    let cp = s.checkpoint();
    assert_eq!(cp.done_before, Some(202603020100));
    assert_eq!(cp.blobs.keys().collect::<Vec<_>>(), [&new_a]);
    let base = 7 << 24;
    assert_eq!(cp.blobs[&new_a].source, base + 2);
    assert_eq!(s.names()[0], "");
    assert_eq!(s.names()[3], "");
    // Resumed: the old blobs, even grown, are passed over; the indexes are kept, a new blob
    // gets the next.
    bucket.put(&old_a, &records("kv-a", 0, 3));
    let new_b = blob_on("KV-B", 4, 1);
    bucket.put(&new_b, &records("kv-b", 20, 21));
    bucket.put(&new_a, &records("kv-a", 10, 13));
    let mut r = bucket.source(true);
    r.restore(&cp);
    let p = pass(&mut r);
    assert_eq!(p.text(), records("kv-a", 12, 13) + &records("kv-b", 20, 21));
    assert_eq!(r.source_of(&new_a), Some(base + 2));
    assert_eq!(r.source_of(&new_b), Some(base + 4), "not the forgotten C's");
    assert_eq!(r.source_of(&old_a), None);
    assert_eq!(r.names()[2], format!("{CONTAINER}/{new_a}"));
}

#[test]
fn the_hour_before() {
    let h = Duration::from_secs(3600);
    assert_eq!(hour_before(202603040100, 48 * h), Some(202603020100));
    assert_eq!(hour_before(202601010000, h), Some(202512312300));
    assert_eq!(hour_before(202603010000, 24 * h), Some(202602280000));
    assert_eq!(hour_before(202613010000, h), None);
}

#[test]
fn a_stop_ends_a_request_being_retried() {
    let account = BlobAccount::with_key("kvlogs", "a2V5")
        .endpoint("http://127.0.0.1:9/kvlogs")
        .unwrap();
    let opts = BlobOptions {
        once: true,
        timeout: Duration::from_secs(1),
        retry_for: Duration::from_secs(600),
        ..BlobOptions::default()
    };
    let mut s = BlobSource::new(&account, CONTAINER, opts).unwrap();
    let stop = s.stop_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    assert!(s.next_unit().is_none());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(s.errors(), 0, "a stop is no error");
    t.join().unwrap();
}

#[test]
fn an_unfinished_last_line_of_a_blob_left_alone_for_settle_is_delivered() {
    let bucket = Bucket::new();
    let a = blob("KV-A", 10);
    let all = records("kv-a", 0, 2);
    let partial = all.trim_end_matches('\n');
    bucket.put(&a, partial);
    let store: Arc<dyn ObjectStore> = bucket.store.clone();
    let opts = |settle| BlobOptions {
        once: true,
        poll_interval: Duration::ZERO,
        settle,
        ..BlobOptions::default()
    };
    let mut s =
        BlobSource::over(store.clone(), CONTAINER, opts(Duration::from_secs(3600))).unwrap();
    assert_eq!(
        pass(&mut s).text(),
        records("kv-a", 0, 1),
        "modified just now: held"
    );
    let mut s = BlobSource::over(store, CONTAINER, opts(Duration::ZERO)).unwrap();
    assert_eq!(
        pass(&mut s).text(),
        partial,
        "left alone long enough: delivered"
    );
}
