//! Connection-health records (retransmits, resets, drops) decoded, and the live stream that
//! carries them beside transitions in the TCP probe's one ring.

use std::net::IpAddr;

use netstat_common::{
    HEALTH_DROP, HEALTH_FLAG_NO_SOCKET, HEALTH_FLAG_SENT, HEALTH_FLAG_SYNACK, HEALTH_FLAG_TLP,
    HEALTH_RESET, HEALTH_RETRANSMIT, HealthRecord,
};

use super::{Comm, DecodeError, Task, TcpTransition, address, read_record};
use crate::model::{TcpState, health::EventKind, sockets::Family};

const IPPROTO_TCP: u8 = 6;

/// What happened to the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HealthDetail {
    Retransmit {
        /// What the kernel added to `Tcp: RetransSegs` for it.
        segments: u32,
        /// Sent as a tail-loss probe (counted in RetransSegs like any other).
        tail_loss_probe: bool,
        /// A SYN-ACK of a request socket.
        synack: bool,
        /// The send's error, 0 when the segment went out.
        error: i32,
    },
    Reset {
        /// Sent by this host; else received.
        sent: bool,
        /// Sent for a segment that no socket took: the endpoints are the segment's.
        no_socket: bool,
        /// `enum sk_rst_reason` of a sent reset (0 for received ones).
        reason: u32,
    },
    Drop {
        /// `enum skb_drop_reason`.
        reason: u32,
    },
}

/// One health event of one socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HealthEvent {
    /// CLOCK_MONOTONIC nanoseconds.
    pub(crate) ts_ns: u64,
    /// The kernel's socket cookie; `None` for a socket that never had one made (a drop on a
    /// socket nothing asked about) or when there is no socket.
    pub(crate) cookie: Option<u64>,
    /// The socket's kernel address, 0 when there is no socket.
    pub(crate) skaddr: u64,
    pub(crate) family: Family,
    pub(crate) local: IpAddr,
    pub(crate) local_port: u16,
    pub(crate) remote: IpAddr,
    pub(crate) remote_port: u16,
    /// The task on the CPU: the owner only for what a system call does (see the tracker).
    pub(crate) task: Task,
    /// The socket's network namespace (inode number), 0 when unknown.
    pub(crate) netns: u32,
    /// The TCP socket's state when it happened; `None` without a socket or for other protocols.
    pub(crate) state: Option<TcpState>,
    /// `IPPROTO_*` of the socket (6 for TCP, 17 for UDP), 0 without one.
    pub(crate) protocol: u8,
    pub(crate) detail: HealthDetail,
}

impl HealthEvent {
    pub(crate) fn kind(&self) -> EventKind {
        match self.detail {
            HealthDetail::Retransmit { .. } => EventKind::Retransmit,
            HealthDetail::Reset { .. } => EventKind::Reset,
            HealthDetail::Drop { .. } => EventKind::Drop,
        }
    }

    /// The socket's identity, as [`TcpTransition::socket_key`] gives it for the same socket:
    /// health events come only with the BTF probe, whose transitions carry cookies.
    pub(crate) fn socket_key(&self) -> Option<u64> {
        self.cookie.or((self.skaddr != 0).then_some(self.skaddr))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_record(&read_record::<HealthRecord>(bytes)?)
    }

    pub(crate) fn from_record(record: &HealthRecord) -> Result<Self, DecodeError> {
        let family =
            Family::from_raw(record.family).ok_or(DecodeError::UnknownFamily(record.family))?;
        let flag = |bit: u8| record.flags & bit != 0;
        let detail = match record.kind {
            HEALTH_RETRANSMIT => HealthDetail::Retransmit {
                segments: record.segments,
                tail_loss_probe: flag(HEALTH_FLAG_TLP),
                synack: flag(HEALTH_FLAG_SYNACK),
                error: record.reason,
            },
            HEALTH_RESET => HealthDetail::Reset {
                sent: flag(HEALTH_FLAG_SENT),
                no_socket: flag(HEALTH_FLAG_NO_SOCKET),
                reason: record.reason as u32,
            },
            HEALTH_DROP => HealthDetail::Drop {
                reason: record.reason as u32,
            },
            other => return Err(DecodeError::UnknownKind(other)),
        };
        // Only TCP sockets have states worth showing; a UDP socket's is CLOSE unless connected.
        let has_state = record.skaddr != 0 && record.protocol == IPPROTO_TCP;
        Ok(HealthEvent {
            ts_ns: record.ts_ns,
            cookie: (record.cookie != 0).then_some(record.cookie),
            skaddr: record.skaddr,
            family,
            local: address(family, record.saddr),
            local_port: record.sport,
            remote: address(family, record.daddr),
            remote_port: record.dport,
            task: Task {
                tgid: record.tgid,
                comm: Comm::new(record.comm),
            },
            netns: record.netns,
            state: has_state.then(|| TcpState::from_raw(record.state)),
            protocol: record.protocol,
            detail,
        })
    }
}

