//! Building the bilingual site: English at the root of `dest`, each translation under `dest/<lang>/`.

use crate::tools::Tools;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// The translations, each built from `po/<lang>.po`.
pub const TRANSLATIONS: &[&str] = &["zh-CN"];

pub fn build(tools: &Tools, dest: &Path) -> Result<()> {
    let root = crate::root();
    let dest = if dest.is_absolute() { dest.to_path_buf() } else { root.join(dest) };
    build_lang(tools, None, &dest)?;
    for lang in TRANSLATIONS {
        build_lang(tools, Some(lang), &dest.join(lang))?;
    }
    search_index(&dest)?;
    eprintln!("==> the site is in {}", dest.display());
    Ok(())
}

/// Runs Pagefind (from the npm registry, pinned in package.json/package-lock.json) over the built site:
/// one index per language, with CJK segmentation for the Chinese pages. Only chapter pages are indexed
/// (not the print page, which repeats them all, nor index.html, a copy of the introduction).
fn search_index(dest: &Path) -> Result<()> {
    npm_ci()?;
    let pagefind = crate::root().join("node_modules/.bin/pagefind");
    eprintln!("==> indexing the site for search (Pagefind)");
    let status = std::process::Command::new(&pagefind)
        .arg("--site")
        .arg(dest)
        .args(["--glob", "**/{introduction,ch,appendix}*.html", "--quiet"])
        .status()
        .context("running pagefind")?;
    if !status.success() {
        bail!("pagefind failed");
    }
    Ok(())
}

/// Installs the npm packages pinned in package-lock.json (Pagefind, playwright-core) unless present.
pub fn npm_ci() -> Result<()> {
    let root = crate::root();
    if ["node_modules/.bin/pagefind", "node_modules/playwright-core/package.json"].iter().all(|p| root.join(p).exists())
    {
        return Ok(());
    }
    eprintln!("==> installing the npm packages (npm ci; first run only)");
    let status = std::process::Command::new("npm")
        .current_dir(&root)
        .args(["ci", "--no-audit", "--no-fund"])
        .status()
        .context("running npm: install Node.js and npm (apt-get install nodejs npm)")?;
    if !status.success() {
        bail!("npm ci failed (its errors are above; the first run needs the npm registry)");
    }
    Ok(())
}

fn build_lang(tools: &Tools, lang: Option<&str>, dest: &Path) -> Result<()> {
    eprintln!("==> building {} into {}", lang.unwrap_or("en"), dest.display());
    let mut cmd = tools.command("mdbook");
    cmd.current_dir(crate::root()).arg("build").arg("-d").arg(dest);
    // Pagefind indexes the site (search_index), so mdBook's own search is left out (book.toml).
    cmd.env("MDBOOK_OUTPUT__HTML__SEARCH__ENABLE", "false");
    if let Some(lang) = lang {
        cmd.env("MDBOOK_BOOK__LANGUAGE", lang);
    }
    let status = cmd.status().context("running mdbook")?;
    if !status.success() {
        bail!("mdbook build failed for {}", lang.unwrap_or("en"));
    }
    Ok(())
}
