//! `cargo xtask qemu --arch i386`: the address-space chapter's classic experiment on a real 32-bit Linux 6.12.117.
//!
//! Rust-for-Linux does not build for 32-bit x86 in 6.12, so the experiment is the C module
//! `listings/ch02-address-space/three_allocators.c` (the Rust listing beside it prints the same lines on the
//! simulator). The kernel is Debian's linux-source-6.12, `make ARCH=i386 tinyconfig` +
//! `listings/kernel/kmem-book-i386.config`, built with the host's gcc into a cache directory keyed like the
//! x86_64 one. The guest's user space is Debian's `busybox-static` for i386, fetched with `apt-get download`
//! (package lists for i386 kept in the cache; the host's dpkg architectures are not changed) and unpacked with
//! `dpkg -x`. Each machine of [`MACHINES`] is one fresh boot (`qemu-system-i386`, one CPU), which records the
//! boot's files (as the x86_64 run's first boot does) and the module's dmesg and shown files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::boot::{self, Guest};
use super::deps::{self, cache_root, output, which};
use super::kernel::{configure, make_logged, run};
use super::modules::{Built, Listing};
use super::{step, workspace_root, QemuOptions};

/// The machines the experiment runs on: (name, MiB of RAM). 160 MiB is the classic run (all lowmem);
/// 1536 MiB has highmem above the direct map's 896 MiB or so.
pub const MACHINES: &[(&str, u64)] = &[("160m", 160), ("1536m", 1536)];

/// The module (file stem of the C source = module name).
pub const MODULE: &str = "three_allocators";

/// Debian packages the 32-bit build and boot need: the x86_64 run's ([`deps::PACKAGES`]) without the Rust
/// and LLVM toolchain and the host's busybox.
fn packages() -> Vec<&'static str> {
    const NOT_FOR_I386: &[&str] =
        &["rustc-web", "rust-web-src", "libclang-dev", "clang", "lld", "llvm", "busybox-static"];
    deps::PACKAGES.iter().copied().filter(|p| !NOT_FOR_I386.contains(p)).collect()
}

/// The C source of the experiment.
pub fn source() -> PathBuf {
    workspace_root().join(format!("listings/ch02-address-space/{MODULE}.c"))
}

/// What the guest shows while the module is loaded (also what the simulator's side shows).
pub fn manifest_path() -> PathBuf {
    workspace_root().join(format!("listings/ch02-address-space/{MODULE}-i386.toml"))
}

fn fragment_path() -> PathBuf {
    workspace_root().join("listings/kernel/kmem-book-i386.config")
}

/// Where `--record` writes the captures: `listings/kernel/observed-i386/<machine>/`.
pub fn observed_dir(machine: &str) -> PathBuf {
    workspace_root().join("listings/kernel/observed-i386").join(machine)
}

