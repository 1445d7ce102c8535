//! Finding the listings and building them with Kbuild.
//!
//! A listing is `listings/ch*/NAME.rs`; its module is `NAME.ko` (`listings/Kbuild` globs them).
//! Kbuild in 6.12 writes its objects beside the sources, so the tree is staged (Kbuild + sources,
//! copied only when changed so rebuilds stay incremental) into `target/qemu/modules/` and built
//! there with `make -C $KDIR M=target/qemu/modules`; `listings/` stays clean.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::kernel::{make_logged, Kernel};
use super::{step, QemuOptions};

#[derive(Debug, Clone)]
pub struct Listing {
    /// Module name = file stem.
    pub name: String,
    /// The chapter folder, e.g. `ch07-vmalloc`.
    pub chapter: String,
    pub source: PathBuf,
    /// `NAME.toml` beside it (defaults when there is none).
    pub manifest: kmem_truth::Manifest,
}

/// Every `ch*/*.rs` under `dir`, in chapter then file order.
pub fn discover(dir: &Path) -> Result<Vec<Listing>> {
    let mut out = Vec::new();
    let mut chapters: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("ch")))
        .collect();
    chapters.sort();
    for ch in chapters {
        let chapter = ch.file_name().unwrap().to_string_lossy().into_owned();
        out.extend(in_dir(&ch, &chapter)?);
    }
    let mut seen = BTreeMap::new();
    for l in &out {
        if let Some(prev) = seen.insert(l.name.clone(), l.chapter.clone()) {
            bail!("listing name `{}` is used in both {prev} and {}: module names must be unique", l.name, l.chapter);
        }
    }
    Ok(out)
}

/// The conformance modules, every `tests/conformance/*.rs` (`dir`), as listings of the chapter folder
/// `ch-conformance` (what Kbuild's `ch*/` glob builds); their names must not be listings' names.
pub fn discover_conformance(dir: &Path, listings_dir: &Path) -> Result<Vec<Listing>> {
    let out = in_dir(dir, "ch-conformance")?;
    let listings = discover(listings_dir)?;
    for l in &out {
        if let Some(other) = listings.iter().find(|o| o.name == l.name) {
            bail!("{} has the module name of the listing {}", l.source.display(), other.source.display());
        }
    }
    Ok(out)
}

/// Every `*.rs` of `dir` in file order, as listings of `chapter`.
fn in_dir(dir: &Path, chapter: &str) -> Result<Vec<Listing>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let manifest = kmem_truth::Manifest::for_listing(&f).map_err(anyhow::Error::msg)?;
        out.push(Listing {
            name: f.file_stem().unwrap().to_string_lossy().into_owned(),
            chapter: chapter.to_string(),
            source: f,
            manifest,
        });
    }
    Ok(out)
}

/// Result of building one listing.
#[derive(Debug, Clone)]
pub struct Built {
    pub ko: Option<PathBuf>,
    /// Compiler messages mentioning this listing (when it failed).
    pub errors: String,
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let new = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    if fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        if let Some(p) = to.parent() {
            fs::create_dir_all(p)?;
        }
        fs::write(to, new)?;
    }
    Ok(())
}

