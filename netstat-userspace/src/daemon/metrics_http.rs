//! The metrics endpoint: `GET /metrics` over HTTP/1.1, one request per connection. Deliberately
//! small: the request head is parsed by httparse, bounded in size and time; every answer closes
//! the connection. The exposition is rendered by the main loop, which owns what it describes.
//!
//! Slow clients cannot hold up a scrape: each connection has one deadline for its whole head,
//! one for writing its answer and one for draining what it sends after; and when every slot is
//! taken, a new connection takes the slot of the oldest one that is still sending its head or
//! already answered (which a scraper's connection, whose head arrives at once, hardly ever is).

use std::{
    collections::{BTreeMap, HashSet},
    hash::{BuildHasher as _, RandomState},
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use base64::Engine as _;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::{Semaphore, mpsc, oneshot},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;

use super::{server::REQUEST_DEADLINE, web_config::WebConfig};
use crate::views::metrics::ExpositionFormat;

/// The longest request head read; a longer one is refused.
const MAX_HEAD_BYTES: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;
/// Connections open at once, whatever they are doing.
const MAX_CONNECTIONS: usize = 64;
/// Scrapes that may wait for the main loop at once; more are answered 503.
const QUEUE_DEPTH: usize = 8;
/// How long writing an answer may take.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// After answering, what the client still sends is read and dropped (so that closing does not
/// reset the connection before the answer is read), within this time for the whole drain...
const DRAIN_DEADLINE: Duration = Duration::from_millis(500);
/// ...and up to this many bytes.
const DRAIN_BYTES: usize = 64 * 1024;

/// A scrape waiting for the main loop's exposition.
pub(crate) struct Scrape {
    pub(crate) reply: oneshot::Sender<Result<String, String>>,
}

/// The bound listener.
pub(crate) struct MetricsEndpoint {
    listener: TcpListener,
}

impl MetricsEndpoint {
    pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics address {addr}"))?;
        Ok(MetricsEndpoint { listener })
    }

    /// The address bound (its port chosen by the kernel if 0 was asked for).
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections forever, handing each scrape to the main loop through the returned
    /// channel; over TLS and with basic authentication as `web` says.
    pub(crate) fn serve(self, web: WebConfig) -> mpsc::Receiver<Scrape> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let slots = Arc::new(Slots::default());
        let access = Arc::new(Access::new(web));
        tokio::spawn(async move {
            loop {
                match self.listener.accept().await {
                    Ok((stream, _)) => {
                        // Full of connections that are all being answered: this one is closed.
                        let Some((slot, evicted)) = slots.admit() else {
                            continue;
                        };
                        let main_loop = tx.clone();
                        let access = Arc::clone(&access);
                        tokio::spawn(async move {
                            tokio::select! {
                                () = handle(stream, &main_loop, &slot, &access) => {}
                                // Its slot went to a newer connection: close at once.
                                _ = evicted => {}
                            }
                        });
                    }
                    // Out of file descriptors, say: try again in a while rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        rx
    }
}

/// The open connections, oldest first, and whether each may be closed to make room: yes while
/// it sends its head or drains, no while its answer is made and written.
#[derive(Default)]
struct Slots {
    open: Mutex<SlotTable>,
}

#[derive(Default)]
struct SlotTable {
    next_id: u64,
    /// By id, which grows with age. Dropping an entry's sender evicts its connection.
    by_id: BTreeMap<u64, (bool, oneshot::Sender<()>)>,
}

/// A connection's place in [`Slots`]; freed on drop.
struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slots {
    /// A slot for a new connection, evicting the oldest evictable one when all are taken; None
    /// when none is evictable. The receiver completes when the connection is evicted.
    fn admit(self: &Arc<Self>) -> Option<(Slot, oneshot::Receiver<()>)> {
        let mut table = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if table.by_id.len() >= MAX_CONNECTIONS {
            let oldest = table
                .by_id
                .iter()
                .find(|(_, (evictable, _))| *evictable)
                .map(|(&id, _)| id)?;
            table.by_id.remove(&oldest);
        }
        let id = table.next_id;
        table.next_id += 1;
        let (evict, evicted) = oneshot::channel();
        table.by_id.insert(id, (true, evict));
        let slot = Slot {
            slots: Arc::clone(self),
            id,
        };
        Some((slot, evicted))
    }
}

impl Slot {
    fn set_evictable(&self, evictable: bool) {
        let mut table = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.by_id.get_mut(&self.id) {
            entry.0 = evictable;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        table.by_id.remove(&self.id);
    }
}

/// What a request head asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Metrics {
        head_only: bool,
        format: ExpositionFormat,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
    TooLarge,
}

/// Routes a request head; None while it is incomplete and within bounds.
pub(crate) fn route(head: &[u8]) -> Option<Route> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Partial) if head.len() >= MAX_HEAD_BYTES => Some(Route::TooLarge),
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => Some(Route::TooLarge),
        Err(_) => Some(Route::BadRequest),
        Ok(httparse::Status::Complete(_)) => {
            let target = request.path.unwrap_or_default();
            let path = target.split_once('?').map_or(target, |(path, _)| path);
            let accept = request
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("accept"))
                .map(|h| h.value);
            let format = negotiate(accept);
            Some(match (request.method.unwrap_or_default(), path) {
                ("GET", "/metrics") => Route::Metrics {
                    head_only: false,
                    format,
                },
                ("HEAD", "/metrics") => Route::Metrics {
                    head_only: true,
                    format,
                },
                (_, "/metrics") => Route::MethodNotAllowed,
                _ => Route::NotFound,
            })
        }
    }
}

