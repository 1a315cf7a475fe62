//! serve's HTTP endpoints on the `listen` address, on a thread of their own:
//!
//! - `GET /healthz`: `200 ok` once the state is loaded, the inputs opened and the first
//!   pass done ([`Ops::set_ready`]); `503` before (a long first pass reads the backlog).
//! - `GET /metrics`: [`Metrics`] in the Prometheus text format.
//! - `POST /reload`: asks the serving loop to reload its configuration, rules and intel
//!   (a [`ReloadAsked`] handed to the loop's callback); answers `200` with what was
//!   reloaded, `400` with why a bad configuration was refused (the old one goes on),
//!   `202` when the pass under way has not ended within [`RELOAD_WAIT`] (the reload
//!   follows it), or `503` when serve stopped without reloading.
//!
//! The server is small and blocking (tiny_http): three endpoints scraped every few seconds
//! need no async runtime. `/reload` waits on a thread of its own, so scrapes go on during
//! a reload.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use tiny_http::{Header, Method, Request, Response};

use super::metrics::{METRICS_CONTENT_TYPE, Metrics};

/// How long `POST /reload` waits for the reload before answering `202 Accepted`.
pub const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// How often the HTTP thread looks whether it is to stop.
const TICK: Duration = Duration::from_millis(100);

/// What the endpoints read: the metrics and whether serve is ready. Shared in an `Arc`
/// between the serving loop and the HTTP thread.
#[derive(Default)]
pub struct Ops {
    pub metrics: Metrics,
    ready: AtomicBool,
}

impl Ops {
    pub fn new() -> Ops {
        Ops::default()
    }

    /// Whether `/healthz` answers 200.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// A reload asked for with `POST /reload`: the serving loop reloads, then answers.
pub struct ReloadAsked {
    reply: Sender<Result<String, String>>,
}

impl ReloadAsked {
    /// A request and the receiver of its answer (for a caller other than the HTTP thread,
    /// and tests).
    pub fn new() -> (ReloadAsked, Receiver<Result<String, String>>) {
        let (reply, answer) = bounded(1);
        (ReloadAsked { reply }, answer)
    }

