//! The daemon's request protocol: one JSON line in, one JSON header line and a body out.
//!
//! ```text
//! client: {"version":1,"request":"snapshot","args":["-tanp"]}\n
//! daemon: {"version":1,"ok":true}\n<netstat text until EOF>
//! daemon: {"version":1,"ok":false,"error":"..."}\n
//! ```
//! Requests are bounded in size; the server also bounds the time a client may take to send one.
//!
//! Version 2 adds `"format":"json"` to snapshot requests: the daemon renders JSON with the same
//! code as the client would (the views take their rows from wherever they come), so no row
//! type has to cross the socket and the answer is the same bytes either way. A client sends the
//! lowest version its request needs: a version 1 daemon answers text requests as before and
//! refuses a JSON one with a clear error, where an unknown field would silently give text.

use serde::{Deserialize, Serialize};

use crate::views::OutputFormat;

/// The newest version this side speaks; it also accepts every version from [`MIN_VERSION`].
pub(crate) const VERSION: u32 = 2;
pub(crate) const MIN_VERSION: u32 = 1;
/// How a daemon's refusal for a client in another network namespace starts.
pub(crate) const WRONG_NETNS: &str = "wrong network namespace";
/// The longest request line accepted, newline included.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub(crate) enum Request {
    /// A netstat view rendered from the live table; `args` are netstat's options.
    Snapshot {
        args: Vec<String>,
        /// Inodes of the client's end of this connection: not shown, since a netstat run at the
        /// same moment would have no such socket.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hide_inodes: Vec<u64>,
        /// The client's network namespace (inode of /proc/self/ns/net): a daemon serving another
        /// namespace refuses with [`WRONG_NETNS`] rather than show the wrong sockets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        netns: Option<u64>,
        /// Text (netstat's bytes) or JSON lines; version 2.
        #[serde(default, skip_serializing_if = "OutputFormat::is_text")]
        format: OutputFormat,
        /// Colour the TCP states (the client's `--color`, decided where the output goes). A
        /// daemon that predates it ignores it and does not colour.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        color: bool,
    },
    /// Uptime, sockets tracked, events received and lost, resyncs, memory.
    Status,
    /// The live table itself, one JSON object per socket: for checking it against the kernel.
    Table,
}

