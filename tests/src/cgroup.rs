//! Scratch cgroups on the cgroup v2 hierarchy, wherever it is mounted (/sys/fs/cgroup on a
//! unified system, /sys/fs/cgroup/unified on a hybrid one): made with mkdir, removed on drop.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

/// The mount point of the cgroup2 file system in mountinfo text, if one is mounted.
pub fn v2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER-OPTIONS
        let (before, after) = line.split_once(" - ")?;
        if after.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mount_point = before.split(' ').nth(4)?;
        Some(PathBuf::from(unescape_octal(mount_point)))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                out.push(
                    digits
                        .iter()
                        .fold(0u8, |v, d| v.wrapping_mul(8) + (d - b'0')),
                );
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

/// This machine's cgroup v2 mount point (from /proc/self/mountinfo).
pub fn v2_mount() -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    v2_mount_in(&text).context("no cgroup2 file system is mounted (see /proc/self/mountinfo)")
}

/// A tree of scratch cgroups under `<v2 mount>/enetstat-test-<pid>`, removed (deepest first) on
/// drop once the processes moved into them are gone.
pub struct ScratchCgroups {
    root: PathBuf,
    made: Vec<PathBuf>,
}

impl ScratchCgroups {
    pub fn new() -> anyhow::Result<Self> {
        let root = v2_mount()?.join(format!("enetstat-test-{}", std::process::id()));
        std::fs::create_dir(&root).with_context(|| format!("mkdir {}", root.display()))?;
        Ok(ScratchCgroups {
            made: vec![root.clone()],
            root,
        })
    }

    /// Makes `relative` (and the cgroups above it) under the scratch root; returns its path.
    pub fn make(&mut self, relative: &str) -> anyhow::Result<PathBuf> {
        let mut path = self.root.clone();
        for component in relative.split('/').filter(|c| !c.is_empty()) {
            path.push(component);
            if !path.exists() {
                std::fs::create_dir(&path).with_context(|| format!("mkdir {}", path.display()))?;
                self.made.push(path.clone());
            }
        }
        Ok(path)
    }

    /// Moves process `pid` into the cgroup at `path`.
    pub fn enter(path: &Path, pid: u32) -> anyhow::Result<()> {
        std::fs::write(path.join("cgroup.procs"), format!("{pid}\n"))
            .with_context(|| format!("moving {pid} into {}", path.display()))
    }

    /// The path of `pid`'s cgroup v2 as its /proc/PID/cgroup shows it.
    pub fn path_of(pid: u32) -> anyhow::Result<String> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        match text.lines().find_map(|line| line.strip_prefix("0::")) {
            Some(path) => Ok(path.to_string()),
            None => bail!("no cgroup v2 line in /proc/{pid}/cgroup"),
        }
    }
}

impl Drop for ScratchCgroups {
    fn drop(&mut self) {
        // A cgroup whose last process has just been reaped may still be busy for a moment.
        for path in self.made.iter().rev() {
            for _ in 0..50 {
                if std::fs::remove_dir(path).is_ok() || !path.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unified_and_hybrid_mounts() {
        let hybrid = "25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
            26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev shared:7 - cgroup2 cgroup2 rw,nsdelegate\n\
            27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        assert_eq!(
            v2_mount_in(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
        assert_eq!(v2_mount_in(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        let v1 = "27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
        assert_eq!(v2_mount_in(v1), None);
        let spaced = "35 24 0:30 / /mnt/a\\040b rw - cgroup2 none rw\n";
        assert_eq!(v2_mount_in(spaced), Some(PathBuf::from("/mnt/a b")));
    }
}
