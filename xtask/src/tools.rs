//! The pinned book toolchain, installed on first use into `target/tools` with `cargo install --locked`.
//! The three installs share one build directory (`target/tools/build`), so the crates they have in
//! common compile once.

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// A pinned tool: what `cargo install` builds, and how many crates a cold install compiles (measured with
/// `cargo install` here, for the progress bar's estimate; the shared build directory makes the later
/// installs compile fewer).
struct Pinned {
    krate: &'static str,
    version: &'static str,
    bins: &'static [&'static str],
    args: &'static [&'static str],
    crates: u64,
    /// What else decides the build (features, profile): part of the install's stamp, so changing how a
    /// tool is built reinstalls it over an older install of the same version.
    recipe: &'static str,
}

const PINNED: &[Pinned] = &[
    // mdbook with its default features (search, watch, serve): `mdbook serve` is how README reads one
    // language with live reload.
    Pinned {
        krate: "mdbook",
        version: "0.5.4",
        bins: &["mdbook"],
        args: &[],
        crates: 260,
        recipe: "default-features-O1",
    },
    Pinned {
        krate: "mdbook-i18n-helpers",
        version: "0.4.0",
        bins: &["mdbook-gettext", "mdbook-xgettext"],
        args: &[],
        crates: 120,
        recipe: "O1",
    },
    Pinned {
        krate: "mdbook-mermaid",
        version: "0.17.1",
        bins: &["mdbook-mermaid"],
        args: &[],
        crates: 60,
        recipe: "O1",
    },
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

    /// `PATH` with the pinned tools first (what `mdbook serve` needs to find the preprocessors).
    pub fn path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        // A PATH entry containing the separator cannot be joined; such an entry is dropped.
        paths.retain(|p| std::env::join_paths([p]).is_ok());
        std::env::join_paths(paths).unwrap_or_default()
    }
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| crate::root().join("target"))
}

/// Installs every pinned tool that is missing or at another version; returns where they are.
pub fn ensure() -> Result<Tools> {
    let root = target_dir().join("tools");
    let bin = root.join("bin");
    for tool in PINNED {
        let stamp = root.join(format!(".{}-{}-{}", tool.krate, tool.version, tool.recipe));
        if stamp.exists() && tool.bins.iter().all(|b| bin.join(b).exists()) {
            continue;
        }
        install(tool, &root)?;
        std::fs::write(&stamp, "")?;
    }
    Ok(Tools { bin })
}

/// `cargo install` of one tool, its output reduced to a progress bar (crates compiled, of about how
/// many, with an estimate of the time left); on failure, cargo's error lines and what to do.
fn install(tool: &Pinned, root: &std::path::Path) -> Result<()> {
    let what = format!("{} {}", tool.krate, tool.version);
    eprintln!("==> installing {what} into {} (first run only: cargo install compiles it)", root.display());
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["install", "--locked", "--force", "--version", tool.version, "--root"])
        .arg(root)
        .arg("--target-dir")
        .arg(root.join("build"))
        // The first run's cost is compiling: opt-level 1 compiles faster than the default 3, and the tools
        // still build this book in well under a second (measured: the Chinese edition in 0.47 s, 0.37 s
        // at opt-level 3).
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .args(tool.args)
        .arg(tool.krate)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running cargo install")?;
    let bar = ProgressBar::new(tool.crates).with_style(
        ProgressStyle::with_template(
            "    {spinner} [{elapsed_precise}] {bar:30} {pos}/~{len} crates, ~{eta} left: {msg}",
        )
        .expect("a valid progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut errors = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines().map_while(Result::ok) {
        let line = line.trim();
        if let Some(krate) = line.strip_prefix("Compiling ") {
            if bar.position() + 1 >= bar.length().unwrap_or(0) {
                bar.set_length(bar.position() + 2);
            }
            bar.inc(1);
            bar.set_message(krate.split(' ').next().unwrap_or("").to_string());
            if bar.is_hidden() && bar.position() % 50 == 0 {
                // No terminal (CI's log): a line now and then instead of the bar.
                eprintln!(
                    "    {}/~{} crates compiled in {:.0?}",
                    bar.position(),
                    bar.length().unwrap_or(0),
                    bar.elapsed()
                );
            }
        } else if line.starts_with("Downloading") || line.starts_with("Updating") {
            bar.set_message(line.to_string());
        } else if line.starts_with("error") || line.starts_with("Caused by") || !errors.is_empty() {
            errors.push(line.to_string());
        }
    }
    let status = child.wait().context("waiting for cargo install")?;
    let (compiled, took) = (bar.position(), bar.elapsed());
    bar.finish_and_clear();
    if status.success() {
        eprintln!("    {what} installed in {took:.0?} ({compiled} crates compiled)");
        return Ok(());
    }
    for line in errors.iter().take(12) {
        eprintln!("    {line}");
    }
    let offline = errors.iter().any(|l| {
        ["download", "network", "resolve host", "index", "connect", "registry"]
            .iter()
            .any(|w| l.to_lowercase().contains(w))
    });
    Err(if offline {
        anyhow!("could not install {what}: crates.io is unreachable; the first run needs the network (later runs work offline)")
    } else {
        anyhow!("could not install {what} (cargo install failed, its errors are above)")
    })
}
