//! The daemon's unix socket: root-only, one request per connection, bounded in size and time.
//! Connections are served by their own tasks, so a slow or broken client never holds up others;
//! answers are computed by the main loop, which owns the live table.

use std::{
    io,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

use crate::sources::daemon::{
    protocol::{self, CheckArgs, DaemonError, Decoded, Dialect, MAX_REQUEST_BYTES, Request},
    socket_inode,
};

/// How long a client may take to send its request.
pub(crate) const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How many requests may wait for the main loop at once; more are refused as busy.
const QUEUE_DEPTH: usize = 64;

/// A request waiting for the main loop's answer.
pub(crate) struct Incoming {
    pub(crate) request: Request,
    /// The daemon's end of this connection, which no netstat view should show.
    pub(crate) connection_inode: Option<u64>,
    pub(crate) reply: oneshot::Sender<Result<Vec<u8>, DaemonError>>,
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
        tokio::spawn(async move {
            let socket = self;
            loop {
                let Ok((stream, _)) = socket.listener.accept().await else {
                    continue;
                };
                tokio::spawn(handle(stream, tx.clone(), check_args));
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

/// One connection: check the peer, read one request, wait for the answer, write it in the
/// request's dialect.
async fn handle(mut stream: UnixStream, main_loop: mpsc::Sender<Incoming>, check_args: CheckArgs) {
    let (dialect, answer) = match check_peer(&stream) {
        Err(why) => (Dialect::Current, Err(why)),
        Ok(()) => match tokio::time::timeout(REQUEST_DEADLINE, read_request(&mut stream)).await {
            Err(_) => (Dialect::Current, Err(DaemonError::TimedOut)),
            Ok(Err(err)) => (Dialect::Current, Err(err)),
            Ok(Ok(Decoded::Current(request))) => (
                Dialect::Current,
                ask(&main_loop, request, socket_inode(&stream)).await,
            ),
            // The one place an old request's command line is read: from here on it is typed.
            Ok(Ok(Decoded::Legacy(legacy))) => (
                Dialect::Legacy,
                match legacy.upgrade(check_args) {
                    Ok(request) => ask(&main_loop, request, socket_inode(&stream)).await,
                    Err(err) => Err(err),
                },
            ),
        },
    };
    let (header, body) = match answer {
        Ok(body) => (protocol::encode_header(dialect, Ok(())), body),
        Err(why) => (protocol::encode_header(dialect, Err(&why)), Vec::new()),
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
    request: Request,
    connection_inode: Option<u64>,
) -> Result<Vec<u8>, DaemonError> {
    let (reply, answer) = oneshot::channel();
    main_loop
        .try_send(Incoming {
            request,
            connection_inode,
            reply,
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
                    let answer = match incoming.request {
                        Request::Status | Request::Table => Ok(b"up".to_vec()),
                        Request::Snapshot(snapshot) => {
                            Ok(format!("{:?} {:?}", snapshot.view, snapshot.flags.format)
                                .into_bytes())
                        }
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
        assert_eq!(query(&path, &Request::Table).unwrap(), b"up");
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
    fn no_daemon_is_reported_as_not_running() {
        let path = socket_path("none");
        assert!(matches!(
            query(&path, &Request::Status),
            Err(QueryError::NotRunning(_))
        ));
    }
}
