//! The translation workflow: extract the English messages (mdbook-xgettext) into `po/messages.pot`, then
//! `msgmerge --update` every `po/<lang>.po` so that new messages appear (untranslated) and changed ones
//! become fuzzy, for a translator to finish. `cargo test` fails until none is missing, fuzzy or stale.

use crate::tools::Tools;
use anyhow::{bail, Context, Result};
use std::process::Command;

pub fn update(tools: &Tools) -> Result<()> {
    let root = crate::root();
    let status = tools
        .command("mdbook")
        .current_dir(&root)
        .args(["build", "-d", "po"])
        .env("MDBOOK_OUTPUT", r#"{"xgettext": {"pot-file": "messages.pot", "granularity": 0}}"#)
        .status()
        .context("running mdbook with the xgettext renderer")?;
    if !status.success() {
        bail!("extracting messages failed");
    }
    for lang in crate::site::TRANSLATIONS {
        let po = root.join("po").join(format!("{lang}.po"));
        let status = Command::new("msgmerge")
            .args(["--update", "--backup=none", "--no-wrap", "--sort-by-file"])
            .arg(&po)
            .arg(root.join("po/messages.pot"))
            .status()
            .context("running msgmerge (apt-get install gettext)")?;
        if !status.success() {
            bail!("msgmerge failed for {}", po.display());
        }
        let stats = Command::new("msgfmt")
            .args(["--statistics", "-o", "/dev/null"])
            .arg(&po)
            .output()?;
        eprintln!("==> {}: {}", po.display(), String::from_utf8_lossy(&stats.stderr).trim());
    }
    Ok(())
}
