//! Installing what the real-kernel check needs, by package name.
//!
//! Debian/Ubuntu: `apt-get install` of [`PACKAGES`] (only the missing ones); `bindgen-cli` with
//! `cargo install --locked --root <cache>/tools` (Debian's bindgen is too old for 6.12's Rust).
//! Elsewhere: a message naming what to install, and `KDIR=` to bring a kernel build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{step, QemuOptions};

/// Debian package names (bookworm + backports).
pub const PACKAGES: &[&str] = &[
    "linux-source-6.12",
    "rustc-web",
    "rust-web-src",
    "libclang-dev",
    "clang",
    "lld",
    "llvm",
    "busybox-static",
    "qemu-system-x86",
    "bc",
    "flex",
    "bison",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "make",
    "gcc",
    "libc6-dev",
    "xz-utils",
    "patch",
    "python3",
];

/// The Debian version of `linux-source-6.12` the book is written against and its captures were recorded
/// from. bookworm-security keeps older versions beside the newest, so this one is installed even when a
/// later stable update is the candidate: an unpinned install would silently build another kernel.
pub const LINUX_SOURCE_VERSION: &str = "6.12.117-1~deb12u1";

/// Packages needed only to boot an existing kernel build (`KDIR=`) and build modules against it.
pub const BOOT_PACKAGES: &[&str] = &["busybox-static", "qemu-system-x86", "make"];

/// bindgen-cli version installed with cargo (6.12 accepts >= 0.65; this one is tested).
pub const BINDGEN_VERSION: &str = "0.73.2";

/// The toolchain the kernel is built with.
#[derive(Debug, Clone)]
pub struct Tools {
    pub rustc: PathBuf,
    pub rustdoc: PathBuf,
    pub rust_lib_src: PathBuf,
    pub bindgen: PathBuf,
    /// `rustc --version` output, part of the cache key.
    pub rustc_version: String,
    /// `bindgen --version` output, part of the cache key.
    pub bindgen_version: String,
    /// Debian version of `linux-source-6.12`, e.g. `6.12.117-1~deb12u1`.
    pub source_version: String,
    pub source_tarball: PathBuf,
}

/// The cache root: `${XDG_CACHE_HOME:-~/.cache}/kmem-book`.
pub fn cache_root() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("kmem-book"));
    }
    let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/kmem-book"))
}

