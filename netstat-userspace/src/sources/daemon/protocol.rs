//! The daemon's request protocol: one JSON line in, one JSON header line and a body out.
//!
//! ```text
//! client: {"version":3,"request":"snapshot","view":"sockets","flags":{"all":true,…},"netns":4026531840}\n
//! daemon: {"version":3,"ok":true}\n<the view, netstat's text or JSON lines, until EOF>
//! daemon: {"version":3,"ok":false,"error":"wrong network namespace: …","reason":{"kind":"wrong_netns",…}}\n
//! ```
//! A version 3 request names the view and carries netstat's options as the client checked them
//! (the output format and colour among them); a refusal carries a typed [`DaemonError`] under
//! `reason`, for clients to match on, beside its message under `error`, which every version reads.
//!
//! Versions 1 and 2 sent the command line instead (`"args":["-tanp"]`; version 2 added
//! `"format":"json"`). They are answered as before (header version 2, the error as text only):
//! the command line is checked once, where the request is read, by the CLI's own checking
//! function ([`CheckArgs`]), and from there on it is a version 3 request.
//!
//! Requests are bounded in size; the server also bounds the time a client may take to send one.

use serde::{Deserialize, Serialize};

use crate::model::{
    netns::NetnsSpec,
    netstat::{NetstatConfig, NetstatFlags, NetstatView, OutputFormat},
};

/// The version this side speaks; versions from [`MIN_VERSION`] are answered too.
pub(crate) const VERSION: u32 = 3;
pub(crate) const MIN_VERSION: u32 = 1;
/// The header version that answers versions 1 and 2: what a version 2 daemon wrote.
const LEGACY_HEADER_VERSION: u32 = 2;
/// The longest request line accepted, newline included.
pub(crate) const MAX_REQUEST_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub(crate) enum Request {
    /// A netstat view rendered from the live table.
    Snapshot(SnapshotRequest),
    /// Uptime, sockets tracked, events received and lost, resyncs, memory.
    Status,
    /// The live table itself, one JSON object per socket: for checking it against the kernel.
    Table(TableRequest),
}

/// Which namespaces' sockets `status --table` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableRequest {
    /// `--netns`: these namespaces' (`all`: every one's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) namespaces: Option<NetnsSpec>,
    /// The client's namespace (the inode of its ns/net), shown without `--netns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) netns: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SnapshotRequest {
    pub(crate) view: NetstatView,
    /// netstat's options after netstat's defaulting, with enetstat's `format` (text or json) and
    /// `color` (the client's `--color`, decided where the output goes).
    pub(crate) flags: NetstatFlags,
    /// Inodes of the client's end of this connection: not shown, since a netstat run at the
    /// same moment would have no such socket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) hide_inodes: Vec<u64>,
    /// The client's network namespace (the inode of its ns/net): the one the answer is about
    /// without `namespaces`. A daemon that cannot enter it refuses with
    /// [`DaemonError::WrongNetns`] rather than show another's sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) netns: Option<u64>,
    /// `--netns`: a section for each namespace named, read there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) namespaces: Option<NetnsSpec>,
}

/// A version 1 or 2 request, as such clients send it.
#[derive(Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub(crate) enum LegacyRequest {
    Snapshot {
        /// netstat's options as typed.
        args: Vec<String>,
        #[serde(default)]
        hide_inodes: Vec<u64>,
        #[serde(default)]
        netns: Option<u64>,
        /// Version 2.
        #[serde(default)]
        format: OutputFormat,
        /// A hint: a daemon that predates it ignores it and does not colour.
        #[serde(default)]
        color: bool,
    },
    Status,
    Table,
}

/// The CLI's check of a netstat command line (netstat's options alone), which turns a version 1
/// or 2 request into a version 3 one. The command line sits above the daemon, so the daemon's
/// caller hands it down.
pub(crate) type CheckArgs = fn(&[String]) -> Result<NetstatConfig, String>;

impl LegacyRequest {
    /// The lowest version that can carry this request.
    fn version(&self) -> u32 {
        match self {
            LegacyRequest::Snapshot {
                format: OutputFormat::Json,
                ..
            } => 2,
            _ => MIN_VERSION,
        }
    }

