//! Building the kernel: Debian's linux-source-6.12 + `listings/kernel/kmem-book.patch`,
//! `tinyconfig` + `listings/kernel/kmem-book.config`, in a cache directory outside the source
//! tree keyed by everything that changes the result.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::deps::{cache_root, Tools};
use super::{step, workspace_root, QemuOptions};

/// A kernel build tree modules can be built against and a bzImage to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub kdir: PathBuf,
    pub bzimage: PathBuf,
    /// Variables every `make` against this tree needs (LLVM=1, RUSTC=..., ...).
    pub make_vars: Vec<String>,
}

impl Kernel {
    /// `KDIR=`: an existing Rust-enabled build. Uses `LLVM=1` when it was built with clang.
    pub fn existing(kdir: &Path) -> Result<Kernel> {
        let kdir = kdir.canonicalize().with_context(|| format!("KDIR={} does not exist", kdir.display()))?;
        let config = fs::read_to_string(kdir.join(".config"))
            .with_context(|| format!("{}/.config missing: not a kernel build tree", kdir.display()))?;
        if !config.lines().any(|l| l == "CONFIG_RUST=y") {
            bail!("{}: CONFIG_RUST is not enabled", kdir.display());
        }
        let bzimage = kdir.join("arch/x86/boot/bzImage");
        if !bzimage.exists() {
            bail!("{} is missing", bzimage.display());
        }
        let mut make_vars = Vec::new();
        if config.lines().any(|l| l == "CONFIG_CC_IS_CLANG=y") {
            make_vars.push("LLVM=1".to_string());
        }
        // Pass through the toolchain variables if the caller set them.
        for v in ["RUSTC", "RUSTDOC", "BINDGEN", "RUST_LIB_SRC"] {
            if let Ok(val) = std::env::var(v) {
                make_vars.push(format!("{v}={val}"));
            }
        }
        Ok(Kernel { kdir, bzimage, make_vars })
    }
}

/// Files of the module tree that define the kernel.
pub fn patch_path() -> PathBuf {
    workspace_root().join("listings/kernel/kmem-book.patch")
}
pub fn fragment_path() -> PathBuf {
    workspace_root().join("listings/kernel/kmem-book.config")
}

/// Upstream part of a Debian version: `6.12.117-1~deb12u1` -> `6.12.117`.
fn upstream(version: &str) -> &str {
    version.split('-').next().unwrap_or(version)
}

/// The make variables for building this kernel and modules against it.
fn make_vars(tools: &Tools, opts: &QemuOptions) -> Vec<String> {
    let mut v = Vec::new();
    if !opts.gcc {
        v.push("LLVM=1".to_string());
    }
    v.push(format!("RUSTC={}", tools.rustc.display()));
    v.push(format!("RUSTDOC={}", tools.rustdoc.display()));
    v.push(format!("BINDGEN={}", tools.bindgen.display()));
    v.push(format!("RUST_LIB_SRC={}", tools.rust_lib_src.display()));
    v
}

