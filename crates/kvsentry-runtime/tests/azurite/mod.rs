//! Azurite (npm `azurite`, the Storage emulator) started for a test, and a small client that
//! lays blobs out as a diagnostic setting does: append blobs in `insights-logs-auditevent`,
//! appended to while the test runs.
//!
//! object_store (what kvsentry reads with) cannot create append blobs, so the writer speaks
//! the Storage REST API itself: Put Blob with `x-ms-blob-type: AppendBlob`, then Append Block,
//! each signed with the account's shared key (the emulator's well-known one) — a few lines
//! of HMAC instead of a second SDK to install. Shared by kvsentry-runtime's and the binary's
//! tests (`#[path]`).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const ACCOUNT: &str = "devstoreaccount1";
/// The emulator's well-known key: public, not a secret.
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "insights-logs-auditevent";
const VERSION: &str = "2021-08-06";

/// A running Azurite blob service on a free port, with its data in memory; killed on drop.
pub struct Azurite {
    child: Child,
    pub port: u16,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

/// Where `azurite-blob` is: `KVSENTRY_AZURITE`, the copy `scripts/test` installs, or `PATH`.
fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("KVSENTRY_AZURITE") {
        return PathBuf::from(p);
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../kvsentry-runtime/tests/.azurite/node_modules/.bin/azurite-blob");
    if local.exists() {
        return local;
    }
    PathBuf::from("azurite-blob")
}

impl Azurite {
    /// On a free port, its data in memory.
    pub fn start() -> Azurite {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Azurite::start_with(port, None)
    }

