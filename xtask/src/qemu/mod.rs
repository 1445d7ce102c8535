//! `cargo xtask qemu`: prove the listings on a real Linux 6.12 kernel.
//!
//! Steps (each in its own submodule):
//! 1. [`deps`]: install the build/boot tools by package name (apt-get), and `bindgen-cli` with
//!    `cargo install` into the cache.
//! 2. [`kernel`]: unpack Debian's `linux-source-6.12`, apply `listings/kernel/kmem-book.patch`,
//!    configure `tinyconfig` + `listings/kernel/kmem-book.config`, build — into a cache directory
//!    keyed by a hash of the patch, the fragment, the kernel package version and the toolchain.
//!    `KDIR=` (or `--kdir`) uses an existing Rust-enabled kernel build instead.
//! 3. [`modules`]: build `listings/` with Kbuild (`make -C $KDIR M=$PWD/listings`).
//! 4. [`boot`]: build a busybox initramfs holding the modules and a script that, for each listing,
//!    clears dmesg, insmods, dumps `/proc/{vmallocinfo,slabinfo,buddyinfo}`, rmmods and dumps
//!    dmesg — all written to a second serial port so the kernel console cannot interleave — then
//!    boots QEMU once (again after a crash with `--keep-going`).
//! 5. [`normalize`] + [`report`]: compare each listing's dmesg with its insta snapshot
//!    `tests/snapshots/listings__<name>.snap` after normalising what legitimately differs, write
//!    everything under `target/qemu/`, print a table and fail if any listing failed.

mod boot;
mod deps;
mod kernel;
mod modules;
pub mod normalize;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Options of `cargo xtask qemu`.
#[derive(Debug, Clone, clap::Args)]
pub struct QemuOptions {
    /// Run only this listing (module name = file stem, e.g. `hello_kmem`); repeatable.
    #[arg(long = "listing", value_name = "NAME")]
    pub listings: Vec<String>,
    /// Keep going after a failure: build the other listings, and boot again after a listing
    /// crashed the kernel.
    #[arg(long)]
    pub keep_going: bool,
    /// Use this existing Rust-enabled kernel build tree (with `arch/x86/boot/bzImage`) instead of
    /// building one. Also read from the `KDIR` environment variable.
    #[arg(long, env = "KDIR", value_name = "DIR")]
    pub kdir: Option<PathBuf>,
    /// Boot a fresh kernel for each listing (as the simulator does) instead of once for all:
    /// once-per-boot reports (WARN_ON_ONCE, rate limits, the taint line) then behave alike.
    #[arg(long)]
    pub boot_each: bool,
    /// Do not boot a fresh kernel again for listings that did not match in the shared boot
    /// (once-per-boot reports such as WARN_ON_ONCE or rate limits can be used up by an earlier
    /// listing of the same boot).
    #[arg(long)]
    pub no_fresh_retry: bool,
    /// Do not install packages; fail if something is missing.
    #[arg(long)]
    pub no_install: bool,
    /// Build the kernel with GCC instead of `LLVM=1` (LLVM measured faster here).
    #[arg(long)]
    pub gcc: bool,
    /// Seconds QEMU may run before it is killed (default: 300 + 30 per listing; software emulation on a loaded machine is slow).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// The module tree to build (default: `<workspace>/listings`).
    #[arg(long, value_name = "DIR")]
    pub listings_dir: Option<PathBuf>,
    /// Where the snapshots live (default: `<workspace>/tests/snapshots`).
    #[arg(long, value_name = "DIR")]
    pub snapshots_dir: Option<PathBuf>,
    /// Output directory (default: `<workspace>/target/qemu`).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// Print one progress line with the time since `start`.
pub(crate) fn step(start: Instant, msg: impl AsRef<str>) {
    eprintln!("[qemu {:>6.1}s] {}", start.elapsed().as_secs_f64(), msg.as_ref());
}

/// Entry point of `cargo xtask qemu`.
pub fn run(opts: &QemuOptions) -> Result<()> {
    let start = Instant::now();
    let root = workspace_root();
    let listings_dir = opts.listings_dir.clone().unwrap_or_else(|| root.join("listings"));
    let snapshots_dir = opts.snapshots_dir.clone().unwrap_or_else(|| root.join("tests/snapshots"));
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| root.join("target/qemu"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    // Which listings?
    let mut all = modules::discover(&listings_dir)?;
    if !opts.listings.is_empty() {
        for want in &opts.listings {
            if !all.iter().any(|l| &l.name == want) {
                bail!(
                    "no listing named `{want}` under {}/ch*/ (known: {})",
                    listings_dir.display(),
                    all.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        all.retain(|l| opts.listings.contains(&l.name));
    }
    if all.is_empty() {
        bail!("no listings found under {}/ch*/*.rs", listings_dir.display());
    }
    step(start, format!("{} listing(s): {}", all.len(), names(&all)));

    // Tools and kernel.
    let kernel = match &opts.kdir {
        Some(kdir) => {
            step(start, format!("using the existing kernel build KDIR={}", kdir.display()));
            deps::ensure_boot_tools(opts)?;
            kernel::Kernel::existing(kdir)?
        }
        None => {
            let tools = deps::ensure_all(opts, start)?;
            kernel::build(&tools, opts, start)?
        }
    };

    // Modules.
    let built = modules::build(&kernel, &listings_dir, &all, opts, &out_dir, start)?;

    // Boot.
    let mut runs = boot::run_all(&kernel, &listings_dir, &all, &built, opts, &out_dir, start)?;

    // Listings that did not match in the shared boot get a fresh kernel each: the simulator boots
    // per listing, and a report printed once per boot may have been used up by an earlier one.
    if !opts.boot_each && !opts.no_fresh_retry {
        let retry: Vec<modules::Listing> = all
            .iter()
            .filter(|l| {
                let Some(r) = runs.get(&l.name) else { return false };
                let snap = snapshots_dir.join(format!("listings__{}.snap", l.name));
                let Ok(pin) = std::fs::read_to_string(&snap) else { return false };
                !r.done
                    || normalize::compare(
                        r.sections.get("dmesg").map(String::as_str).unwrap_or(""),
                        &normalize::snapshot_body(&pin),
                    )
                    .is_some()
            })
            .cloned()
            .collect();
        if !retry.is_empty() && (opts.keep_going || runs.values().all(|r| r.done)) {
            step(
                start,
                format!(
                    "{} listing(s) differ in the shared boot; booting a fresh kernel for each: {}",
                    retry.len(),
                    names(&retry)
                ),
            );
            let fresh_opts = QemuOptions { boot_each: true, ..opts.clone() };
            let fresh_dir = out_dir.join("fresh");
            std::fs::create_dir_all(&fresh_dir)?;
            let fresh = boot::run_all(&kernel, &listings_dir, &retry, &built, &fresh_opts, &fresh_dir, start)?;
            for (name, mut r) in fresh {
                r.fresh = true;
                runs.insert(name, r);
            }
        }
    }

    // Compare and report.
    let ok = report::report(&all, &built, &runs, &snapshots_dir, &out_dir)?;
    step(start, format!("done; outputs in {}", out_dir.display()));
    if !ok {
        bail!("some listings failed on the real kernel (see the table above and {})", out_dir.display());
    }
    Ok(())
}

fn names(ls: &[modules::Listing]) -> String {
    ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}
