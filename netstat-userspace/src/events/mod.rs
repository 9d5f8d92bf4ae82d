//! Decoding of the probes' records into typed events. Pure: no I/O, no clocks.

pub(crate) mod filter;
pub(crate) mod health;
pub(crate) mod interface;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netstat_common::{SOCK_DONE, TASK_COMM_LEN, TcpStateRecord};

use crate::model::{TcpState, sockets::Family};

/// A task's `comm`: up to 15 bytes chosen by the process itself, so untrusted.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Comm([u8; TASK_COMM_LEN]);

impl Comm {
    pub(crate) fn new(raw: [u8; TASK_COMM_LEN]) -> Self {
        Comm(raw)
    }

    /// The bytes before the first NUL.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let len = self.0.iter().position(|&b| b == 0).unwrap_or(TASK_COMM_LEN);
        &self.0[..len]
    }
}

impl std::fmt::Debug for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The task that was on the CPU when a transition happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) tgid: u32,
    pub(crate) comm: Comm,
}

/// One TCP state transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TcpTransition {
    /// CLOCK_MONOTONIC nanoseconds.
    pub(crate) ts_ns: u64,
    pub(crate) skaddr: u64,
    pub(crate) family: Family,
    pub(crate) local: IpAddr,
    pub(crate) local_port: u16,
    pub(crate) remote: IpAddr,
    pub(crate) remote_port: u16,
    pub(crate) old: TcpState,
    pub(crate) new: TcpState,
    pub(crate) task: Task,
    /// The socket's network namespace (inode number), 0 when unknown.
    pub(crate) netns: u32,
    /// Read from the socket on transitions into CLOSE, when the kernel's BTF gave the offsets.
    pub(crate) counters: Option<CloseCounters>,
    /// The kernel's socket cookie, `None` where the probe could not ask for it (classic
    /// tracepoint). Unlike `skaddr` it is never reused.
    pub(crate) cookie: Option<u64>,
}

impl TcpTransition {
    /// The socket's identity, to match events with each other and with snapshot rows: its cookie
    /// where the probe could ask for it (sock_diag reports the same), else its kernel address
    /// (/proc/net/tcp's, with raw pointers). One probe runs per process, so the two never mix.
    pub(crate) fn socket_key(&self) -> u64 {
        self.cookie.unwrap_or(self.skaddr)
    }
}

/// A socket's counters as it entered CLOSE, as the kernel keeps them: in sequence space, where a
/// SYN and a FIN take one number each (the aggregator's lifetimes turn them into bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CloseCounters {
    /// `tcp_sock.bytes_acked`.
    pub(crate) bytes_acked: u64,
    /// `tcp_sock.bytes_received`.
    pub(crate) bytes_received: u64,
    /// `tcp_sock.snd_una` and `write_seq`: equal when everything queued, FIN included, was acked.
    pub(crate) snd_una: u32,
    pub(crate) write_seq: u32,
    /// The peer's FIN arrived (`SOCK_DONE`), so `bytes_received` counts it.
    pub(crate) fin_received: bool,
    /// `tcp_sock.total_retrans`: segments retransmitted over the connection's life.
    pub(crate) total_retrans: u32,
    /// The smoothed RTT at the close, microseconds (`tcp_sock.srtt_us / 8`); 0 when the
    /// connection never measured one.
    pub(crate) srtt_us: u32,
}

/// Why a record could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Fewer bytes than a record.
    Short {
        got: usize,
        expected: usize,
    },
    UnknownFamily(u16),
    UnknownKind(u8),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Short { got, expected } => {
                write!(f, "record of {got} bytes, expected {expected}")
            }
            DecodeError::UnknownFamily(family) => write!(f, "unknown address family {family}"),
            DecodeError::UnknownKind(kind) => write!(f, "unknown event kind {kind}"),
        }
    }
}