    /// On `port`, its data in memory or, with `location`, on disk there.
    pub fn start_with(port: u16, location: Option<&std::path::Path>) -> Azurite {
        let dir = tempfile::tempdir().unwrap();
        let program = program();
        let mut cmd = Command::new(&program);
        cmd.args(["--blobHost", "127.0.0.1", "--blobPort"])
            .arg(port.to_string())
            .args(["--silent", "--skipApiVersionCheck"]);
        match location {
            Some(l) => cmd.arg("--location").arg(l),
            None => cmd.arg("--inMemoryPersistence"),
        };
        let child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): the Storage tests need Azurite (npm `azurite`); \
                     `bash scripts/test` installs it into crates/kvsentry-runtime/tests/.azurite \
                     (`npm install --prefix crates/kvsentry-runtime/tests/.azurite azurite`), \
                     or set KVSENTRY_AZURITE to an azurite-blob program",
                    program.display()
                )
            });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut a = Azurite {
            child,
            port,
            agent,
            _dir: dir,
        };
        a.wait_until_it_answers();
        a
    }

    fn wait_until_it_answers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("azurite-blob exited at start: {status}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.request("GET", "", &[("comp", "list")], &[], None) == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "Azurite did not answer in 60s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The blob endpoint (path-style, the account in the path).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// A connection string with the emulator's key and this endpoint.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={}/;",
            self.endpoint()
        )
    }

    pub fn create_container(&self, container: &str) {
        let s = self.request("PUT", container, &[("restype", "container")], &[], None);
        assert_eq!(s, 201, "create container {container}");
    }

    /// An empty append blob, as the diagnostic setting creates each hour's `PT1H.json`.
    pub fn create_append_blob(&self, container: &str, name: &str) {
        let path = format!("{container}/{name}");
        let s = self.request(
            "PUT",
            &path,
            &[],
            &[("x-ms-blob-type", "AppendBlob")],
            Some(&[]),
        );
        assert_eq!(s, 201, "create append blob {name}");
    }

    /// Appends `data` (at most 4 MiB) to an append blob.
    pub fn append(&self, container: &str, name: &str, data: &[u8]) {
        let path = format!("{container}/{name}");
        for part in data.chunks(4 << 20) {
            let s = self.request("PUT", &path, &[("comp", "appendblock")], &[], Some(part));
            assert_eq!(s, 201, "append to {name}");
        }
    }

    /// Creates the append blob if `create`, then appends `data`.
    pub fn write(&self, name: &str, data: &[u8], create: bool) {
        if create {
            self.create_append_blob(CONTAINER, name);
        }
        if !data.is_empty() {
            self.append(CONTAINER, name, data);
        }
    }

    /// A container SAS with list and read rights, valid for a day (service SAS, signed with
    /// the account key).
    pub fn container_sas(&self, container: &str) -> String {
        let start = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        let expiry = start + jiff::SignedDuration::from_hours(25);
        let (st, se) = (
            start.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            expiry.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        );
        let sp = "rl";
        // The string-to-sign of a service SAS of version 2020-12-06 and later.
        let to_sign = [
            sp,
            &st,
            &se,
            &format!("/blob/{ACCOUNT}/{container}"),
            "",
            "",
            "http",
            VERSION,
            "c",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
        .join("\n");
        let sig = sign(&to_sign);
        format!(
            "sv={VERSION}&spr=http&st={st}&se={se}&sr=c&sp={sp}&sig={}",
            encode(&sig)
        )
    }

    /// One signed request; the status.
    fn request(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> u16 {
        let date = jiff::Timestamp::now()
            .strftime("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let mut ms: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        ms.push(("x-ms-date".into(), date));
        ms.push(("x-ms-version".into(), VERSION.into()));
        ms.sort();
        let len = body.map_or(0, <[u8]>::len);
        let content_type = if body.is_some_and(|b| !b.is_empty()) {
            "application/octet-stream"
        } else {
            ""
        };
        let mut resource = format!("/{ACCOUNT}/{ACCOUNT}/{path}");
        let mut q: Vec<&(&str, &str)> = query.iter().collect();
        q.sort();
        for (k, v) in &q {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        let canonical_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let to_sign = format!(
            "{method}\n\n\n{}\n\n{content_type}\n\n\n\n\n\n\n{canonical_headers}{resource}",
            if len == 0 {
                String::new()
            } else {
                len.to_string()
            },
        );
        let auth = format!("SharedKey {ACCOUNT}:{}", sign(&to_sign));
        let query: String = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!(
            "http://127.0.0.1:{}/{ACCOUNT}/{path}{}{query}",
            self.port,
            if query.is_empty() { "" } else { "?" }
        );
        let result = match (method, body) {
            ("GET", _) => signed(self.agent.get(&url), &ms, &auth).call(),
            (_, Some(b)) if !b.is_empty() => {
                let r = self.agent.put(&url).header("Content-Type", content_type);
                signed(r, &ms, &auth).send(b)
            }
            _ => signed(self.agent.put(&url), &ms, &auth).send(&[][..]),
        };
        match result {
            Ok(r) => r.status().as_u16(),
            Err(e) => panic!("{method} {url}: {e}"),
        }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signed<B>(
    mut r: ureq::RequestBuilder<B>,
    headers: &[(String, String)],
    auth: &str,
) -> ureq::RequestBuilder<B> {
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.header("Authorization", auth)
}

/// HMAC-SHA256 of `text` with the account key, base64.
fn sign(text: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &STANDARD.decode(KEY).unwrap());
    STANDARD.encode(ring::hmac::sign(&key, text.as_bytes()).as_ref())
}

/// Percent-encoding of a SAS value (base64's `+`, `/`, `=`).
fn encode(s: &str) -> String {
    s.replace('%', "%25")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// The name of the diagnostic setting's blob of a vault and hour.
pub fn blob_name(vault: &str, y: u32, m: u32, d: u32, h: u32) -> String {
    format!(
        "resourceId=/SUBSCRIPTIONS/5E6F2A10-3C4D-4B8A-9E21-7D0C1B2A3F40/RESOURCEGROUPS/RG-SEC/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/{}/y={y}/m={m:02}/d={d:02}/h={h:02}/m=00/PT1H.json",
        vault.to_ascii_uppercase()
    )
}
