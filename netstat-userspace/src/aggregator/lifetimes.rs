//! Connection lifetimes (`watch --lifetimes`): one summary per connection as it closes, from the
//! tracker's memory of the socket and the counters the probe read as it entered CLOSE.

use super::transitions::Observed;
use crate::{
    events::{CloseCounters, Task, TcpTransition},
    model::TcpState,
};

/// A connection that has just closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lifetime {
    /// The transition into CLOSE: endpoints, close time, and the state it closed from.
    pub(crate) close: TcpTransition,
    /// The socket's owner, as the tracker attributes it (`None` when never seen).
    pub(crate) owner: Option<Task>,
    /// From the first transition seen to the close.
    pub(crate) duration_ns: u64,
    /// The connection's opening was not seen (it was open before watching began, or records
    /// were lost): `duration_ns` runs from its first transition seen and is a lower bound.
    pub(crate) partial: bool,
    /// Payload bytes, when the probe could read the socket's counters.
    pub(crate) bytes: Option<Payload>,
    /// Segments retransmitted over the connection's life, when the counters were read.
    pub(crate) retransmits: Option<u32>,
    /// The smoothed RTT at the close, microseconds; `None` when unread or never measured.
    pub(crate) srtt_us: Option<u32>,
}

/// Payload bytes of a connection, SYN and FIN not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Payload {
    /// Sent and acknowledged by the peer (data still unacknowledged at the close is not counted).
    pub(crate) sent: u64,
    /// Received in order.
    pub(crate) received: u64,
}

/// The lifetime that ends with this transition: a socket entering CLOSE after its handshake
/// completed. Listeners and connections that never got established have none.
pub(crate) fn lifetime(observed: &Observed) -> Option<Lifetime> {
    let t = &observed.transition;
    if t.new != TcpState::Close || !synchronized(t.old) {
        return None;
    }
    let first = observed.first_seen;
    let partial = !first.is_birth();
    // Only a socket seen leaving CLOSE for SYN_SENT is known to have sent a SYN of its own.
    let opened_here = !partial && first.old == TcpState::Close && first.new == TcpState::SynSent;
    Some(Lifetime {
        close: *t,
        owner: observed.owner,
        duration_ns: t.ts_ns.saturating_sub(first.ts_ns),
        partial,
        bytes: t
            .counters
            .map(|counters| payload(&counters, t.old, opened_here)),
        retransmits: t.counters.map(|c| c.total_retrans),
        srtt_us: t.counters.map(|c| c.srtt_us).filter(|&us| us != 0),
    })
}

/// States in which both sides' initial sequence numbers are agreed: the handshake completed.
pub(crate) fn synchronized(state: TcpState) -> bool {
    use TcpState::*;
    matches!(
        state,
        Established | FinWait1 | FinWait2 | CloseWait | Closing | LastAck | TimeWait
    )
}

