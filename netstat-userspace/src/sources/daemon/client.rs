//! Asking a running `enetstat serve` over its unix socket.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use super::{
    own_netns,
    protocol::{self, DaemonError, Request},
    socket_inode,
};

/// Why the daemon did not answer.
#[derive(Debug)]
pub(crate) enum QueryError {
    /// Nothing listens on the socket (no daemon): callers may fall back to /proc.
    NotRunning(std::io::Error),
    /// The daemon refused the request.
    Refused(DaemonError),
    /// A daemon older than this protocol version refused the request, in words only (such a
    /// daemon refuses every request of this version).
    TooOld(String),
    /// The connection broke, or the daemon broke the protocol.
    Broken(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NotRunning(err) => write!(f, "no enetstat daemon answers: {err}"),
            QueryError::Refused(err) => write!(f, "the enetstat daemon: {err}"),
            QueryError::TooOld(why) | QueryError::Broken(why) => {
                write!(f, "the enetstat daemon: {why}")
            }
        }
    }
}

/// How long to wait for an answer; a live table renders far faster than this.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

/// Sends one request and returns the body of a successful answer. A snapshot request is told
/// this connection's inode, so the answer leaves it out, and this process's namespace.
pub(crate) fn query(socket: &Path, request: &Request) -> Result<Vec<u8>, QueryError> {
    let mut stream = UnixStream::connect(socket).map_err(QueryError::NotRunning)?;
    let mut request = request.clone();
    match &mut request {
        Request::Snapshot(snapshot) => {
            snapshot.hide_inodes.extend(socket_inode(&stream));
            snapshot.netns = own_netns();
        }
        Request::Table(table) => table.netns = own_netns(),
        Request::Status => {}
    }
    let broken = |err: std::io::Error| QueryError::Broken(err.to_string());
    stream
        .set_read_timeout(Some(ANSWER_DEADLINE))
        .map_err(broken)?;
    stream
        .write_all(&protocol::encode_request(&request))
        .map_err(broken)?;
    let mut reader = BufReader::new(stream);
    let mut header = Vec::new();
    reader.read_until(b'\n', &mut header).map_err(broken)?;
    let header = protocol::decode_header(&header).map_err(QueryError::Broken)?;
    if !header.ok {
        return Err(match (header.reason, header.error) {
            (Some(reason), _) => QueryError::Refused(reason),
            (None, error) if header.version < protocol::VERSION => {
                QueryError::TooOld(error.unwrap_or_else(|| "unknown error".to_string()))
            }
            (None, error) => QueryError::Broken(format!(
                "a refusal without its reason: {}",
                error.as_deref().unwrap_or("unknown error")
            )),
        });
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body).map_err(broken)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;
    use crate::sources::daemon::protocol::{Dialect, encode_header};

    /// Answers one request with `answer` and returns the request line.
    fn answer_once(
        tag: &str,
        answer: Vec<u8>,
    ) -> (std::path::PathBuf, std::thread::JoinHandle<String>) {
        let dir =
            std::env::temp_dir().join(format!("enetstat-client-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("d.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let daemon = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            BufReader::new(&stream).read_line(&mut request).unwrap();
            stream.write_all(&answer).unwrap();
            request
        });
        (path, daemon)
    }

    #[test]
    fn a_typed_refusal_is_matched_on() {
        let wrong = DaemonError::WrongNetns {
            daemon: Some(1),
            client: 2,
        };
        let (path, daemon) = answer_once("typed", encode_header(Dialect::Current, Err(&wrong)));
        let err = query(&path, &Request::Status).unwrap_err();
        assert!(
            matches!(&err, QueryError::Refused(refused) if *refused == wrong),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the enetstat daemon: wrong network namespace: this daemon serves net:[1], the client is in net:[2]"
        );
        assert_eq!(
            daemon.join().unwrap(),
            "{\"version\":3,\"request\":\"status\"}\n"
        );
    }

    #[test]
    fn an_older_daemons_refusal_is_told_apart() {
        let old = b"{\"version\":2,\"ok\":false,\"error\":\"protocol version 3 is not supported (this daemon speaks 1 to 2)\"}\n";
        let (path, daemon) = answer_once("old", old.to_vec());
        let err = query(&path, &Request::Table(Default::default())).unwrap_err();
        assert!(matches!(err, QueryError::TooOld(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the enetstat daemon: protocol version 3 is not supported (this daemon speaks 1 to 2)"
        );
        daemon.join().unwrap();
    }

    #[test]
    fn a_broken_answer_is_reported() {
        let (path, daemon) = answer_once("broken", b"HTTP/1.1 400\r\n".to_vec());
        let err = query(&path, &Request::Status).unwrap_err();
        assert!(matches!(err, QueryError::Broken(_)), "{err:?}");
        daemon.join().unwrap();
        let (path, daemon) = answer_once("untyped", b"{\"version\":3,\"ok\":false}\n".to_vec());
        let err = query(&path, &Request::Status).unwrap_err();
        assert!(matches!(err, QueryError::Broken(_)), "{err:?}");
        daemon.join().unwrap();
    }

    #[test]
    fn a_success_returns_the_body() {
        let mut answer = encode_header(Dialect::Current, Ok(()));
        answer.extend_from_slice(b"{\"uptime_s\":1}\n");
        let (path, daemon) = answer_once("ok", answer);
        assert_eq!(
            query(&path, &Request::Status).unwrap(),
            b"{\"uptime_s\":1}\n"
        );
        daemon.join().unwrap();
    }
}
