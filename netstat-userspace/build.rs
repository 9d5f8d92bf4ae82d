//! Compiles the kernel programs in `netstat-ebpf` for bpfel-unknown-none (nightly + bpf-linker,
//! both installed by `cargo xtask setup`) and leaves the object in OUT_DIR for `include_bytes!`.

#![allow(
    unused_crate_dependencies,
    reason = "netstat-ebpf is listed only so that cargo rebuilds the probes when it changes"
)]
use anyhow::{Context as _, anyhow};

fn main() -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let ebpf = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "netstat-ebpf")
        .ok_or_else(|| anyhow!("netstat-ebpf package not found in the workspace"))?;
    let root_dir = ebpf
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", ebpf.manifest_path))?;
    let package = aya_build::Package {
        name: ebpf.name.as_str(),
        root_dir: root_dir.as_str(),
        ..Default::default()
    };
    aya_build::build_ebpf([package], aya_build::Toolchain::Nightly)
}