/// What the TCP probe's ring carries when health programs are attached: the two records differ
/// in size (asserted in netstat-common), which tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LiveEvent {
    State(TcpTransition),
    Health(HealthEvent),
}

impl LiveEvent {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() == size_of::<HealthRecord>() {
            HealthEvent::decode(bytes).map(LiveEvent::Health)
        } else {
            TcpTransition::decode(bytes).map(LiveEvent::State)
        }
    }
}

#[cfg(test)]
mod tests {
    use netstat_common::{AF_INET, AF_INET6};

    use super::*;

    fn bytes(record: &HealthRecord) -> Vec<u8> {
        // SAFETY: reading a repr(C) POD value as its bytes.
        unsafe {
            std::slice::from_raw_parts(
                (record as *const HealthRecord).cast::<u8>(),
                size_of::<HealthRecord>(),
            )
        }
        .to_vec()
    }

    fn sample() -> HealthRecord {
        let mut saddr = [0u8; 16];
        saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
        let mut daddr = [0u8; 16];
        daddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        let mut comm = [0u8; 16];
        comm[..7].copy_from_slice(b"swapper");
        HealthRecord {
            ts_ns: 9,
            cookie: 77,
            skaddr: 0xffff_8881_0000_2000,
            saddr,
            daddr,
            comm,
            tgid: 0,
            netns: 4026532000,
            segments: 3,
            reason: 0,
            sport: 5001,
            dport: 40000,
            family: AF_INET,
            kind: HEALTH_RETRANSMIT,
            flags: HEALTH_FLAG_TLP,
            state: 1,
            protocol: 6,
            _pad: [0; 6],
        }
    }

    #[test]
    fn decodes_a_retransmit() {
        let e = HealthEvent::decode(&bytes(&sample())).unwrap();
        assert_eq!(e.kind(), EventKind::Retransmit);
        assert_eq!(
            e.detail,
            HealthDetail::Retransmit {
                segments: 3,
                tail_loss_probe: true,
                synack: false,
                error: 0
            }
        );
        assert_eq!(e.local.to_string(), "10.0.0.1");
        assert_eq!((e.local_port, e.remote_port), (5001, 40000));
        assert_eq!(e.state, Some(TcpState::Established));
        assert_eq!(e.socket_key(), Some(77));
        assert_eq!(e.netns, 4026532000);
    }

    #[test]
    fn decodes_resets_and_drops() {
        let mut r = sample();
        r.kind = HEALTH_RESET;
        r.flags = HEALTH_FLAG_SENT | HEALTH_FLAG_NO_SOCKET;
        r.reason = 2;
        r.skaddr = 0;
        r.cookie = 0;
        r.family = AF_INET6;
        r.saddr = "::1".parse::<std::net::Ipv6Addr>().unwrap().octets();
        let e = HealthEvent::decode(&bytes(&r)).unwrap();
        assert_eq!(
            e.detail,
            HealthDetail::Reset {
                sent: true,
                no_socket: true,
                reason: 2
            }
        );
        assert_eq!((e.state, e.socket_key()), (None, None));
        assert_eq!(e.local.to_string(), "::1");
        r.kind = HEALTH_DROP;
        r.reason = 6;
        r.skaddr = 0x1000;
        let e = HealthEvent::decode(&bytes(&r)).unwrap();
        assert_eq!(e.detail, HealthDetail::Drop { reason: 6 });
        assert_eq!(e.socket_key(), Some(0x1000), "no cookie: the address");
        r.kind = 9;
        assert_eq!(
            HealthEvent::decode(&bytes(&r)),
            Err(DecodeError::UnknownKind(9))
        );
    }

    #[test]
    fn the_live_stream_tells_records_apart_by_size() {
        let health = bytes(&sample());
        assert!(matches!(
            LiveEvent::decode(&health),
            Ok(LiveEvent::Health(_))
        ));
        let short = &health[..100];
        assert!(matches!(
            LiveEvent::decode(short),
            Err(DecodeError::Short { .. })
        ));
    }
}