impl Request {
    /// The lowest protocol version that can carry this request.
    fn version(&self) -> u32 {
        match self {
            Request::Snapshot {
                format: OutputFormat::Json,
                ..
            } => 2,
            _ => MIN_VERSION,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct RequestEnvelope {
    version: u32,
    #[serde(flatten)]
    request: Request,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResponseHeader {
    pub(crate) version: u32,
    pub(crate) ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RequestError {
    TooLarge,
    /// No newline before the client stopped sending.
    Truncated,
    Malformed(String),
    UnsupportedVersion(u32),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::TooLarge => write!(f, "request larger than {MAX_REQUEST_BYTES} bytes"),
            RequestError::Truncated => write!(f, "request ended before its newline"),
            RequestError::Malformed(why) => write!(f, "malformed request: {why}"),
            RequestError::UnsupportedVersion(v) => write!(
                f,
                "{UNSUPPORTED_VERSION} {v} is not supported (this daemon speaks {MIN_VERSION} to {VERSION})"
            ),
        }
    }
}

/// How a daemon's refusal of a protocol version starts (version 1 daemons included).
pub(crate) const UNSUPPORTED_VERSION: &str = "protocol version";

pub(crate) fn encode_request(request: &Request) -> Vec<u8> {
    let envelope = RequestEnvelope {
        version: request.version(),
        request: request.clone(),
    };
    let mut line = serde_json::to_vec(&envelope).expect("requests serialize");
    line.push(b'\n');
    line
}

/// Decodes the bytes a client sent (the line, with or without its newline once complete).
pub(crate) fn decode_request(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge);
    }
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err(RequestError::Truncated);
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| RequestError::Malformed(err.to_string()))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    match version {
        Some(v) if (u64::from(MIN_VERSION)..=u64::from(VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(RequestError::UnsupportedVersion(
                v.min(u64::from(u32::MAX)) as u32
            ));
        }
        None => return Err(RequestError::Malformed("no version".to_string())),
    }
    let envelope = serde_json::from_value::<RequestEnvelope>(value)
        .map_err(|err| RequestError::Malformed(err.to_string()))?;
    if envelope.request.version() > envelope.version {
        return Err(RequestError::Malformed(format!(
            "this request needs protocol version {}",
            envelope.request.version()
        )));
    }
    Ok(envelope.request)
}

pub(crate) fn encode_header(result: Result<(), &str>) -> Vec<u8> {
    let header = ResponseHeader {
        version: VERSION,
        ok: result.is_ok(),
        error: result.err().map(str::to_string),
    };
    let mut line = serde_json::to_vec(&header).expect("headers serialize");
    line.push(b'\n');
    line
}

pub(crate) fn decode_header(line: &[u8]) -> Result<ResponseHeader, String> {
    serde_json::from_slice(line.strip_suffix(b"\n").unwrap_or(line))
        .map_err(|err| format!("malformed response from the daemon: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for request in [
            Request::Snapshot {
                args: vec!["-tanp".into(), "-W".into()],
                hide_inodes: vec![42],
                netns: Some(4026531840),
                format: OutputFormat::Text,
                color: true,
            },
            Request::Snapshot {
                args: vec!["-s".into()],
                hide_inodes: Vec::new(),
                netns: None,
                format: OutputFormat::Json,
                color: false,
            },
            Request::Status,
        ] {
            assert_eq!(decode_request(&encode_request(&request)), Ok(request));
        }
        assert_eq!(
            encode_request(&Request::Status),
            b"{\"version\":1,\"request\":\"status\"}\n"
        );
    }

    #[test]
    fn only_json_snapshots_need_version_2() {
        let colored = |format, color| Request::Snapshot {
            args: vec!["-tan".into()],
            hide_inodes: Vec::new(),
            netns: None,
            format,
            color,
        };
        let snapshot = |format| colored(format, false);
        assert_eq!(
            encode_request(&snapshot(OutputFormat::Text)),
            b"{\"version\":1,\"request\":\"snapshot\",\"args\":[\"-tan\"]}\n",
            "what a version 1 daemon understands"
        );
        // Colour is a hint a daemon that predates it ignores (it prints netstat's bytes).
        assert_eq!(
            encode_request(&colored(OutputFormat::Text, true)),
            b"{\"version\":1,\"request\":\"snapshot\",\"args\":[\"-tan\"],\"color\":true}\n"
        );
        assert_eq!(
            encode_request(&snapshot(OutputFormat::Json)),
            b"{\"version\":2,\"request\":\"snapshot\",\"args\":[\"-tan\"],\"format\":\"json\"}\n"
        );
        assert!(matches!(
            decode_request(
                b"{\"version\":1,\"request\":\"snapshot\",\"args\":[],\"format\":\"json\"}\n"
            ),
            Err(RequestError::Malformed(_))
        ));
        assert!(
            RequestError::UnsupportedVersion(3)
                .to_string()
                .starts_with(UNSUPPORTED_VERSION)
        );
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        assert_eq!(
            decode_request(b"{\"version\":1"),
            Err(RequestError::Truncated)
        );
        assert!(matches!(
            decode_request(b"not json\n"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            decode_request(b"{\"request\":\"status\"}\n"),
            Err(RequestError::Malformed(_))
        ));
        assert_eq!(
            decode_request(b"{\"version\":3,\"request\":\"status\"}\n"),
            Err(RequestError::UnsupportedVersion(3))
        );
        assert!(matches!(
            decode_request(b"{\"version\":1,\"request\":\"format_disk\"}\n"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            decode_request(b"{\"version\":1,\"request\":\"snapshot\",\"args\":[1]}\n"),
            Err(RequestError::Malformed(_))
        ));
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(decode_request(&huge), Err(RequestError::TooLarge));
    }

    #[test]
    fn headers() {
        assert_eq!(
            decode_header(&encode_header(Err("nope"))).unwrap(),
            ResponseHeader {
                version: VERSION,
                ok: false,
                error: Some("nope".into())
            }
        );
        assert!(decode_header(&encode_header(Ok(()))).unwrap().ok);
        assert!(decode_header(b"garbage\n").is_err());
    }
}
