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
    /// Output directory (default: `<workspace>/target/qemu`; a --module run writes under its `module/`).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Your own module file instead of the listings: build it with Kbuild, boot it as a listing is booted,
    /// print its real session and then the difference to the simulator's for the same file, under the
    /// masks (a manifest `NAME.toml` beside it is read as a listing's).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["listings", "record", "symbols_only"])]
    pub module: Option<PathBuf>,
    #[command(flatten)]
    pub module_options: crate::run::ModuleOptions,
    /// The conformance modules (`tests/conformance/*.rs`, stock kernel API only) instead of the listings:
    /// build, boot and compare each with its committed capture (`listings/kernel/observed-conformance/`) and its
    /// pin (`tests/snapshots/conformance__*.snap`); with `--record`, write the captures.
    #[arg(long, conflicts_with_all = ["listings", "module", "symbols_only"])]
    pub conformance: bool,
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
    if let Some(file) = &opts.module {
        if opts.arch != "x86_64" {
            bail!("--module builds and boots your module on the book's x86_64 kernel; --arch i386 runs only the address-space chapter's C module");
        }
        return run_module(opts, file, &out_dir.join("module"), start);
    }
    if opts.arch == "i386" {
        if opts.conformance {
            bail!("--conformance runs the conformance modules on the book's x86_64 kernel");
        }
        return i386::run_experiment(opts, &out_dir, start);
    }
    if opts.conformance {
        return run_conformance(opts, &out_dir.join("conformance"), start);
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

    let (kernel, provenance) = tools_and_kernel(opts, start)?;

    // Modules.
    let built = modules::build(&kernel, &listings_dir, &all, opts, &out_dir, start, false)?;
    if !opts.keep_going {
        for l in all.iter().filter(|l| built[&l.name].ko.is_none()) {
            eprintln!("--- {} did not build:\n{}", l.name, built[&l.name].errors);
        }
    }

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
    let ok = report::report(&all, &built, &runs, &root, &out_dir, opts.record, report::Suite::LISTINGS)?;
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

/// The build and boot tools, and the kernel: `KDIR`'s, or the cached build (built on first use).
fn tools_and_kernel(opts: &QemuOptions, start: Instant) -> Result<(kernel::Kernel, Option<deps::Tools>)> {
    match &opts.kdir {
        Some(kdir) => {
            step(start, format!("using the existing kernel build KDIR={}", kdir.display()));
            deps::ensure_boot_tools(opts)?;
            Ok((kernel::Kernel::existing(kdir)?, None))
        }
        None => {
            let tools = deps::ensure_all(opts, start)?;
            let k = kernel::build(&tools, opts, start)?;
            Ok((k, Some(tools)))
        }
    }
}

/// `cargo xtask qemu --conformance`: the conformance modules as listings of their own (chapter `ch-conformance`,
/// staged and booted under `out_dir`), built, booted and reported as the listings are, against their own
/// captures and pins.
fn run_conformance(opts: &QemuOptions, out_dir: &Path, start: Instant) -> Result<()> {
    let root = workspace_root();
    let listings_dir = root.join("listings");
    let all = modules::discover_conformance(&root.join("tests/conformance"), &listings_dir)?;
    if all.is_empty() {
        bail!("no conformance modules found under {}/tests/conformance/*.rs", root.display());
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    step(start, format!("{} conformance module(s): {}", all.len(), names(&all)));
    let (kernel, provenance) = tools_and_kernel(opts, start)?;
    let built = modules::build(&kernel, &listings_dir, &all, opts, out_dir, start, false)?;
    if !opts.keep_going {
        for l in all.iter().filter(|l| built[&l.name].ko.is_none()) {
            eprintln!("--- {} did not build:\n{}", l.name, built[&l.name].errors);
        }
    }
    let runs = boot::run_all(&kernel, &all, &built, opts, out_dir, start)?;
    let ok = report::report(&all, &built, &runs, &root, out_dir, opts.record, report::Suite::CONFORMANCE)?;
    if opts.record {
        record::record_conformance(&root, &kernel, provenance.as_ref(), &all, &runs, out_dir)?;
        step(start, format!("recorded: {}/ (review and commit it)", kmem_truth::observed::CONFORMANCE_DIR));
    }
    step(start, format!("done; outputs in {}", out_dir.display()));
    if !ok {
        bail!("some conformance modules differ (see the table above and the *.diff files under {})", out_dir.display());
    }
    Ok(())
}

/// `cargo xtask qemu --module FILE`: a reader's module is a listing of its own (chapter `ch-module`, staged and
/// booted under `out_dir`), compared with the simulator's run of the same file (`cargo xtask run`'s build) instead
/// of committed captures and pins.
fn run_module(opts: &QemuOptions, file: &Path, out_dir: &Path, start: Instant) -> Result<()> {
    let module = crate::run::Module::new(file)?;
    let manifest = kmem_truth::Manifest::for_listing(&module.source)
        .and_then(|m| m.with_options(opts.module_options.cmdline.as_deref(), &opts.module_options.show))
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;

    // The simulator first: it is quick, and a module the façade cannot build cannot be compared.
    step(start, format!("simulator: building and running {}", module.shown));
    let exe = crate::run::build(&module)?;
    let sim_dir = out_dir.join("simulator");
    let session = out_dir.join("simulator-session.txt");
    let session_file = std::fs::File::create(&session).with_context(|| format!("creating {}", session.display()))?;
    let status = crate::run::simulate(&exe, &opts.module_options.env(), &sim_dir, session_file.into())?;
    crate::run::check_status(&module, status)?;

    let (kernel, _) = tools_and_kernel(opts, start)?;
    let listing = modules::Listing {
        name: module.name.clone(),
        chapter: "ch-module".into(),
        source: module.source.clone(),
        manifest,
    };
    let listings = std::slice::from_ref(&listing);
    let built = modules::build(&kernel, &workspace_root().join("listings"), listings, opts, out_dir, start, true)?;
    if built[&listing.name].ko.is_none() {
        // The compiler's messages name the staged copy (by its absolute path): name the reader's file.
        let staged = modules::staged_source(out_dir, &listing);
        let staged = staged.canonicalize().unwrap_or(staged);
        let errors = built[&listing.name].errors.replace(&staged.display().to_string(), &module.shown);
        // rustc's messages, without make's own lines around them.
        let make_line = regex::Regex::new(r"^(make(\[\d+\])?: |  [A-Z_]+ +\[M\] )").expect("valid regex");
        let errors: Vec<&str> = errors.lines().filter(|l| !make_line.is_match(l)).collect();
        eprintln!("{}", errors.join("\n").trim_end());
        bail!(
            "{} does not build with Kbuild against the real kernel (log: {})",
            module.shown,
            out_dir.join("modules-build.log").display()
        );
    }
    let runs = boot::run_all(&kernel, listings, &built, opts, out_dir, start)?;
    let run = runs.get(&listing.name).context("the guest ran nothing")?;
    let verdict = report::module_report(&listing, run, &sim_dir, out_dir)?;
    step(start, format!("done; outputs in {}", out_dir.join(&listing.name).display()));
    match verdict {
        report::Verdict::Same => Ok(()),
        // The session shows insmod's message (or the kernel's death); the exit status is insmod's.
        report::Verdict::DidNotLoad => Err(crate::Exit(1).into()),
        report::Verdict::Differs => bail!(
            "the simulator's outputs differ from the real kernel's for {} (above; diffs in {})",
            module.shown,
            out_dir.join(&listing.name).display()
        ),
    }
}

fn names(ls: &[modules::Listing]) -> String {
    ls.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ")
}
