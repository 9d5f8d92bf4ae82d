//! Network namespaces: how a user names the ones a view covers, and how a found one is named on
//! output.

use serde::{Deserialize, Serialize};

/// The first inode the kernel hands out for namespaces (PROC_DYNAMIC_FIRST): a number at least
/// this is a namespace inode, a smaller one a PID (PID_MAX_LIMIT is 2^22).
pub(crate) const FIRST_NAMESPACE_INODE: u64 = 0xF000_0000;

/// Which network namespaces a view covers (`--netns SPEC`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NetnsSpec {
    /// Every namespace on the host.
    All,
    /// An `ip netns` name: a file under /run/netns.
    Named(String),
    /// A namespace file: /proc/PID/ns/net, /run/netns/X, any bind mount of one.
    Path(std::path::PathBuf),
    /// The namespace a process is in.
    Pid(u32),
    /// A namespace by inode, as `ls -iL /proc/PID/ns/net` shows it.
    Inode(u64),
}

impl NetnsSpec {
    /// Reads SPEC as `--netns` takes it. Only the form is checked here; whether the namespace
    /// exists is the sources' question.
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        if spec.is_empty() {
            return Err("an empty namespace: give all, a name, a path, a PID or an inode".into());
        }
        if spec == "all" {
            return Ok(NetnsSpec::All);
        }
        if spec.contains('/') {
            return Ok(NetnsSpec::Path(spec.into()));
        }
        if spec.bytes().all(|b| b.is_ascii_digit()) {
            let number: u64 = spec
                .parse()
                .map_err(|_| format!("{spec} is too large for a PID or a namespace inode"))?;
            return if number >= FIRST_NAMESPACE_INODE {
                u32::try_from(number)
                    .map(|_| NetnsSpec::Inode(number))
                    .map_err(|_| format!("{spec} is too large for a namespace inode"))
            } else {
                u32::try_from(number)
                    .map(NetnsSpec::Pid)
                    .map_err(|_| format!("{spec} is too large for a PID"))
            };
        }
        if spec == "." || spec == ".." {
            return Err(format!("{spec} is not a namespace name"));
        }
        Ok(NetnsSpec::Named(spec.into()))
    }
}

/// As typed: `--netns` takes its own output back.
impl std::fmt::Display for NetnsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsSpec::All => f.write_str("all"),
            NetnsSpec::Named(name) => f.write_str(name),
            NetnsSpec::Path(path) => write!(f, "{}", path.display()),
            NetnsSpec::Pid(pid) => write!(f, "{pid}"),
            NetnsSpec::Inode(inode) => write!(f, "{inode}"),
        }
    }
}

/// A network namespace found on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Namespace {
    /// Its inode (`ns.inum`): what the probes' records carry.
    pub(crate) inode: u64,
    /// Its `ip netns` name, when /run/netns has one for it.
    pub(crate) name: Option<String>,
    /// A file that refers to it, opened to enter it: /run/netns/NAME, a bind mount, or
    /// /proc/PID/ns/net.
    pub(crate) path: std::path::PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_are_told_apart_by_form() {
        assert_eq!(NetnsSpec::parse("all"), Ok(NetnsSpec::All));
        assert_eq!(
            NetnsSpec::parse("blue"),
            Ok(NetnsSpec::Named("blue".into()))
        );
        assert_eq!(
            NetnsSpec::parse("/proc/1/ns/net"),
            Ok(NetnsSpec::Path("/proc/1/ns/net".into()))
        );
        assert_eq!(NetnsSpec::parse("1234"), Ok(NetnsSpec::Pid(1234)));
        assert_eq!(
            NetnsSpec::parse("4026531840"),
            Ok(NetnsSpec::Inode(4026531840))
        );
        for bad in ["", ".", "..", "99999999999999999999", "4294967296"] {
            assert!(NetnsSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
