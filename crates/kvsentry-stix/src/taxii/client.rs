//! The blocking TAXII 2.1 client (`ureq`, rustls).

use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::error::{TaxiiError, io_err};
use super::resources::{
    ApiRoot, Auth, Collection, Discovery, ObjectsFetch, ObjectsPage, SyncReport, TAXII_MEDIA_TYPE,
};
use super::store::{CollectionState, read_state, sanitize, write_atomic};
use crate::pattern::encode_base64;

/// Blocking TAXII 2.1 client.
#[derive(Clone)]
pub struct TaxiiClient {
    agent: ureq::Agent,
    auth: Auth,
    accept: String,
    max_pages: usize,
    max_body: u64,
}

impl std::fmt::Debug for TaxiiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaxiiClient")
            .field("auth", &self.auth)
            .field("max_pages", &self.max_pages)
            .finish()
    }
}

struct Reply {
    status: u16,
    date_added_first: Option<Timestamp>,
    date_added_last: Option<Timestamp>,
    body: String,
}

impl TaxiiClient {
    /// A client with a 30 s timeout per request.
    pub fn new(auth: Auth) -> Self {
        Self::with_timeout(auth, Duration::from_secs(30))
    }

    /// A client whose requests give up after `timeout` in total.
    pub fn with_timeout(auth: Auth, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        TaxiiClient {
            agent,
            auth,
            accept: TAXII_MEDIA_TYPE.to_owned(),
            max_pages: 10_000,
            max_body: 512 * 1024 * 1024,
        }
    }

