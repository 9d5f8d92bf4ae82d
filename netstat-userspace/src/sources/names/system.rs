//! The system's resolvers, each answer cached for the run, host lookups bounded in time.

use std::{
    cell::{Cell, OnceCell, RefCell},
    collections::HashMap,
    ffi::CStr,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use super::services::ServiceTable;
use crate::model::names::Names;

/// All host lookups of one run share this budget: a dead resolver costs at most this long, after
/// which addresses are shown as numbers (and a note on stderr suggests -n).
const HOST_LOOKUP_BUDGET: Duration = Duration::from_secs(2);

type HostQuery = (IpAddr, mpsc::Sender<Option<String>>);

pub(crate) struct SystemNames {
    hosts: RefCell<HashMap<IpAddr, Option<String>>>,
    networks: RefCell<HashMap<Ipv4Addr, Option<String>>>,
    users: RefCell<HashMap<u32, Option<String>>>,
    services: OnceCell<ServiceTable>,
    /// A worker thread does the blocking lookups so that a slow one can be abandoned.
    host_worker: OnceCell<mpsc::Sender<HostQuery>>,
    host_time_left: Cell<Duration>,
}

impl SystemNames {
    pub(crate) fn new() -> Self {
        SystemNames {
            hosts: RefCell::default(),
            networks: RefCell::default(),
            users: RefCell::default(),
            services: OnceCell::new(),
            host_worker: OnceCell::new(),
            host_time_left: Cell::new(HOST_LOOKUP_BUDGET),
        }
    }

    fn lookup_host(&self, addr: IpAddr) -> Option<String> {
        let left = self.host_time_left.get();
        if left.is_zero() {
            return None;
        }
        let worker = self.host_worker.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<HostQuery>();
            thread::spawn(move || {
                for (addr, reply) in rx {
                    let _ = reply.send(name_of(addr));
                }
            });
            tx
        });
        let (reply_tx, reply_rx) = mpsc::channel();
        worker.send((addr, reply_tx)).ok()?;
        let started = Instant::now();
        match reply_rx.recv_timeout(left) {
            Ok(name) => {
                self.host_time_left
                    .set(left.saturating_sub(started.elapsed()));
                name
            }
            Err(_) => {
                self.host_time_left.set(Duration::ZERO);
                eprintln!(
                    "enetstat: host name lookups are slow; showing addresses as numbers (use -n to skip them)"
                );
                None
            }
        }
    }
}

impl Default for SystemNames {
    fn default() -> Self {
        Self::new()
    }
}

impl Names for SystemNames {
    fn host(&self, addr: IpAddr) -> Option<String> {
        if let Some(known) = self.hosts.borrow().get(&addr) {
            return known.clone();
        }
        let name = self.lookup_host(addr);
        self.hosts.borrow_mut().insert(addr, name.clone());
        name
    }

    fn network(&self, net: Ipv4Addr) -> Option<String> {
        self.networks
            .borrow_mut()
            .entry(net)
            .or_insert_with(|| network_name(net))
            .clone()
    }

    fn service(&self, port: u16, proto: &str) -> Option<String> {
        let table = self.services.get_or_init(|| {
            let read = |path| std::fs::read_to_string(path).unwrap_or_default();
            ServiceTable::parse(&read("/etc/services"), &read("/etc/protocols"))
        });
        table.get(port, proto).map(str::to_string)
    }

    fn user(&self, uid: u32) -> Option<String> {
        self.users
            .borrow_mut()
            .entry(uid)
            .or_insert_with(|| user_name(uid))
            .clone()
    }
}

/// getnameinfo with NI_NAMEREQD: the name, or None when the resolver has none.
fn name_of(addr: IpAddr) -> Option<String> {
    let sockaddr = raw_sockaddr(SocketAddr::new(addr, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: a valid sockaddr of the stated length and a host buffer of the stated size.
    let rc = unsafe {
        libc::getnameinfo(
            sockaddr.0.as_ptr().cast(),
            sockaddr.1,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated name.
    Some(
        unsafe { CStr::from_ptr(host.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// A sockaddr_in / sockaddr_in6 in a byte buffer, with its length.
fn raw_sockaddr(addr: SocketAddr) -> ([u8; 28], libc::socklen_t) {
    let mut buf = [0u8; 28];
    match addr {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in is 16 bytes of plain data.
            let bytes: [u8; 16] = unsafe { std::mem::transmute(sin) };
            buf[..16].copy_from_slice(&bytes);
            (buf, 16)
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 is 28 bytes of plain data.
            buf = unsafe { std::mem::transmute::<libc::sockaddr_in6, [u8; 28]>(sin6) };
            (buf, 28)
        }
    }
}

#[repr(C)]
struct NetEnt {
    n_name: *mut libc::c_char,
    n_aliases: *mut *mut libc::c_char,
    n_addrtype: libc::c_int,
    n_net: u32,
}

unsafe extern "C" {
    // glibc; not bound by the libc crate.
    fn getnetbyaddr(net: u32, net_type: libc::c_int) -> *mut NetEnt;
}

/// getnetbyaddr (/etc/networks through nsswitch), as net-tools calls it.
fn network_name(net: Ipv4Addr) -> Option<String> {
    // SAFETY: getnetbyaddr returns a pointer to static storage or NULL; we only read it, on
    // this thread, before the next call.
    let entry = unsafe { getnetbyaddr(u32::from(net), libc::AF_INET) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-NULL entries carry a NUL-terminated name.
    let name = unsafe { CStr::from_ptr((*entry).n_name) };
    Some(name.to_string_lossy().into_owned())
}

/// getpwuid_r: the passwd database's name for a uid.
fn user_name(uid: u32) -> Option<String> {
    // SAFETY: passwd is plain data (integers and null pointers); all zeroes is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: valid out-pointers and a buffer of the stated size.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points into buf, NUL-terminated.
    Some(
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_0() {
        assert_eq!(SystemNames::new().user(0).as_deref(), Some("root"));
    }

    #[test]
    fn loopback_has_a_name_in_etc_hosts() {
        // Every Debian /etc/hosts names 127.0.0.1; no network is involved.
        assert!(
            SystemNames::new()
                .host("127.0.0.1".parse().unwrap())
                .is_some()
        );
    }
}