    /// Answers the request: `Ok` with what was reloaded, or `Err` with why the new
    /// configuration was refused. The asker may have stopped waiting: that is no error.
    pub fn answer(self, outcome: Result<String, String>) {
        let _ = self.reply.send(outcome);
    }
}

/// The HTTP server, answering until dropped.
pub struct HttpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `addr` and answers on a new thread. `on_reload` is called (on that thread, or
    /// one it starts) with each `POST /reload`; it should hand the request to the serving
    /// loop and return at once.
    pub fn start(
        addr: SocketAddr,
        ops: Arc<Ops>,
        on_reload: impl Fn(ReloadAsked) + Send + Sync + 'static,
    ) -> io::Result<HttpServer> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let server = tiny_http::Server::from_listener(listener, None).map_err(io::Error::other)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let on_reload = Arc::new(on_reload);
        let thread = std::thread::Builder::new()
            .name("kvsentry-http".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    // An accept error (a client gone) only drops that client.
                    if let Ok(Some(request)) = server.recv_timeout(TICK) {
                        answer(request, &ops, &on_reload);
                    }
                }
            })?;
        Ok(HttpServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address bound (the port chosen when `listen` gave port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer<F: Fn(ReloadAsked) + Send + Sync + 'static>(
    request: Request,
    ops: &Ops,
    on_reload: &Arc<F>,
) {
    // The query string does not choose the endpoint.
    let path = request.url().split('?').next().unwrap_or("");
    let method = request.method().clone();
    let response = match (path, &method) {
        ("/healthz", Method::Get | Method::Head) => {
            if ops.is_ready() {
                text(200, "ok\n")
            } else {
                text(
                    503,
                    "starting: the state is loading or the first pass is under way\n",
                )
            }
        }
        ("/metrics", Method::Get | Method::Head) => Response::from_string(ops.metrics.encode())
            .with_header(header("Content-Type", METRICS_CONTENT_TYPE)),
        ("/reload", Method::Post) => {
            let on_reload = Arc::clone(on_reload);
            // Waiting for the loop must not stop scrapes. Without a thread nothing can
            // wait: the request is dropped (the client sees the connection close).
            let _ = std::thread::Builder::new()
                .name("kvsentry-reload".into())
                .spawn(move || {
                    let (asked, outcome) = ReloadAsked::new();
                    on_reload(asked);
                    let response = match outcome.recv_timeout(RELOAD_WAIT) {
                        Ok(Ok(what)) => text(200, &format!("{what}\n")),
                        Ok(Err(why)) => text(400, &format!("{why}\n")),
                        Err(RecvTimeoutError::Timeout) => {
                            text(202, "reload accepted: it follows the pass under way\n")
                        }
                        // The loop ended without reloading.
                        Err(RecvTimeoutError::Disconnected) => text(503, "serve is stopping\n"),
                    };
                    let _ = request.respond(response);
                });
            return;
        }
        ("/healthz" | "/metrics", _) => {
            text(405, "method not allowed\n").with_header(header("Allow", "GET"))
        }
        ("/reload", _) => text(405, "method not allowed\n").with_header(header("Allow", "POST")),
        _ => text(404, "not found: try /healthz, /metrics or POST /reload\n"),
    };
    let _ = request.respond(response);
}

fn text(status: u16, body: &str) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    /// One request over a new connection: the status code and body.
    fn call(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    fn start(reload: impl Fn(ReloadAsked) + Send + Sync + 'static) -> (HttpServer, Arc<Ops>) {
        let ops = Arc::new(Ops::new());
        let addr = "127.0.0.1:0".parse().unwrap();
        let server = HttpServer::start(addr, Arc::clone(&ops), reload).unwrap();
        (server, ops)
    }

    #[test]
    fn healthz_is_503_until_ready() {
        let (server, ops) = start(|_| {});
        let (status, body) = call(server.local_addr(), "GET", "/healthz");
        assert_eq!(status, 503, "{body}");
        ops.set_ready(true);
        assert_eq!(
            call(server.local_addr(), "GET", "/healthz"),
            (200, "ok\n".into())
        );
    }

    #[test]
    fn metrics_unknown_paths_and_methods() {
        let (server, ops) = start(|_| {});
        ops.metrics.record_reload(false);
        let (status, body) = call(server.local_addr(), "GET", "/metrics?x=1");
        assert_eq!(status, 200);
        assert!(
            body.contains("kvsentry_reloads_total{result=\"refused\"} 1\n"),
            "{body}"
        );
        assert_eq!(call(server.local_addr(), "GET", "/nothing").0, 404);
        assert_eq!(call(server.local_addr(), "POST", "/metrics").0, 405);
        assert_eq!(call(server.local_addr(), "GET", "/reload").0, 405);
    }

    #[test]
    fn reload_answers_with_what_the_loop_said() {
        let (tx, rx) = crossbeam_channel::unbounded::<ReloadAsked>();
        let (server, _ops) = start(move |r| {
            let _ = tx.send(r);
        });
        // The serving loop: the first reload succeeds, the second is refused.
        let serving = std::thread::spawn(move || {
            rx.recv().unwrap().answer(Ok("reloaded: 9 rules".into()));
            (rx.recv().unwrap()).answer(Err("kvsentry.toml:3:1: `pth`: unknown key".into()));
        });
        assert_eq!(
            call(server.local_addr(), "POST", "/reload"),
            (200, "reloaded: 9 rules\n".into())
        );
        assert_eq!(
            call(server.local_addr(), "POST", "/reload"),
            (400, "kvsentry.toml:3:1: `pth`: unknown key\n".into())
        );
        serving.join().unwrap();
    }

    #[test]
    fn a_reload_the_loop_drops_unanswered_is_503() {
        let (server, _ops) = start(drop);
        let (status, body) = call(server.local_addr(), "POST", "/reload");
        assert_eq!((status, body.as_str()), (503, "serve is stopping\n"));
    }

    #[test]
    fn a_port_in_use_is_an_error() {
        let (server, _) = start(|_| {});
        let ops = Arc::new(Ops::new());
        let again = HttpServer::start(server.local_addr(), ops, |_| {});
        assert_eq!(again.err().unwrap().kind(), io::ErrorKind::AddrInUse);
    }
}
