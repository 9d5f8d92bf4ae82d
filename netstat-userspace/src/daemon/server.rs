//! The daemon's unix socket: root-only, one request per connection, bounded in size and time.
//! Connections are served by their own tasks, so a slow or broken client never holds up others;
//! answers are computed by the main loop, which owns the live table.
//!
//! What clients can hold is bounded: descriptors (clients served at once, set from the open
//! files limit so that the daemon's own reads keep theirs; more are told Busy), time (a deadline
//! to send the request and one to read the answer), and memory (the answers waiting to be read
//! share a budget; a client whose answer does not fit is told Busy).

use std::{
    io,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
    sync::{Semaphore, mpsc, oneshot},
};

use super::state::release_free_memory;
use crate::sources::daemon::{
    protocol::{self, CheckArgs, DaemonError, Decoded, Dialect, MAX_REQUEST_BYTES, Request},
    socket_inode,
};

/// How long a client may take to send its request.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client may take to read its answer; then the connection is closed.
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// How many requests may wait for the main loop at once; more are refused as busy.
const QUEUE_DEPTH: usize = 64;
/// Clients served at once, at most; fewer when the open files limit is low.
const MAX_CLIENTS: usize = 256;
/// Clients being told Busy at once, at most; more wait in the listen backlog.
const MAX_REFUSING: usize = 16;
/// Descriptors kept for the daemon's own work beside its clients: an answer opens netlink
/// sockets and /proc files, an owner scan one /proc/PID/fd directory at a time, and a resync
/// /proc/net/tcp{,6}.
const RESERVED_FDS: usize = 24;
/// The answer bytes all clients may hold at once. An answer larger than this alone is still
/// sent when no other is held, so a host with a huge table can be asked at all.
const ANSWER_BUDGET_BYTES: usize = 64 << 20;
/// Answers at least this large give their memory back to the system once dropped.
const TRIM_AFTER_BYTES: usize = 1 << 20;
/// Out of descriptors: how long the accept loop waits before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Out of descriptors is logged at most once per this.
const EXHAUSTION_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// A request waiting for the main loop's answer.
pub(crate) struct Incoming {
    request: Request,
    /// The daemon's end of this connection, which no netstat view should show.
    connection_inode: Option<u64>,
    reply: oneshot::Sender<Result<Charged, DaemonError>>,
    budget: AnswerBudget,
}

/// An answer, charged to the budget until its connection is done with it.
struct Charged {
    body: Vec<u8>,
    _charge: Charge,
}

impl Incoming {
    /// Answers with what `render` makes of the request, unless the answers held already spend
    /// the budget (then it is not rendered) or this one does not fit (then it is dropped): both
    /// are refused as Busy. Charging here, as it is made, keeps answers waiting for their
    /// connection's task within the budget too.
    pub(crate) fn respond(
        self,
        render: impl FnOnce(&Request, Option<u64>) -> Result<Vec<u8>, DaemonError>,
    ) {
        let answer = if self.budget.is_spent() {
            Err(DaemonError::Busy)
        } else {
            render(&self.request, self.connection_inode).and_then(|mut body| {
                match self.budget.charge(body.len()) {
                    Some(charge) => {
                        // What is charged is what is held: not a vector's spare capacity.
                        body.shrink_to_fit();
                        Ok(Charged {
                            body,
                            _charge: charge,
                        })
                    }
                    None => {
                        let large = body.len() >= TRIM_AFTER_BYTES;
                        drop(body);
                        if large {
                            release_free_memory();
                        }
                        Err(DaemonError::Busy)
                    }
                }
            })
        };
        let _ = self.reply.send(answer);
    }
}