/// The kernel counts sequence space: `bytes_acked` includes our SYN once the peer acked it (an
/// active opener's only; a child socket starts past its SYN-ACK) and our FIN once acked;
/// `bytes_received` includes the peer's FIN once it arrived in order.
fn payload(c: &CloseCounters, closed_from: TcpState, opened_here: bool) -> Payload {
    use TcpState::*;
    // Our FIN was queued on entering FIN_WAIT1 or LAST_ACK; it was acked if nothing is left.
    let fin_queued = matches!(closed_from, FinWait1 | FinWait2 | Closing | LastAck);
    let fin_acked = fin_queued && c.snd_una == c.write_seq;
    Payload {
        sent: c
            .bytes_acked
            .saturating_sub(u64::from(opened_here) + u64::from(fin_acked)),
        received: c.bytes_received.saturating_sub(u64::from(c.fin_received)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregator::transitions::{
        TransitionTracker,
        tests::{t, task},
    };
    use TcpState::*;

    /// Counters as the kernel left them at the close, for sockets that moved `sent` and
    /// `received` payload bytes (values observed on Linux 6.18 with bpftrace on loopback).
    fn counters(acked: u64, received: u64, all_acked: bool, fin_received: bool) -> CloseCounters {
        CloseCounters {
            bytes_acked: acked,
            bytes_received: received,
            snd_una: if all_acked { 500 } else { 499 },
            write_seq: 500,
            fin_received,
            total_retrans: 3,
            srtt_us: 40,
        }
    }

    fn sent_received(sent: u64, received: u64) -> Option<Payload> {
        Some(Payload { sent, received })
    }

    /// Feeds `(ms, old, new)` steps of socket 1 to a fresh tracker, the last one with `close`.
    fn run(steps: &[(u64, TcpState, TcpState)], close: Option<CloseCounters>) -> Option<Lifetime> {
        let owner = task(100, "client");
        let irq = task(0, "swapper/0");
        let mut tracker = TransitionTracker::new();
        let mut last = None;
        for (i, &(ms, old, new)) in steps.iter().enumerate() {
            let mut transition = t(ms, 1, old, new, if i % 2 == 0 { owner } else { irq });
            if i == steps.len() - 1 {
                transition.counters = close;
            }
            last = Some(tracker.observe(transition));
        }
        lifetime(&last.unwrap())
    }

    const ACTIVE_CLOSE: &[(u64, TcpState, TcpState)] = &[
        (10, Close, SynSent),
        (11, SynSent, Established),
        (250, Established, FinWait1),
        (251, FinWait1, FinWait2),
        (252, FinWait2, Close),
    ];

    #[test]
    fn an_active_opener_closing_first_loses_its_syn_and_both_fins() {
        // 10,000 bytes sent, 3,000 received: the kernel says 10,002 acked and 3,001 received.
        let life = run(ACTIVE_CLOSE, Some(counters(10_002, 3_001, true, true))).unwrap();
        assert_eq!(life.bytes, sent_received(10_000, 3_000));
        assert_eq!(life.duration_ns, 242_000_000);
        assert!(!life.partial);
        assert_eq!(life.owner, Some(task(100, "client")));
        assert_eq!(life.close.old, FinWait2);
        assert_eq!((life.retransmits, life.srtt_us), (Some(3), Some(40)));
    }

    #[test]
    fn a_passive_side_has_no_syn_of_its_own_to_remove() {
        let steps = [
            (10, Listen, SynRecv),
            (10, SynRecv, Established),
            (250, Established, CloseWait),
            (260, CloseWait, LastAck),
            (261, LastAck, Close),
        ];
        let life = run(&steps, Some(counters(3_001, 10_001, true, true))).unwrap();
        assert_eq!(life.bytes, sent_received(3_000, 10_000));
        assert_eq!(life.duration_ns, 251_000_000);
        assert!(!life.partial);
    }

    #[test]
    fn an_orphan_in_fin_wait2_never_got_the_peers_fin() {
        let life = run(ACTIVE_CLOSE, Some(counters(10_002, 3_000, true, false))).unwrap();
        assert_eq!(life.bytes.unwrap().received, 3_000);
    }

    #[test]
    fn a_reset_connection_counts_no_fin_and_unacked_data_is_not_sent() {
        let steps = [
            (0, Close, SynSent),
            (1, SynSent, Established),
            (5, Established, Close),
        ];
        let life = run(&steps, Some(counters(10_001, 3_000, true, false))).unwrap();
        assert_eq!(life.bytes, sent_received(10_000, 3_000));
        // Reset in LAST_ACK: our FIN was never acked, so nothing but the data is removed.
        let steps = [
            (0, Listen, SynRecv),
            (0, SynRecv, Established),
            (1, Established, CloseWait),
            (2, CloseWait, LastAck),
            (3, LastAck, Close),
        ];
        let life = run(&steps, Some(counters(700, 51, false, true))).unwrap();
        assert_eq!(life.bytes, sent_received(700, 50));
    }

    #[test]
    fn a_connection_open_before_watching_is_partial_and_keeps_any_syn() {
        let steps = [
            (100, Established, FinWait1),
            (101, FinWait1, FinWait2),
            (140, FinWait2, Close),
        ];
        let life = run(&steps, Some(counters(10_002, 3_001, true, true))).unwrap();
        assert!(life.partial);
        assert_eq!(
            life.duration_ns, 40_000_000,
            "from the first transition seen"
        );
        assert_eq!(
            life.bytes.unwrap().sent,
            10_001,
            "whether it sent a SYN is unknown"
        );
        // Seen only as it closes: a lower bound of zero.
        let life = run(&[(7, Established, Close)], None).unwrap();
        assert!(life.partial);
        assert_eq!(life.duration_ns, 0);
        assert_eq!(life.owner, None, "a reset names no owner");
    }

    #[test]
    fn listeners_and_failed_handshakes_are_not_connections() {
        assert_eq!(run(&[(0, Close, Listen), (9, Listen, Close)], None), None);
        assert_eq!(run(&[(0, Close, SynSent), (1, SynSent, Close)], None), None);
        assert_eq!(
            run(&[(0, Listen, SynRecv), (1, SynRecv, Close)], None),
            None
        );
        assert_eq!(
            run(&[(0, Close, SynSent), (1, SynSent, Established)], None),
            None
        );
    }

    #[test]
    fn without_counters_bytes_are_unknown() {
        let life = run(ACTIVE_CLOSE, None).unwrap();
        assert_eq!(life.bytes, None);
        assert_eq!((life.retransmits, life.srtt_us), (None, None));
        let mut unmeasured = counters(10_002, 3_001, true, true);
        unmeasured.srtt_us = 0;
        let life = run(ACTIVE_CLOSE, Some(unmeasured)).unwrap();
        assert_eq!(life.srtt_us, None, "no RTT sample: unknown, not 0");
        assert_eq!(life.duration_ns, 242_000_000);
    }
}