/// A record's address: IPv4 in the first four bytes, IPv6 in all sixteen.
fn address(family: Family, raw: [u8; 16]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        Family::Inet6 => IpAddr::V6(Ipv6Addr::from(raw)),
    }
}

/// Copies a plain-old-data record out of ring-buffer bytes, which are only 8-byte aligned.
fn read_record<T: aya::Pod>(bytes: &[u8]) -> Result<T, DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError::Short {
            got: bytes.len(),
            expected: size_of::<T>(),
        });
    }
    // SAFETY: T is plain old data (any bit pattern is valid) and the length was checked.
    Ok(unsafe { bytes.as_ptr().cast::<T>().read_unaligned() })
}

impl TcpTransition {
    /// Decodes one ring-buffer record where it lies: the ring keeps records 8-byte aligned, as
    /// the record needs. Bytes from elsewhere that are not aligned are copied first.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let record = bytes.as_ptr().cast::<TcpStateRecord>();
        if bytes.len() < size_of::<TcpStateRecord>() || !record.is_aligned() {
            return Self::from_record(&read_record::<TcpStateRecord>(bytes)?);
        }
        // SAFETY: the record is plain old data (any bit pattern is valid), the length and the
        // alignment were checked, and the bytes stay borrowed for the reference's life.
        Self::from_record(unsafe { &*record })
    }

    pub(crate) fn from_record(record: &TcpStateRecord) -> Result<Self, DecodeError> {
        let family =
            Family::from_raw(record.family).ok_or(DecodeError::UnknownFamily(record.family))?;
        Ok(TcpTransition {
            ts_ns: record.ts_ns,
            skaddr: record.skaddr,
            family,
            local: address(family, record.saddr),
            local_port: record.sport,
            remote: address(family, record.daddr),
            remote_port: record.dport,
            old: TcpState::from_raw(record.oldstate),
            new: TcpState::from_raw(record.newstate),
            task: Task {
                tgid: record.tgid,
                comm: Comm::new(record.comm),
            },
            netns: record.netns,
            counters: (record.close.valid != 0).then_some(CloseCounters {
                bytes_acked: record.close.bytes_acked,
                bytes_received: record.close.bytes_received,
                snd_una: record.close.snd_una,
                write_seq: record.close.write_seq,
                fin_received: record.close.sk_flags & (1 << SOCK_DONE) != 0,
                total_retrans: record.close.total_retrans,
                srtt_us: record.close.srtt_us_x8 >> 3,
            }),
            cookie: (record.cookie != 0).then_some(record.cookie),
        })
    }
}

#[cfg(test)]
mod tests {
    use netstat_common::{AF_INET, AF_INET6};

    use super::*;

    pub(crate) fn record_bytes(record: &TcpStateRecord) -> Vec<u8> {
        // SAFETY: reading a repr(C) POD value as its bytes.
        unsafe {
            std::slice::from_raw_parts(
                (record as *const TcpStateRecord).cast::<u8>(),
                size_of::<TcpStateRecord>(),
            )
        }
        .to_vec()
    }

