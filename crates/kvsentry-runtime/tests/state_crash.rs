//! The state store under `kill -9`: a child process (this test binary, re-executed) commits
//! checkpoints as fast as it can while the test kills it at random moments; after every
//! kill the store must hold one whole checkpoint with exactly its alerts.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kvsentry_runtime::serve::state::{Commit, Loaded, StateError, StateStore};

/// Set in the child: the state directory it commits to.
const CHILD_ENV: &str = "KVSENTRY_STATE_CRASH_CHILD";
const SINKS: [&str; 2] = ["file", "hook"];
const KILLS: usize = 12;

/// The engine state of checkpoint `n`: its length and every byte depend on `n`, so a torn
/// or stale snapshot cannot pass for another.
fn engine(n: u64) -> Vec<u8> {
    let len = 500 + (n * 7919 % 20_000) as usize;
    (0..len)
        .map(|i| (n.wrapping_mul(31).wrapping_add(i as u64 * 17) % 251) as u8)
        .collect()
}

fn alert_id(n: u64) -> String {
    format!("id-{n}")
}

fn committed_n(loaded: &Loaded) -> u64 {
    let pos = |p: &[u8]| -> u64 {
        let bytes = &loaded.positions[&("logs".to_owned(), p.to_vec())];
        u64::from_le_bytes(bytes.as_slice().try_into().unwrap())
    };
    let n = pos(b"p0");
    assert_eq!(
        pos(b"p1"),
        n,
        "positions of two partitions from different checkpoints"
    );
    n
}

fn open_retrying(dir: &Path) -> StateStore {
    let start = Instant::now();
    loop {
        match StateStore::open(dir) {
            Ok(s) => return s,
            // The killed process's lock goes with the process; allow the kernel a moment.
            Err(StateError::Locked { .. }) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The child: continue from the stored checkpoint, commit forever. Each checkpoint `n`
/// re-produces alert `n - 1` (as a replay after a crash would) besides its new alert `n`.
/// Meanwhile a second thread, as serve's delivery workers do, acknowledges deliveries and
/// now and then dead-letters an alert, so alerts move to the ledgers during commits.
fn child(dir: &Path) -> ! {
    let store = open_retrying(dir);
    let mut n = store.load().unwrap().map_or(0, |l| committed_n(&l));
    std::thread::scope(|scope| {
        scope.spawn(|| deliver(&store));
        loop {
            n += 1;
            let mut c = Commit::new(engine(n));
            c.position("logs", b"p0", &n.to_le_bytes())
                .position("logs", b"p1", &n.to_le_bytes());
            let t = jiff::Timestamp::from_second(1_700_000_000 + n as i64).unwrap();
            c.ips(&[(std::net::IpAddr::from([10, 0, (n >> 8) as u8, n as u8]), t)]);
            for sink in SINKS {
                for id in [n.saturating_sub(1).max(1), n] {
                    c.alert(
                        sink,
                        &alert_id(id),
                        format!("alert {id} for {sink}").as_bytes(),
                    );
                }
            }
            store.commit(&c).unwrap();
        }
    })
}

/// Delivers forever: a few pending alerts of each sink at a time, every 7th batch of the
/// hook refused for good (dead-lettered).
fn deliver(store: &StateStore) -> ! {
    let mut round = 0u64;
    loop {
        round += 1;
        for (sink, every) in [("file", 1), ("hook", 3)] {
            if !round.is_multiple_of(every) {
                continue;
            }
            let seqs: Vec<u64> = (store.pending(sink, 3).unwrap().iter())
                .map(|p| p.seq)
                .collect();
            if sink == "hook" && round.is_multiple_of(7) {
                store.mark_dead_lettered(sink, &seqs).unwrap();
            } else {
                store.mark_delivered(sink, &seqs).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Checks the invariants of the store in `dir`; returns the committed checkpoint.
fn check(dir: &Path) -> u64 {
    let store = open_retrying(dir);
    let Some(loaded) = store.load().unwrap() else {
        return 0;
    };
    let n = committed_n(&loaded);
    assert_eq!(loaded.checkpoint, n, "one commit per checkpoint");
    assert!(
        loaded.engine == engine(n),
        "engine state not of checkpoint {n}"
    );
    let want: BTreeSet<String> = (1..=n).map(alert_id).collect();
    for sink in SINKS {
        let pending = store.pending(sink, usize::MAX).unwrap();
        assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
        for p in &pending {
            let id: u64 = p.id.strip_prefix("id-").unwrap().parse().unwrap();
            assert_eq!(p.encoded, format!("alert {id} for {sink}").as_bytes());
        }
        let delivered = store.delivered_ids(sink, usize::MAX).unwrap();
        let all: Vec<String> = pending.into_iter().map(|p| p.id).chain(delivered).collect();
        let got: BTreeSet<String> = all.iter().cloned().collect();
        assert_eq!(
            got.len(),
            all.len(),
            "{sink}: an alert held twice at checkpoint {n}"
        );
        assert_eq!(got, want, "{sink}: alerts differ from checkpoint {n}'s");
        let counts = store.counts(sink).unwrap();
        assert_eq!(counts.pending + counts.delivered, n);
        let dead = store.dead_lettered(sink).unwrap();
        assert!(dead <= counts.delivered, "{sink}: {dead} dead-lettered");
        if sink == "file" {
            assert_eq!(dead, 0);
        }
    }
    n
}

/// Starts the child role of test `name` on `dir`.
fn spawn_child(name: &str, dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_process_on_the_same_state_dir_is_refused() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = spawn_child(
        "a_second_process_on_the_same_state_dir_is_refused",
        dir.path(),
    );
    let start = Instant::now();
    let refused = loop {
        match StateStore::open(dir.path()) {
            Err(StateError::Locked { .. }) => break true,
            Err(e) => panic!("{e}"),
            // The child has not opened it yet: let go at once so it can.
            Ok(store) => drop(store),
        }
        if start.elapsed() > Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(
        refused,
        "the store was never found locked while the child ran"
    );
}

#[test]
fn checkpoints_stay_whole_when_killed_at_random_moments() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut last = 0;
    let start = Instant::now();
    let mut kill = 0;
    // On a slow disk, more rounds (within a time budget) until enough checkpoints were made.
    while kill < KILLS || (last < 20 && start.elapsed() < Duration::from_secs(15)) {
        // xorshift: a different moment each round, reproducible from the printed seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(20 + seed % 600);
        let mut c = spawn_child(
            "checkpoints_stay_whole_when_killed_at_random_moments",
            dir.path(),
        );
        std::thread::sleep(wait);
        c.kill().unwrap();
        let status = c.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "child ended by itself: {status}");
        let n = check(dir.path());
        assert!(
            n >= last,
            "kill {kill}: checkpoint went back from {last} to {n}"
        );
        eprintln!("kill {kill} after {wait:?}: checkpoint {n}");
        last = n;
        kill += 1;
    }
    assert!(
        last >= 20,
        "too little progress to prove anything: {last} checkpoints"
    );
    let store = open_retrying(dir.path());
    assert!(store.counts("file").unwrap().delivered > 0);
    assert!(store.dead_lettered("hook").unwrap() > 0);
}