/// Stages `listings` under `out_dir/modules/` and builds them; with `quiet`, make's errors are not printed (the
/// caller prints each listing's [`Built::errors`]).
pub fn build(
    kernel: &Kernel,
    listings_dir: &Path,
    listings: &[Listing],
    opts: &QemuOptions,
    out_dir: &Path,
    start: Instant,
    quiet: bool,
) -> Result<BTreeMap<String, Built>> {
    let stage = out_dir.join("modules");
    fs::create_dir_all(&stage)?;
    copy_if_changed(&listings_dir.join("Kbuild"), &stage.join("Kbuild"))?;
    // Drop staged sources that are neither listings nor the modules built now (renamed, moved, other
    // --listings-dir), so Kbuild never sees two modules of one name.
    let keep: Vec<PathBuf> = discover(listings_dir)?
        .iter()
        .chain(listings)
        .map(|l| stage.join(&l.chapter).join(format!("{}.rs", l.name)))
        .collect();
    for ch in fs::read_dir(&stage)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()) {
        for f in fs::read_dir(&ch)?.filter_map(|e| e.ok().map(|e| e.path())) {
            if f.extension().is_some_and(|x| x == "rs") && !keep.contains(&f) {
                let _ = fs::remove_file(&f);
            }
        }
    }
    for l in listings {
        let dst = staged_source(out_dir, l);
        copy_if_changed(&l.source, &dst)?;
        // Force the link step so a failed build cannot leave a stale .ko behind.
        let _ = fs::remove_file(dst.with_extension("ko"));
    }
    let log = out_dir.join("modules-build.log");
    let _ = fs::remove_file(&log);
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let m = format!("M={}", stage.canonicalize()?.display());
    let j = format!("-j{jobs}");
    let t = Instant::now();
    let run_make = |names: &[&str]| -> Result<bool> {
        let sel = format!("KMEM_LISTINGS={}", names.join(" "));
        let mut args = vec![m.as_str(), sel.as_str(), j.as_str()];
        if opts.keep_going {
            args.push("-k");
        }
        args.push("modules");
        step(
            start,
            format!(
                "modules: make -C {} {} ({} listing(s))",
                kernel.kdir.display(),
                [m.as_str(), j.as_str(), "modules"].join(" "),
                names.len()
            ),
        );
        make_logged(&kernel.kdir, &kernel.make_vars, &args, &log, "modules", None, quiet)
    };
    let names: Vec<&str> = listings.iter().map(|l| l.name.as_str()).collect();
    let mut ok = run_make(&names)?;
    if !ok && opts.keep_going {
        // Kbuild links and runs modpost only when every object compiled: build the others again
        // without the listings whose compilation failed.
        let text = fs::read_to_string(&log).unwrap_or_default();
        let failed: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| text.lines().any(|l| l.contains("***") && l.contains(&format!("/{n}.o]"))))
            .collect();
        let rest: Vec<&str> = names.iter().copied().filter(|n| !failed.contains(n)).collect();
        if !failed.is_empty() && !rest.is_empty() {
            step(start, format!("modules: {} failed to compile; linking the other {}", failed.join(", "), rest.len()));
            ok = run_make(&rest)?;
        }
    }
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    let mut out = BTreeMap::new();
    for l in listings {
        let ko = stage.join(&l.chapter).join(format!("{}.ko", l.name));
        let needle = format!("{}/{}.rs", l.chapter, l.name);
        let errors = if ko.exists() { String::new() } else { error_context(&log_text, &needle) };
        out.insert(l.name.clone(), Built { ko: ko.exists().then_some(ko), errors });
    }
    let n_ok = out.values().filter(|b| b.ko.is_some()).count();
    step(
        start,
        format!(
            "modules: {n_ok}/{} built in {:.0}s{}",
            listings.len(),
            t.elapsed().as_secs_f64(),
            if ok { String::new() } else { format!(" (make failed; log {})", log.display()) }
        ),
    );
    Ok(out)
}

/// Where `build` stages `listing`'s source (what Kbuild and the compiler's messages name).
pub fn staged_source(out_dir: &Path, listing: &Listing) -> PathBuf {
    out_dir.join("modules").join(&listing.chapter).join(format!("{}.rs", listing.name))
}

/// The compiler diagnostics around mentions of `needle` (rustc prints `--> path:line:col`).
fn error_context(log: &str, needle: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut keep = vec![false; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        if l.contains(needle) {
            for k in keep.iter_mut().take((i + 12).min(lines.len())).skip(i.saturating_sub(3)) {
                *k = true;
            }
        }
    }
    let s: Vec<&str> = lines.iter().zip(&keep).filter(|(_, k)| **k).map(|(l, _)| *l).collect();
    if s.is_empty() {
        "(no message names this listing; see modules-build.log)".to_string()
    } else {
        s.join("\n")
    }
}
