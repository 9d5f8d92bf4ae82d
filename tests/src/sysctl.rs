//! kernel.kptr_restrict, which the daemon must leave alone on the BTF tracepoint and may change
//! only for the length of a /proc read on the classic one.

pub const KPTR_RESTRICT: &str = "/proc/sys/kernel/kptr_restrict";

pub fn kptr_restrict() -> String {
    std::fs::read_to_string(KPTR_RESTRICT)
        .unwrap()
        .trim()
        .to_string()
}

/// Sets kptr_restrict for the test and puts the machine's value back however the test ends.
pub struct KptrRestrict {
    original: String,
}

impl KptrRestrict {
    pub fn set(value: &str) -> Self {
        let original = kptr_restrict();
        std::fs::write(KPTR_RESTRICT, value).unwrap();
        KptrRestrict { original }
    }
}

impl Drop for KptrRestrict {
    fn drop(&mut self) {
        let _ = std::fs::write(KPTR_RESTRICT, &self.original);
    }
}