/// The bound socket; the file is removed on drop.
pub(crate) struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (made absolute) with mode 0600 (its directory 0700 if created). Only a stale
    /// socket file, one nobody answers on, is replaced: a live daemon's socket and anything that
    /// is not a socket are refused.
    pub(crate) async fn bind(path: &Path) -> anyhow::Result<Self> {
        let path = &std::path::absolute(path)
            .with_context(|| format!("resolving the socket path {}", path.display()))?;
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting the mode of {}", dir.display()))?;
        }
        match std::fs::symlink_metadata(path) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("checking {}", path.display())),
            Ok(meta) if !meta.file_type().is_socket() => bail!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
            Ok(_) => {
                if UnixStream::connect(path).await.is_ok() {
                    bail!("another enetstat daemon is answering on {}", path.display());
                }
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale socket {}", path.display()))?;
            }
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket's absolute path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections forever, handing each request to the main loop through the returned
    /// channel. `check_args` checks the command line of version 1 and 2 requests.
    pub(crate) fn serve(self, check_args: CheckArgs) -> mpsc::Receiver<Incoming> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let limits = ClientLimits::from_open_files_limit();
        if limits.served < MAX_CLIENTS {
            log::info!(
                "serving at most {} clients at once (open files limit {})",
                limits.served,
                limits.open_files
            );
        }
        let served = Arc::new(Semaphore::new(limits.served));
        let refusing = Arc::new(Semaphore::new(limits.refusing));
        let budget = AnswerBudget::new(ANSWER_BUDGET_BYTES);
        tokio::spawn(async move {
            let socket = self;
            let mut exhausted_logged: Option<Instant> = None;
            loop {
                // A client beyond those served is told Busy, by at most `refusing` tasks; past
                // that, clients wait in the backlog.
                let Ok(refusal) = refusing.clone().acquire_owned().await else {
                    return;
                };
                let stream = match socket.listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        if is_out_of_descriptors(&err)
                            && exhausted_logged
                                .is_none_or(|at| at.elapsed() >= EXHAUSTION_LOG_INTERVAL)
                        {
                            log::warn!(
                                "out of file descriptors accepting clients ({err}); retrying every {} ms",
                                ACCEPT_BACKOFF.as_millis()
                            );
                            exhausted_logged = Some(Instant::now());
                        }
                        // Whatever the error, never retry in a tight loop.
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let context = Connection {
                    main_loop: tx.clone(),
                    check_args,
                    budget: budget.clone(),
                };
                match served.clone().try_acquire_owned() {
                    Ok(permit) => {
                        drop(refusal);
                        tokio::spawn(async move {
                            handle(stream, context, Admission::Served).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tokio::spawn(async move {
                            handle(stream, context, Admission::Busy).await;
                            drop(refusal);
                        });
                    }
                }
            }
        });
        rx
    }
}

/// EMFILE or ENFILE: the process or the system is out of file descriptors.
fn is_out_of_descriptors(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// How many clients get descriptors at once.
#[derive(Debug, PartialEq, Eq)]
struct ClientLimits {
    /// Served: their request goes to the main loop.
    served: usize,
    /// Told Busy.
    refusing: usize,
    /// The soft open files limit these came from.
    open_files: u64,
}

impl ClientLimits {
    /// From the soft open files limit less the descriptors open now and [`RESERVED_FDS`].
    fn from_open_files_limit() -> Self {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct it is given.
        let open_files = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            limit.rlim_cur
        } else {
            1024
        };
        let open_now = std::fs::read_dir("/proc/self/fd").map_or(64, Iterator::count);
        Self::within(open_files, open_now)
    }

    fn within(open_files: u64, open_now: usize) -> Self {
        let free = usize::try_from(open_files)
            .unwrap_or(usize::MAX)
            .saturating_sub(open_now + RESERVED_FDS);
        let refusing = (free / 8).clamp(1, MAX_REFUSING);
        let served = free.saturating_sub(refusing).clamp(1, MAX_CLIENTS);
        ClientLimits {
            served,
            refusing,
            open_files,
        }
    }
}

/// What a connection's task needs besides its stream.
struct Connection {
    main_loop: mpsc::Sender<Incoming>,
    check_args: CheckArgs,
    budget: AnswerBudget,
}

/// Whether a connection is served, or told Busy once its request is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    Served,
    Busy,
}