/// The format the `Accept` headers prefer, as Prometheus's own exporters choose: OpenMetrics when
/// it is acceptable and no less preferred than the text format, else the text format 0.0.4
/// (also when there is no `Accept` at all).
fn negotiate<'a>(accept: impl Iterator<Item = &'a [u8]>) -> ExpositionFormat {
    let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
    for value in accept {
        let value = String::from_utf8_lossy(value);
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.split_once('='))
                .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(quality),
                "text/plain" | "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        ExpositionFormat::OpenMetrics
    } else {
        ExpositionFormat::Text
    }
}

/// A complete response; the connection closes after it.
fn response(
    status: &str,
    content_type: &str,
    extra: &str,
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

fn plain(status: &str, extra: &str, message: &str) -> Vec<u8> {
    response(
        status,
        "text/plain; charset=utf-8",
        extra,
        format!("{message}\n").as_bytes(),
        false,
    )
}

/// The answer to a routed request.
async fn answer(route: Route, main_loop: &mpsc::Sender<Scrape>) -> Vec<u8> {
    match route {
        Route::Metrics { head_only, format } => match scrape(main_loop).await {
            Ok(text) => response(
                "200 OK",
                format.content_type(),
                "",
                format.render(text).as_bytes(),
                head_only,
            ),
            Err(why) => plain("503 Service Unavailable", "", &why),
        },
        Route::NotFound => plain("404 Not Found", "", "not found; metrics are at /metrics"),
        Route::MethodNotAllowed => plain(
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD are allowed",
        ),
        Route::BadRequest => plain("400 Bad Request", "", "malformed request"),
        Route::TooLarge => plain(
            "431 Request Header Fields Too Large",
            "",
            "request head too large",
        ),
    }
}

async fn scrape(main_loop: &mpsc::Sender<Scrape>) -> Result<String, String> {
    let (reply, exposition) = oneshot::channel();
    main_loop
        .try_send(Scrape { reply })
        .map_err(|_| "the daemon is busy; try again".to_string())?;
    exposition
        .await
        .unwrap_or_else(|_| Err("the daemon is shutting down".to_string()))
}

/// Reads the request head until it routes; the head read, for its other headers.
async fn read_route(stream: &mut (impl AsyncRead + Unpin)) -> (Route, Vec<u8>) {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(_) => return (Route::BadRequest, head),
        };
        if n == 0 {
            return (Route::BadRequest, head);
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(route) = route(&head) {
            return (route, head);
        }
    }
}

/// Who may scrape, and how: TLS, and the basic-auth users with what checks their passwords.
struct Access {
    tls: Option<TlsAcceptor>,
    users: BTreeMap<String, String>,
    /// bcrypt is slow by design: few checks run at once, so that bad passwords cannot take the
    /// daemon's CPU...
    checks: Semaphore,
    /// ...and credentials that passed are remembered (by a keyed hash, never as they are), so a
    /// scraper's next scrapes cost no check.
    passed: Mutex<HashSet<u64>>,
    keys: RandomState,
}

/// bcrypt checks at once.
const PASSWORD_CHECKS: usize = 2;
/// Credentials remembered; past this the memory starts again.
const PASSED_REMEMBERED: usize = 64;

impl Access {
    fn new(web: WebConfig) -> Self {
        Access {
            tls: web.tls.map(TlsAcceptor::from),
            users: web.users,
            checks: Semaphore::new(PASSWORD_CHECKS),
            passed: Mutex::new(HashSet::new()),
            keys: RandomState::new(),
        }
    }

