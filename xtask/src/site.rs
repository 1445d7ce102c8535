//! Building the bilingual site: English at the root of `dest`, each translation under `dest/<lang>/`.
//!
//! The book is built in-process with mdbook-driver and the gettext and mermaid preprocessors as libraries
//! (the pinned versions the tests build it with), so building and serving need no mdbook CLI; the CLI
//! (`cargo xtask tools`) is for readers who run `mdbook serve` themselves.

use anyhow::{bail, Context, Result};
use mdbook_driver::config::Config;
use mdbook_driver::MDBook;
use std::path::Path;

/// The translations, each built from `po/<lang>.po`.
pub const TRANSLATIONS: &[&str] = &["zh-CN"];

pub fn build(dest: &Path) -> Result<()> {
    let root = crate::root();
    let dest = if dest.is_absolute() { dest.to_path_buf() } else { root.join(dest) };
    build_lang(None, &dest)?;
    for lang in TRANSLATIONS {
        build_lang(Some(lang), &dest.join(lang))?;
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

fn build_lang(lang: Option<&str>, dest: &Path) -> Result<()> {
    eprintln!("==> building {} into {}", lang.unwrap_or("en"), dest.display());
    let root = crate::root();
    let mut config = Config::from_disk(root.join("book.toml")).context("reading book.toml")?;
    if let Some(lang) = lang {
        config.book.language = Some(lang.to_string());
    }
    config.build.build_dir = dest.to_path_buf();
    // Pagefind indexes the site (search_index); mdBook's own search is for plain `mdbook serve`.
    config.set("output.html.search.enable", false).context("configuring the html output")?;
    let mut book = MDBook::load_with_config(&root, config).context("loading the book")?;
    // The library versions of the two preprocessors book.toml names (same names: its order is kept).
    book.with_preprocessor(mdbook_i18n_helpers::preprocessors::Gettext);
    book.with_preprocessor(mdbook_mermaid::Mermaid);
    book.build().with_context(|| format!("building the {} edition", lang.unwrap_or("en")))
}
