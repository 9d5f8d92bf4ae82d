//! What `--tcp-info` shows of a TCP socket: the fields of the kernel's struct tcp_info
//! (include/uapi/linux/tcp.h) that sock_diag's INET_DIAG_INFO attribute carries. Each is None
//! when the attribute was too short to hold it (an older kernel's struct).

/// The shown fields of struct tcp_info, in the kernel's units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TcpInfo {
    /// tcpi_rtt: smoothed round-trip time, µs.
    pub(crate) rtt_us: Option<u32>,
    /// tcpi_rttvar: its mean deviation, µs.
    pub(crate) rttvar_us: Option<u32>,
    /// tcpi_snd_cwnd: congestion window, segments.
    pub(crate) cwnd: Option<u32>,
    /// tcpi_total_retrans: segments retransmitted over the socket's life.
    pub(crate) total_retrans: Option<u32>,
    /// tcpi_lost: segments currently deemed lost.
    pub(crate) lost: Option<u32>,
    /// tcpi_unacked: segments sent and not yet acknowledged.
    pub(crate) unacked: Option<u32>,
    /// tcpi_bytes_acked: bytes the peer has acknowledged.
    pub(crate) bytes_acked: Option<u64>,
    /// tcpi_bytes_received: bytes received in order.
    pub(crate) bytes_received: Option<u64>,
    /// tcpi_delivery_rate: the last delivery rate sample, bytes/s.
    pub(crate) delivery_rate: Option<u64>,
    /// tcpi_busy_time: time spent with data in flight, µs.
    pub(crate) busy_time_us: Option<u64>,
    /// tcpi_rwnd_limited: of that, time limited by the peer's receive window, µs.
    pub(crate) rwnd_limited_us: Option<u64>,
    /// tcpi_sndbuf_limited: time limited by the send buffer, µs.
    pub(crate) sndbuf_limited_us: Option<u64>,
}

impl TcpInfo {
    /// The fields in the order `--tcp-info` shows them, each with its name: the JSON key, and
    /// (upper-cased) the text column's heading. One list, so the two views cannot disagree.
    pub(crate) fn fields(&self) -> [(&'static str, Option<u64>); 12] {
        let wide = |v: Option<u32>| v.map(u64::from);
        [
            ("rtt_us", wide(self.rtt_us)),
            ("rttvar_us", wide(self.rttvar_us)),
            ("cwnd", wide(self.cwnd)),
            ("total_retrans", wide(self.total_retrans)),
            ("lost", wide(self.lost)),
            ("unacked", wide(self.unacked)),
            ("bytes_acked", self.bytes_acked),
            ("bytes_received", self.bytes_received),
            ("delivery_rate", self.delivery_rate),
            ("busy_us", self.busy_time_us),
            ("rwnd_limited_us", self.rwnd_limited_us),
            ("sndbuf_limited_us", self.sndbuf_limited_us),
        ]
    }

    /// The field names alone, in [`TcpInfo::fields`]' order.
    pub(crate) fn names() -> [&'static str; 12] {
        TcpInfo::default().fields().map(|(name, _)| name)
    }
}