    /// Whether the request head carries the credentials of a configured user (always, when no
    /// users are configured).
    async fn admits(&self, head: &[u8]) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some((user, password)) = basic_credentials(head) else {
            return false;
        };
        let key = self.keys.hash_one((&user, &password));
        if self
            .passed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
        {
            return true;
        }
        // An unknown user costs a check too, so that timing does not tell which names exist.
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash.clone()),
            None => (
                false,
                self.users.values().next().cloned().unwrap_or_default(),
            ),
        };
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        let matches =
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let admitted = known && matches;
        if admitted {
            let mut passed = self.passed.lock().unwrap_or_else(|e| e.into_inner());
            if passed.len() >= PASSED_REMEMBERED {
                passed.clear();
            }
            passed.insert(key);
        }
        admitted
    }
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(head: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(head).ok()?;
    let value = request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))?
        .value;
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

/// One connection: the TLS handshake if any, then the request, within one deadline for both.
async fn handle(stream: TcpStream, main_loop: &mpsc::Sender<Scrape>, slot: &Slot, access: &Access) {
    let head_deadline = Instant::now() + REQUEST_DEADLINE;
    match &access.tls {
        None => exchange(stream, main_loop, slot, access, head_deadline).await,
        Some(acceptor) => {
            // A failed or slow handshake is closed without an answer: there is no channel for one.
            if let Ok(Ok(tls)) =
                tokio::time::timeout_at(head_deadline, acceptor.accept(stream)).await
            {
                exchange(tls, main_loop, slot, access, head_deadline).await;
            }
        }
    }
}

/// Reads and routes the request, checks who sent it, answers it, and closes.
async fn exchange(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    main_loop: &mpsc::Sender<Scrape>,
    slot: &Slot,
    access: &Access,
    head_deadline: Instant,
) {
    let reply = match tokio::time::timeout_at(head_deadline, read_route(&mut stream)).await {
        Ok((route @ (Route::BadRequest | Route::TooLarge), _)) => answer(route, main_loop).await,
        Ok((route, head)) => {
            if access.admits(&head).await {
                slot.set_evictable(false);
                answer(route, main_loop).await
            } else {
                plain(
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"enetstat\", charset=\"UTF-8\"\r\n",
                    "unauthorized",
                )
            }
        }
        Err(_) => plain("408 Request Timeout", "", "request not received in time"),
    };
    // A client that went away, or does not read, gets nothing; that is its business.
    let _ = tokio::time::timeout(WRITE_DEADLINE, stream.write_all(&reply)).await;
    let _ = tokio::time::timeout(WRITE_DEADLINE, stream.shutdown()).await;
    slot.set_evictable(true);
    let _ = tokio::time::timeout(DRAIN_DEADLINE, drain(&mut stream)).await;
}

