//! Programs the tests need. A missing one fails the test that needs it, naming the Debian package
//! that `cargo xtask test` installs: a test never passes by skipping what it was meant to check.

use std::path::{Path, PathBuf};

/// The path of `command`, found on PATH or in the sbin directories root uses.
pub fn find(command: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Panics (fails the calling test) unless `command` is installed.
pub fn require(command: &str, package: &str) -> PathBuf {
    find(command).unwrap_or_else(|| {
        panic!(
            "this test needs `{command}` (Debian package {package}), which is not installed; \
             `cargo xtask test` installs it"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_is_installed_and_fails_on_what_is_not() {
        assert!(find("sh").is_some());
        assert!(find("enetstat-no-such-program").is_none());
        let missing = std::panic::catch_unwind(|| require("enetstat-no-such-program", "none"));
        assert!(missing.is_err());
    }
}
