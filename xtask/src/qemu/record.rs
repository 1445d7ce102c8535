//! `--record`: the fresh real outputs become the committed captures.
//!
//! `listings/kernel/observed/<listing>/` gets the listing's outputs (`report::captures`), `observed/boot/`
//! the first boot's log and `/proc` files right after boot (what the simulator's boot is calibrated
//! from; only when every listing ran, as the initramfs then holds every module), `observed/PROVENANCE` what made them, and `listings/kernel/symbols/` the real build's symbols.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::boot::ListingRun;
use super::deps::Tools;
use super::kernel::Kernel;
use super::modules::{Built, Listing};
use super::report::captures;

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the captures, the boot files, PROVENANCE and the symbols.
#[allow(clippy::too_many_arguments)]
pub fn record(
    root: &Path,
    kernel: &Kernel,
    tools: Option<&Tools>,
    listings: &[Listing],
    built: &BTreeMap<String, Built>,
    runs: &BTreeMap<String, ListingRun>,
    out_dir: &Path,
    every_listing: &[String],
) -> Result<()> {
    let observed = root.join(kmem_truth::observed::DIR);
    captures_into(&observed, listings, runs, out_dir)?;
    // The boot files calibrate the simulator's boot, and a boot's state depends on what the initramfs
    // holds (every listing's module): only a run of every listing replaces them.
    let boot = out_dir.join("boot");
    let whole_run = listings.len() == every_listing.len();
    if !whole_run {
        eprintln!(
            "[qemu] boot/ kept: only a run of every listing re-records the boot the simulator is calibrated from"
        );
    }
    if whole_run && boot.is_dir() {
        let dst = observed.join("boot");
        fs::create_dir_all(&dst)?;
        for e in fs::read_dir(&boot)? {
            let p = e?.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            fs::copy(&p, dst.join(format!("{name}.txt")))?;
        }
    }
    fs::write(observed.join("PROVENANCE"), provenance(root, kernel, tools, out_dir, "cargo xtask qemu --record")?)?;

    let modules: Vec<(String, std::path::PathBuf)> =
        listings.iter().filter_map(|l| built[&l.name].ko.clone().map(|ko| (l.name.clone(), ko))).collect();
    super::symbols::extract(root, &kernel.kdir.join("vmlinux"), &modules, every_listing, out_dir)?;
    Ok(())
}

/// `--conformance --record`: the conformance modules' captures into `observed` (one folder per module), and
/// its `PROVENANCE`; their symbols and the boot are not recorded (the simulator needs neither of them).
pub fn record_conformance(
    root: &Path,
    kernel: &Kernel,
    tools: Option<&Tools>,
    listings: &[Listing],
    runs: &BTreeMap<String, ListingRun>,
    out_dir: &Path,
) -> Result<()> {
    let observed = root.join(kmem_truth::observed::CONFORMANCE_DIR);
    captures_into(&observed, listings, runs, out_dir)?;
    fs::write(
        observed.join("PROVENANCE"),
        provenance(root, kernel, tools, out_dir, "cargo xtask qemu --conformance --record")?,
    )?;
    Ok(())
}

/// Each listing's outputs into `observed/<listing>/`, replacing what was there, and where its boot had the
/// initramfs into `observed/initrd.txt` (from the boot's console, `<out_dir>/boot-<n>/console.log`).
fn captures_into(
    observed: &Path,
    listings: &[Listing],
    runs: &BTreeMap<String, ListingRun>,
    out_dir: &Path,
) -> Result<()> {
    use kmem_truth::observed::{format_initrd, parse_initrd, ramdisk_of_console, INITRD};
    let initrd_file = observed.join(INITRD);
    let mut initrd = parse_initrd(&fs::read_to_string(&initrd_file).unwrap_or_default());
    for l in listings {
        let Some(run) = runs.get(&l.name) else { continue };
        let console = fs::read_to_string(out_dir.join(format!("boot-{}/console.log", run.boot))).unwrap_or_default();
        match ramdisk_of_console(&console) {
            Some(r) => {
                initrd.insert(l.name.clone(), r);
            }
            None => {
                initrd.remove(&l.name);
            }
        }
        let dir = observed.join(&l.name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        for (_, capture, text) in captures(l, run) {
            fs::write(dir.join(capture), text)?;
        }
    }
    fs::write(&initrd_file, format_initrd(&initrd))?;
    Ok(())
}

/// The text of `PROVENANCE`: which kernel, configuration, QEMU and command line made the captures;
/// `command` is the command that recorded them.
fn provenance(root: &Path, kernel: &Kernel, tools: Option<&Tools>, out_dir: &Path, command: &str) -> Result<String> {
    let config = fs::read(kernel.kdir.join(".config")).context("reading the kernel's .config")?;
    let banner = fs::read_to_string(out_dir.join("boot/dmesg"))
        .ok()
        .and_then(|d| {
            d.lines().find(|l| l.contains("Linux version")).map(|l| l.split("] ").nth(1).unwrap_or(l).to_string())
        })
        .unwrap_or_else(|| "(no boot log)".into());
    let qemu = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let mut p = String::new();
    writeln!(p, "# What made the captures in this folder (`{command}`).")?;
    writeln!(p, "kernel:   {banner}")?;
    if let Some(t) = tools {
        writeln!(
            p,
            "source:   linux-source-6.12 {} + listings/kernel/kmem-book.patch (sha256 {})",
            t.source_version,
            sha256(&fs::read(root.join("listings/kernel/kmem-book.patch"))?)
        )?;
        writeln!(p, "rustc:    {}", t.rustc_version.trim())?;
        writeln!(p, "bindgen:  {}", t.bindgen_version.trim())?;
    } else {
        writeln!(p, "source:   KDIR={}", kernel.kdir.display())?;
    }
    writeln!(p, "config:   tinyconfig + listings/kernel/kmem-book.config, .config sha256 {}", sha256(&config))?;
    writeln!(
        p,
        "make:     {}",
        kernel.make_vars.iter().filter(|v| !v.contains('/')).cloned().collect::<Vec<_>>().join(" ")
    )?;
    writeln!(
        p,
        "qemu:     {qemu} (TCG), -m {}M -smp {},sockets={},cores=1,threads=1 -no-reboot",
        kmem_truth::book::RAM_MIB,
        kmem_truth::book::CPUS,
        kmem_truth::book::CPUS
    )?;
    writeln!(
        p,
        "cmdline:  {} (changed per listing by its manifest, listings/ch*/NAME.toml)",
        kmem_truth::book::CMDLINE
    )?;
    writeln!(p, "boots:    one fresh boot per listing; boot/ is the first boot, before any module")?;
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    writeln!(p, "recorded: {date}")?;
    Ok(p)
}
