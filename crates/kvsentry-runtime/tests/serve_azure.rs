//! The Storage input against Azurite, started by the test: append blobs laid out as the
//! diagnostic setting writes them (several vaults and hours, appended to while the test
//! runs), read as they grow: only new bytes, whole lines, resumable without reading a line
//! twice, with a key (connection string) or a SAS.

mod azurite;

use azurite::{Azurite, CONTAINER, blob_name};
use kvsentry_ingest::{
    BlobAccount, BlobCheckpoint, BlobOptions, BlobSource, ReadOptions, ReadStats, Source, Unit,
};

/// A Key Vault audit record as the diagnostic setting writes it (one JSON object per line).
fn record(vault: &str, hour: u32, i: u32) -> String {
    format!(
        "{{ \"time\": \"2026-03-04T{hour:02}:{:02}:{:02}.1234567Z\", \"resourceId\": \"/SUBSCRIPTIONS/5E6F2A10-3C4D-4B8A-9E21-7D0C1B2A3F40/RESOURCEGROUPS/RG-SEC/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}\", \"operationName\": \"SecretGet\", \"operationVersion\": \"7.4\", \"category\": \"AuditEvent\", \"resultType\": \"Success\", \"resultSignature\": \"OK\", \"durationMs\": \"12\", \"callerIpAddress\": \"203.0.113.{}\", \"correlationId\": \"c0ffee00-0000-4000-8000-{i:012}\", \"identity\": {{\"claim\": {{\"http://schemas.microsoft.com/identity/claims/objectidentifier\": \"a1b2c3d4-0000-4000-8000-{i:012}\"}}}}, \"properties\": {{\"id\": \"https://{vault}.vault.azure.net/secrets/app-{i}\", \"clientInfo\": \"azsdk-net\", \"httpStatusCode\": 200, \"requestUri\": \"https://{vault}.vault.azure.net/secrets/app-{i}?api-version=7.4\"}}}}\n",
        i / 60 % 60,
        i % 60,
        vault.to_ascii_uppercase(),
        i % 200 + 1,
    )
}

fn records(vault: &str, hour: u32, from: u32, to: u32) -> String {
    (from..to).map(|i| record(vault, hour, i)).collect()
}

fn options() -> BlobOptions {
    BlobOptions {
        once: true,
        // Each pass of the test lists again.
        poll_interval: std::time::Duration::ZERO,
        first_source: 3 << 24,
        ..BlobOptions::default()
    }
}

/// What one `once` pass handed out.
#[derive(Default)]
struct Pass {
    /// (blob name, first line, offset, text) per block.
    blocks: Vec<(String, u64, u64, String)>,
    stats: ReadStats,
    errors: Vec<String>,
}

impl Pass {
    fn text_of(&self, blob: &str) -> String {
        let name = format!("{CONTAINER}/{blob}");
        let parts: Vec<&str> = (self.blocks.iter())
            .filter(|b| b.0 == name)
            .map(|b| b.3.as_str())
            .collect();
        parts.concat()
    }

    fn lines(&self) -> usize {
        self.blocks.iter().map(|b| b.3.matches('\n').count()).sum()
    }
}

