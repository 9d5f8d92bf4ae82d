//! Interface configuration through the ioctls net-tools' if_fetch makes (SIOCGIFCONF, then
//! SIOCGIFFLAGS, HWADDR, MTU, MAP, TXQLEN and the IPv4 addresses), for `netstat -i`'s bytes:
//! rtnetlink would give most of it, but not always in the same words (aliases, `[NONE SET]`).

use std::{
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use crate::model::interfaces::{DeviceMap, Interface, Ipv4Config};

/// A datagram socket the SIOCGIF* ioctls are asked through.
pub(crate) struct InterfaceConfig(OwnedFd);

impl InterfaceConfig {
    /// A socket to ask with.
    pub(crate) fn open() -> io::Result<Self> {
        // SAFETY: a plain socket(2) call with constant arguments; no memory is passed.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nothing else owns.
        Ok(InterfaceConfig(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The names SIOCGIFCONF lists (interfaces and aliases with an IPv4 address).
    pub(crate) fn configured_names(&self) -> io::Result<Vec<Vec<u8>>> {
        configured_names(&self.0)
    }

    /// One interface's configuration, as net-tools' if_fetch reads it.
    pub(crate) fn fetch(&self, name: &[u8]) -> io::Result<Interface> {
        fetch(&self.0, name)
    }
}

fn configured_names(socket: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut count = 30;
    loop {
        // SAFETY: ifreq is plain data; all zeroes is a valid value.
        let mut reqs: Vec<libc::ifreq> = vec![unsafe { std::mem::zeroed() }; count];
        let len = std::mem::size_of_val(reqs.as_slice());
        let mut conf = libc::ifconf {
            ifc_len: len as libc::c_int,
            ifc_ifcu: libc::__c_anonymous_ifc_ifcu {
                ifcu_req: reqs.as_mut_ptr(),
            },
        };
        // SAFETY: conf points at `count` writable ifreqs and says so.
        if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFCONF, &mut conf) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // A full buffer may have overflowed: retry with a larger one, as net-tools does.
        if conf.ifc_len as usize == len {
            count *= 2;
            continue;
        }
        let filled = (conf.ifc_len.max(0) as usize) / std::mem::size_of::<libc::ifreq>();
        return Ok(reqs[..filled.min(count)]
            .iter()
            .map(|req| c_name(&req.ifr_name))
            .collect());
    }
}

fn c_name(name: &[libc::c_char]) -> Vec<u8> {
    name.iter()
        .map(|c| *c as u8)
        .take_while(|b| *b != 0)
        .collect()
}

/// An ifreq naming `name`, cut to IFNAMSIZ - 1 bytes as safe_strncpy cuts it.
fn request(name: &[u8]) -> libc::ifreq {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req.ifr_name.iter_mut().zip(&name[..name.len().min(15)]) {
        *slot = *byte as libc::c_char;
    }
    req
}

/// Runs one SIOCGIF* ioctl on `name`.
fn ioctl(socket: &OwnedFd, op: libc::c_ulong, name: &[u8]) -> io::Result<libc::ifreq> {
    let mut req = request(name);
    // SAFETY: req is a whole ifreq the kernel may fill.
    if unsafe { libc::ioctl(socket.as_raw_fd(), op, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(req)
}

/// An IPv4 address out of an ifreq's sockaddr.
fn ipv4_of(req: &libc::ifreq) -> Ipv4Addr {
    // SAFETY: the address ioctls fill ifru_addr (and its aliases) with a sockaddr_in.
    let addr = unsafe { req.ifr_ifru.ifru_addr };
    let data = addr.sa_data;
    Ipv4Addr::new(data[2] as u8, data[3] as u8, data[4] as u8, data[5] as u8)
}

/// net-tools' if_fetch. Only the flags are required; the rest falls back as it does there.
fn fetch(socket: &OwnedFd, name: &[u8]) -> io::Result<Interface> {
    let flags_req = ioctl(socket, libc::SIOCGIFFLAGS, name)?;
    // SAFETY: SIOCGIFFLAGS fills ifru_flags.
    let flags = unsafe { flags_req.ifr_ifru.ifru_flags } as u16;
    let (hw_type, hw_address) = match ioctl(socket, libc::SIOCGIFHWADDR, name) {
        Ok(req) => {
            // SAFETY: SIOCGIFHWADDR fills ifru_hwaddr.
            let addr = unsafe { req.ifr_ifru.ifru_hwaddr };
            let mut bytes = [0_u8; 8];
            for (byte, c) in bytes.iter_mut().zip(addr.sa_data) {
                *byte = c as u8;
            }
            (addr.sa_family, bytes)
        }
        // net-tools then reads the type from the flags still in its ifreq.
        Err(_) => (flags, [0; 8]),
    };
    let mtu = ioctl(socket, libc::SIOCGIFMTU, name).map_or(0, |req| {
        // SAFETY: SIOCGIFMTU fills ifru_mtu.
        unsafe { req.ifr_ifru.ifru_mtu }
    });
    let map = ioctl(socket, libc::SIOCGIFMAP, name).map_or(DeviceMap::default(), |req| {
        // SAFETY: SIOCGIFMAP fills ifru_map.
        let map = unsafe { req.ifr_ifru.ifru_map };
        // c_ulong is 32 bits wide on some targets.
        #[allow(clippy::unnecessary_cast)]
        DeviceMap {
            mem_start: map.mem_start as u64,
            mem_end: map.mem_end as u64,
            base_addr: map.base_addr,
            irq: map.irq,
            dma: map.dma,
        }
    });
    let tx_queue_len = ioctl(socket, libc::SIOCGIFTXQLEN, name).ok().map(|req| {
        // SAFETY: SIOCGIFTXQLEN fills ifru_ivalue, which ifru_mtu aliases (both c_int).
        unsafe { req.ifr_ifru.ifru_mtu }
    });
    let ipv4 = ioctl(socket, libc::SIOCGIFADDR, name).ok().map(|req| {
        let other = |op| ioctl(socket, op, name).ok().map(|req| ipv4_of(&req));
        Ipv4Config {
            address: ipv4_of(&req),
            destination: other(libc::SIOCGIFDSTADDR),
            broadcast: other(libc::SIOCGIFBRDADDR),
            netmask: other(libc::SIOCGIFNETMASK),
        }
    });
    Ok(Interface {
        name: name.to_vec(),
        flags,
        mtu,
        stats: None,
        hw_type,
        hw_address,
        tx_queue_len,
        map,
        ipv4,
    })
}
