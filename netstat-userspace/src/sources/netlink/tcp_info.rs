//! INET_DIAG_INFO's value, struct tcp_info (include/uapi/linux/tcp.h), decoded field by field at
//! its documented offsets. The struct only grows: a kernel sends as many bytes as its own struct
//! has, so a field past the end of a shorter value is absent, never read from beyond it.

use crate::model::tcp_info::TcpInfo;

// Byte offsets in struct tcp_info, host byte order (netlink attributes are).
const UNACKED: usize = 24;
const LOST: usize = 32;
const RTT: usize = 68;
const RTTVAR: usize = 72;
const SND_CWND: usize = 80;
const TOTAL_RETRANS: usize = 100;
const BYTES_ACKED: usize = 120;
const BYTES_RECEIVED: usize = 128;
const DELIVERY_RATE: usize = 160;
const BUSY_TIME: usize = 168;
const RWND_LIMITED: usize = 176;
const SNDBUF_LIMITED: usize = 184;

fn field<const N: usize>(value: &[u8], offset: usize) -> Option<[u8; N]> {
    value.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

fn u32_at(value: &[u8], offset: usize) -> Option<u32> {
    field(value, offset).map(u32::from_ne_bytes)
}

fn u64_at(value: &[u8], offset: usize) -> Option<u64> {
    field(value, offset).map(u64::from_ne_bytes)
}

/// The fields `value` is long enough to hold; any bytes decode.
pub(crate) fn decode(value: &[u8]) -> TcpInfo {
    TcpInfo {
        rtt_us: u32_at(value, RTT),
        rttvar_us: u32_at(value, RTTVAR),
        cwnd: u32_at(value, SND_CWND),
        total_retrans: u32_at(value, TOTAL_RETRANS),
        lost: u32_at(value, LOST),
        unacked: u32_at(value, UNACKED),
        bytes_acked: u64_at(value, BYTES_ACKED),
        bytes_received: u64_at(value, BYTES_RECEIVED),
        delivery_rate: u64_at(value, DELIVERY_RATE),
        busy_time_us: u64_at(value, BUSY_TIME),
        rwnd_limited_us: u64_at(value, RWND_LIMITED),
        sndbuf_limited_us: u64_at(value, SNDBUF_LIMITED),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// struct tcp_info as Linux 6.x lays it out (232 bytes up to tcpi_snd_wnd), each shown
    /// field holding a distinct value, the others a filler that no assertion expects.
    pub(crate) fn fixture() -> Vec<u8> {
        let mut bytes = vec![0xee; 232];
        let mut put = |offset: usize, field: &[u8]| {
            bytes[offset..offset + field.len()].copy_from_slice(field);
        };
        put(UNACKED, &3u32.to_ne_bytes());
        put(LOST, &1u32.to_ne_bytes());
        put(RTT, &41u32.to_ne_bytes());
        put(RTTVAR, &20u32.to_ne_bytes());
        put(SND_CWND, &10u32.to_ne_bytes());
        put(TOTAL_RETRANS, &7u32.to_ne_bytes());
        put(BYTES_ACKED, &123_457u64.to_ne_bytes());
        put(BYTES_RECEIVED, &98_765u64.to_ne_bytes());
        put(DELIVERY_RATE, &1_234_567_890u64.to_ne_bytes());
        put(BUSY_TIME, &5_000u64.to_ne_bytes());
        put(RWND_LIMITED, &6u64.to_ne_bytes());
        put(SNDBUF_LIMITED, &8u64.to_ne_bytes());
        bytes
    }

    fn fixture_info() -> TcpInfo {
        TcpInfo {
            rtt_us: Some(41),
            rttvar_us: Some(20),
            cwnd: Some(10),
            total_retrans: Some(7),
            lost: Some(1),
            unacked: Some(3),
            bytes_acked: Some(123_457),
            bytes_received: Some(98_765),
            delivery_rate: Some(1_234_567_890),
            busy_time_us: Some(5_000),
            rwnd_limited_us: Some(6),
            sndbuf_limited_us: Some(8),
        }
    }

    #[test]
    fn decodes_the_documented_offsets() {
        assert_eq!(decode(&fixture()), fixture_info());
    }

    #[test]
    fn offsets_are_the_uapi_structs() {
        // The offsets above, checked against libc's copy of the struct.
        assert_eq!(std::mem::offset_of!(libc::tcp_info, tcpi_unacked), UNACKED);
        assert_eq!(std::mem::offset_of!(libc::tcp_info, tcpi_lost), LOST);
        assert_eq!(std::mem::offset_of!(libc::tcp_info, tcpi_rtt), RTT);
        assert_eq!(std::mem::offset_of!(libc::tcp_info, tcpi_rttvar), RTTVAR);
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_snd_cwnd),
            SND_CWND
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_total_retrans),
            TOTAL_RETRANS
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked),
            BYTES_ACKED
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received),
            BYTES_RECEIVED
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_delivery_rate),
            DELIVERY_RATE
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_busy_time),
            BUSY_TIME
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_rwnd_limited),
            RWND_LIMITED
        );
        assert_eq!(
            std::mem::offset_of!(libc::tcp_info, tcpi_sndbuf_limited),
            SNDBUF_LIMITED
        );
    }

    #[test]
    fn an_older_kernels_shorter_struct_lacks_the_later_fields() {
        let bytes = fixture();
        // Linux 4.1's struct ends after tcpi_bytes_received (136 bytes); 4.9's after
        // tcpi_delivery_rate (168); 4.10's has the limited times (192).
        let v4_1 = decode(&bytes[..136]);
        assert_eq!(v4_1.bytes_received, Some(98_765));
        assert_eq!(
            (
                v4_1.delivery_rate,
                v4_1.busy_time_us,
                v4_1.sndbuf_limited_us
            ),
            (None, None, None)
        );
        let v4_9 = decode(&bytes[..168]);
        assert_eq!(
            (v4_9.delivery_rate, v4_9.busy_time_us),
            (Some(1_234_567_890), None)
        );
        assert_eq!(decode(&bytes[..192]), fixture_info());
        // The first version's 104 bytes: no byte counters.
        let first = decode(&bytes[..104]);
        assert_eq!((first.cwnd, first.total_retrans), (Some(10), Some(7)));
        assert_eq!(first.bytes_acked, None);
    }

    #[test]
    fn any_truncation_is_decoded_without_reading_past_it() {
        let bytes = fixture();
        for len in 0..=bytes.len() {
            let info = decode(&bytes[..len]);
            // A field is present exactly when its last byte is within the value.
            assert_eq!(info.rtt_us.is_some(), len >= RTT + 4, "at {len}");
            assert_eq!(info.sndbuf_limited_us.is_some(), len >= SNDBUF_LIMITED + 8);
        }
        assert_eq!(decode(&[]), TcpInfo::default());
    }
}
