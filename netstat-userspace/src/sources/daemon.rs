//! Asking a running `enetstat serve` over its unix socket.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use crate::daemon::{
    protocol::{self, Request},
    server::socket_inode,
};

/// Why the daemon did not answer.
#[derive(Debug)]
pub(crate) enum QueryError {
    /// Nothing listens on the socket (no daemon): callers may fall back to /proc.
    NotRunning(std::io::Error),
    /// The daemon answered with an error, or broke the protocol.
    Failed(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::NotRunning(err) => write!(f, "no enetstat daemon answers: {err}"),
            QueryError::Failed(why) => write!(f, "the enetstat daemon: {why}"),
        }
    }
}

/// This process's network namespace: the inode of /proc/self/ns/net.
pub(crate) fn own_netns() -> Option<u64> {
    let namespaces = procfs::process::Process::myself().ok()?.namespaces().ok()?;
    Some(namespaces.0.get(std::ffi::OsStr::new("net"))?.identifier)
}

/// How long to wait for an answer; a live table renders far faster than this.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

/// Sends one request and returns the body of a successful answer. A snapshot request is told
/// this connection's inode, so the answer leaves it out.
pub(crate) fn query(socket: &Path, request: &Request) -> Result<Vec<u8>, QueryError> {
    let mut stream = UnixStream::connect(socket).map_err(QueryError::NotRunning)?;
    let mut request = request.clone();
    if let Request::Snapshot {
        hide_inodes, netns, ..
    } = &mut request
    {
        hide_inodes.extend(socket_inode(&stream));
        *netns = own_netns();
    }
    let request = &request;
    let failed = |err: std::io::Error| QueryError::Failed(err.to_string());
    stream
        .set_read_timeout(Some(ANSWER_DEADLINE))
        .map_err(failed)?;
    stream
        .write_all(&protocol::encode_request(request))
        .map_err(failed)?;
    let mut reader = BufReader::new(stream);
    let mut header = Vec::new();
    reader.read_until(b'\n', &mut header).map_err(failed)?;
    let header = protocol::decode_header(&header).map_err(QueryError::Failed)?;
    if !header.ok {
        return Err(QueryError::Failed(
            header.error.unwrap_or_else(|| "unknown error".to_string()),
        ));
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body).map_err(failed)?;
    Ok(body)
}
