//! The interface probes' error and drop events, decoded.

use netstat_common::{DIRECTION_RX, EVENT_DROP, EVENT_XMIT_FAILED, IFNAMSIZ, InterfaceEventRecord};

use super::{DecodeError, read_record};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Direction {
    Rx,
    Tx,
}

impl Direction {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Direction::Rx => "rx",
            Direction::Tx => "tx",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InterfaceEventKind {
    /// The driver refused a transmission with this return code (NET_XMIT_DROP is 1,
    /// NET_XMIT_CN 2, NETDEV_TX_BUSY 16).
    XmitFailed { rc: i32 },
    /// The kernel freed the packet as dropped, for this `enum skb_drop_reason` value, from
    /// this kernel text address.
    Drop { reason: u32, location: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceEvent {
    pub(crate) ts_ns: u64,
    pub(crate) ifindex: u32,
    /// The interface's name when the event happened (untrusted bytes: escape on output).
    pub(crate) ifname: [u8; IFNAMSIZ],
    pub(crate) direction: Direction,
    pub(crate) kind: InterfaceEventKind,
    pub(crate) len: u32,
    /// The packet's EtherType (ETH_P_*), host order.
    pub(crate) protocol: u16,
}

impl InterfaceEvent {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_record(&read_record::<InterfaceEventRecord>(bytes)?)
    }

    pub(crate) fn from_record(record: &InterfaceEventRecord) -> Result<Self, DecodeError> {
        let kind = match record.kind {
            EVENT_XMIT_FAILED => InterfaceEventKind::XmitFailed {
                rc: record.reason as i32,
            },
            EVENT_DROP => InterfaceEventKind::Drop {
                reason: record.reason,
                location: record.location,
            },
            other => return Err(DecodeError::UnknownKind(other)),
        };
        Ok(InterfaceEvent {
            ts_ns: record.ts_ns,
            ifindex: record.ifindex,
            ifname: record.ifname,
            direction: if record.direction == DIRECTION_RX {
                Direction::Rx
            } else {
                Direction::Tx
            },
            kind,
            len: record.len,
            protocol: u16::from_be(record.protocol),
        })
    }

    /// The name's bytes before the first NUL.
    pub(crate) fn ifname_bytes(&self) -> &[u8] {
        let len = self.ifname.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        &self.ifname[..len]
    }
}

/// What a transmit return code means (include/linux/netdevice.h).
pub(crate) fn xmit_rc_name(rc: i32) -> &'static str {
    match rc {
        1 => "NET_XMIT_DROP",
        2 => "NET_XMIT_CN",
        0x10 => "NETDEV_TX_BUSY",
        _ => "driver error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netstat_common::DIRECTION_TX;

    fn record(kind: u8) -> InterfaceEventRecord {
        let mut ifname = [0u8; IFNAMSIZ];
        ifname[..5].copy_from_slice(b"veth0");
        InterfaceEventRecord {
            ts_ns: 5,
            location: 0xffff_ffff_8100_0000,
            ifname,
            ifindex: 7,
            netns: 1,
            reason: 1,
            len: 1500,
            protocol: 0x0800u16.to_be(),
            kind,
            direction: DIRECTION_TX,
            _pad: [0; 4],
        }
    }

    fn bytes(record: &InterfaceEventRecord) -> Vec<u8> {
        // SAFETY: reading a plain-old-data struct as bytes.
        unsafe {
            std::slice::from_raw_parts(
                (record as *const InterfaceEventRecord).cast::<u8>(),
                size_of::<InterfaceEventRecord>(),
            )
        }
        .to_vec()
    }

    #[test]
    fn decodes_transmit_failures_and_drops() {
        let event = InterfaceEvent::decode(&bytes(&record(EVENT_XMIT_FAILED))).unwrap();
        assert_eq!(event.kind, InterfaceEventKind::XmitFailed { rc: 1 });
        assert_eq!(event.direction, Direction::Tx);
        assert_eq!(event.ifname_bytes(), b"veth0");
        assert_eq!(event.protocol, 0x0800);
        let event = InterfaceEvent::decode(&bytes(&record(EVENT_DROP))).unwrap();
        assert_eq!(
            event.kind,
            InterfaceEventKind::Drop {
                reason: 1,
                location: 0xffff_ffff_8100_0000
            }
        );
    }

    #[test]
    fn rejects_short_and_unknown_records() {
        let full = bytes(&record(EVENT_DROP));
        assert_eq!(
            InterfaceEvent::decode(&full[..10]),
            Err(DecodeError::Short {
                got: 10,
                expected: 56
            })
        );
        assert_eq!(
            InterfaceEvent::decode(&bytes(&record(9))),
            Err(DecodeError::UnknownKind(9))
        );
    }
}