fn pass(s: &mut BlobSource) -> Pass {
    let mut p = Pass::default();
    let base = 3 << 24;
    while let Some(unit) = s.next_unit() {
        match unit {
            Unit::Block(b) => {
                let name = s.names()[(b.source - base) as usize].clone();
                let text = String::from_utf8(b.data().to_vec()).unwrap();
                p.blocks.push((name, b.first_line, b.offset, text));
                s.recycle(b.into_buffer());
            }
            Unit::End(e) => {
                p.stats.merge(e.stats);
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
fn append_blobs_are_read_as_they_grow_only_new_bytes_resumable() {
    let az = Azurite::start();
    az.create_container(CONTAINER);
    let a10 = blob_name("kv-payments", 2026, 3, 4, 10);
    let b10 = blob_name("kv-web", 2026, 3, 4, 10);
    let c10 = blob_name("kv-batch", 2026, 3, 4, 10);
    az.write(&a10, records("kv-payments", 10, 0, 40).as_bytes(), true);
    az.write(&b10, records("kv-web", 10, 0, 25).as_bytes(), true);
    // A blob just created by the setting, nothing in it yet.
    az.write(&c10, b"", true);

    let account = BlobAccount::from_connection_string(&az.connection_string()).unwrap();
    let mut s = BlobSource::new(&account, CONTAINER, options()).unwrap();
    let first = pass(&mut s);
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.text_of(&a10), records("kv-payments", 10, 0, 40));
    assert_eq!(first.text_of(&b10), records("kv-web", 10, 0, 25));
    assert_eq!(first.lines(), 65);
    assert_eq!(
        first.stats.bytes,
        (records("kv-payments", 10, 0, 40).len() + records("kv-web", 10, 0, 25).len()) as u64
    );
    assert_eq!(s.names().len(), 3, "{:?}", s.names());

    // The hour goes on: a10 grows, a record of b10 is half written, kv-batch gets its first
    // records, and kv-payments' next hour appears.
    let a11 = blob_name("kv-payments", 2026, 3, 4, 11);
    az.append(
        CONTAINER,
        &a10,
        records("kv-payments", 10, 40, 50).as_bytes(),
    );
    let b_next = records("kv-web", 10, 25, 27);
    let half = record("kv-web", 10, 25).len() + 30;
    az.append(CONTAINER, &b10, &b_next.as_bytes()[..half]);
    az.append(CONTAINER, &c10, records("kv-batch", 10, 0, 5).as_bytes());
    az.write(&a11, records("kv-payments", 11, 0, 8).as_bytes(), true);
    let second = pass(&mut s);
    assert!(second.errors.is_empty(), "{:?}", second.errors);
    // Only new bytes: from each blob's offset, lines numbered on within the blob.
    assert_eq!(second.text_of(&a10), records("kv-payments", 10, 40, 50));
    let a10_block = second.blocks.iter().find(|b| b.0.ends_with(&a10)).unwrap();
    assert_eq!(
        (a10_block.1, a10_block.2),
        (41, records("kv-payments", 10, 0, 40).len() as u64)
    );
    assert_eq!(
        second.text_of(&b10),
        record("kv-web", 10, 25),
        "the half record waits"
    );
    assert_eq!(second.text_of(&c10), records("kv-batch", 10, 0, 5));
    assert_eq!(second.text_of(&a11), records("kv-payments", 11, 0, 8));
    assert_eq!(
        second.stats.bytes,
        (records("kv-payments", 10, 40, 50).len()
            + half
            + records("kv-batch", 10, 0, 5).len()
            + records("kv-payments", 11, 0, 8).len()) as u64,
        "nothing read before an offset"
    );

    // The checkpoint holds each blob's offset: what was read of it, whole lines only.
    let cp: BlobCheckpoint = s.checkpoint();
    let at = |name: &str| cp.blobs[name].offset;
    assert_eq!(at(&a10), records("kv-payments", 10, 0, 50).len() as u64);
    assert_eq!(at(&b10), records("kv-web", 10, 0, 26).len() as u64);
    assert_eq!(cp.blobs[&b10].line, 27);
    drop(s);

    // A restart from the checkpoint, signed in with a SAS this time, reads nothing twice:
    // the rest of the half record and what came after it only.
    az.append(CONTAINER, &b10, &b_next.as_bytes()[half..]);
    az.append(
        CONTAINER,
        &a11,
        records("kv-payments", 11, 8, 10).as_bytes(),
    );
    let sas = BlobAccount::with_sas("devstoreaccount1", &az.container_sas(CONTAINER))
        .endpoint(&az.endpoint())
        .unwrap();
    let mut r = BlobSource::resume(&sas, CONTAINER, options(), &cp).unwrap();
    let third = pass(&mut r);
    assert!(third.errors.is_empty(), "{:?}", third.errors);
    assert_eq!(third.text_of(&b10), record("kv-web", 10, 26));
    assert_eq!(third.text_of(&a11), records("kv-payments", 11, 8, 10));
    assert_eq!(third.lines(), 3);
    assert_eq!(r.source_of(&a10), s_source(&cp, &a10));
    // Caught up: a pass reads nothing and fetches nothing.
    let fourth = pass(&mut r);
    assert_eq!((fourth.lines(), fourth.stats.bytes), (0, 0));
    assert_eq!(r.errors(), 0);
}

fn s_source(cp: &BlobCheckpoint, blob: &str) -> Option<u32> {
    cp.blobs.get(blob).map(|p| p.source)
}

#[test]
fn a_wrong_key_is_reported_without_the_key_and_nothing_is_skipped() {
    let az = Azurite::start();
    az.create_container(CONTAINER);
    let a = blob_name("kv-payments", 2026, 3, 4, 10);
    az.write(&a, records("kv-payments", 10, 0, 3).as_bytes(), true);
    // A valid base64 key, but not the account's.
    let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=";
    let bad = BlobAccount::with_key("devstoreaccount1", wrong)
        .endpoint(&az.endpoint())
        .unwrap();
    let opts = BlobOptions {
        retry_for: std::time::Duration::from_secs(2),
        ..options()
    };
    let mut s = BlobSource::new(&bad, CONTAINER, opts).unwrap();
    let p = pass(&mut s);
    assert_eq!(p.lines(), 0);
    assert_eq!(p.errors.len(), 1);
    let msg = &p.errors[0];
    assert!(msg.contains(CONTAINER), "{msg}");
    assert!(!msg.contains(wrong), "{msg}");
    // A SAS whose signature is wrong: refused, reported, the signature not shown.
    let sas = az.container_sas(CONTAINER);
    let sig_at = sas.find("sig=").unwrap() + 4;
    let forged = format!("{}QUJDREVGR0hJSktMTU5PUA%3D%3D", &sas[..sig_at]);
    let bad = BlobAccount::with_sas("devstoreaccount1", &forged)
        .endpoint(&az.endpoint())
        .unwrap();
    let opts = BlobOptions {
        retry_for: std::time::Duration::from_secs(2),
        ..options()
    };
    let mut f = BlobSource::new(&bad, CONTAINER, opts).unwrap();
    let p = pass(&mut f);
    assert_eq!((p.lines(), p.errors.len()), (0, 1));
    assert!(
        p.errors[0].contains("403") && !p.errors[0].contains('\n'),
        "one line, with the status: {}",
        p.errors[0]
    );
    assert!(
        !p.errors[0].contains("QUJDREVGR0hJSktMTU5PUA"),
        "{}",
        p.errors[0]
    );
    // The right key goes on from the same (empty) checkpoint: nothing was skipped.
    let good = BlobAccount::from_connection_string(&az.connection_string()).unwrap();
    let mut r = BlobSource::resume(&good, CONTAINER, options(), &s.checkpoint()).unwrap();
    assert_eq!(pass(&mut r).text_of(&a), records("kv-payments", 10, 0, 3));
}

#[test]
fn a_forced_form_and_the_prefix_are_kept() {
    let az = Azurite::start();
    az.create_container(CONTAINER);
    let a = blob_name("kv-payments", 2026, 3, 4, 10);
    let b = blob_name("kv-web", 2026, 3, 4, 10);
    az.write(&a, records("kv-payments", 10, 0, 2).as_bytes(), true);
    az.write(&b, records("kv-web", 10, 0, 2).as_bytes(), true);
    let account = BlobAccount::from_connection_string(&az.connection_string()).unwrap();
    let opts = BlobOptions {
        prefix: Some(b[..b.find("/y=").unwrap()].to_string()),
        read: ReadOptions {
            format: kvsentry_ingest::LogFormat::Storage,
            ..ReadOptions::default()
        },
        ..options()
    };
    let mut s = BlobSource::new(&account, CONTAINER, opts).unwrap();
    let p = pass(&mut s);
    assert_eq!(p.text_of(&b), records("kv-web", 10, 0, 2));
    assert_eq!(p.lines(), 2);
    assert_eq!(s.names(), [format!("{CONTAINER}/{b}")]);
}

#[test]
fn an_outage_is_reported_and_reading_goes_on_where_it_was() {
    let az = Azurite::start();
    let port = az.port;
    az.create_container(CONTAINER);
    let a = blob_name("kv-payments", 2026, 3, 4, 10);
    az.write(&a, records("kv-payments", 10, 0, 5).as_bytes(), true);
    let account = BlobAccount::from_connection_string(&az.connection_string()).unwrap();
    let opts = BlobOptions {
        retry_for: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(2),
        ..options()
    };
    let mut s = BlobSource::new(&account, CONTAINER, opts).unwrap();
    assert_eq!(pass(&mut s).text_of(&a), records("kv-payments", 10, 0, 5));
    drop(az);
    // Storage unreachable: retried, then reported; nothing read, nothing lost.
    let down = pass(&mut s);
    assert_eq!(down.lines(), 0);
    assert_eq!(down.errors.len(), 1, "{:?}", down.errors);
    assert!(down.errors[0].contains(CONTAINER), "{}", down.errors[0]);
    assert_eq!(s.errors(), 1);
    // Back at the same address (an emulator in memory starts empty: the blob as it is now,
    // grown meanwhile): the same source reads on from where it was.
    let az = Azurite::start_with(port, None);
    az.create_container(CONTAINER);
    az.write(&a, records("kv-payments", 10, 0, 8).as_bytes(), true);
    let back = pass(&mut s);
    assert!(back.errors.is_empty(), "{:?}", back.errors);
    assert_eq!(back.text_of(&a), records("kv-payments", 10, 5, 8));
    assert_eq!(back.blocks[0].1, 6);
}
