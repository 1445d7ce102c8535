//! Building the book in-process with mdbook-driver and the gettext and mermaid preprocessors used as
//! libraries, and the checks the book tests run on the result.

use super::root;
use anyhow::{Context, Result};
use mdbook_driver::config::Config;
use mdbook_driver::MDBook;
use mdbook_i18n_helpers::preprocessors::Gettext;
use mdbook_i18n_helpers::renderers::Xgettext;
use polib::catalog::Catalog;
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The languages of the book: English (the source, at the site root) and its translations.
pub const TRANSLATIONS: &[&str] = &["zh-CN"];

/// A built bilingual site in a temporary directory (English at the root, each translation under
/// `<lang>/`), laid out as `cargo xtask build` lays out `book/`.
pub struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Site {
    pub fn lang_dir(&self, lang: &str) -> PathBuf {
        if lang == "en" {
            self.root.clone()
        } else {
            self.root.join(lang)
        }
    }

    /// Every HTML page of the site, both languages.
    pub fn pages(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out.retain(|p| p.extension().is_some_and(|e| e == "html") && !p.ends_with("404.html"));
        out.sort();
        out
    }

    /// The HTML pages of one language.
    pub fn pages_of(&self, lang: &str) -> Vec<PathBuf> {
        let dir = self.lang_dir(lang);
        self.pages()
            .into_iter()
            .filter(|p| {
                let rel = p.strip_prefix(&dir).unwrap_or(p);
                p.starts_with(&dir)
                    && (lang != "en" || !TRANSLATIONS.iter().any(|t| rel.starts_with(t)))
            })
            .collect()
    }

    pub fn relative(&self, page: &Path) -> String {
        page.strip_prefix(&self.root)
            .unwrap_or(page)
            .display()
            .to_string()
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Loads the book with the given language and output directory, with the gettext and mermaid
/// preprocessors replaced by the library versions (same names, so `book.toml`'s order is kept).
pub fn load(lang: Option<&str>, build_dir: &Path) -> Result<MDBook> {
    let mut config = Config::from_disk(root().join("book.toml"))?;
    if let Some(lang) = lang {
        config.book.language = Some(lang.to_string());
    }
    config.build.build_dir = build_dir.to_path_buf();
    let mut book = MDBook::load_with_config(root(), config)?;
    book.with_preprocessor(Gettext);
    book.with_preprocessor(mdbook_mermaid::Mermaid);
    Ok(book)
}

/// Builds English into the site root, then each translation into `<root>/<lang>`.
pub fn build_site() -> Result<Site> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("site");
    load(None, &root)?.build().context("building English")?;
    for lang in TRANSLATIONS {
        load(Some(lang), &root.join(lang))?
            .build()
            .with_context(|| format!("building {lang}"))?;
    }
    Ok(Site { _dir: dir, root })
}

/// The English chapters as (path relative to the root, text).
pub fn chapters() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    walk(&root().join("src"), &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "md"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (p.strip_prefix(root()).unwrap().to_path_buf(), text)
        })
        .collect()
}

fn re(pattern: &'static str, cell: &'static OnceLock<Regex>) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap())
}

/// Every `id="..."` of a page.
pub fn ids_of(html: &str) -> BTreeSet<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(r#"\sid="([^"]+)""#, &RE)
        .captures_iter(html)
        .map(|c| c[1].to_string())
        .collect()
}

/// The ids of the page's headings, in order.
pub fn heading_ids(html: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(r#"<h[1-6] id="([^"]+)""#, &RE)
        .captures_iter(html)
        .map(|c| c[1].to_string())
        .collect()
}

/// Every `href`/`src` of a page that stays on the site.
pub fn internal_links(html: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(r#"\s(?:href|src)="([^"]*)""#, &RE)
        .captures_iter(html)
        .map(|c| c[1].replace("&amp;", "&"))
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with("http://")
                || l.starts_with("https://")
                || l.starts_with("mailto:")
                || l.starts_with("javascript:")
                || l.starts_with("//")
                || l.starts_with("data:"))
        })
        .collect()
}

