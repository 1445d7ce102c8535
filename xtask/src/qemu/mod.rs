//! `cargo xtask qemu`: the real kernel as the judge of the listings.
//!
//! Steps (each in its own submodule):
//! 1. [`deps`]: install the build/boot tools by package name (apt-get), and `bindgen-cli` with
//!    `cargo install` into the cache.
//! 2. [`kernel`]: unpack Debian's `linux-source-6.12`, apply `listings/kernel/kmem-book.patch`,
//!    configure `tinyconfig` + `listings/kernel/kmem-book.config`, build — into a cache directory
//!    keyed by a hash of the patch, the fragment, the kernel package version and the toolchain.
//!    `KDIR=` (or `--kdir`) uses an existing Rust-enabled kernel build instead.
//! 3. [`modules`]: build `listings/` with Kbuild (`make -C $KDIR M=target/qemu/modules`).
//! 4. [`boot`]: for each listing, a fresh QEMU boot whose busybox initramfs applies the listing's
//!    manifest (`listings/ch*/NAME.toml`: command line, set-up writes), insmods it, saves the files
//!    the manifest shows while it is loaded, rmmods it and saves the kernel log.
//! 5. [`report`]: compare each listing's fresh outputs with its committed capture
//!    (`listings/kernel/observed/NAME/`) and with the simulator's pins (`tests/snapshots/`) under the
//!    masks and exceptions of `kmem-truth`, print a table, fail on any difference.
//! 6. With `--record`: [`record`] writes the fresh outputs as the committed captures (with
//!    `PROVENANCE` and the boot's `/proc` files), and [`symbols`] the real build's symbols the
//!    simulator prints traces from (`listings/kernel/symbols/`).

mod boot;
mod deps;
mod i386;
mod kernel;
mod modules;
mod record;
mod report;
mod symbols;

pub(crate) use kernel::spinner;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

/// Options of `cargo xtask qemu`.
#[derive(Debug, Clone, clap::Args)]
pub struct QemuOptions {
    /// Run only this listing (module name = file stem, e.g. `kmalloc_basic`); repeatable.
    #[arg(long = "listing", value_name = "NAME")]
    pub listings: Vec<String>,
    /// Keep going after a failure: build the other listings, and go on booting after a listing
    /// crashed the kernel.
    #[arg(long)]
    pub keep_going: bool,
    /// Write the fresh real outputs as the committed captures (`listings/kernel/observed/`), with
    /// `PROVENANCE`, the boot's `/proc` files and the real build's symbols (`listings/kernel/symbols/`).
    #[arg(long)]
    pub record: bool,
    /// Only (re)write the real build's symbols (`listings/kernel/symbols/`) from the kernel and the
    /// listings built here; boot nothing (after the simulator names a new kernel function).
    #[arg(long)]
    pub symbols_only: bool,
    /// Use this existing Rust-enabled kernel build tree (with `arch/x86/boot/bzImage`) instead of
    /// building one. Also read from the `KDIR` environment variable.
    #[arg(long, env = "KDIR", value_name = "DIR")]
    pub kdir: Option<PathBuf>,
    /// Do not install packages; fail if something is missing.
    #[arg(long)]
    pub no_install: bool,
    /// Build the kernel with GCC instead of `LLVM=1` (the book's kernel is the LLVM build).
    #[arg(long)]
    pub gcc: bool,
    /// Seconds one boot may run before QEMU is killed (default: 300; software emulation on a loaded
    /// machine is slow).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// `x86_64` (the default: every listing on the book's kernel) or `i386`: the address-space chapter's classic experiment,
    /// the C module `listings/ch02-address-space/three_allocators.c`, on a real 32-bit kernel at 160 MiB and
    /// 1536 MiB (see `xtask/src/qemu/i386.rs`).
    #[arg(long, value_name = "ARCH", default_value = "x86_64", value_parser = ["x86_64", "i386"])]
    pub arch: String,
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
    let listings_dir = root.join("listings");
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| root.join("target/qemu"));
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    if opts.arch == "i386" {
        return i386::run_experiment(opts, &out_dir, start);
    }

    // Which listings?
    let mut all = modules::discover(&listings_dir)?;
    let every_name: Vec<String> = all.iter().map(|l| l.name.clone()).collect();
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
    let (kernel, provenance) = match &opts.kdir {
        Some(kdir) => {
            step(start, format!("using the existing kernel build KDIR={}", kdir.display()));
            deps::ensure_boot_tools(opts)?;
            (kernel::Kernel::existing(kdir)?, None)
        }
        None => {
            let tools = deps::ensure_all(opts, start)?;
            let k = kernel::build(&tools, opts, start)?;
            (k, Some(tools))
        }
    };

    // Modules.
    let built = modules::build(&kernel, &listings_dir, &all, opts, &out_dir, start)?;

    if opts.symbols_only {
        let modules: Vec<(String, PathBuf)> =
            all.iter().filter_map(|l| built[&l.name].ko.clone().map(|ko| (l.name.clone(), ko))).collect();
        symbols::extract(&root, &kernel.kdir.join("vmlinux"), &modules, &every_name, &out_dir)?;
        step(start, "wrote listings/kernel/symbols/");
        return Ok(());
    }

    // One fresh boot per listing.
    let runs = boot::run_all(&kernel, &all, &built, opts, &out_dir, start)?;

    // Compare and report.
    let ok = report::report(&all, &built, &runs, &root, &out_dir, opts.record)?;
    if opts.record {
        record::record(&root, &kernel, provenance.as_ref(), &all, &built, &runs, &out_dir, &every_name)?;
        step(start, "recorded: listings/kernel/observed/ and listings/kernel/symbols/ (review and commit them)");
    }
    step(start, format!("done; outputs in {}", out_dir.display()));
    if !ok {
        bail!("some listings differ (see the table above and the *.diff files under {})", out_dir.display());
    }
    Ok(())
}

fn names(ls: &[modules::Listing]) -> String {
    ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}