/// Entry point of `cargo xtask qemu --arch i386`.
pub fn run_experiment(opts: &QemuOptions, out_dir: &Path, start: Instant) -> Result<()> {
    if opts.kdir.is_some() || opts.symbols_only || !opts.listings.is_empty() {
        bail!("--arch i386 runs only the 32-bit experiment: it takes no --kdir, --symbols-only or --listing");
    }
    deps::apt_install(&packages(), opts, start)?;
    deps::ensure_linux_source(opts, start)?;
    let busybox = busybox_i386(opts, start)?;
    let bzimage_dir = build_kernel(opts, start)?;
    let kdir = bzimage_dir.join("linux-source-6.12");
    let ko = build_module(&kdir, out_dir, start)?;
    let qemu = which("qemu-system-i386").context("qemu-system-i386 not found (package qemu-system-x86)")?;

    let manifest = kmem_truth::Manifest::parse(
        &fs::read_to_string(manifest_path()).with_context(|| format!("reading {}", manifest_path().display()))?,
        &manifest_path(),
    )
    .map_err(anyhow::Error::msg)?;
    let listing = Listing {
        name: MODULE.to_string(),
        chapter: "ch02-address-space".to_string(),
        source: source(),
        manifest: manifest.clone(),
    };
    let built: BTreeMap<String, Built> =
        [(MODULE.to_string(), Built { ko: Some(ko.clone()), errors: String::new() })].into();
    let mut all_same = true;
    for (machine, mib) in MACHINES {
        let dir = out_dir.join("i386").join(machine);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let initramfs = dir.join("initramfs.cpio");
        boot::write_initramfs(&initramfs, &busybox, &busybox, &listing, &built, true)?;
        let guest = Guest { qemu: qemu.clone(), mem: format!("{mib}M"), smp: "1".to_string() };
        let append = manifest.kernel_cmdline();
        step(start, format!("boot i386-{machine}: `{MODULE}` ({mib} MiB, 1 CPU)"));
        let t = Instant::now();
        let (results, console, timed_out) = boot::boot(
            &guest,
            &kdir.join("arch/x86/boot/bzImage"),
            &initramfs,
            &dir,
            opts.timeout.unwrap_or(300),
            &append,
        )?;
        step(
            start,
            format!(
                "boot i386-{machine}: QEMU exited after {:.1}s{}",
                t.elapsed().as_secs_f64(),
                if timed_out { " (TIMEOUT, killed)" } else { "" }
            ),
        );
        let parsed = boot::parse(&results);
        let (Some(b), Some(r)) = (parsed.get("_boot"), parsed.get(MODULE).filter(|r| r.done)) else {
            bail!(
                "the i386-{machine} guest did not finish; console log {}:\n{}",
                dir.join("console.log").display(),
                boot::tail(&console, 40)
            );
        };
        // The files as the x86_64 run keeps them: boot/<file>.txt and <module>/<stem>.txt.
        let mut files: Vec<(PathBuf, String)> =
            b.sections.iter().map(|(k, v)| (PathBuf::from("boot").join(format!("{k}.txt")), v.clone())).collect();
        let mut outputs = vec![("dmesg".to_string(), r.sections.get("dmesg").cloned().unwrap_or_default())];
        for s in &manifest.show {
            outputs
                .push((s.stem(), s.select(&r.sections.get(&format!("show:{}", s.file)).cloned().unwrap_or_default())));
        }
        for (stem, text) in &outputs {
            files.push((PathBuf::from(MODULE).join(format!("{stem}.txt")), text.clone()));
        }
        for (rel, text) in &files {
            let p = dir.join("fresh").join(rel);
            fs::create_dir_all(p.parent().unwrap())?;
            fs::write(&p, text)?;
        }
        // The module's outputs against the committed capture (drift) and the simulator's pin (what
        // `cargo test` compares with the committed capture); the boot's counters vary between boots.
        let committed = observed_dir(machine);
        for (stem, text) in &outputs {
            let against = [
                ("committed capture", fs::read_to_string(committed.join(MODULE).join(format!("{stem}.txt"))).ok()),
                (
                    "simulator's pin",
                    fs::read_to_string(workspace_root().join("tests/snapshots").join(snapshot(machine, stem)))
                        .ok()
                        .map(|s| kmem_truth::snapshot_body(&s).to_string()),
                ),
            ];
            for (what, old) in against {
                let verdict = match &old {
                    None => "missing".to_string(),
                    Some(old) => {
                        let c = kmem_truth::compare(stem, old, text, &manifest.exceptions);
                        if c.is_equal() {
                            "same".to_string()
                        } else {
                            let diff = dir.join(format!("{stem}.{}.diff", what.split(' ').next().unwrap_or(what)));
                            fs::write(&diff, format!("{}{}", c.diff, c.exception_errors.join("\n")))?;
                            format!("DIFFERENT ({})", diff.display())
                        }
                    }
                };
                if verdict != "same" && !(opts.record && what == "committed capture") {
                    all_same = false;
                }
                step(start, format!("i386-{machine} {stem}: {verdict} against the {what}"));
            }
        }
        if opts.record {
            if committed.exists() {
                fs::remove_dir_all(&committed)?;
            }
            for (rel, text) in &files {
                let p = committed.join(rel);
                fs::create_dir_all(p.parent().unwrap())?;
                fs::write(&p, text)?;
            }
            fs::write(committed.join("PROVENANCE"), provenance(&bzimage_dir, machine, *mib, &append)?)?;
            step(start, format!("recorded {}", committed.display()));
        }
    }
    if opts.record {
        super::symbols::extract_i386(&workspace_root(), &kdir.join("vmlinux"), MODULE, &ko)?;
        step(start, "recorded listings/kernel/symbols-i386/ (the 32-bit kernel's and the module's tables)");
    }
    step(start, format!("done; outputs in {}", out_dir.join("i386").display()));
    if !all_same {
        bail!("the real 32-bit outputs differ from the committed captures or the simulator's pins (see above)");
    }
    Ok(())
}