/// Reads and drops what the client sends, up to [`DRAIN_BYTES`], until it closes.
async fn drain(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0u8; 4096];
    let mut left = DRAIN_BYTES;
    while left > 0 {
        match stream.read(&mut sink).await {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    #[test]
    fn routes_metrics_and_refuses_the_rest() {
        let get =
            |target: &str| route(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let text = ExpositionFormat::Text;
        assert_eq!(
            get("/metrics"),
            Some(Route::Metrics {
                head_only: false,
                format: text
            })
        );
        assert_eq!(
            get("/metrics?x=1"),
            Some(Route::Metrics {
                head_only: false,
                format: text
            })
        );
        assert_eq!(
            route(b"HEAD /metrics HTTP/1.0\r\n\r\n"),
            Some(Route::Metrics {
                head_only: true,
                format: text
            })
        );
        assert_eq!(get("/"), Some(Route::NotFound));
        assert_eq!(get("/metrics/x"), Some(Route::NotFound));
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"),
            Some(Route::MethodNotAllowed)
        );
    }

    #[test]
    fn openmetrics_is_served_when_asked_for_and_preferred() {
        use ExpositionFormat::{OpenMetrics, Text};
        let format = |accept: &[&str]| negotiate(accept.iter().map(|a| a.as_bytes()));
        // What Prometheus 2.x sends.
        assert_eq!(
            format(&[
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ]),
            OpenMetrics
        );
        assert_eq!(
            format(&["Application/OpenMetrics-Text; version=1.0.0"]),
            OpenMetrics
        );
        assert_eq!(
            format(&["text/plain", "application/openmetrics-text"]),
            OpenMetrics
        );
        assert_eq!(format(&[]), Text);
        assert_eq!(format(&["*/*"]), Text);
        assert_eq!(format(&["text/plain;version=0.0.4"]), Text);
        assert_eq!(format(&["application/json"]), Text);
        assert_eq!(format(&["application/openmetrics-text;q=0"]), Text);
        assert_eq!(
            format(&["application/openmetrics-text;q=0.2,text/plain"]),
            Text
        );
        assert_eq!(format(&["application/openmetrics-text;q=bogus"]), Text);
        let asked = |accept: &str| {
            route(format!("GET /metrics HTTP/1.1\r\nAccept: {accept}\r\n\r\n").as_bytes())
        };
        assert_eq!(
            asked("application/openmetrics-text"),
            Some(Route::Metrics {
                head_only: false,
                format: OpenMetrics
            })
        );
    }

    #[test]
    fn waits_for_a_whole_head_and_bounds_it() {
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost:"), None);
        assert_eq!(route(b""), None);
        let long = format!("GET /metrics HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(route(long.as_bytes()), Some(Route::TooLarge));
        let many: String = (0..MAX_HEADERS + 1)
            .map(|i| format!("H{i}: v\r\n"))
            .collect();
        assert_eq!(
            route(format!("GET /metrics HTTP/1.1\r\n{many}\r\n").as_bytes()),
            Some(Route::TooLarge)
        );
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for bad in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET /metrics HTTP/9.9\r\n\r\n",
            b"GET  HTTP/1.1\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert_eq!(
                route(bad),
                Some(Route::BadRequest),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn responses_carry_length_and_close() {
        let text = String::from_utf8(response("200 OK", "text/plain", "", b"abc", false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        );
        let head = String::from_utf8(response("200 OK", "text/plain", "", b"abc", true)).unwrap();
        assert!(
            head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
    }

    /// An endpoint on a loopback port whose main loop answers every scrape with "up".
    fn start() -> SocketAddr {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let endpoint = MetricsEndpoint::bind("127.0.0.1:0".parse().unwrap())
                    .await
                    .unwrap();
                ready_tx.send(endpoint.local_addr().unwrap()).unwrap();
                let mut scrapes = endpoint.serve(WebConfig::default());
                while let Some(scrape) = scrapes.recv().await {
                    let _ = scrape.reply.send(Ok("up\n".to_string()));
                }
            });
        });
        ready_rx.recv().unwrap()
    }

    fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(bytes).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_scrapes_and_survives_bad_requests() {
        let addr = start();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{ok}"
        );
        let openmetrics = exchange(
            addr,
            b"GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\n",
        );
        assert!(
            openmetrics.contains(&format!(
                "Content-Type: {}\r\n",
                ExpositionFormat::OpenMetrics.content_type()
            )),
            "{openmetrics}"
        );
        assert!(ok.ends_with("\r\n\r\nup\n"), "{ok}");
        let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let bad = exchange(addr, b"\x00\x01garbage\r\n\r\n");
        assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let post = exchange(
            addr,
            b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        );
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(post.contains("Allow: GET, HEAD\r\n"), "{post}");
        let huge = exchange(addr, &vec![b'a'; 100_000]);
        assert!(
            huge.starts_with("HTTP/1.1 400 Bad Request\r\n") || huge.starts_with("HTTP/1.1 431"),
            "{huge}"
        );
        let long_head = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        let long = exchange(addr, long_head.as_bytes());
        assert!(long.starts_with("HTTP/1.1 431 "), "{long}");
        // A client that hangs up half-way gets a 400 it may not read.
        let mut half = std::net::TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /met").unwrap();
        half.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        half.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        // Still serving.
        assert!(exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n").ends_with("\r\n\r\nup\n"));
    }

    #[test]
    fn a_silent_client_times_out_without_blocking_others() {
        let addr = start();
        let mut silent = std::net::TcpStream::connect(addr).unwrap();
        let started = std::time::Instant::now();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(started.elapsed() < REQUEST_DEADLINE);
        let mut out = String::new();
        silent.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    }

    #[test]
    fn silent_clients_beyond_the_slots_give_way_to_a_scrape() {
        let addr = start();
        let silent: Vec<_> = (0..2 * MAX_CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let started = std::time::Instant::now();
        let ok = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            started.elapsed() < REQUEST_DEADLINE / 2,
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    }

    #[test]
    fn a_client_that_trickles_after_its_answer_is_closed_soon() {
        let addr = start();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut writer = client.try_clone().unwrap();
        let started = std::time::Instant::now();
        std::thread::spawn(move || {
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if writer.write_all(b"x").is_err() {
                    return;
                }
            }
        });
        let mut out = Vec::new();
        // The close may come as a reset, once the answer has been read.
        let _ = client.read_to_end(&mut out);
        assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(
            started.elapsed() < DRAIN_DEADLINE + REQUEST_DEADLINE / 2,
            "{:?}",
            started.elapsed()
        );
    }
}