    /// Bounds the number of pages one [`objects`](Self::objects) call follows (default 10 000).
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages.max(1);
        self
    }

    /// Overrides the `Accept` media type (default [`TAXII_MEDIA_TYPE`]), for servers that
    /// insist on another spelling.
    pub fn with_accept(mut self, media_type: &str) -> Self {
        self.accept = media_type.to_owned();
        self
    }

    fn authorize<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.header(
                "Authorization",
                format!(
                    "Basic {}",
                    encode_base64(format!("{user}:{password}").as_bytes())
                ),
            ),
            Auth::Bearer(token) => req.header("Authorization", format!("Bearer {token}")),
        }
    }

    fn get(&self, url: &str, query: &[(&str, String)]) -> Result<Reply, TaxiiError> {
        let mut req = self
            .authorize(self.agent.get(url))
            .header("Accept", &self.accept);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        let resp = req.call().map_err(|e| transport_error(url, e))?;
        self.reply(url, resp)
    }

    fn reply(
        &self,
        url: &str,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Reply, TaxiiError> {
        let status = resp.status().as_u16();
        let header_ts = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<Timestamp>().ok())
        };
        let date_added_first = header_ts("X-TAXII-Date-Added-First");
        let date_added_last = header_ts("X-TAXII-Date-Added-Last").or(date_added_first);
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_body)
            .read_to_string()
            .map_err(|e| transport_error(url, e))?;
        match status {
            200..=299 => Ok(Reply {
                status,
                date_added_first,
                date_added_last,
                body,
            }),
            401 | 403 => Err(TaxiiError::Auth {
                url: url.into(),
                status,
            }),
            406 => Err(TaxiiError::NotAcceptable {
                url: url.into(),
                accept: self.accept.clone(),
            }),
            _ => Err(TaxiiError::Http {
                url: url.into(),
                status,
                body: excerpt(&body),
            }),
        }
    }

    fn get_json(&self, url: &str, query: &[(&str, String)]) -> Result<(Reply, Value), TaxiiError> {
        let reply = self.get(url, query)?;
        let value = json_body(url, &reply)?;
        Ok((reply, value))
    }

    /// `GET {server}/taxii2/` (the server URL may already end in `/taxii2/`).
    pub fn discovery(&self, server: &str) -> Result<Discovery, TaxiiError> {
        let trimmed = server.trim_end_matches('/');
        let url = if trimmed.ends_with("/taxii2") {
            format!("{trimmed}/")
        } else {
            format!("{trimmed}/taxii2/")
        };
        let (_, v) = self.get_json(&url, &[])?;
        let obj = expect_object(&url, &v)?;
        let resolve = |s: &str| resolve_url(&url, s);
        Ok(Discovery {
            title: str_field(obj, "title").unwrap_or_default(),
            description: str_field(obj, "description"),
            contact: str_field(obj, "contact"),
            default: str_field(obj, "default").map(|s| resolve(&s)),
            api_roots: obj
                .get("api_roots")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(resolve).collect())
                .unwrap_or_default(),
        })
    }

    /// `GET {api_root}/`
    pub fn api_root(&self, url: &str) -> Result<ApiRoot, TaxiiError> {
        let url = with_slash(url);
        let (_, v) = self.get_json(&url, &[])?;
        let obj = expect_object(&url, &v)?;
        Ok(ApiRoot {
            title: str_field(obj, "title").unwrap_or_default(),
            description: str_field(obj, "description"),
            versions: str_list(obj, "versions"),
            max_content_length: obj.get("max_content_length").and_then(Value::as_u64),
        })
    }

    /// `GET {api_root}/collections/`
    pub fn collections(&self, api_root: &str) -> Result<Vec<Collection>, TaxiiError> {
        let url = format!("{}collections/", with_slash(api_root));
        let (_, v) = self.get_json(&url, &[])?;
        let obj = expect_object(&url, &v)?;
        Ok(obj
            .get("collections")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_object)
                    .filter_map(|c| {
                        Some(Collection {
                            id: str_field(c, "id")?,
                            title: str_field(c, "title").unwrap_or_default(),
                            description: str_field(c, "description"),
                            can_read: c.get("can_read").and_then(Value::as_bool).unwrap_or(false),
                            can_write: c.get("can_write").and_then(Value::as_bool).unwrap_or(false),
                            media_types: str_list(c, "media_types"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn objects_url(api_root: &str, collection_id: &str) -> String {
        format!(
            "{}collections/{collection_id}/objects/",
            with_slash(api_root)
        )
    }

    /// A 404 on a collection URL: say which collections exist.
    fn not_found(&self, api_root: &str, collection_id: &str, e: TaxiiError) -> TaxiiError {
        match e {
            TaxiiError::Http {
                url, status: 404, ..
            } => TaxiiError::NoSuchCollection {
                url,
                collection_id: collection_id.into(),
                available: self
                    .collections(api_root)
                    .map(|cs| {
                        cs.into_iter()
                            .map(|c| format!("{} ({})", c.id, c.title))
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            other => other,
        }
    }

    /// One `GET {api_root}/collections/{id}/objects/` request.
    pub fn objects_page(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<Timestamp>,
        match_version: Option<&str>,
        limit: Option<u32>,
        next: Option<&str>,
    ) -> Result<ObjectsPage, TaxiiError> {
        let url = Self::objects_url(api_root, collection_id);
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(a) = added_after {
            query.push(("added_after", a.to_string()));
        }
        if let Some(v) = match_version {
            query.push(("match[version]", v.to_owned()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(n) = next {
            query.push(("next", n.to_owned()));
        }
        let (reply, v) = self
            .get_json(&url, &query)
            .map_err(|e| self.not_found(api_root, collection_id, e))?;
        // 204-style empty bodies are an empty envelope.
        let obj = match &v {
            Value::Null => return Ok(empty_page(&reply)),
            v => expect_object(&url, v)?,
        };
        let objects = match obj.get("objects") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return Err(TaxiiError::NotJson {
                    url,
                    detail: "`objects` is not an array".into(),
                });
            }
        };
        let next = match obj.get("next") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(ObjectsPage {
            objects,
            more: obj.get("more").and_then(Value::as_bool).unwrap_or(false),
            next,
            date_added_first: reply.date_added_first,
            date_added_last: reply.date_added_last,
        })
    }

    /// `GET .../objects/` following every page (see the module documentation).
    ///
    /// `added_after` is exclusive (TAXII: "added after"); `match_version` is `last`
    /// (server default), `first`, `all` or a timestamp list; `limit` is the page size.
    pub fn objects(
        &self,
        api_root: &str,
        collection_id: &str,
        added_after: Option<Timestamp>,
        match_version: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ObjectsFetch, TaxiiError> {
        let url = Self::objects_url(api_root, collection_id);
        let mut objects = Vec::new();
        let mut pages = 0;
        let mut date_added_last: Option<Timestamp> = None;
        let mut after = added_after;
        let mut next: Option<String> = None;
        let mut page_limit = limit;
        loop {
            let page = self.objects_page(
                api_root,
                collection_id,
                after,
                match_version,
                page_limit,
                next.as_deref(),
            )?;
            pages += 1;
            let count = page.objects.len();
            objects.extend(page.objects);
            if let Some(l) = page.date_added_last {
                date_added_last = Some(date_added_last.map_or(l, |d| d.max(l)));
            }
            if !page.more {
                break;
            }
            if pages >= self.max_pages {
                return Err(TaxiiError::Pagination {
                    url,
                    detail: format!("more than {} pages", self.max_pages),
                });
            }
            if let Some(n) = page.next {
                if next.as_deref() == Some(n.as_str()) && count == 0 {
                    return Err(TaxiiError::Pagination {
                        url,
                        detail: format!("`next` {n:?} returned no objects and did not change"),
                    });
                }
                next = Some(n);
                // Some servers (medallion 3) require `limit` on every `next` request.
                if page_limit.is_none() && count > 0 {
                    page_limit = u32::try_from(count).ok();
                }
            } else {
                match page.date_added_last {
                    Some(l) if after.is_none_or(|a| l > a) => {
                        after = Some(l);
                        next = None;
                    }
                    _ => {
                        return Err(TaxiiError::Pagination {
                            url,
                            detail: "`more` is true but neither `next` nor a newer \
                                     X-TAXII-Date-Added-Last was sent"
                                .into(),
                        });
                    }
                }
            }
        }
        Ok(ObjectsFetch {
            objects,
            pages,
            date_added_last,
        })
    }

    /// `POST .../objects/`: adds objects to a writable collection; returns the status resource.
    pub fn add_objects(
        &self,
        api_root: &str,
        collection_id: &str,
        objects: &[Value],
    ) -> Result<Value, TaxiiError> {
        let url = Self::objects_url(api_root, collection_id);
        let body = json!({ "objects": objects }).to_string();
        let resp = self
            .authorize(self.agent.post(&url))
            .header("Accept", &self.accept)
            .header("Content-Type", TAXII_MEDIA_TYPE)
            .send(body.as_str())
            .map_err(|e| transport_error(&url, e))?;
        let reply = self
            .reply(&url, resp)
            .map_err(|e| self.not_found(api_root, collection_id, e))?;
        json_body(&url, &reply)
    }

    /// Fetches the objects (all versions) added to a collection since the last sync and
    /// appends them to the store (see the module documentation for the layout).
    pub fn sync(
        &self,
        store: &Path,
        api_root: &str,
        collection_id: &str,
        limit: Option<u32>,
    ) -> Result<SyncReport, TaxiiError> {
        let api_root = with_slash(api_root);
        fs::create_dir_all(store).map_err(|e| io_err(store, e))?;
        let mut state = read_state(store)?;
        let key = format!("{api_root}|{collection_id}");
        let entry = state
            .collections
            .entry(key.clone())
            .or_insert_with(|| CollectionState {
                api_root: api_root.clone(),
                collection_id: collection_id.to_owned(),
                dir: sanitize(&key),
                date_added_last: None,
                fetches: 0,
                last_sync: None,
            });
        let added_after = entry.date_added_last;
        let fetch = self.objects(&api_root, collection_id, added_after, Some("all"), limit)?;
        let now = Timestamp::now();
        let mut file = None;
        if !fetch.objects.is_empty() {
            let dir = store.join(&entry.dir);
            fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            let path = dir.join(format!("{:06}.json", entry.fetches + 1));
            let envelope = json!({
                "objects": fetch.objects,
                "more": false,
                "x_kvsentry_fetch": {
                    "api_root": api_root,
                    "collection_id": collection_id,
                    "added_after": added_after.map(|t| t.to_string()),
                    "date_added_last": fetch.date_added_last.map(|t| t.to_string()),
                    "fetched_at": now.to_string(),
                }
            });
            write_atomic(&path, &envelope)?;
            entry.fetches += 1;
            file = Some(path);
        }
        if let Some(l) = fetch.date_added_last {
            entry.date_added_last = Some(entry.date_added_last.map_or(l, |d| d.max(l)));
        }
        entry.last_sync = Some(now);
        let date_added_last = entry.date_added_last;
        let state_value =
            serde_json::to_value(&state).map_err(|e| io_err(store, std::io::Error::other(e)))?;
        write_atomic(&store.join("state.json"), &state_value)?;
        Ok(SyncReport {
            objects: fetch.objects.len(),
            pages: fetch.pages,
            file,
            added_after,
            date_added_last,
        })
    }
}

fn empty_page(reply: &Reply) -> ObjectsPage {
    ObjectsPage {
        objects: Vec::new(),
        more: false,
        next: None,
        date_added_first: reply.date_added_first,
        date_added_last: reply.date_added_last,
    }
}

fn transport_error(url: &str, e: ureq::Error) -> TaxiiError {
    let detail = match &e {
        ureq::Error::Io(io) if io.kind() == ErrorKind::ConnectionRefused => {
            "connection refused (is the server running, and on this port?)".to_owned()
        }
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    };
    TaxiiError::Connection {
        url: url.into(),
        detail,
    }
}

fn json_body(url: &str, reply: &Reply) -> Result<Value, TaxiiError> {
    if reply.body.trim().is_empty() {
        return if reply.status == 204 {
            Ok(Value::Null)
        } else {
            Err(TaxiiError::NotJson {
                url: url.into(),
                detail: format!("empty body with HTTP {}", reply.status),
            })
        };
    }
    serde_json::from_str(&reply.body).map_err(|e| TaxiiError::NotJson {
        url: url.into(),
        detail: format!("{e}; body starts: {}", excerpt(&reply.body)),
    })
}

fn expect_object<'a>(
    url: &str,
    v: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, TaxiiError> {
    v.as_object().ok_or_else(|| TaxiiError::NotJson {
        url: url.into(),
        detail: "expected a JSON object".into(),
    })
}

fn excerpt(body: &str) -> String {
    let t: String = body.trim().chars().take(200).collect();
    if body.trim().chars().count() > 200 {
        format!("{t}...")
    } else {
        t
    }
}

fn str_field(m: &serde_json::Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn str_list(m: &serde_json::Map<String, Value>, k: &str) -> Vec<String> {
    m.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    }
}

/// Resolves an API root URL from discovery: absolute as is; `/path/` against the server's
/// scheme and authority; a bare name against the server root.
fn resolve_url(base: &str, s: &str) -> String {
    if s.contains("://") {
        return with_slash(s);
    }
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| {
            base.get(start..)
                .and_then(|r| r.find('/'))
                .map(|e| start + e)
        })
        .unwrap_or(base.len());
    let root = base.get(..authority_end).unwrap_or(base);
    with_slash(&format!("{root}/{}", s.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_api_roots() {
        assert_eq!(
            resolve_url("http://h:1/taxii2/", "http://h:1/api1/"),
            "http://h:1/api1/"
        );
        assert_eq!(
            resolve_url("http://h:1/taxii2/", "/api1/"),
            "http://h:1/api1/"
        );
        assert_eq!(resolve_url("https://h/taxii2/", "api2"), "https://h/api2/");
    }
    /// A one-shot HTTP server on 127.0.0.1: answers each connection with the next canned
    /// response and records the request heads it saw.
    struct Fake {
        base: String,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
        handle: Option<std::thread::JoinHandle<()>>,
    }

    impl Fake {
        fn start(responses: Vec<String>) -> Fake {
            use std::io::{BufRead, BufReader, Write};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let seen2 = seen.clone();
            let handle = std::thread::spawn(move || {
                for resp in responses {
                    let (mut stream, _) = listener.accept().unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                            break;
                        }
                        head.push_str(&line);
                    }
                    seen2.lock().unwrap().push(head);
                    stream.write_all(resp.as_bytes()).unwrap();
                }
            });
            Fake {
                base,
                seen,
                handle: Some(handle),
            }
        }

        fn requests(mut self) -> Vec<String> {
            if let Some(h) = self.handle.take() {
                h.join().unwrap();
            }
            self.seen.lock().unwrap().clone()
        }
    }

    fn http(status: &str, headers: &[&str], body: &str) -> String {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for h in headers {
            r.push_str(h);
            r.push_str("\r\n");
        }
        r.push_str("\r\n");
        r.push_str(body);
        r
    }

    #[test]
    fn non_json_body_and_forbidden_and_bearer() {
        let fake = Fake::start(vec![
            http(
                "200 OK",
                &["Content-Type: text/html"],
                "<html>login page</html>",
            ),
            http("403 Forbidden", &[], "{}"),
        ]);
        let c = TaxiiClient::new(Auth::Bearer("tok-123".into()));
        let e = c.discovery(&fake.base).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, TaxiiError::NotJson { .. }), "{msg}");
        assert!(
            msg.contains(&format!("{}/taxii2/", fake.base)) && msg.contains("<html>login page"),
            "{msg}"
        );
        let e = c.api_root(&format!("{}/api1", fake.base)).unwrap_err();
        assert!(matches!(e, TaxiiError::Auth { status: 403, .. }), "{e}");
        assert!(e.to_string().contains("/api1/"), "{e}");
        let reqs = fake.requests();
        assert!(reqs[0].starts_with("GET /taxii2/ HTTP/1.1"), "{}", reqs[0]);
        let lower = reqs[0].to_ascii_lowercase();
        assert!(
            lower.contains("authorization: bearer tok-123"),
            "{}",
            reqs[0]
        );
        assert!(
            lower.contains("accept: application/taxii+json;version=2.1"),
            "{}",
            reqs[0]
        );
    }

    #[test]
    fn pagination_falls_back_to_date_added_last_and_stops_when_stalled() {
        let page = |objs: &str, more: bool| format!(r#"{{"objects":[{objs}],"more":{more}}}"#);
        let fake = Fake::start(vec![
            http(
                "200 OK",
                &[
                    "X-TAXII-Date-Added-First: 2024-01-01T00:00:00Z",
                    "X-TAXII-Date-Added-Last: 2024-01-02T00:00:00.5Z",
                ],
                &page(r#"{"id":"a"},{"id":"b"}"#, true),
            ),
            http(
                "200 OK",
                &["X-TAXII-Date-Added-Last: 2024-01-03T00:00:00Z"],
                &page(r#"{"id":"c"}"#, false),
            ),
        ]);
        let c = TaxiiClient::new(Auth::Basic {
            user: "u".into(),
            password: "p".into(),
        });
        let f = c.objects(&fake.base, "coll", None, None, Some(2)).unwrap();
        assert_eq!(f.pages, 2);
        assert_eq!(f.objects.len(), 3);
        assert_eq!(
            f.date_added_last,
            Some("2024-01-03T00:00:00Z".parse().unwrap())
        );
        let reqs = fake.requests();
        assert!(
            reqs[0].starts_with("GET /collections/coll/objects/?limit=2 "),
            "{}",
            reqs[0]
        );
        assert!(
            reqs[1].starts_with(
                "GET /collections/coll/objects/?added_after=2024-01-02T00%3A00%3A00.5Z&limit=2 "
            ),
            "{}",
            reqs[1]
        );
        assert!(
            reqs[0]
                .to_ascii_lowercase()
                .contains("authorization: basic dtpw"),
            "{}",
            reqs[0]
        );

        // `more` with neither `next` nor a newer date: an error, not an endless loop.
        let fake = Fake::start(vec![http("200 OK", &[], &page(r#"{"id":"a"}"#, true))]);
        let e = c.objects(&fake.base, "coll", None, None, None).unwrap_err();
        assert!(matches!(e, TaxiiError::Pagination { .. }), "{e}");
        fake.requests();
    }

    #[test]
    fn server_errors_name_the_url() {
        let fake = Fake::start(vec![http(
            "500 Internal Server Error",
            &[],
            r#"{"title":"boom"}"#,
        )]);
        let e = TaxiiClient::new(Auth::None)
            .collections(&fake.base)
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, TaxiiError::Http { status: 500, .. }), "{msg}");
        assert_eq!(
            msg,
            format!(
                "{}/collections/: HTTP 500: {{\"title\":\"boom\"}}",
                fake.base
            )
        );
        fake.requests();
    }

    #[test]
    fn connection_refused_names_the_url() {
        // Bind then drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = TaxiiClient::with_timeout(Auth::None, Duration::from_secs(5));
        let e = c
            .discovery(&format!("http://127.0.0.1:{port}"))
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, TaxiiError::Connection { .. }), "{msg}");
        assert!(
            msg.contains(&format!("http://127.0.0.1:{port}/taxii2/")),
            "{msg}"
        );
    }
}