/// The simulator's pin of one output of the experiment on `machine` (`tests/snapshots/`).
pub fn snapshot(machine: &str, stem: &str) -> String {
    format!("listings__{MODULE}-i386-{machine}-{stem}.snap")
}

fn provenance(cache: &Path, machine: &str, mib: u64, append: &str) -> Result<String> {
    let kernel = fs::read_to_string(cache.join("kernel.txt")).unwrap_or_default();
    Ok(format!(
        "Recorded by `cargo xtask qemu --arch i386 --record` (machine i386-{machine}).\n\
         kernel: {kernel}\
         boot:   qemu-system-i386 -m {mib}M -smp 1, command line `{append}`\n\
         module: listings/ch02-address-space/{MODULE}.c (Kbuild, gcc)\n\
         user:   Debian busybox-static (i386)\n"
    ))
}

/// Debian's static busybox for i386, fetched once into the cache.
fn busybox_i386(opts: &QemuOptions, start: Instant) -> Result<PathBuf> {
    let dir = cache_root()?.join("i386-busybox");
    let bin = dir.join("root/bin/busybox");
    if bin.exists() {
        return Ok(bin);
    }
    if opts.no_install {
        bail!("{} is missing (and --no-install given)", bin.display());
    }
    step(start, "apt-get download busybox-static:i386 (package lists for i386 in the cache)");
    let lists = dir.join("lists");
    let cache = dir.join("apt-cache");
    fs::create_dir_all(lists.join("partial"))?;
    fs::create_dir_all(cache.join("archives/partial"))?;
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = Command::new("apt-get");
        cmd.arg("-o")
            .arg("APT::Architectures::=i386")
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", lists.display()))
            .arg("-o")
            .arg(format!("Dir::Cache={}", cache.display()))
            .args(["-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", "-qq"])
            .args(args)
            .current_dir(&dir);
        run(&mut cmd)
    };
    apt(&["update"])?;
    apt(&["download", "busybox-static:i386"])?;
    let deb = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("apt-get download left no .deb")?;
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(dir.join("root")))?;
    if !bin.exists() {
        bail!("{} has no bin/busybox", deb.display());
    }
    Ok(bin)
}

