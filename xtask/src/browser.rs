//! The browser side: `cargo xtask build --pdf` (Chromium prints each language's print page) and
//! `cargo xtask browser-test` (tests/browser/site.test.mjs drives Chromium over the built site). Both use
//! Debian's Chromium through playwright-core (npm, pinned in package.json); nothing downloads a browser.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs what the browser needs, by package name, when it is missing: Chromium, a CJK font and
/// poppler-utils (pdffonts/pdftotext, for the PDF checks) with apt-get; playwright-core with `npm ci`.
/// Returns the Chromium executable.
pub fn prerequisites() -> Result<PathBuf> {
    let chromium = || {
        std::env::var_os("KMEM_CHROMIUM")
            .map(PathBuf::from)
            .into_iter()
            .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].map(PathBuf::from))
            .find(|p| p.exists())
    };
    let cjk_font =
        || Command::new("fc-list").args([":lang=zh-cn", "family"]).output().is_ok_and(|o| !o.stdout.is_empty());
    let mut need = Vec::new();
    if chromium().is_none() {
        need.push("chromium");
    }
    if !cjk_font() {
        need.push("fonts-noto-cjk");
    }
    if !has("pdffonts") {
        need.push("poppler-utils");
    }
    if !need.is_empty() {
        eprintln!("==> installing {} (apt-get)", need.join(" "));
        let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
        for args in [vec!["apt-get", "update", "-qq"], [vec!["apt-get", "install", "-y", "-qq"], need.clone()].concat()]
        {
            let all = [sudo, &args[..]].concat();
            let status = Command::new(all[0]).args(&all[1..]).status().context("running apt-get")?;
            if !status.success() {
                bail!("could not install {} (apt-get)", need.join(" "));
            }
        }
    }
    crate::site::npm_ci()?;
    chromium().context("no Chromium at /usr/bin/chromium (set KMEM_CHROMIUM to another Chromium)")
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("-v").output().is_ok()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
}

fn node(chromium: &Path) -> Command {
    let mut cmd = Command::new("node");
    cmd.current_dir(crate::root()).env("KMEM_CHROMIUM", chromium);
    cmd
}

/// Prints `<site>/print.html` and `<site>/zh-CN/print.html` to `kmem-book.pdf` beside them.
pub fn pdf(site: &Path) -> Result<()> {
    let chromium = prerequisites()?;
    eprintln!("==> printing the PDFs (Chromium)");
    let status = node(&chromium).arg("tests/browser/pdf.mjs").arg(site).status().context("running node")?;
    if !status.success() {
        bail!("printing the PDFs failed");
    }
    Ok(())
}

/// Runs the browser suite over `site`; artifacts (screenshots) go to `<target>/browser/`.
pub fn test(site: &Path) -> Result<()> {
    let chromium = prerequisites()?;
    let artifacts = crate::tools::target_dir().join("browser");
    eprintln!("==> browser suite over {} (screenshots in {})", site.display(), artifacts.display());
    let started = std::time::Instant::now();
    let status = node(&chromium)
        .args(["--test", "--test-reporter=spec", "tests/browser/site.test.mjs"])
        .env("KMEM_SITE", site)
        .env("KMEM_ARTIFACTS", &artifacts)
        .status()
        .context("running node")?;
    eprintln!("==> browser suite took {:.0?}", started.elapsed());
    if !status.success() {
        bail!("the browser suite failed");
    }
    Ok(())
}
