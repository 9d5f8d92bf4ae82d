//! /proc/net/{tcp,tcp6,udp,udp6,udplite,udplite6,raw,raw6}: one row per socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::sockets::InetSocketRow;

/// A line netstat would call "bogus": too few fields, or fields that are not numbers.
#[derive(Debug, PartialEq, Eq)]
pub struct BogusLine;

/// The columns after the inode that netstat ignores and a daemon needs to match rows to events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelColumns {
    /// 0 for a request socket (NEW_SYN_RECV).
    pub refcount: u64,
    /// The `%pK` socket address: the raw kernel address only when kptr_restrict is 1 and the
    /// reader has CAP_SYSLOG; hashed or zero otherwise.
    pub address: u64,
}

/// Parses one data line (not the header). Addresses are the kernel's hex dump of the address
/// in network order read as host-order 32-bit words, as net-tools decodes them.
pub fn parse_line(line: &str) -> Result<InetSocketRow, BogusLine> {
    parse_line_with_kernel_columns(line).map(|(row, _)| row)
}

/// [`parse_line`], plus the kernel columns (zero when the line lacks them).
pub fn parse_line_with_kernel_columns(
    line: &str,
) -> Result<(InetSocketRow, KernelColumns), BogusLine> {
    let mut fields = line.split_ascii_whitespace();
    let mut next = || fields.next().ok_or(BogusLine);
    let slot = next()?;
    if !slot.ends_with(':') {
        return Err(BogusLine);
    }
    let (local, local_port) = endpoint(next()?)?;
    let (remote, remote_port) = endpoint(next()?)?;
    let state = u8::from_str_radix(next()?, 16).map_err(|_| BogusLine)?;
    let (tx_queue, rx_queue) = hex_pair(next()?)?;
    let (timer, timer_ticks) = hex_pair(next()?)?;
    let retransmits = u64::from_str_radix(next()?, 16).map_err(|_| BogusLine)?;
    let uid = next()?.parse().map_err(|_| BogusLine)?;
    let timeout = next()?.parse().map_err(|_| BogusLine)?;
    let inode = next()?.parse().map_err(|_| BogusLine)?;
    let kernel = KernelColumns {
        refcount: fields.next().and_then(|f| f.parse().ok()).unwrap_or(0),
        address: fields
            .next()
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .unwrap_or(0),
    };
    let row = InetSocketRow {
        local,
        local_port,
        remote,
        remote_port,
        state,
        tx_queue,
        rx_queue,
        timer: u8::try_from(timer).map_err(|_| BogusLine)?,
        timer_ticks,
        retransmits,
        uid,
        timeout,
        inode,
    };
    Ok((row, kernel))
}

/// Every row of a file; the header line is skipped and bogus lines are counted, not fatal.
pub fn parse(text: &str) -> (Vec<InetSocketRow>, usize) {
    let mut rows = Vec::new();
    let mut bogus = 0;
    for line in text.lines().skip(1) {
        match parse_line(line) {
            Ok(row) => rows.push(row),
            Err(BogusLine) if line.trim().is_empty() => {}
            Err(BogusLine) => bogus += 1,
        }
    }
    (rows, bogus)
}

fn hex_pair(field: &str) -> Result<(u64, u64), BogusLine> {
    let (a, b) = field.split_once(':').ok_or(BogusLine)?;
    let parse = |s| u64::from_str_radix(s, 16).map_err(|_| BogusLine);
    Ok((parse(a)?, parse(b)?))
}

fn endpoint(field: &str) -> Result<(IpAddr, u16), BogusLine> {
    let (addr, port) = field.split_once(':').ok_or(BogusLine)?;
    let port = u16::from_str_radix(port, 16).map_err(|_| BogusLine)?;
    let word = |i: usize| -> Result<[u8; 4], BogusLine> {
        let hex = addr.get(i * 8..i * 8 + 8).ok_or(BogusLine)?;
        Ok(u32::from_str_radix(hex, 16)
            .map_err(|_| BogusLine)?
            .to_le_bytes())
    };
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return Err(BogusLine),
    };
    Ok((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 21746 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:A3D2 01 00000010:00000000 02:0000126F 00000000  1000        0 83817 2 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn parses_ipv4_rows() {
        let (rows, bogus) = parse(TCP);
        assert_eq!(bogus, 0);
        assert_eq!(rows.len(), 2);
        let listen = &rows[0];
        assert_eq!(listen.local, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(listen.local_port, 8080);
        assert_eq!(listen.remote, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(
            (listen.state, listen.rx_queue, listen.tx_queue),
            (0x0a, 2, 0)
        );
        assert_eq!(listen.inode, 21746);
        let established = &rows[1];
        assert_eq!(established.remote_port, 0xa3d2);
        assert_eq!((established.timer, established.timer_ticks), (2, 0x126f));
        assert_eq!((established.uid, established.tx_queue), (1000, 16));
    }

    #[test]
    fn parses_ipv6_and_mapped_rows() {
        let line = "   0: 0000000000000000FFFF00000100007F:0016 00000000000000000000000001000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3233 1 0000000000000000 100 0 0 10 0";
        let row = parse_line(line).unwrap();
        assert_eq!(row.local, "::ffff:127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(row.remote, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(row.local_port, 22);
    }

    #[test]
    fn kernel_columns() {
        let line = TCP.lines().nth(2).unwrap();
        let (_, kernel) = parse_line_with_kernel_columns(line).unwrap();
        assert_eq!(
            kernel,
            KernelColumns {
                refcount: 2,
                address: 0
            }
        );
        let raw = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21746 1 ffff8881053c8000 100 0 0 10 0";
        let (_, kernel) = parse_line_with_kernel_columns(raw).unwrap();
        assert_eq!(kernel.address, 0xffff_8881_053c_8000);
    }

    #[test]
    fn reads_the_rows_other_layers_test_with() {
        use crate::model::sockets::test_rows;
        let lines = [
            (
                "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 21746 1 0000000000000000 100 0 0 10 0",
                test_rows::listen(),
            ),
            (
                "   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A3D2 01 00000010:00000000 02:0000126F 00000003  1000        0 83817 2 0000000000000000 20 4 30 10 -1",
                test_rows::established6(),
            ),
            (
                "   2: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3233 2 0000000000000000 0",
                test_rows::mapped_udp(),
            ),
        ];
        for (line, row) in lines {
            assert_eq!(parse_line(line), Ok(row), "{line}");
        }
    }

    #[test]
    fn bogus_lines_are_counted() {
        let (rows, bogus) = parse("header\n   0: zz:1 00:0\n\n");
        assert!(rows.is_empty());
        assert_eq!(bogus, 1);
        assert_eq!(parse_line("0: 0100007F:1F90"), Err(BogusLine));
    }
}
