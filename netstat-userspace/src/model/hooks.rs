//! Which kernel hook a probe is attached to, as `status` and the log name it.

/// The hook carrying the TCP state probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpHook {
    /// `tp_btf/inet_sock_set_state`: typed loads from the socket, its cookie, no tracefs.
    BtfTracepoint,
    /// `sock:inet_sock_set_state`, the classic tracepoint: the fallback without kernel BTF.
    Tracepoint,
}

impl TcpHook {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TcpHook::BtfTracepoint => "tp_btf",
            TcpHook::Tracepoint => "tracepoint",
        }
    }
}
