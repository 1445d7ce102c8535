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
        if *lang == "zh-CN" {
            write_status_table(&std::fs::read_to_string(&po)?)?;
        }
    }
    Ok(())
}

/// Per-chapter translation counts: (chapter file, messages, translated, fuzzy).
pub fn status(po: &str) -> Vec<(String, usize, usize, usize)> {
    use std::collections::BTreeMap;
    let mut per_file: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for entry in po.split("\n\n") {
        let mut files = Vec::new();
        let mut fuzzy = false;
        let mut in_msgstr = false;
        let mut msgid_empty = true;
        let mut msgstr = String::new();
        for line in entry.lines() {
            if let Some(refs) = line.strip_prefix("#: ") {
                files.extend(refs.split_whitespace().map(|r| r.split(':').next().unwrap_or(r).to_string()));
            } else if line.starts_with("#,") && line.contains("fuzzy") {
                fuzzy = true;
            } else if let Some(rest) = line.strip_prefix("msgid ") {
                msgid_empty = rest == "\"\"";
                in_msgstr = false;
            } else if let Some(rest) = line.strip_prefix("msgstr ") {
                in_msgstr = true;
                msgstr.push_str(rest.trim_matches('"'));
            } else if line.starts_with('"') {
                if in_msgstr {
                    msgstr.push_str(line.trim_matches('"'));
                } else {
                    msgid_empty = false;
                }
            }
        }
        if files.is_empty() || (msgid_empty && !entry.contains("\nmsgid \"\"\n\"")) {
            continue;
        }
        files.sort();
        files.dedup();
        for f in files {
            let e = per_file.entry(f).or_default();
            e.0 += 1;
            if fuzzy {
                e.2 += 1;
            } else if !msgstr.is_empty() {
                e.1 += 1;
            }
        }
    }
    per_file.into_iter().map(|(f, (n, t, z))| (f, n, t, z)).collect()
}

/// Rewrites the translation-status table of README.md (between the `po-status` markers).
pub fn write_status_table(po: &str) -> Result<()> {
    let readme_path = crate::root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    let (begin, end) = ("<!-- po-status:begin -->", "<!-- po-status:end -->");
    let (Some(a), Some(b)) = (readme.find(begin), readme.find(end)) else {
        return Ok(());
    };
    let mut table = String::from("\n| chapter | messages | translated | fuzzy |\n|---|---:|---:|---:|\n");
    for (file, n, t, z) in status(po) {
        table.push_str(&format!("| `{file}` | {n} | {t} | {z} |\n"));
    }
    let updated = format!("{}{begin}{table}{}", &readme[..a], &readme[b..]);
    std::fs::write(readme_path, updated)?;
    Ok(())
}
