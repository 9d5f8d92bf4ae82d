//! The daemon's request protocol: one JSON line in, one JSON header line and a body out.
//!
//! ```text
//! client: {"version":1,"request":"snapshot","args":["-tanp"]}\n
//! daemon: {"version":1,"ok":true}\n<netstat text until EOF>
//! daemon: {"version":1,"ok":false,"error":"..."}\n
//! ```
//! Requests are bounded in size; the server also bounds the time a client may take to send one.

use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;
/// How a daemon's refusal for a client in another network namespace starts.
pub const WRONG_NETNS: &str = "wrong network namespace";
/// The longest request line accepted, newline included.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
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
        /// Colour the TCP states (the client's `--color`, decided where the output goes).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        color: bool,
    },
    /// Uptime, sockets tracked, events received and lost, resyncs, memory.
    Status,
    /// The live table itself, one JSON object per socket: for checking it against the kernel.
    Table,
}

#[derive(Debug, Serialize, Deserialize)]
struct RequestEnvelope {
    version: u32,
    #[serde(flatten)]
    request: Request,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    pub version: u32,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestError {
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
            RequestError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "protocol version {v} is not supported (this daemon speaks {VERSION})"
                )
            }
        }
    }
}

pub fn encode_request(request: &Request) -> Vec<u8> {
    let envelope = RequestEnvelope {
        version: VERSION,
        request: request.clone(),
    };
    let mut line = serde_json::to_vec(&envelope).expect("requests serialize");
    line.push(b'\n');
    line
}

/// Decodes the bytes a client sent (the line, with or without its newline once complete).
pub fn decode_request(line: &[u8]) -> Result<Request, RequestError> {
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
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(RequestError::UnsupportedVersion(
                v.min(u64::from(u32::MAX)) as u32
            ));
        }
        None => return Err(RequestError::Malformed("no version".to_string())),
    }
    serde_json::from_value::<RequestEnvelope>(value)
        .map(|envelope| envelope.request)
        .map_err(|err| RequestError::Malformed(err.to_string()))
}

pub fn encode_header(result: Result<(), &str>) -> Vec<u8> {
    let header = ResponseHeader {
        version: VERSION,
        ok: result.is_ok(),
        error: result.err().map(str::to_string),
    };
    let mut line = serde_json::to_vec(&header).expect("headers serialize");
    line.push(b'\n');
    line
}

pub fn decode_header(line: &[u8]) -> Result<ResponseHeader, String> {
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
                color: true,
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
            decode_request(b"{\"version\":2,\"request\":\"status\"}\n"),
            Err(RequestError::UnsupportedVersion(2))
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
                version: 1,
                ok: false,
                error: Some("nope".into())
            }
        );
        assert!(decode_header(&encode_header(Ok(()))).unwrap().ok);
        assert!(decode_header(b"garbage\n").is_err());
    }
}