/// The bytes of answers not yet read by their clients, all connections together.
#[derive(Clone)]
struct AnswerBudget {
    held: Arc<AtomicUsize>,
    /// The size of the last answer, as the next one's estimate.
    last_size: Arc<AtomicUsize>,
    limit: usize,
}

/// Bytes charged to the budget, given back on drop.
struct Charge {
    held: Arc<AtomicUsize>,
    bytes: usize,
}

impl AnswerBudget {
    fn new(limit: usize) -> Self {
        AnswerBudget {
            held: Arc::new(AtomicUsize::new(0)),
            last_size: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// No room for an answer the size of the last one: the request is refused before the main
    /// loop renders it.
    fn is_spent(&self) -> bool {
        let held = self.held.load(Ordering::Relaxed);
        held > 0 && held.saturating_add(self.last_size.load(Ordering::Relaxed)) > self.limit
    }

    /// Charges `bytes`, unless other answers are held and these would take the total over the
    /// limit.
    fn charge(&self, bytes: usize) -> Option<Charge> {
        self.last_size.store(bytes, Ordering::Relaxed);
        let mut held = self.held.load(Ordering::Relaxed);
        loop {
            if held > 0 && held.saturating_add(bytes) > self.limit {
                return None;
            }
            match self.held.compare_exchange_weak(
                held,
                held + bytes,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Charge {
                        held: self.held.clone(),
                        bytes,
                    });
                }
                Err(now) => held = now,
            }
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One connection: check the peer, read one request, wait for the answer (or refuse it as
/// Busy), write it in the request's dialect within the write deadline.
async fn handle(mut stream: UnixStream, connection: Connection, admission: Admission) {
    let Connection {
        main_loop,
        check_args,
        budget,
    } = connection;
    let inode = socket_inode(&stream);
    let ask = |request| {
        let (main_loop, budget) = (&main_loop, &budget);
        async move {
            if admission == Admission::Busy {
                return Err(DaemonError::Busy);
            }
            ask(main_loop, budget, request, inode).await
        }
    };
    let read = match check_peer(&stream) {
        Err(why) => Err(why),
        Ok(()) => tokio::time::timeout(REQUEST_DEADLINE, read_request(&mut stream))
            .await
            .unwrap_or(Err(DaemonError::TimedOut)),
    };
    // Read to its newline: nothing is left unread, so closing cannot reset the connection.
    let read_whole = read.is_ok();
    let (dialect, answer) = match read {
        Err(why) => (Dialect::Current, Err(why)),
        Ok(Decoded::Current(request)) => (Dialect::Current, ask(request).await),
        // The one place an old request's command line is read: from here on it is typed.
        Ok(Decoded::Legacy(legacy)) => (
            Dialect::Legacy,
            match legacy.upgrade(check_args) {
                Ok(request) => ask(request).await,
                Err(err) => Err(err),
            },
        ),
    };
    // Rendering it left garbage of about its size, which goes back to the system below.
    let large = answer
        .as_ref()
        .is_ok_and(|charged| charged.body.len() >= TRIM_AFTER_BYTES);
    let (header, charged) = match answer {
        Ok(charged) => (protocol::encode_header(dialect, Ok(())), Some(charged)),
        Err(why) => (protocol::encode_header(dialect, Err(&why)), None),
    };
    let body = charged
        .as_ref()
        .map_or(&[][..], |charged| &charged.body[..]);
    // A client that went away, or does not read in time, gets nothing more; that is its business.
    let _ = tokio::time::timeout(WRITE_DEADLINE, async {
        stream.write_all(&header).await?;
        stream.write_all(body).await?;
        stream.shutdown().await
    })
    .await;
    drop(charged);
    if large {
        release_free_memory();
    }
    if !read_whole {
        linger(&mut stream).await;
    }
}

/// Before closing an answered connection: closing with unread bytes would reset it before the
/// client reads the answer (an oversized request is refused before it is all read), so what is
/// left is read and dropped, within bounds.
pub(super) async fn linger(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0u8; 4096];
    let mut left = LINGER_BYTES;
    let drain = async {
        while left > 0 {
            match tokio::time::timeout(LINGER_TIME, stream.read(&mut sink)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    };
    // A trickle of bytes does not keep the connection either.
    let _ = tokio::time::timeout(LINGER_TOTAL_TIME, drain).await;
}

/// After answering, how much of a client's unread request is read and dropped, and for how long.
const LINGER_BYTES: usize = 1 << 20;
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_TOTAL_TIME: Duration = Duration::from_secs(2);

/// Root only, on top of the file mode: a socket inherited or passed elsewhere still refuses.
fn check_peer(stream: &UnixStream) -> Result<(), DaemonError> {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == 0 => Ok(()),
        Ok(cred) => Err(DaemonError::NotRoot { uid: cred.uid() }),
        Err(err) => Err(DaemonError::UnknownPeer {
            reason: err.to_string(),
        }),
    }
}

async fn ask(
    main_loop: &mpsc::Sender<Incoming>,
    budget: &AnswerBudget,
    request: Request,
    connection_inode: Option<u64>,
) -> Result<Charged, DaemonError> {
    let (reply, answer) = oneshot::channel();
    main_loop
        .try_send(Incoming {
            request,
            connection_inode,
            reply,
            budget: budget.clone(),
        })
        .map_err(|_| DaemonError::Busy)?;
    answer.await.unwrap_or(Err(DaemonError::ShuttingDown))
}

/// Reads up to the first newline, never more than MAX_REQUEST_BYTES.
async fn read_request(stream: &mut UnixStream) -> Result<Decoded, DaemonError> {
    let mut line = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|err: io::Error| DaemonError::Malformed {
                reason: err.to_string(),
            })?;
        if n == 0 {
            return Err(DaemonError::Truncated);
        }
        line.extend_from_slice(&chunk[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end + 1);
            return protocol::decode_request(&line);
        }
        if line.len() > MAX_REQUEST_BYTES {
            return Err(DaemonError::TooLarge {
                limit: MAX_REQUEST_BYTES,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;
    use crate::sources::daemon::client::{QueryError, query};

    /// A daemon whose main loop answers status and table requests with "up" and snapshots with
    /// their view and format; the command lines of old requests fail their check, which names
    /// them.
    fn start(path: &Path) -> std::thread::JoinHandle<()> {
        let path = path.to_path_buf();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let socket = ControlSocket::bind(&path).await.unwrap();
                let mut requests = socket.serve(|args| Err(format!("checked {}", args.join(" "))));
                ready_tx.send(()).unwrap();
                while let Some(incoming) = requests.recv().await {
                    incoming.respond(|request, _| match request {
                        Request::Status | Request::Table(_) => Ok(b"up".to_vec()),
                        Request::Snapshot(snapshot) => {
                            Ok(format!("{:?} {:?}", snapshot.view, snapshot.flags.format)
                                .into_bytes())
                        }
                    });
                }
            });
        });
        ready_rx.recv().unwrap();
        handle
    }

    fn socket_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("enetstat-sock-{}-{tag}/d.sock", std::process::id()))
    }