/// The cache key: hash of the patch, the fragment, the kernel package version, the toolchain
/// and the make variables.
fn cache_key(tools: &Tools, vars: &[String], patch: &[u8], fragment: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [
        b"kmem-book kernel v1".as_slice(),
        patch,
        fragment,
        tools.source_version.as_bytes(),
        tools.rustc_version.as_bytes(),
        tools.bindgen_version.as_bytes(),
        vars.join(" ").as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex[..12].to_string()
}

/// Build (or reuse) the kernel.
pub fn build(tools: &Tools, opts: &QemuOptions, start: Instant) -> Result<Kernel> {
    let patch = fs::read(patch_path()).with_context(|| format!("reading {}", patch_path().display()))?;
    let fragment = fs::read(fragment_path()).with_context(|| format!("reading {}", fragment_path().display()))?;
    let vars = make_vars(tools, opts);
    let key = cache_key(tools, &vars, &patch, &fragment);
    let dir = cache_root()?.join(format!("linux-{}-{key}", upstream(&tools.source_version)));
    let kdir = dir.join("linux-source-6.12");
    let kernel = Kernel { bzimage: kdir.join("arch/x86/boot/bzImage"), kdir: kdir.clone(), make_vars: vars.clone() };
    let stamp = |s: &str| dir.join(format!(".{s}"));

    if stamp("built").exists() && kernel.bzimage.exists() {
        step(start, format!("kernel: cache hit {}", dir.display()));
        return Ok(kernel);
    }
    step(start, format!("kernel: building into {}", dir.display()));
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("cache-key.txt"), describe(tools, &vars))?;

    if !stamp("patched").exists() {
        if kdir.exists() {
            fs::remove_dir_all(&kdir)?;
        }
        step(start, format!("kernel: unpacking {}", tools.source_tarball.display()));
        run(Command::new("tar").arg("-xf").arg(&tools.source_tarball).arg("-C").arg(&dir))?;
        step(start, "kernel: applying listings/kernel/kmem-book.patch");
        run(Command::new("patch").args(["-p1", "--forward", "--batch", "-i"]).arg(patch_path()).current_dir(&kdir))?;
        fs::write(stamp("patched"), "")?;
    }
    if !stamp("configured").exists() {
        step(start, "kernel: tinyconfig + listings/kernel/kmem-book.config");
        configure(&kdir, &vars, &fragment_path(), &fragment)?;
        make(&kdir, &vars, &["rustavailable"])?;
        fs::write(stamp("configured"), "")?;
    }
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let t = Instant::now();
    let log = dir.join("build.log");
    let jobs_arg = format!("-j{jobs}");
    let mut ok = make_logged(&kdir, &vars, &[&jobs_arg, "all"], &log, "kernel", Some(KERNEL_BUILD_STEPS), false)?;
    if !ok {
        // A make interrupted earlier can leave half-written dependency files behind
        // (`fixdep: error opening file: rust/.uapi.o.d`); one retry recovers.
        step(start, "kernel: build failed, retrying once");
        ok = make_logged(&kdir, &vars, &[&jobs_arg, "all"], &log, "kernel", Some(KERNEL_BUILD_STEPS), false)?;
    }
    if !ok {
        bail!("kernel build failed; see {}", log.display());
    }
    step(start, format!("kernel: built in {:.0}s", t.elapsed().as_secs_f64()));
    fs::write(stamp("built"), "")?;
    Ok(kernel)
}

fn describe(tools: &Tools, vars: &[String]) -> String {
    format!(
        "linux-source-6.12 {}\n{}\n{}\nmake {}\npatch {}\nfragment {}\n",
        tools.source_version,
        tools.rustc_version,
        tools.bindgen_version,
        vars.join(" "),
        patch_path().display(),
        fragment_path().display()
    )
}

/// `make tinyconfig`, the fragment merged over it, `make olddefconfig`, and the check that every line of the
/// fragment survived.
pub(crate) fn configure(kdir: &Path, vars: &[String], fragment_path: &Path, fragment: &[u8]) -> Result<()> {
    make(kdir, vars, &["tinyconfig"])?;
    run(Command::new(kdir.join("scripts/kconfig/merge_config.sh"))
        .args(["-m", ".config"])
        .arg(fragment_path)
        .current_dir(kdir))?;
    make(kdir, vars, &["olddefconfig"])?;
    check_config(kdir, fragment)
}

