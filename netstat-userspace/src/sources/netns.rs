//! Network namespaces as a source: finding every one on the host, resolving `--netns`, and
//! running a read inside one.
//!
//! Namespaces are found three ways and deduplicated by inode: /run/netns (`ip netns` names), every
//! nsfs bind mount in /proc/self/mountinfo (container runtimes pin namespaces there, and a pinned
//! one may hold no process), and /proc/PID/ns/net of every process.
//!
//! A read runs in a thread of its own that `setns`es into the namespace: netlink sockets opened
//! there, and /proc/thread-self/net, are that namespace's. The caller's own namespace is read on
//! the caller's thread.

use std::{
    collections::BTreeMap,
    fs,
    os::{fd::AsRawFd, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, anyhow, bail};

use crate::model::netns::{Namespace, NetnsSpec};

/// Where `ip netns` keeps its names.
const NAMED_DIR: &str = "/run/netns";
/// nsfs's statfs magic.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The inode of the calling thread's network namespace.
pub(crate) fn own_inode() -> anyhow::Result<u64> {
    fs::metadata("/proc/thread-self/ns/net")
        .map(|meta| meta.ino())
        .context("reading /proc/thread-self/ns/net")
}

/// The namespaces a spec names, each once, by inode.
pub(crate) fn resolve(spec: &NetnsSpec) -> anyhow::Result<Vec<Namespace>> {
    let one = |path: PathBuf, what: &str| -> anyhow::Result<Vec<Namespace>> {
        let inode =
            namespace_inode(&path).with_context(|| format!("{what}: {}", path.display()))?;
        Ok(vec![Namespace {
            inode,
            name: names().remove(&inode),
            path,
        }])
    };
    match spec {
        NetnsSpec::All => Ok(discover()),
        NetnsSpec::Named(name) => one(Path::new(NAMED_DIR).join(name), "no such network namespace"),
        NetnsSpec::Path(path) => one(path.clone(), "not a network namespace"),
        NetnsSpec::Pid(pid) => one(
            PathBuf::from(format!("/proc/{pid}/ns/net")),
            "no such process",
        ),
        NetnsSpec::Inode(inode) => discover()
            .into_iter()
            .find(|ns| ns.inode == *inode)
            .map(|ns| vec![ns])
            .ok_or_else(|| anyhow!("no network namespace has inode {inode}")),
    }
}

/// Every network namespace on the host, by inode.
pub(crate) fn discover() -> Vec<Namespace> {
    let mut found: BTreeMap<u64, Namespace> = BTreeMap::new();
    let mut add = |inode: u64, path: PathBuf| {
        found.entry(inode).or_insert(Namespace {
            inode,
            name: None,
            path,
        });
    };
    // Pinned namespaces first: their files stay while the namespace does, unlike a process's.
    if let Ok(text) = fs::read_to_string("/proc/self/mountinfo") {
        for (inode, path) in nsfs_net_mounts(&text) {
            add(inode, path);
        }
    }
    if let Ok(entries) = fs::read_dir("/proc") {
        let mut pids: Vec<u32> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
            let Ok(link) = fs::read_link(&path) else {
                continue;
            };
            if let Some(inode) = link.to_str().and_then(net_link_inode) {
                add(inode, path);
            }
        }
    }
    for (inode, name) in names() {
        if let Some(ns) = found.get_mut(&inode) {
            ns.path = Path::new(NAMED_DIR).join(&name);
            ns.name = Some(name);
        }
    }
    found.into_values().collect()
}

/// `ip netns` names by namespace inode (the first name, in order, when one has several).
fn names() -> BTreeMap<u64, String> {
    let mut names = BTreeMap::new();
    let Ok(entries) = fs::read_dir(NAMED_DIR) else {
        return names;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if let Ok(inode) = namespace_inode(&entry.path()) {
            names.entry(inode).or_insert(name);
        }
    }
    names
}