    fn raw_exchange(path: &Path, bytes: &[u8], close_write: bool) -> String {
        let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream.write_all(bytes).unwrap();
        if close_write {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    /// The answer's header, parsed, and its body.
    fn split_answer(answer: &str) -> (protocol::ResponseHeader, &str) {
        let (header, body) = answer.split_once('\n').expect("a header line");
        (protocol::decode_header(header.as_bytes()).unwrap(), body)
    }

    #[test]
    fn answers_good_requests_and_survives_bad_ones() {
        let path = socket_path("bad");
        let _daemon = start(&path);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        assert_eq!(query(&path, &Request::Status).unwrap(), b"up");
        let refusal = |bytes: &[u8], close_write: bool| {
            let answer = raw_exchange(&path, bytes, close_write);
            let (header, body) = split_answer(&answer);
            assert!(!header.ok && body.is_empty(), "{answer}");
            assert_eq!(header.version, protocol::VERSION, "{answer}");
            assert_eq!(
                header.error.as_deref(),
                header.reason.as_ref().map(ToString::to_string).as_deref()
            );
            header.reason.expect("a typed reason")
        };
        assert!(matches!(
            refusal(b"{nonsense\n", false),
            DaemonError::Malformed { .. }
        ));
        assert_eq!(refusal(b"{\"version\":3", true), DaemonError::Truncated);
        assert_eq!(
            refusal(&vec![b'x'; MAX_REQUEST_BYTES + 10], false),
            DaemonError::TooLarge {
                limit: MAX_REQUEST_BYTES
            }
        );
        let future = raw_exchange(&path, b"{\"version\":9,\"request\":\"status\"}\n", false);
        assert!(future.contains("version 9 is not supported"), "{future}");
        assert!(matches!(
            split_answer(&future).0.reason,
            Some(DaemonError::UnsupportedVersion { version: 9, .. })
        ));
        // Still answering.
        assert_eq!(
            query(&path, &Request::Table(Default::default())).unwrap(),
            b"up"
        );
    }

    #[test]
    fn version_1_and_2_requests_are_answered_as_version_2_answered_them() {
        let path = socket_path("old");
        let _daemon = start(&path);
        assert_eq!(
            raw_exchange(&path, b"{\"version\":1,\"request\":\"status\"}\n", false),
            "{\"version\":2,\"ok\":true}\nup"
        );
        assert_eq!(
            raw_exchange(&path, b"{\"version\":2,\"request\":\"table\"}\n", false),
            "{\"version\":2,\"ok\":true}\nup"
        );
        // The command line goes through the check the daemon was given; its refusal is text.
        assert_eq!(
            raw_exchange(
                &path,
                b"{\"version\":2,\"request\":\"snapshot\",\"args\":[\"-tan\",\"-W\"],\"format\":\"json\"}\n",
                false
            ),
            "{\"version\":2,\"ok\":false,\"error\":\"checked -tan -W\"}\n"
        );
    }

    #[test]
    fn a_slow_client_does_not_block_others() {
        let path = socket_path("slow");
        let _daemon = start(&path);
        let slow = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(query(&path, &Request::Status).unwrap(), b"up");
        assert!(
            started.elapsed() < REQUEST_DEADLINE,
            "served while the slow client idles"
        );
        let mut slow = slow;
        let mut out = String::new();
        slow.read_to_string(&mut out).unwrap();
        assert!(out.contains("not received in time"), "{out}");
        assert_eq!(split_answer(&out).0.reason, Some(DaemonError::TimedOut));
    }

    #[test]
    fn clients_get_the_descriptors_the_daemon_does_not_keep() {
        let limits = ClientLimits::within(64, 23);
        assert_eq!((limits.served, limits.refusing), (15, 2));
        assert_eq!(
            limits.served + limits.refusing + 23 + RESERVED_FDS,
            64,
            "all of the limit, none over"
        );
        // Below what the daemon keeps for itself: one at a time still.
        let tight = ClientLimits::within(32, 23);
        assert_eq!((tight.served, tight.refusing), (1, 1));
        let plenty = ClientLimits::within(1 << 20, 23);
        assert_eq!(
            (plenty.served, plenty.refusing),
            (MAX_CLIENTS, MAX_REFUSING)
        );
    }

    #[test]
    fn the_answer_budget_admits_what_fits_and_one_oversized_answer_alone() {
        let budget = AnswerBudget::new(100);
        let first = budget.charge(60).expect("fits");
        assert!(budget.is_spent(), "another answer of 60 would not fit");
        assert!(budget.charge(50).is_none());
        let second = budget.charge(40).expect("fits exactly");
        drop(first);
        drop(second);
        assert!(!budget.is_spent());
        let huge = budget
            .charge(500)
            .expect("alone, an oversized answer is sent");
        assert!(budget.charge(1).is_none());
        drop(huge);
        assert!(budget.charge(1).is_some());
    }

    #[test]
    fn no_daemon_is_reported_as_not_running() {
        let path = socket_path("none");
        assert!(matches!(
            query(&path, &Request::Status),
            Err(QueryError::NotRunning(_))
        ));
    }
}