/// Every `CONFIG_X=y` / `# CONFIG_X is not set` line of the fragment must have survived
/// olddefconfig (Kconfig silently drops options whose dependencies are unmet).
fn check_config(kdir: &Path, fragment: &[u8]) -> Result<()> {
    let config = fs::read_to_string(kdir.join(".config"))?;
    let have: std::collections::HashSet<&str> = config.lines().collect();
    let mut bad = Vec::new();
    for line in String::from_utf8_lossy(fragment).lines() {
        let l = line.trim();
        let wanted_set = l.starts_with("CONFIG_");
        let wanted_unset = l.starts_with("# CONFIG_") && l.ends_with(" is not set");
        if !(wanted_set || wanted_unset) {
            continue;
        }
        if wanted_unset {
            let name = &l[2..l.len() - " is not set".len()];
            if config.lines().any(|c| c.starts_with(&format!("{name}="))) {
                bad.push(l.to_string());
            }
        } else if !have.contains(l) {
            bad.push(l.to_string());
        }
    }
    if !bad.is_empty() {
        bail!("the kernel config did not take these fragment lines: {}", bad.join(", "));
    }
    Ok(())
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

pub(crate) fn make(kdir: &Path, vars: &[String], targets: &[&str]) -> Result<()> {
    run(Command::new("make").arg("-C").arg(kdir).args(vars).args(targets))
}

/// How many lines (`  CC …`, `  AR …`, …) `make all` prints for the book's configuration from a clean tree:
/// counted in the build log of a cold build here (1298), for the progress bar's estimate.
const KERNEL_BUILD_STEPS: u64 = 1300;

/// Run make with its output going to `log`, showing the latest line and, when `expected` says about how
/// many lines a full run prints, a progress bar with an estimate of the time left (else a spinner). When it
/// fails, the last lines of its stderr are printed unless `quiet_failure` (the caller tells it).
pub fn make_logged(
    kdir: &Path,
    vars: &[String],
    args: &[&str],
    log: &Path,
    what: &str,
    expected: Option<u64>,
    quiet_failure: bool,
) -> Result<bool> {
    use std::io::Write;
    let mut file = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut child = Command::new("make")
        .arg("-C")
        .arg(kdir)
        .args(vars)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running make")?;
    let stderr = child.stderr.take().unwrap();
    let err_log = log.to_path_buf();
    let err_thread = std::thread::spawn(move || -> Vec<String> {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(err_log).ok();
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            if let Some(f) = f.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            lines.push(line);
        }
        lines
    });
    let pb = match expected {
        Some(len) => {
            let pb = indicatif::ProgressBar::new(len);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/~{len} steps, ~{eta} left: {wide_msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb.enable_steady_tick(Duration::from_millis(250));
            pb
        }
        None => spinner(what),
    };
    let mut n = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(|l| l.ok()) {
        writeln!(file, "{line}")?;
        n += 1;
        match expected {
            // An incremental build prints fewer lines; a longer one must not overflow the bar.
            Some(len) => {
                pb.set_length(len.max(n));
                pb.set_position(n);
                pb.set_message(line.trim().to_string());
            }
            None => pb.set_message(format!("{what}: [{n} steps] {}", line.trim())),
        }
    }
    let status = child.wait()?;
    let errs = err_thread.join().unwrap_or_default();
    pb.finish_and_clear();
    if !status.success() && !quiet_failure {
        let tail: Vec<&String> = errs.iter().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("{what}: make failed; last stderr lines:");
        for l in tail {
            eprintln!("  {l}");
        }
    }
    Ok(status.success())
}

pub fn spinner(what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.enable_steady_tick(Duration::from_millis(250));
    pb.set_message(what.to_string());
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    /// make's lines reach the log whether the bar's estimate is short or not, and a failing make is
    /// `Ok(false)`, not an error.
    #[test]
    fn make_logged_logs_every_line_with_a_short_estimate() {
        let dir = std::env::temp_dir().join(format!("kmem-make-logged-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("Makefile"),
            "all:\n\t@echo '  CC a.o'\n\t@echo '  CC b.o'\n\t@echo '  AR c.a'\nbad:\n\t@false\n",
        )
        .unwrap();
        let log = dir.join("build.log");
        assert!(make_logged(&dir, &[], &["all"], &log, "test", Some(2), false).unwrap());
        let text = fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("  ")).count(), 3, "{text}");
        assert!(!make_logged(&dir, &[], &["bad"], &log, "test", None, true).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