/// The inode of the network namespace `path` refers to; an error when it refers to none (a
/// file under /run/netns left after its namespace was unmounted, or another namespace type).
fn namespace_inode(path: &Path) -> anyhow::Result<u64> {
    let file = fs::File::open(path).map_err(|err| anyhow!("{err}"))?;
    // SAFETY: statfs is plain data, filled by fstatfs on a valid fd.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a valid out-pointer.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut stat) } != 0 || stat.f_type != NSFS_MAGIC {
        bail!("not a namespace file");
    }
    // NS_GET_NSTYPE (_IO(0xb7, 0x3)): the namespace's CLONE_NEW* type.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without arguments on a valid nsfs fd.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE) };
    if kind != libc::CLONE_NEWNET {
        bail!("a namespace, but not a network namespace");
    }
    Ok(file.metadata()?.ino())
}

/// Whether `ns` is still there, at the file it was found through.
pub(crate) fn exists(ns: &Namespace) -> bool {
    namespace_inode(&ns.path).is_ok_and(|inode| inode == ns.inode)
}

/// Runs `read` inside `ns`: on this thread when it is this thread's namespace, else on a thread
/// that enters it first (setns needs CAP_SYS_ADMIN).
pub(crate) fn in_namespace<T: Send>(
    ns: &Namespace,
    read: impl FnOnce() -> T + Send,
) -> anyhow::Result<T> {
    if own_inode().is_ok_and(|own| own == ns.inode) {
        return Ok(read());
    }
    let file = fs::File::open(&ns.path)
        .with_context(|| format!("opening network namespace {}", ns.path.display()))?;
    // The file may now refer to another namespace (a PID reused, a name re-pointed).
    if file.metadata()?.ino() != ns.inode {
        bail!("network namespace {} is gone", ns.inode);
    }
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: setns on a valid nsfs fd changes only this thread's namespace, and the
                // thread ends with the read.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let err = std::io::Error::last_os_error();
                    return Err(anyhow!("entering network namespace {}: {err}", ns.inode));
                }
                Ok(read())
            })
            .join()
            .map_err(|_| anyhow!("reading network namespace {} failed", ns.inode))?
    })
}

/// The inode in a /proc/PID/ns/net link's text, `net:[4026531840]`.
fn net_link_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

/// nsfs mounts of network namespaces in mountinfo text: (inode, mount point). Such a line's
/// root field is `net:[INODE]` and its filesystem type `nsfs`.
fn nsfs_net_mounts(mountinfo: &str) -> Vec<(u64, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let root = fields.nth(3)?;
            let mount_point = fields.next()?;
            let (_, after) = line.split_once(" - ")?;
            (after.split(' ').next()? == "nsfs").then_some(())?;
            Some((
                net_link_inode(root)?,
                PathBuf::from(unescape_octal(mount_point)),
            ))
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                let value = digits.iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_links_name_their_inode() {
        assert_eq!(net_link_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(net_link_inode("mnt:[4026531840]"), None);
        assert_eq!(net_link_inode("net:[x]"), None);
    }

    #[test]
    fn pinned_network_namespaces_are_read_from_mountinfo() {
        let text = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
611 29 0:4 net:[4026532281] /run/netns/blue rw shared:310 - nsfs nsfs rw
612 29 0:4 net:[4026532281] /run/netns/blue rw shared:310 - nsfs nsfs rw
700 29 0:4 mnt:[4026532300] /run/mnt rw - nsfs nsfs rw
701 29 0:4 net:[4026532400] /run/docker/netns/a\\040b rw - nsfs nsfs rw
702 29 0:4 net:[4026532500] /tmp/fake rw - tmpfs tmpfs rw
";
        assert_eq!(
            nsfs_net_mounts(text),
            vec![
                (4026532281, PathBuf::from("/run/netns/blue")),
                (4026532281, PathBuf::from("/run/netns/blue")),
                (4026532400, PathBuf::from("/run/docker/netns/a b")),
            ]
        );
    }

    #[test]
    fn this_namespace_is_found_and_read_in_place() {
        let own = own_inode().unwrap();
        let all = discover();
        let mine = all
            .iter()
            .find(|ns| ns.inode == own)
            .expect("own namespace");
        let thread = std::thread::current().id();
        let read_on = in_namespace(mine, || std::thread::current().id()).unwrap();
        assert_eq!(read_on, thread);
    }
}
