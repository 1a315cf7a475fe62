//! The medallion TAXII 2.1 server (PyPI `medallion`, JSON-file memory backend) on
//! 127.0.0.1, started by a test and killed when dropped. Shared by the tests that need a
//! real TAXII server (`#[path]`-included).
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kvsentry_stix::{Auth, TaxiiClient, TaxiiError};
use serde_json::{Value, json};

pub const USER: &str = "kvsentry";
pub const PASSWORD: &str = "s3cret-Pass";

pub fn python() -> String {
    if let Ok(p) = std::env::var("KVSENTRY_MEDALLION_PYTHON") {
        return p;
    }
    // Where `setup_medallion.sh` puts its venv, from this crate or another's tests.
    let venv = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../kvsentry-stix/tests/.venv/bin/python"
    ));
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

pub fn medallion_importable(py: &str) -> Result<(), String> {
    match Command::new(py)
        .args(["-c", "import medallion"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
        Err(e) => Err(format!("cannot run {py}: {e}")),
    }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!(
            "kvsentry-stix-{tag}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The running server; killed on drop, also when an assertion fails.
pub struct Medallion {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Medallion {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn api_root(&self) -> String {
        format!("{}/api1/", self.base())
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.0.join("medallion.log")).unwrap_or_default()
    }

    /// `None` (after printing why) when medallion is missing and not required.
    /// `server_data(port)`: medallion's memory backend (discovery, API roots, collections).
    pub fn start(server_data: &dyn Fn(u16) -> Value) -> Option<Medallion> {
        let py = python();
        if let Err(why) = medallion_importable(&py) {
            if std::env::var("KVSENTRY_SKIP_MEDALLION").as_deref() != Ok("1") {
                panic!(
                    "`{py} -c 'import medallion'` fails: {why}\n\
                     install it with `bash scripts/test` (the README's test command) or \
                     `bash crates/kvsentry-stix/tests/setup_medallion.sh`; \
                     KVSENTRY_SKIP_MEDALLION=1 skips this test"
                );
            }
            println!(
                "SKIPPED taxii_medallion: medallion is not importable by {py} ({why}) and \
                 KVSENTRY_SKIP_MEDALLION=1"
            );
            return None;
        }
        // The free port is picked before medallion binds it; another process could take it
        // in between, so a server that exits during start-up is retried on a new port.
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Self::spawn(&py, server_data) {
                Ok(server) => return Some(server),
                Err(e) => last_error = e,
            }
        }
        panic!("medallion did not start after 3 attempts:\n{last_error}");
    }

    fn spawn(py: &str, server_data: &dyn Fn(u16) -> Value) -> Result<Medallion, String> {
        let dir = TempDir::new("medallion");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data_path = dir.0.join("data.json");
        fs::write(
            &data_path,
            serde_json::to_string_pretty(&server_data(port)).unwrap(),
        )
        .unwrap();
        let config = json!({
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data_path,
            },
            "users": { USER: PASSWORD },
            "taxii": { "max_page_size": 100 },
        });
        let config_path = dir.0.join("config.json");
        fs::write(&config_path, config.to_string()).unwrap();
        let log = fs::File::create(dir.0.join("medallion.log")).unwrap();
        let child = Command::new(py)
            .args([
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start medallion with {py}: {e}"));
        let mut server = Medallion { child, port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let client = TaxiiClient::with_timeout(basic(), Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "medallion exited early ({status}):\n{}",
                    self.log()
                ));
            }
            match client.discovery(&self.base()) {
                Ok(_) => return Ok(()),
                Err(TaxiiError::Connection { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("medallion not ready: {e}\n{}", self.log()),
            }
        }
    }
}

pub fn basic() -> Auth {
    Auth::Basic {
        user: USER.into(),
        password: PASSWORD.into(),
    }
}