    fn sample() -> TcpStateRecord {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"curl");
        let mut saddr = [0u8; 16];
        saddr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let mut daddr = [0u8; 16];
        daddr[..4].copy_from_slice(&[10, 1, 2, 3]);
        TcpStateRecord {
            ts_ns: 42,
            skaddr: 0xffff_8881_0000_1000,
            saddr,
            daddr,
            comm,
            tgid: 1234,
            sport: 40000,
            dport: 80,
            family: AF_INET,
            oldstate: 7,
            newstate: 2,
            netns: 4026531840,
            close: netstat_common::CloseCounters::default(),
            cookie: 7,
        }
    }

    #[test]
    fn decodes_an_ipv4_record() {
        let t = TcpTransition::decode(&record_bytes(&sample())).unwrap();
        assert_eq!(t.family, Family::Inet);
        assert_eq!(t.local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(t.remote, "10.1.2.3".parse::<IpAddr>().unwrap());
        assert_eq!((t.local_port, t.remote_port), (40000, 80));
        assert_eq!((t.old, t.new), (TcpState::Close, TcpState::SynSent));
        assert_eq!(t.task.tgid, 1234);
        assert_eq!(t.task.comm.as_bytes(), b"curl");
        assert_eq!(t.skaddr, 0xffff_8881_0000_1000);
        assert_eq!(t.netns, 4026531840);
        assert_eq!(t.counters, None);
        assert_eq!(t.cookie, Some(7));
    }

    #[test]
    fn decodes_close_counters_and_the_fin_flag() {
        let mut r = sample();
        r.oldstate = 9; // LAST_ACK
        r.newstate = 7;
        r.close = netstat_common::CloseCounters {
            bytes_acked: 3001,
            bytes_received: 10_001,
            snd_una: 77,
            write_seq: 77,
            sk_flags: 0x303, // SOCK_DEAD | SOCK_DONE | others
            total_retrans: 4,
            srtt_us_x8: 8 * 125 + 7,
            valid: 1,
            _pad: [0; 3],
        };
        let t = TcpTransition::decode(&record_bytes(&r)).unwrap();
        assert_eq!(
            t.counters,
            Some(CloseCounters {
                bytes_acked: 3001,
                bytes_received: 10_001,
                snd_una: 77,
                write_seq: 77,
                fin_received: true,
                total_retrans: 4,
                srtt_us: 125,
            })
        );
        r.close.sk_flags = 0x301;
        let t = TcpTransition::decode(&record_bytes(&r)).unwrap();
        assert!(!t.counters.unwrap().fin_received);
        r.close.valid = 0;
        assert_eq!(
            TcpTransition::decode(&record_bytes(&r)).unwrap().counters,
            None
        );
    }

    #[test]
    fn decodes_an_ipv6_record() {
        let mut r = sample();
        r.family = AF_INET6;
        r.saddr = "::1".parse::<Ipv6Addr>().unwrap().octets();
        r.daddr = "fe80::1:2".parse::<Ipv6Addr>().unwrap().octets();
        let t = TcpTransition::decode(&record_bytes(&r)).unwrap();
        assert_eq!(t.family, Family::Inet6);
        assert_eq!(t.local.to_string(), "::1");
        assert_eq!(t.remote.to_string(), "fe80::1:2");
    }

    #[test]
    fn rejects_short_records_and_unknown_families() {
        let bytes = record_bytes(&sample());
        assert_eq!(
            TcpTransition::decode(&bytes[..127]),
            Err(DecodeError::Short {
                got: 127,
                expected: 128
            })
        );
        let mut r = sample();
        r.family = 1;
        assert_eq!(
            TcpTransition::decode(&record_bytes(&r)),
            Err(DecodeError::UnknownFamily(1))
        );
    }

    #[test]
    fn decodes_aligned_and_unaligned_bytes_alike() {
        let bytes = record_bytes(&sample());
        // Room to place the record at every offset from an 8-byte boundary.
        let mut buffer = vec![0u64; bytes.len() / 8 + 2];
        // SAFETY: viewing a u64 buffer as bytes; every byte pattern is a valid u8.
        let raw = unsafe {
            std::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<u8>(), buffer.len() * 8)
        };
        let expected = TcpTransition::decode(&bytes).unwrap();
        for offset in 0..8 {
            raw[offset..offset + bytes.len()].copy_from_slice(&bytes);
            assert_eq!(
                TcpTransition::decode(&raw[offset..offset + bytes.len()]).unwrap(),
                expected,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn comm_stops_at_the_first_nul_or_uses_all_16_bytes() {
        assert_eq!(Comm::new(*b"abc\0def\0\0\0\0\0\0\0\0\0").as_bytes(), b"abc");
        assert_eq!(
            Comm::new(*b"0123456789abcdef").as_bytes(),
            b"0123456789abcdef"
        );
    }
}
