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
    eprintln!("==> the site is in {}", dest.display());
    Ok(())
}

fn build_lang(tools: &Tools, lang: Option<&str>, dest: &Path) -> Result<()> {
    eprintln!("==> building {} into {}", lang.unwrap_or("en"), dest.display());
    let mut cmd = tools.command("mdbook");
    cmd.current_dir(crate::root()).arg("build").arg("-d").arg(dest);
    if let Some(lang) = lang {
        cmd.env("MDBOOK_BOOK__LANGUAGE", lang);
    }
    let status = cmd.status().context("running mdbook")?;
    if !status.success() {
        bail!("mdbook build failed for {}", lang.unwrap_or("en"));
    }
    Ok(())
}