    /// The same request in version 3's terms: its command line checked as the CLI checks one.
    pub(crate) fn upgrade(self, check_args: CheckArgs) -> Result<Request, DaemonError> {
        match self {
            LegacyRequest::Status => Ok(Request::Status),
            LegacyRequest::Table => Ok(Request::Table(TableRequest::default())),
            LegacyRequest::Snapshot {
                args,
                hide_inodes,
                netns,
                format,
                color,
            } => {
                let NetstatConfig {
                    view, mut flags, ..
                } = check_args(&args).map_err(|reason| DaemonError::BadOptions { reason })?;
                flags.format = format;
                flags.color = color;
                Ok(Request::Snapshot(SnapshotRequest {
                    view,
                    flags,
                    hide_inodes,
                    netns,
                    namespaces: None,
                }))
            }
        }
    }
}

/// A request as it was read: its version decides how the answer's header is written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    Current(Request),
    Legacy(LegacyRequest),
}

/// How an answer's header is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Version 3: the error typed, beside its message. Also for refusals of requests that could
    /// not be read (their version is unknown): clients of every version read the message.
    Current,
    /// Versions 1 and 2: exactly what a version 2 daemon answered.
    Legacy,
}

/// Why the daemon did not answer a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum DaemonError {
    /// The request line is longer than `limit` bytes, newline included.
    TooLarge {
        limit: usize,
    },
    /// The client stopped sending before the newline.
    Truncated,
    /// Not JSON, not a request, or not one its version can carry.
    Malformed {
        reason: String,
    },
    /// A protocol version outside `oldest..=newest`, the versions this daemon answers.
    UnsupportedVersion {
        version: u64,
        oldest: u32,
        newest: u32,
    },
    /// The whole request did not arrive within the daemon's deadline.
    TimedOut,
    /// The client is not root.
    NotRoot {
        uid: u32,
    },
    /// The client's credentials could not be read.
    UnknownPeer {
        reason: String,
    },
    /// Too many requests wait for the daemon already.
    Busy,
    ShuttingDown,
    /// The daemon serves namespace `daemon`; the request is about `client`'s.
    WrongNetns {
        daemon: Option<u64>,
        client: u64,
    },
    /// A version 1 or 2 request's command line failed the CLI's check.
    BadOptions {
        reason: String,
    },
    /// The view could not be read or rendered.
    ViewFailed {
        reason: String,
    },
}

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The words of version 2's errors, which older clients print and match on.
        match self {
            DaemonError::TooLarge { limit } => write!(f, "request larger than {limit} bytes"),
            DaemonError::Truncated => write!(f, "request ended before its newline"),
            DaemonError::Malformed { reason } => write!(f, "malformed request: {reason}"),
            DaemonError::UnsupportedVersion {
                version,
                oldest,
                newest,
            } => write!(
                f,
                "protocol version {version} is not supported (this daemon speaks {oldest} to {newest})"
            ),
            DaemonError::TimedOut => write!(f, "request not received in time"),
            DaemonError::NotRoot { uid } => {
                write!(f, "uid {uid} may not query enetstat; run as root")
            }
            DaemonError::UnknownPeer { reason } => {
                write!(f, "cannot identify the client: {reason}")
            }
            DaemonError::Busy => write!(f, "the daemon is busy; try again"),
            DaemonError::ShuttingDown => write!(f, "the daemon is shutting down"),
            DaemonError::WrongNetns { daemon, client } => write!(
                f,
                "wrong network namespace: this daemon serves net:[{}], the client is in net:[{client}]",
                daemon.unwrap_or(0)
            ),
            DaemonError::BadOptions { reason } | DaemonError::ViewFailed { reason } => {
                write!(f, "{reason}")
            }
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    version: u32,
    #[serde(flatten)]
    request: &'a Request,
}

#[derive(Deserialize)]
struct LegacyEnvelope {
    version: u32,
    #[serde(flatten)]
    request: LegacyRequest,
}

pub(crate) fn encode_request(request: &Request) -> Vec<u8> {
    let envelope = Envelope {
        version: VERSION,
        request,
    };
    let mut line = serde_json::to_vec(&envelope).expect("requests serialize");
    line.push(b'\n');
    line
}

