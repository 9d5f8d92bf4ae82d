//! The daemon's unix socket: root-only, one request per connection, bounded in size and time.
//! Connections are served by their own tasks, so a slow or broken client never holds up others;
//! answers are computed by the main loop, which owns the live table.

use std::{
    io,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

use super::protocol::{self, MAX_REQUEST_BYTES, Request, RequestError};

/// The default socket: under /run, like other daemons' control sockets.
pub const DEFAULT_SOCKET: &str = "/run/enetstat/enetstat.sock";

/// How long a client may take to send its request.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How many requests may wait for the main loop at once; more are refused as busy.
const QUEUE_DEPTH: usize = 64;

/// A request waiting for the main loop's answer.
pub(crate) struct Incoming {
    pub(crate) request: Request,
    /// The daemon's end of this connection, which no netstat view should show.
    pub(crate) connection_inode: Option<u64>,
    pub(crate) reply: oneshot::Sender<Result<Vec<u8>, String>>,
}

/// The bound socket; the file is removed on drop.
pub(crate) struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` with mode 0600 (its directory 0700 if created). A stale socket file left by a
    /// daemon that died is replaced; a live daemon's is not.
    pub(crate) async fn bind(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        if path.exists() {
            if UnixStream::connect(path).await.is_ok() {
                bail!("another enetstat daemon is answering on {}", path.display());
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale socket {}", path.display()))?;
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlSocket {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Accepts connections forever, handing each request to the main loop through the returned
    /// channel.
    pub(crate) fn serve(self) -> mpsc::Receiver<Incoming> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(async move {
            let socket = self;
            loop {
                let Ok((stream, _)) = socket.listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(stream, tx.clone()));
            }
        });
        rx
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One connection: check the peer, read one request, wait for the answer, write it.
async fn handle(mut stream: UnixStream, main_loop: mpsc::Sender<Incoming>) {
    let answer = match check_peer(&stream) {
        Err(why) => Err(why),
        Ok(()) => match tokio::time::timeout(REQUEST_DEADLINE, read_request(&mut stream)).await {
            Err(_) => Err("request not received in time".to_string()),
            Ok(Err(err)) => Err(err.to_string()),
            Ok(Ok(request)) => ask(&main_loop, request, socket_inode(&stream)).await,
        },
    };
    let (header, body) = match answer {
        Ok(body) => (protocol::encode_header(Ok(())), body),
        Err(why) => (protocol::encode_header(Err(&why)), Vec::new()),
    };
    // A client that went away gets nothing; that is its business.
    let _ = stream.write_all(&header).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
    linger(&mut stream).await;
}

/// Before closing an answered connection: closing with unread bytes would reset it before the
/// client reads the answer (an oversized request is refused before it is all read), so what is
/// left is read and dropped, within bounds.
pub(super) async fn linger(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0u8; 4096];
    let mut left = LINGER_BYTES;
    while left > 0 {
        match tokio::time::timeout(LINGER_TIME, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// After answering, how much of a client's unread request is read and dropped, and for how long.
const LINGER_BYTES: usize = 1 << 20;
const LINGER_TIME: Duration = Duration::from_millis(500);

/// Root only, on top of the file mode: a socket inherited or passed elsewhere still refuses.
fn check_peer(stream: &UnixStream) -> Result<(), String> {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == 0 => Ok(()),
        Ok(cred) => Err(format!(
            "uid {} may not query enetstat; run as root",
            cred.uid()
        )),
        Err(err) => Err(format!("cannot identify the client: {err}")),
    }
}

async fn ask(
    main_loop: &mpsc::Sender<Incoming>,
    request: Request,
    connection_inode: Option<u64>,
) -> Result<Vec<u8>, String> {
    let (reply, answer) = oneshot::channel();
    main_loop
        .try_send(Incoming {
            request,
            connection_inode,
            reply,
        })
        .map_err(|_| "the daemon is busy; try again".to_string())?;
    answer
        .await
        .unwrap_or_else(|_| Err("the daemon is shutting down".to_string()))
}

/// The inode of a socket's fd, as /proc/net/unix lists it.
pub(crate) fn socket_inode(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    // SAFETY: fstat on a valid fd with a valid out-pointer.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(socket.as_raw_fd(), &mut stat) } == 0).then_some(stat.st_ino)
}

/// Reads up to the first newline, never more than MAX_REQUEST_BYTES.
async fn read_request(stream: &mut UnixStream) -> Result<Request, RequestError> {
    let mut line = Vec::with_capacity(256);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|err: io::Error| RequestError::Malformed(err.to_string()))?;
        if n == 0 {
            return Err(RequestError::Truncated);
        }
        line.extend_from_slice(&chunk[..n]);
        if let Some(end) = line.iter().position(|&b| b == b'\n') {
            line.truncate(end + 1);
            return protocol::decode_request(&line);
        }
        if line.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;
    use crate::sources::daemon::{QueryError, query};

    /// A daemon whose main loop answers status requests with "up" and snapshots with their args.
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
                let mut requests = socket.serve();
                ready_tx.send(()).unwrap();
                while let Some(incoming) = requests.recv().await {
                    let answer = match incoming.request {
                        Request::Status | Request::Table => Ok(b"up".to_vec()),
                        Request::Snapshot { args, .. } => Ok(args.join(" ").into_bytes()),
                    };
                    let _ = incoming.reply.send(answer);
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

    #[test]
    fn answers_good_requests_and_survives_bad_ones() {
        let path = socket_path("bad");
        let _daemon = start(&path);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        assert_eq!(query(&path, &Request::Status).unwrap(), b"up");
        let malformed = raw_exchange(&path, b"{nonsense\n", false);
        assert!(
            malformed.contains("\"ok\":false") && malformed.contains("malformed"),
            "{malformed}"
        );
        let half_closed = raw_exchange(&path, b"{\"version\":1", true);
        assert!(
            half_closed.contains("ended before its newline"),
            "{half_closed}"
        );
        let oversized = raw_exchange(&path, &vec![b'x'; MAX_REQUEST_BYTES + 10], false);
        assert!(oversized.contains("larger than"), "{oversized}");
        let future = raw_exchange(&path, b"{\"version\":9,\"request\":\"status\"}\n", false);
        assert!(future.contains("version 9 is not supported"), "{future}");
        // Still answering.
        let args = Request::Snapshot {
            args: vec!["-tan".into()],
            hide_inodes: Vec::new(),
            netns: None,
            color: false,
            format: Default::default(),
        };
        assert_eq!(query(&path, &args).unwrap(), b"-tan");
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
