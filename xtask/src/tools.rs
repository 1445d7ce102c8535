//! The pinned book toolchain, installed on first use into `target/tools` with `cargo install --locked`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// (crate, version, binaries it provides, extra `cargo install` arguments)
const PINNED: &[(&str, &str, &[&str], &[&str])] = &[
    // mdbook's own `serve` is not needed (xtask serves both languages itself); leaving it out saves
    // a third of the build.
    ("mdbook", "0.5.4", &["mdbook"], &["--no-default-features", "--features", "search"]),
    ("mdbook-i18n-helpers", "0.4.0", &["mdbook-gettext", "mdbook-xgettext"], &[]),
    ("mdbook-mermaid", "0.17.1", &["mdbook-mermaid"], &[]),
];

/// Where the tools live, and a PATH that puts them first.
pub struct Tools {
    pub bin: PathBuf,
}

impl Tools {
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.env("PATH", self.path());
        cmd
    }

    pub fn path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).expect("PATH")
    }
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| crate::root().join("target"))
}

/// Installs every pinned tool that is missing or at another version; returns where they are.
pub fn ensure() -> Result<Tools> {
    let root = target_dir().join("tools");
    let bin = root.join("bin");
    for (krate, version, bins, extra) in PINNED {
        let stamp = root.join(format!(".{krate}-{version}"));
        if stamp.exists() && bins.iter().all(|b| bin.join(b).exists()) {
            continue;
        }
        eprintln!(
            "==> installing {krate} {version} into {} (first run only; this compiles it, a few minutes on 2 cores)",
            root.display()
        );
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "--locked", "--force", "--version", version, "--root"])
            .arg(&root)
            .args(*extra)
            .arg(krate)
            .status()
            .with_context(|| format!("running cargo install {krate}"))?;
        if !status.success() {
            bail!("cargo install {krate}@{version} failed");
        }
        std::fs::write(&stamp, "")?;
    }
    Ok(Tools { bin })
}
