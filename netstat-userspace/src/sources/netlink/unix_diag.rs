//! NETLINK_SOCK_DIAG dumps of UNIX sockets' names (unix_diag), for the whole path: /proc/net/unix
//! writes a path's bytes raw up to the end of its line, so a path with a newline is cut there.
//! Decoding is pure; `names` does the I/O.

use std::{collections::HashMap, io};

use super::{
    AsBytes, DumpAnswer, FromBytes, Message, attributes, bytes_of, messages, read, sock_diag_dump,
};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// udiag_show: the bound name.
const UDIAG_SHOW_NAME: u32 = 1;
/// The attribute carrying it: sun_path's bytes, from a NUL for an abstract name.
const UNIX_DIAG_NAME: u16 = 0;

/// struct unix_diag_req of <linux/unix_diag.h>.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct UnixDiagReq {
    family: u8,
    protocol: u8,
    pad: u16,
    states: u32,
    inode: u32,
    show: u32,
    cookie: [u32; 2],
}

/// struct unix_diag_msg: one socket of the answer, attributes follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct UnixDiagMsg {
    family: u8,
    socket_type: u8,
    state: u8,
    pad: u8,
    inode: u32,
    cookie: [u32; 2],
}

const _: () = {
    assert!(size_of::<UnixDiagReq>() == 24);
    assert!(size_of::<UnixDiagMsg>() == 16);
    assert!(std::mem::offset_of!(UnixDiagMsg, inode) == 4);
};

// SAFETY: #[repr(C)] structs of integers whose sizes, asserted above, leave no padding.
unsafe impl AsBytes for UnixDiagReq {}
// SAFETY: as above.
unsafe impl FromBytes for UnixDiagMsg {}
// SAFETY: as above.
unsafe impl AsBytes for UnixDiagMsg {}

/// Bound names by socket inode, as /proc/net/unix spells them (an abstract name's NULs as `@`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) names: HashMap<u64, Vec<u8>>,
    pub(crate) done: bool,
    pub(crate) error: Option<i32>,
}

pub(crate) fn decode(buf: &[u8], into: &mut Decoded) {
    for message in messages(buf) {
        match message {
            Message::Done => into.done = true,
            Message::Error(errno) => {
                into.error = Some(errno);
                into.done = true;
            }
            Message::Truncated => {
                into.error = Some(libc::EBADMSG);
                into.done = true;
            }
            Message::Payload {
                kind: SOCK_DIAG_BY_FAMILY,
                payload,
            } => {
                let Some(msg) = read::<UnixDiagMsg>(payload) else {
                    continue;
                };
                let rest = &payload[size_of::<UnixDiagMsg>()..];
                for (kind, value) in attributes(rest) {
                    if kind == UNIX_DIAG_NAME && !value.is_empty() {
                        let mut name = value.to_vec();
                        if name[0] != 0 {
                            // A path: the bound length may count its terminating NUL.
                            name.truncate(name.iter().position(|&b| b == 0).unwrap_or(name.len()));
                        } else {
                            // As /proc/net/unix spells an abstract name: every NUL as '@'.
                            for b in name.iter_mut().filter(|b| **b == 0) {
                                *b = b'@';
                            }
                        }
                        into.names.insert(u64::from(msg.inode), name);
                    }
                }
            }
            Message::Payload { .. } => {}
        }
    }
}

/// The bound names of every UNIX socket of this network namespace, by inode.
pub(crate) fn names() -> io::Result<HashMap<u64, Vec<u8>>> {
    let request = UnixDiagReq {
        family: libc::AF_UNIX as u8,
        states: u32::MAX,
        show: UDIAG_SHOW_NAME,
        ..UnixDiagReq::default()
    };
    let message = super::request(
        SOCK_DIAG_BY_FAMILY,
        libc::NLM_F_DUMP as u16,
        bytes_of(&request),
    );
    Ok(sock_diag_dump::<Decoded>(&message)?.names)
}

impl DumpAnswer for Decoded {
    fn decode(&mut self, datagram: &[u8]) {
        decode(datagram, self);
    }

    fn done(&self) -> bool {
        self.done
    }

    fn error(&self) -> Option<i32> {
        self.error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::netlink::test_support::{attribute, message};

    #[test]
    fn names_keep_every_byte_and_abstract_names_start_with_at() {
        let msg = |inode: u32| UnixDiagMsg {
            family: libc::AF_UNIX as u8,
            inode,
            ..UnixDiagMsg::default()
        };
        let mut buf = Vec::new();
        for (inode, name) in [
            (7, &b"/tmp/a\x1b[31mRED\nb.sock\0"[..]),
            (8, b"\0abs\0tract"),
        ] {
            let mut payload = bytes_of(&msg(inode)).to_vec();
            payload.extend(attribute(UNIX_DIAG_NAME, name));
            buf.extend(message(SOCK_DIAG_BY_FAMILY, &payload));
        }
        // Unnamed: no attribute.
        buf.extend(message(SOCK_DIAG_BY_FAMILY, bytes_of(&msg(9))));
        let mut decoded = Decoded::default();
        decode(&buf, &mut decoded);
        assert_eq!(decoded.names.len(), 2);
        assert_eq!(decoded.names[&7], b"/tmp/a\x1b[31mRED\nb.sock");
        assert_eq!(decoded.names[&8], b"@abs@tract");
    }

    #[test]
    fn dumps_a_listener_of_this_process() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = std::env::temp_dir().join(format!("enetstat-unix-diag-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("with\nnewline.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let inode = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        let names = names().unwrap();
        assert_eq!(
            names.get(&inode).map(Vec::as_slice),
            Some(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        );
        drop(listener);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
