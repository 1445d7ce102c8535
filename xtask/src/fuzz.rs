//! `cargo xtask fuzz`: the simulator's libFuzzer targets (`crates/kmem-sim/fuzz/`) with cargo-fuzz, which is
//! installed on first use into `target/tools` (`cargo install --locked`).
//!
//! `module_faults` (the default) drives module code's accesses, faults included; `api` the simulator's
//! whole API. The fault target runs without a sanitizer: the simulator catches module code's faults with
//! its own signal handler and switches stacks, which AddressSanitizer's handlers and fake stacks would
//! take over; the simulator itself is safe Rust apart from its host-memory module.

use anyhow::{bail, Context, Result};
use std::process::Command;

const CARGO_FUZZ: &str = "0.13.2";

/// Runs `target` for `seconds`; fails on a finding (cargo-fuzz's exit status), which it saves under
/// `crates/kmem-sim/fuzz/artifacts/<target>/`.
pub fn run(target: &str, seconds: u64, jobs: u32) -> Result<()> {
    let tools = crate::tools::target_dir().join("tools");
    let bin = tools.join("bin/cargo-fuzz");
    let stamp = tools.join(format!(".cargo-fuzz-{CARGO_FUZZ}"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    if !bin.exists() || !stamp.exists() {
        eprintln!("==> installing cargo-fuzz {CARGO_FUZZ} into {} (first run only)", tools.display());
        let status = Command::new(&cargo)
            .args(["install", "--locked", "--force", "--version", CARGO_FUZZ, "--root"])
            .arg(&tools)
            .arg("cargo-fuzz")
            .status()
            .context("running cargo install cargo-fuzz")?;
        if !status.success() {
            bail!("cargo install cargo-fuzz@{CARGO_FUZZ} failed");
        }
        std::fs::write(&stamp, "")?;
    }
    let dir = crate::root().join("crates/kmem-sim/fuzz");
    let sanitizer = if target == "module_faults" { "none" } else { "address" };
    eprintln!("==> fuzzing {target} for {seconds} s ({jobs} job(s), sanitizer {sanitizer})");
    let status = Command::new(&bin)
        .current_dir(&dir)
        // cargo-fuzz passes -Z flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--sanitizer", sanitizer, target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg("-max_len=512")
        .arg(format!("-jobs={jobs}"))
        .arg(format!("-workers={jobs}"))
        .arg("-print_final_stats=1")
        .status()
        .context("running cargo fuzz")?;
    if !status.success() {
        bail!("cargo fuzz run {target} found a crash: see crates/kmem-sim/fuzz/artifacts/{target}/");
    }
    Ok(())
}
