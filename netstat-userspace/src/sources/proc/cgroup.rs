//! A process's cgroup v2 path, from /proc/PID/cgroup.

/// The cgroup v2 path in /proc/PID/cgroup text: the `0::PATH` line, which unified and hybrid
/// hierarchies both write (v1 hierarchies have their own lines with a non-zero id). `None` on a
/// v1-only system.
pub(crate) fn v2_path(text: &[u8]) -> Option<&[u8]> {
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"0::"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_line() {
        assert_eq!(
            v2_path(b"0::/system.slice/ssh.service\n"),
            Some(&b"/system.slice/ssh.service"[..])
        );
        let hybrid = b"12:pids:/user.slice/user-0.slice/session-1.scope\n\
            11:cpu,cpuacct:/user.slice\n\
            1:name=systemd:/user.slice/user-0.slice/session-1.scope\n\
            0::/user.slice/user-0.slice/session-1.scope\n";
        assert_eq!(
            v2_path(hybrid),
            Some(&b"/user.slice/user-0.slice/session-1.scope"[..])
        );
        assert_eq!(v2_path(b"0::/\n"), Some(&b"/"[..]));
        assert_eq!(v2_path(b"1:name=systemd:/init.scope\n"), None);
        assert_eq!(v2_path(b""), None);
        // Not a line that merely contains 0:: further on.
        assert_eq!(v2_path(b"10::/x\n"), None);
    }
}
