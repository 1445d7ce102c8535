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
                p.starts_with(&dir) && (lang != "en" || !TRANSLATIONS.iter().any(|t| rel.starts_with(t)))
            })
            .collect()
    }

    pub fn relative(&self, page: &Path) -> String {
        page.strip_prefix(&self.root).unwrap_or(page).display().to_string()
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
    // Each language is a build of its own, at the same time. A translation is built beside the site and
    // moved into it afterwards: the English build empties its output directory first.
    let staged = |lang: &str| dir.path().join(format!("build-{lang}"));
    std::thread::scope(|s| {
        let translations: Vec<_> = TRANSLATIONS
            .iter()
            .map(|lang| {
                let out = staged(lang);
                s.spawn(move || load(Some(lang), &out)?.build().with_context(|| format!("building {lang}")))
            })
            .collect();
        load(None, &root)?.build().context("building English")?;
        translations.into_iter().try_for_each(|t| t.join().expect("a book build panicked"))
    })?;
    for lang in TRANSLATIONS {
        fs::rename(staged(lang), root.join(lang))?;
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
    re(r#"\sid="([^"]+)""#, &RE).captures_iter(html).map(|c| c[1].to_string()).collect()
}

/// The ids of the page's headings, in order.
pub fn heading_ids(html: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    re(r#"<h[1-6] id="([^"]+)""#, &RE).captures_iter(html).map(|c| c[1].to_string()).collect()
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
pub fn resolve(page: &Path, link: &str, ids: &BTreeMap<PathBuf, BTreeSet<String>>) -> Result<(), String> {
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
    re(r"\{\{#include\s+([^}\s:]+\.snap)(?::([^}\s]*))?\s*\}\}", &RE)
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
        self.missing.is_empty() && self.stale.is_empty() && self.untranslated.is_empty() && self.fuzzy.is_empty()
    }
}

impl fmt::Display for TranslationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lists = [
            ("in the English source but not in the po file (run `cargo xtask po`)", &self.missing),
            ("in the po file but no longer in the English source", &self.stale),
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
    let pot = polib::po_file::parse(&dir.path().join("messages.pot")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let po_path = root().join("po").join(format!("{lang}.po"));
    let po = polib::po_file::parse(&po_path).map_err(|e| anyhow::anyhow!("{}: {e}", po_path.display()))?;
    Ok(compare(lang, &pot, &po))
}

fn compare(lang: &str, pot: &Catalog, po: &Catalog) -> TranslationReport {
    let english: BTreeSet<&str> = pot.messages().map(|m| m.msgid()).collect();
    let mut report = TranslationReport { lang: lang.into(), total: english.len(), ..Default::default() };
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
    report.missing = english.iter().filter(|id| !translated.contains(*id)).map(|s| s.to_string()).collect();
    report
}

/// The rendered number of every numbered chapter of one language of the site, by page (`ch02-address-space`
/// → `1.`), read from the sidebar mdBook writes (`toc.js`, or `toc.html`/`index.html` for older layouts).
pub fn rendered_chapter_numbers(lang_dir: &Path) -> BTreeMap<String, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = re(r#"href=\\?"([^"\\#]+?)\.html\\?"[^>]*>\s*<strong aria-hidden=\\?"true\\?">([0-9.]+)</strong>"#, &RE);
    let mut out = BTreeMap::new();
    for file in ["toc.js", "toc.html", "index.html"] {
        let Ok(html) = fs::read_to_string(lang_dir.join(file)) else { continue };
        for c in re.captures_iter(&html) {
            out.entry(c[1].to_string()).or_insert_with(|| c[2].trim_end_matches('.').to_string());
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

/// A reference to a chapter by number in a page's text (`chapter 3`, `Chapter 3`, `第 3 章`) that does not
/// name the chapter the sidebar shows with that number: the first link within `window` bytes after the
/// number must be that chapter's page. `numbers` maps pages to their rendered numbers.
pub fn wrong_chapter_numbers(html: &str, numbers: &BTreeMap<String, String>) -> Vec<String> {
    static PRE: OnceLock<Regex> = OnceLock::new();
    static TAG: OnceLock<Regex> = OnceLock::new();
    static NUM: OnceLock<Regex> = OnceLock::new();
    static HREF: OnceLock<Regex> = OnceLock::new();
    // Code blocks may say anything; the sidebar and the navigation are not prose.
    let body = html.split("<main>").nth(1).and_then(|m| m.split("</main>").next()).unwrap_or(html);
    let body = re(r"(?s)<pre>.*?</pre>|<code>.*?</code>", &PRE).replace_all(body, " ");
    let num = re(r"(?i)\bchapters?\s+(\d+)\b|第\s*(\d+)\s*章", &NUM);
    let href = re(r##"<a href="(?:\./|\.\./)*([^"#]+?)\.html"##, &HREF);
    let tag = re(r"<[^>]+>", &TAG);
    let mut wrong = Vec::new();
    for c in num.captures_iter(&body) {
        let n = c.get(1).or(c.get(2)).unwrap().as_str();
        let end = c.get(0).unwrap().end();
        let window: String = body[end..].chars().take(300).collect();
        // The link that names the chapter: the one right after the number, or the one the number is the
        // text of (`Chapters <a href="ch09-mempool.html">9</a>`).
        let start = c.get(0).unwrap().start();
        let before: String = body[..start].chars().rev().take(200).collect::<String>().chars().rev().collect();
        let target = href
            .captures(&window)
            .map(|h| h[1].to_string())
            .or_else(|| before.rfind("<a href=").and_then(|i| href.captures(&before[i..]).map(|h| h[1].to_string())));
        let context = tag.replace_all(&c[0], "").to_string();
        match target.as_deref().map(|t| t.rsplit('/').next().unwrap_or(t)).and_then(|t| numbers.get(t).map(|k| (t, k)))
        {
            Some((_, k)) if k == n => {}
            Some((t, k)) => wrong.push(format!("`{context}` links to {t}, which the sidebar numbers {k}")),
            None => wrong.push(format!("`{context}` names no chapter by a link; the sidebar numbers are {numbers:?}")),
        }
    }
    wrong
}

/// The glossary of the book (`src/appendix-glossary.md`): every English term with its one Chinese rendering,
/// then the other forms the table accepts for it. `A / B` cells pair up by position; a parenthesised part of
/// an English cell (`(pfn)`) is an explanation, and one of a Chinese cell (`阶（order）`) names the Latin
/// form the translation may keep instead (`order 3`).
pub fn glossary() -> Vec<(String, Vec<String>)> {
    static PAREN: OnceLock<Regex> = OnceLock::new();
    static ZH_PAREN: OnceLock<Regex> = OnceLock::new();
    let paren = re(r"\([^)]*\)", &PAREN);
    let zh_paren = re(r"（([^）]*)）", &ZH_PAREN);
    let text = fs::read_to_string(root().join("src/appendix-glossary.md")).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 2 || !cells[0].starts_with('*') {
            continue;
        }
        let en: Vec<String> =
            cells[0].trim_matches('*').split(" / ").map(|s| paren.replace_all(s, "").trim().to_string()).collect();
        let zh: Vec<&str> = cells[1].split(" / ").collect();
        for (i, e) in en.iter().enumerate() {
            let z = zh.get(i).or(zh.last()).unwrap();
            let mut forms = vec![zh_paren.replace_all(z, "").trim().to_string()];
            for c in zh_paren.captures_iter(z) {
                // `（内存）回收`: the bracketed part is optional Chinese, not a Latin alternative.
                if c[1].is_ascii() {
                    forms.push(c[1].to_string());
                }
            }
            out.push((e.clone(), forms));
        }
    }
    out
}

/// Messages of `po/<lang>.po` whose English text uses a glossary term and whose translation uses none of
/// the glossary's forms of it. Not prose, so skipped: text in backticks, paths, link targets, HTML and
/// `{#id}`s, and messages kept as they are (`msgstr` = `msgid`: string literals, code). A longer term that
/// contains a shorter one (`red zone`, `zone`) is checked for itself only. `exempt` lists (term, start of
/// the English message) pairs where the English word is not the glossary's term (e.g. "in order").
pub fn glossary_violations(lang: &str, exempt: &[(&str, &str)]) -> Result<Vec<String>> {
    static CODE: OnceLock<Regex> = OnceLock::new();
    static PATH: OnceLock<Regex> = OnceLock::new();
    let code = re(r"`[^`]*`|\]\([^)]*\)|<[^>]+>|\{#[^}]*\}", &CODE);
    // Paths and file names in the English text (`rust/kernel/alloc/allocator.rs`); Chinese has no spaces
    // to delimit them, and needs none of this.
    let path = re(r"[\w./-]*\w[/.]\w[\w./-]*", &PATH);
    let po_path = root().join("po").join(format!("{lang}.po"));
    let po = polib::po_file::parse(&po_path).map_err(|e| anyhow::anyhow!("{}: {e}", po_path.display()))?;
    let word = |en: &str| Regex::new(&format!(r"(?i)\b{}\b", regex::escape(en).replace(r"\ ", r"[\s-]+"))).unwrap();
    let glossary = glossary();
    let words: Vec<Regex> = glossary.iter().map(|(en, _)| word(en)).collect();
    let terms: Vec<(String, Vec<String>, Regex, Vec<Regex>)> = glossary
        .iter()
        .zip(&words)
        .map(|((en, forms), w)| {
            let longer: Vec<Regex> = glossary
                .iter()
                .zip(&words)
                .filter(|((other, _), _)| other.len() > en.len() && w.is_match(other))
                .map(|(_, o)| o.clone())
                .collect();
            (en.clone(), forms.clone(), w.clone(), longer)
        })
        .collect();
    let mut out = Vec::new();
    for m in po.messages() {
        if !m.is_translated() || m.is_fuzzy() {
            continue;
        }
        let Ok(zh) = m.msgstr() else { continue };
        if zh == m.msgid() {
            continue;
        }
        let id = code.replace_all(m.msgid(), " ");
        let id = path.replace_all(&id, " ");
        let zh = code.replace_all(zh, " ");
        for (en, forms, pattern, longer) in &terms {
            // Cheap tests first: most terms are not in most messages, or are rendered.
            if !pattern.is_match(&id) || forms.iter().any(|f| zh.contains(f.as_str())) {
                continue;
            }
            let mut text = id.to_string();
            for l in longer {
                text = l.replace_all(&text, " ").to_string();
            }
            if !pattern.is_match(&text) || forms.iter().any(|f| zh.contains(f.as_str())) {
                continue;
            }
            if exempt.iter().any(|(t, start)| t == en && m.msgid().starts_with(start)) {
                continue;
            }
            let short: String = m.msgid().chars().take(90).collect();
            out.push(format!("{en:?} → {:?} missing in the translation of {short:?}", forms[0]));
        }
    }
    Ok(out)
}
