//! /proc/net/unix: one row per UNIX domain socket.

use crate::model::sockets::UnixSocketRow;

/// Parses /proc/net/unix. Returns the rows and the number of lines netstat would call bogus.
/// Lines are split on `\n` only: a path may contain any other byte.
pub(crate) fn parse(bytes: &[u8]) -> (Vec<UnixSocketRow>, usize) {
    let mut lines = bytes.split(|&b| b == b'\n');
    let has_inode = lines
        .next()
        .is_some_and(|header| header.windows(5).any(|w| w == b"Inode"));
    let mut rows = Vec::new();
    let mut bogus = 0;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        match parse_line(line, has_inode) {
            Some(row) => rows.push(row),
            None => bogus += 1,
        }
    }
    (rows, bogus)
}

fn parse_line(line: &[u8], has_inode: bool) -> Option<UnixSocketRow> {
    let mut rest = line;
    let mut next = || next_field(&mut rest);
    let hex = |f: Option<&[u8]>| -> Option<u64> {
        u64::from_str_radix(std::str::from_utf8(f?).ok()?, 16).ok()
    };
    let _address = next()?.strip_suffix(b":")?;
    let ref_count = hex(next())?;
    let protocol = hex(next())?;
    let flags = hex(next())?;
    let socket_type = u32::try_from(hex(next())?).ok()?;
    let state = u32::try_from(hex(next())?).ok()?;
    let inode = next().and_then(|f| std::str::from_utf8(f).ok()?.parse().ok());
    // The kernel writes one space, then the path's bytes up to the end of the line.
    let path = rest.strip_prefix(b" ").unwrap_or(rest).to_vec();
    Some(UnixSocketRow {
        ref_count,
        protocol,
        flags,
        socket_type,
        state,
        inode: if has_inode { inode } else { None },
        path,
    })
}

/// The next whitespace-separated field of `rest`, which is left just after it.
fn next_field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let field = &rest[start..];
    let len = field
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(field.len());
    *rest = &field[len..];
    Some(&field[..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sockets::SO_ACCEPTCON;

    const UNIX: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 23456 /run/dbus/system_bus_socket
0000000000000000: 00000003 00000000 00000000 0001 03 23457
0000000000000000: 00000002 00000000 00000000 0002 01 23458 @abstract@name
0000000000000000: 00000002 00000000 00000000 0005 01 23459 /tmp/with space
0000000000000000: 00000002 00000000 00000000 0001 01 23460 /tmp/ctl\x1b[2J
0000000000000000: 00000002 00000000 00000000 0002 01 23461  leading  and trailing 
";

    #[test]
    fn parses_rows_paths_and_flags() {
        let (rows, bogus) = parse(UNIX);
        assert_eq!(bogus, 0);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[0].flags & SO_ACCEPTCON, SO_ACCEPTCON);
        assert_eq!(rows[0].path, b"/run/dbus/system_bus_socket");
        assert_eq!((rows[1].state, rows[1].inode), (3, Some(23457)));
        assert!(rows[1].path.is_empty());
        assert!(rows[1].netstat_path().is_empty());
        assert_eq!(rows[2].path, b"@abstract@name");
        assert_eq!(rows[3].socket_type, 5);
        assert_eq!(rows[3].path, b"/tmp/with space");
        assert_eq!(
            rows[3].netstat_path(),
            b"/tmp/with",
            "netstat's %s stops at the space"
        );
        assert_eq!(rows[4].path, b"/tmp/ctl\x1b[2J");
        assert_eq!(rows[5].path, b" leading  and trailing ");
        assert_eq!(rows[5].netstat_path(), b"leading");
    }

    #[test]
    fn a_path_with_a_newline_leaves_a_bogus_line() {
        let text = b"Num RefCount Protocol Flags Type St Inode Path\n0000000000000000: 00000002 00000000 00000000 0001 01 1 /tmp/a\nb\n";
        let (rows, bogus) = parse(text);
        assert_eq!(rows.len(), 1);
        assert_eq!(bogus, 1);
    }
}