fn is_debian_like() -> bool {
    let Ok(s) = std::fs::read_to_string("/etc/os-release") else { return false };
    s.lines()
        .any(|l| (l.starts_with("ID=") || l.starts_with("ID_LIKE=")) && (l.contains("debian") || l.contains("ubuntu")))
        && Path::new("/usr/bin/apt-get").exists()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// Install the missing packages of `pkgs` with apt-get (sudo when not root).
pub(crate) fn apt_install(pkgs: &[&str], opts: &QemuOptions, start: Instant) -> Result<()> {
    if !is_debian_like() {
        bail!(
            "`cargo xtask qemu` installs its tools with apt-get on Debian/Ubuntu only. On this \
             system install the equivalents of: {} and `cargo install --locked bindgen-cli`, \
             or point KDIR= at an existing Rust-enabled Linux 6.12 build (with bzImage) and \
             install busybox (static) and qemu-system-x86_64.",
            pkgs.join(" ")
        );
    }
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if opts.no_install {
        bail!("missing packages (and --no-install given): {}", missing.join(" "));
    }
    step(start, format!("apt-get install {}", missing.join(" ")));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let run = |args: &[&str]| -> Result<bool> {
        let mut cmd = Command::new(if sudo.is_empty() { "apt-get" } else { "sudo" });
        if !sudo.is_empty() {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        Ok(cmd.status().context("running apt-get")?.success())
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(missing.iter().copied());
    // A fresh machine may have no or stale package lists.
    if !missing.iter().all(|p| apt_available(p)) {
        step(start, "apt-get update");
        run(&["update"])?;
    }
    let unavailable: Vec<&str> = missing.iter().copied().filter(|p| !apt_available(p)).collect();
    if !unavailable.is_empty() {
        bail!(
            "these packages are not available from this system's apt sources: {}. \
             `cargo xtask qemu` expects Debian 12 (bookworm, with its security/updates sources: \
             linux-source-6.12, rustc-web, rust-web-src) or a later Debian. Elsewhere, build a \
             Rust-enabled Linux 6.12 with listings/kernel/kmem-book.patch and \
             listings/kernel/kmem-book.config yourself and run with KDIR=<that tree>.",
            unavailable.join(" ")
        );
    }
    if !run(&install)? {
        bail!("apt-get install {} failed", missing.join(" "));
    }
    Ok(())
}

/// Whether apt knows an installable candidate for `pkg`.
fn apt_available(pkg: &str) -> bool {
    Command::new("apt-cache")
        .args(["policy", pkg])
        .output()
        .map(|o| {
            let s = String::from_utf8_lossy(&o.stdout);
            s.contains("Candidate:") && !s.contains("Candidate: (none)")
        })
        .unwrap_or(false)
}

/// For `KDIR=`: only what booting needs.
pub fn ensure_boot_tools(opts: &QemuOptions) -> Result<()> {
    let have = |p: &str| Path::new(p).exists();
    if have("/bin/busybox") && which("qemu-system-x86_64").is_some() {
        return Ok(());
    }
    apt_install(BOOT_PACKAGES, opts, Instant::now())
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !o.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// Install [`LINUX_SOURCE_VERSION`] of `linux-source-6.12` unless it is the installed one (apt-get
/// `pkg=version`, downgrading a newer stable update). Called after [`apt_install`].
pub(crate) fn ensure_linux_source(opts: &QemuOptions, start: Instant) -> Result<()> {
    let installed =
        output(Command::new("dpkg-query").args(["-W", "-f=${Version}", "linux-source-6.12"])).unwrap_or_default();
    if installed == LINUX_SOURCE_VERSION {
        return Ok(());
    }
    if opts.no_install {
        bail!(
            "linux-source-6.12 {installed} is installed, the book needs {LINUX_SOURCE_VERSION} \
             (and --no-install given): apt-get install linux-source-6.12={LINUX_SOURCE_VERSION}"
        );
    }
    let pin = format!("linux-source-6.12={LINUX_SOURCE_VERSION}");
    step(
        start,
        format!("apt-get install {pin} (installed: {})", if installed.is_empty() { "none" } else { &installed }),
    );
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    cmd.args(["install", "-y", "--no-install-recommends", "--allow-downgrades", &pin])
        .env("DEBIAN_FRONTEND", "noninteractive");
    if !cmd.status().context("running apt-get")?.success() {
        bail!(
            "apt-get install {pin} failed: this system's apt sources no longer offer the kernel the book's \
             captures were recorded from (bookworm-security keeps a few older versions; `apt-cache madison \
             linux-source-6.12` lists them). Point KDIR= at a Linux 6.12.117 build instead."
        );
    }
    Ok(())
}

/// Everything needed to build the kernel.
pub fn ensure_all(opts: &QemuOptions, start: Instant) -> Result<Tools> {
    apt_install(PACKAGES, opts, start)?;
    ensure_linux_source(opts, start)?;

    // Debian's rustc-web installs /usr/bin/rustc and, with rust-web-src, the matching
    // library sources under /usr/src/rustc-<version>/library. The rustup toolchain on PATH
    // has no rust-src, so the kernel is always given these explicitly.
    let rustc = PathBuf::from("/usr/bin/rustc");
    let rustdoc = PathBuf::from("/usr/bin/rustdoc");
    let rustc_version = output(Command::new(&rustc).arg("--version"))?;
    let ver = rustc_version.split_whitespace().nth(1).context("parsing rustc --version")?.to_string();
    let rust_lib_src = PathBuf::from(format!("/usr/src/rustc-{ver}/library"));
    if !rust_lib_src.join("core/src/lib.rs").exists() {
        bail!("{} is missing: install rust-web-src matching rustc-web {ver}", rust_lib_src.display());
    }

    let bindgen = ensure_bindgen(opts, start)?;
    let bindgen_version = output(Command::new(&bindgen).arg("--version"))?;

    let source_version = output(Command::new("dpkg-query").args(["-W", "-f=${Version}", "linux-source-6.12"]))?;
    let source_tarball = PathBuf::from("/usr/src/linux-source-6.12.tar.xz");
    if !source_tarball.exists() {
        bail!("{} is missing (package linux-source-6.12)", source_tarball.display());
    }
    Ok(Tools { rustc, rustdoc, rust_lib_src, bindgen, rustc_version, bindgen_version, source_version, source_tarball })
}

/// `cargo install --locked --root <cache>/tools bindgen-cli` unless already there.
fn ensure_bindgen(opts: &QemuOptions, start: Instant) -> Result<PathBuf> {
    let root = cache_root()?.join("tools");
    let bin = root.join("bin/bindgen");
    if bin.exists() {
        let v = output(Command::new(&bin).arg("--version")).unwrap_or_default();
        if v.ends_with(BINDGEN_VERSION) {
            return Ok(bin);
        }
    }
    if opts.no_install {
        bail!("{} is missing (and --no-install given)", bin.display());
    }
    step(start, format!("cargo install --locked bindgen-cli@{BINDGEN_VERSION} (a few minutes)"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let ok = Command::new(cargo)
        .args(["install", "--locked", "--root"])
        .arg(&root)
        .args(["bindgen-cli", "--version", BINDGEN_VERSION])
        .status()
        .context("running cargo install bindgen-cli")?
        .success();
    if !ok || !bin.exists() {
        bail!("cargo install bindgen-cli failed");
    }
    Ok(bin)
}