/// Builds (or reuses) the 32-bit kernel; returns its cache directory.
fn build_kernel(opts: &QemuOptions, start: Instant) -> Result<PathBuf> {
    let fragment = fs::read(fragment_path()).with_context(|| format!("reading {}", fragment_path().display()))?;
    let source_version = output(Command::new("dpkg-query").args(["-W", "-f=${Version}", "linux-source-6.12"]))?;
    let gcc_version = output(Command::new("gcc").arg("--version"))?.lines().next().unwrap_or("").to_string();
    let tarball = PathBuf::from("/usr/src/linux-source-6.12.tar.xz");
    let vars = vec!["ARCH=i386".to_string()];
    let mut h = Sha256::new();
    for part in [b"kmem-book i386 kernel v1".as_slice(), &fragment, source_version.as_bytes(), gcc_version.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let key: String = h.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
    let upstream = source_version.split('-').next().unwrap_or(&source_version);
    let dir = cache_root()?.join(format!("linux-i386-{upstream}-{key}"));
    let kdir = dir.join("linux-source-6.12");
    let stamp = |s: &str| dir.join(format!(".{s}"));
    // What the provenance of a recording says (also for a cache directory written by an older version).
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("kernel.txt"), describe(&source_version, &gcc_version, &fragment))?;
    if stamp("built").exists() && kdir.join("arch/x86/boot/bzImage").exists() {
        step(start, format!("i386 kernel: cache hit {}", dir.display()));
        return Ok(dir);
    }
    if opts.no_install && !tarball.exists() {
        bail!("{} is missing (package linux-source-6.12)", tarball.display());
    }
    step(start, format!("i386 kernel: building into {}", dir.display()));
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("cache-key.txt"),
        format!(
            "linux-source-6.12 {source_version}\n{gcc_version}\nmake ARCH=i386\nfragment {}\n",
            fragment_path().display()
        ),
    )?;
    if !stamp("configured").exists() {
        if kdir.exists() {
            fs::remove_dir_all(&kdir)?;
        }
        step(start, format!("i386 kernel: unpacking {}", tarball.display()));
        run(Command::new("tar").arg("-xf").arg(&tarball).arg("-C").arg(&dir))?;
        step(start, "i386 kernel: tinyconfig + listings/kernel/kmem-book-i386.config");
        configure(&kdir, &vars, &fragment_path(), &fragment)?;
        fs::write(stamp("configured"), "")?;
    }
    let jobs = format!("-j{}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let t = Instant::now();
    let log = dir.join("build.log");
    // `all` also builds modules.symvers, which Kbuild needs for an out-of-tree module.
    if !make_logged(&kdir, &vars, &[&jobs, "all"], &log, "i386 kernel", Some(I386_BUILD_STEPS), false)? {
        bail!("the i386 kernel build failed; see {}", log.display());
    }
    step(start, format!("i386 kernel: built in {:.0}s", t.elapsed().as_secs_f64()));
    fs::write(stamp("built"), "")?;
    Ok(dir)
}

fn describe(source_version: &str, gcc_version: &str, fragment: &[u8]) -> String {
    let sha: String = Sha256::digest(fragment).iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "linux-source-6.12 {source_version}, make ARCH=i386 tinyconfig + listings/kernel/kmem-book-i386.config \
         (sha256 {sha}), {gcc_version}\n"
    )
}

/// About how many lines `make ARCH=i386 all` prints for the fragment from a clean tree (counted in a cold
/// build's log here), for the progress bar's estimate.
const I386_BUILD_STEPS: u64 = 700;

/// Builds the C module with Kbuild in a staging directory (`<out>/i386/module/`).
fn build_module(kdir: &Path, out_dir: &Path, start: Instant) -> Result<PathBuf> {
    let stage = out_dir.join("i386/module");
    fs::create_dir_all(&stage)?;
    fs::copy(source(), stage.join(format!("{MODULE}.c"))).with_context(|| format!("reading {}", source().display()))?;
    fs::write(stage.join("Kbuild"), format!("obj-m := {MODULE}.o\n"))?;
    let ko = stage.join(format!("{MODULE}.ko"));
    let _ = fs::remove_file(&ko);
    let log = out_dir.join("i386/module-build.log");
    let _ = fs::remove_file(&log);
    let m = format!("M={}", stage.canonicalize()?.display());
    step(start, format!("i386 module: make -C {} ARCH=i386 {m} modules", kdir.display()));
    let vars = vec!["ARCH=i386".to_string()];
    if !make_logged(kdir, &vars, &[&m, "modules"], &log, "i386 module", None, false)? || !ko.exists() {
        bail!("building {} failed; see {}", source().display(), log.display());
    }
    Ok(ko)
}