/// Resolves `link` found on `page`: the file must exist and, with a fragment, hold that id.
pub fn resolve(
    page: &Path,
    link: &str,
    ids: &BTreeMap<PathBuf, BTreeSet<String>>,
) -> Result<(), String> {
    let (path, fragment) = match link.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (link, None),
    };
    let path = path.split('?').next().unwrap_or("");
    let target = if path.is_empty() {
        page.to_path_buf()
    } else {
        let mut t = page.parent().unwrap().to_path_buf();
        for c in Path::new(path).components() {
            match c {
                Component::ParentDir => {
                    t.pop();
                }
                Component::Normal(n) => t.push(n),
                _ => {}
            }
        }
        if t.is_dir() {
            t.join("index.html")
        } else {
            t
        }
    };
    if !target.is_file() {
        return Err("no such file".into());
    }
    if let Some(fragment) = fragment.filter(|f| !f.is_empty()) {
        match ids.get(&target) {
            Some(set) if set.contains(fragment) => {}
            Some(_) => return Err(format!("no id `{fragment}` in the target page")),
            None => {}
        }
    }
    Ok(())
}

/// One `{{#include ...snap:RANGE}}` directive of a chapter.
pub struct SnapshotInclude {
    pub directive: String,
    pub file: PathBuf,
    pub range: String,
}

pub fn snapshot_includes(chapter: &str) -> Vec<SnapshotInclude> {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(
        r"\{\{#include\s+([^}\s:]+\.snap)(?::([^}\s]*))?\s*\}\}",
        &RE,
    )
    .captures_iter(chapter)
    .map(|c| SnapshotInclude {
        directive: c[0].to_string(),
        file: PathBuf::from(&c[1]),
        range: c.get(2).map(|m| m.as_str().to_string()).unwrap_or_default(),
    })
    .collect()
}

/// How `po/<lang>.po` compares with the messages of the current English source.
#[derive(Default)]
pub struct TranslationReport {
    pub lang: String,
    pub total: usize,
    /// In the English source, not in the po file (a new or changed English sentence).
    pub missing: Vec<String>,
    /// In the po file, no longer in the English source.
    pub stale: Vec<String>,
    pub untranslated: Vec<String>,
    pub fuzzy: Vec<String>,
}

impl TranslationReport {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
            && self.stale.is_empty()
            && self.untranslated.is_empty()
            && self.fuzzy.is_empty()
    }
}

impl fmt::Display for TranslationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lists = [
            (
                "in the English source but not in the po file (run `cargo xtask po`)",
                &self.missing,
            ),
            (
                "in the po file but no longer in the English source",
                &self.stale,
            ),
            ("untranslated", &self.untranslated),
            ("fuzzy", &self.fuzzy),
        ];
        for (what, list) in lists {
            if list.is_empty() {
                continue;
            }
            writeln!(f, "{} message(s) {what}:", list.len())?;
            for msgid in list.iter().take(10) {
                let short: String = msgid.chars().take(160).collect();
                writeln!(f, "  - {short:?}")?;
            }
        }
        Ok(())
    }
}

/// Extracts the English messages in-process (the xgettext renderer) and compares them with the po file.
pub fn translation_report() -> Result<TranslationReport> {
    translation_report_for("zh-CN")
}

pub fn translation_report_for(lang: &str) -> Result<TranslationReport> {
    let dir = tempfile::tempdir()?;
    let book = load(None, dir.path())?;
    book.execute_build_process(&Xgettext)?;
    let pot = polib::po_file::parse(&dir.path().join("messages.pot"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let po_path = root().join("po").join(format!("{lang}.po"));
    let po = polib::po_file::parse(&po_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", po_path.display()))?;
    Ok(compare(lang, &pot, &po))
}

fn compare(lang: &str, pot: &Catalog, po: &Catalog) -> TranslationReport {
    let english: BTreeSet<&str> = pot.messages().map(|m| m.msgid()).collect();
    let mut report = TranslationReport {
        lang: lang.into(),
        total: english.len(),
        ..Default::default()
    };
    let mut translated = BTreeSet::new();
    for m in po.messages() {
        let id = m.msgid();
        if !english.contains(id) {
            report.stale.push(id.to_string());
            continue;
        }
        translated.insert(id);
        if m.is_fuzzy() {
            report.fuzzy.push(id.to_string());
        } else if !m.is_translated() {
            report.untranslated.push(id.to_string());
        }
    }
    report.missing = english
        .iter()
        .filter(|id| !translated.contains(*id))
        .map(|s| s.to_string())
        .collect();
    report
}