/// Decodes the bytes a client sent (the line, with its newline once complete).
pub(crate) fn decode_request(line: &[u8]) -> Result<Decoded, DaemonError> {
    let malformed = |err: serde_json::Error| DaemonError::Malformed {
        reason: err.to_string(),
    };
    if line.len() > MAX_REQUEST_BYTES {
        return Err(DaemonError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err(DaemonError::Truncated);
    };
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
    let version = match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(version) if (u64::from(MIN_VERSION)..=u64::from(VERSION)).contains(&version) => {
            version as u32
        }
        Some(version) => {
            return Err(DaemonError::UnsupportedVersion {
                version,
                oldest: MIN_VERSION,
                newest: VERSION,
            });
        }
        None => {
            return Err(DaemonError::Malformed {
                reason: "no version".to_string(),
            });
        }
    };
    if version == VERSION {
        // Only the request's own fields are left for its (strict) types to read.
        if let Some(fields) = value.as_object_mut() {
            fields.remove("version");
        }
        return serde_json::from_value(value)
            .map(Decoded::Current)
            .map_err(malformed);
    }
    let envelope = serde_json::from_value::<LegacyEnvelope>(value).map_err(malformed)?;
    if envelope.request.version() > envelope.version {
        return Err(DaemonError::Malformed {
            reason: format!(
                "this request needs protocol version {}",
                envelope.request.version()
            ),
        });
    }
    Ok(Decoded::Legacy(envelope.request))
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResponseHeader {
    pub(crate) version: u32,
    pub(crate) ok: bool,
    /// The refusal's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    /// The refusal, typed: from a version 3 daemon, when the request was not a version 1 or 2 one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<DaemonError>,
}

pub(crate) fn encode_header(dialect: Dialect, result: Result<(), &DaemonError>) -> Vec<u8> {
    let error = result.err();
    let header = ResponseHeader {
        version: match dialect {
            Dialect::Current => VERSION,
            Dialect::Legacy => LEGACY_HEADER_VERSION,
        },
        ok: error.is_none(),
        error: error.map(ToString::to_string),
        reason: error.filter(|_| dialect == Dialect::Current).cloned(),
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
    use crate::model::netstat::Families;

    fn flags() -> NetstatFlags {
        NetstatFlags {
            all: true,
            tcp: true,
            families: Families {
                inet: true,
                inet6: true,
                unix: false,
            },
            named_protocols: true,
            numeric_hosts: true,
            extend: 1,
            programs: true,
            format: OutputFormat::Json,
            color: true,
            ..NetstatFlags::default()
        }
    }

    fn snapshot(view: NetstatView) -> SnapshotRequest {
        SnapshotRequest {
            view,
            flags: flags(),
            hide_inodes: vec![42],
            netns: Some(4026531840),
            namespaces: None,
        }
    }

    fn decode_current(line: &[u8]) -> Result<Request, DaemonError> {
        match decode_request(line)? {
            Decoded::Current(request) => Ok(request),
            Decoded::Legacy(legacy) => panic!("{legacy:?} read as a legacy request"),
        }
    }

    #[test]
    fn requests_round_trip() {
        let bare = SnapshotRequest {
            view: NetstatView::Sockets,
            flags: NetstatFlags::default(),
            hide_inodes: Vec::new(),
            netns: None,
            namespaces: None,
        };
        for request in [
            Request::Snapshot(snapshot(NetstatView::Sockets)),
            Request::Snapshot(snapshot(NetstatView::Route)),
            Request::Snapshot(snapshot(NetstatView::Interfaces)),
            Request::Snapshot(snapshot(NetstatView::Statistics)),
            Request::Snapshot(bare),
            Request::Status,
            Request::Table(TableRequest::default()),
        ] {
            assert_eq!(decode_current(&encode_request(&request)), Ok(request));
        }
        assert_eq!(
            encode_request(&Request::Status),
            b"{\"version\":3,\"request\":\"status\"}\n"
        );
        let line = String::from_utf8(encode_request(&Request::Snapshot(snapshot(
            NetstatView::Statistics,
        ))))
        .unwrap();
        assert!(
            line.starts_with("{\"version\":3,\"request\":\"snapshot\",\"view\":\"statistics\",\"flags\":{\"all\":true,")
                && line.contains("\"format\":\"json\"")
                && line.ends_with(",\"hide_inodes\":[42],\"netns\":4026531840}\n"),
            "{line}"
        );
    }

    #[test]
    fn errors_round_trip_and_keep_version_2s_words() {
        let errors = [
            DaemonError::TooLarge { limit: 10 },
            DaemonError::Truncated,
            DaemonError::Malformed {
                reason: "no version".into(),
            },
            DaemonError::UnsupportedVersion {
                version: 9,
                oldest: 1,
                newest: 3,
            },
            DaemonError::TimedOut,
            DaemonError::NotRoot { uid: 1000 },
            DaemonError::UnknownPeer {
                reason: "EBADF".into(),
            },
            DaemonError::Busy,
            DaemonError::ShuttingDown,
            DaemonError::WrongNetns {
                daemon: Some(1),
                client: 2,
            },
            DaemonError::WrongNetns {
                daemon: None,
                client: 2,
            },
            DaemonError::BadOptions {
                reason: "error: unexpected argument '--bogus' found".into(),
            },
            DaemonError::ViewFailed {
                reason: "reading /proc/net/route: gone".into(),
            },
        ];
        for error in &errors {
            let header = decode_header(&encode_header(Dialect::Current, Err(error))).unwrap();
            assert_eq!(
                header,
                ResponseHeader {
                    version: VERSION,
                    ok: false,
                    error: Some(error.to_string()),
                    reason: Some(error.clone()),
                }
            );
        }
        assert_eq!(
            serde_json::to_string(&errors[9]).unwrap(),
            "{\"kind\":\"wrong_netns\",\"daemon\":1,\"client\":2}"
        );
        assert_eq!(
            errors[9].to_string(),
            "wrong network namespace: this daemon serves net:[1], the client is in net:[2]"
        );
        assert_eq!(
            errors[3].to_string(),
            "protocol version 9 is not supported (this daemon speaks 1 to 3)"
        );
    }

    #[test]
    fn headers() {
        assert_eq!(
            encode_header(Dialect::Current, Ok(())),
            b"{\"version\":3,\"ok\":true}\n"
        );
        assert!(decode_header(b"garbage\n").is_err());
        // What a version 2 daemon sent, and what versions 1 and 2 are still answered with.
        assert_eq!(
            encode_header(Dialect::Legacy, Ok(())),
            b"{\"version\":2,\"ok\":true}\n"
        );
        assert_eq!(
            encode_header(Dialect::Legacy, Err(&DaemonError::Busy)),
            b"{\"version\":2,\"ok\":false,\"error\":\"the daemon is busy; try again\"}\n"
        );
        let old = b"{\"version\":1,\"ok\":false,\"error\":\"protocol version 3 is not supported (this daemon speaks 1)\"}\n";
        let header = decode_header(old).unwrap();
        assert_eq!((header.ok, header.reason), (false, None));
    }

    #[test]
    fn version_1_and_2_requests_are_still_read() {
        // The lines version 1 and 2 clients send.
        assert_eq!(
            decode_request(b"{\"version\":1,\"request\":\"status\"}\n"),
            Ok(Decoded::Legacy(LegacyRequest::Status))
        );
        assert_eq!(
            decode_request(b"{\"version\":2,\"request\":\"table\"}\n"),
            Ok(Decoded::Legacy(LegacyRequest::Table))
        );
        assert_eq!(
            decode_request(
                b"{\"version\":1,\"request\":\"snapshot\",\"args\":[\"-tanp\",\"-W\"],\"hide_inodes\":[42],\"netns\":4026531840,\"color\":true}\n"
            ),
            Ok(Decoded::Legacy(LegacyRequest::Snapshot {
                args: vec!["-tanp".into(), "-W".into()],
                hide_inodes: vec![42],
                netns: Some(4026531840),
                format: OutputFormat::Text,
                color: true,
            }))
        );
        assert_eq!(
            decode_request(
                b"{\"version\":2,\"request\":\"snapshot\",\"args\":[\"-s\"],\"format\":\"json\"}\n"
            ),
            Ok(Decoded::Legacy(LegacyRequest::Snapshot {
                args: vec!["-s".into()],
                hide_inodes: Vec::new(),
                netns: None,
                format: OutputFormat::Json,
                color: false,
            }))
        );
        // Version 1 could not ask for JSON: a daemon would have given text.
        assert!(matches!(
            decode_request(
                b"{\"version\":1,\"request\":\"snapshot\",\"args\":[],\"format\":\"json\"}\n"
            ),
            Err(DaemonError::Malformed { .. })
        ));
        // Version 3 carries no command line.
        assert!(matches!(
            decode_request(b"{\"version\":3,\"request\":\"snapshot\",\"args\":[\"-tan\"]}\n"),
            Err(DaemonError::Malformed { .. })
        ));
    }

    #[test]
    fn a_legacy_request_is_upgraded_with_the_check_it_is_given() {
        fn check(args: &[String]) -> Result<NetstatConfig, String> {
            match args {
                [only] if only == "-s" => Ok(NetstatConfig {
                    view: NetstatView::Statistics,
                    flags: NetstatFlags::default(),
                    namespaces: None,
                    filter: None,
                }),
                _ => Err(format!("not -s: {args:?}")),
            }
        }
        let legacy = |args: &[&str]| LegacyRequest::Snapshot {
            args: args.iter().map(|a| a.to_string()).collect(),
            hide_inodes: vec![7],
            netns: Some(1),
            format: OutputFormat::Json,
            color: true,
        };
        assert_eq!(
            legacy(&["-s"]).upgrade(check),
            Ok(Request::Snapshot(SnapshotRequest {
                view: NetstatView::Statistics,
                flags: NetstatFlags {
                    format: OutputFormat::Json,
                    color: true,
                    ..NetstatFlags::default()
                },
                hide_inodes: vec![7],
                netns: Some(1),
                namespaces: None,
            }))
        );
        assert_eq!(
            legacy(&["-r"]).upgrade(check),
            Err(DaemonError::BadOptions {
                reason: "not -s: [\"-r\"]".into()
            })
        );
        assert_eq!(LegacyRequest::Status.upgrade(check), Ok(Request::Status));
        assert_eq!(
            LegacyRequest::Table.upgrade(check),
            Ok(Request::Table(TableRequest::default()))
        );
    }

    #[test]
    fn bad_requests_get_a_typed_error() {
        assert_eq!(
            decode_request(b"{\"version\":3"),
            Err(DaemonError::Truncated)
        );
        for bad in [
            &b"not json\n"[..],
            b"{\"request\":\"status\"}\n",
            b"[3]\n",
            b"{\"version\":3,\"request\":\"format_disk\"}\n",
            b"{\"version\":1,\"request\":\"snapshot\",\"args\":[1]}\n",
            b"{\"version\":3,\"request\":\"snapshot\",\"view\":\"sockets\"}\n",
            b"{\"version\":3,\"request\":\"snapshot\",\"view\":\"masquerade\",\"flags\":{}}\n",
        ] {
            assert!(
                matches!(decode_request(bad), Err(DaemonError::Malformed { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode_request(b"{\"version\":4,\"request\":\"status\"}\n"),
            Err(DaemonError::UnsupportedVersion {
                version: 4,
                oldest: MIN_VERSION,
                newest: VERSION
            })
        );
        assert!(matches!(
            decode_request(b"{\"version\":0,\"request\":\"status\"}\n"),
            Err(DaemonError::UnsupportedVersion { version: 0, .. })
        ));
        let huge = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(
            decode_request(&huge),
            Err(DaemonError::TooLarge {
                limit: MAX_REQUEST_BYTES
            })
        );
    }

    #[test]
    fn a_flag_this_daemon_does_not_know_is_refused_not_ignored() {
        let mut request = serde_json::to_value(Envelope {
            version: VERSION,
            request: &Request::Snapshot(snapshot(NetstatView::Sockets)),
        })
        .unwrap();
        request["flags"]["zones"] = true.into();
        let mut line = serde_json::to_vec(&request).unwrap();
        line.push(b'\n');
        assert!(
            matches!(decode_request(&line), Err(DaemonError::Malformed { ref reason }) if reason.contains("zones")),
            "{:?}",
            decode_request(&line)
        );
    }
}
