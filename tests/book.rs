//! The book itself under `cargo test`: it builds in both languages in-process (no `mdbook` on PATH), every
//! internal link and anchor resolves in both languages, `po/zh-CN.po` matches the English source exactly,
//! and every pinned output a chapter includes is exactly the snapshot's body.

mod common;

use common::book::{self, Site};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Both languages, built once per test binary into a temporary directory.
fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| book::build_site().unwrap_or_else(|e| panic!("the book does not build: {e:#}")))
}

#[test]
fn builds_in_both_languages() {
    let site = site();
    for lang in ["en", "zh-CN"] {
        let dir = site.lang_dir(lang);
        assert!(dir.join("index.html").is_file(), "{lang}: no index.html");
        assert!(dir.join("print.html").is_file(), "{lang}: no print.html");
        let index = fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains(&format!("lang=\"{lang}\"")), "{lang}: wrong <html lang>");
        assert!(index.contains("kmem-lang-switch"), "{lang}: no language switcher");
    }
}

#[test]
fn no_directive_is_left_unexpanded() {
    // mdBook only logs an error when an {{#include}} cannot be resolved; make it a failure.
    for page in site().pages() {
        let html = fs::read_to_string(&page).unwrap();
        for directive in ["{{#include", "{{#rustdoc_include", "{{#playground"] {
            assert!(!html.contains(directive), "{}: unexpanded {directive}", page.display());
        }
    }
}

#[test]
fn chinese_pages_are_translated() {
    let zh = fs::read_to_string(site().lang_dir("zh-CN").join("index.html")).unwrap();
    assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "zh-CN/index.html has no Chinese text");
}

#[test]
fn every_internal_link_and_anchor_resolves() {
    let site = site();
    let mut ids: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let pages = site.pages();
    for page in &pages {
        ids.insert(page.clone(), book::ids_of(&fs::read_to_string(page).unwrap()));
    }
    let mut broken = Vec::new();
    for page in &pages {
        let html = fs::read_to_string(page).unwrap();
        for link in book::internal_links(&html) {
            if let Err(why) = book::resolve(page, &link, &ids) {
                broken.push(format!("{}: {link}: {why}", site.relative(page)));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn headings_have_explicit_ids_so_anchors_match_across_languages() {
    // An explicit `{#id}` keeps an anchor identical in English and Chinese.
    let mut missing = Vec::new();
    for (path, text) in book::chapters() {
        if path.ends_with("SUMMARY.md") {
            continue;
        }
        let mut in_code = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            }
            if !in_code && line.starts_with('#') && !line.trim_end().ends_with('}') {
                missing.push(format!("{}:{}: {line}", path.display(), n + 1));
            }
        }
    }
    assert!(missing.is_empty(), "headings without {{#id}}:\n{}", missing.join("\n"));
    // ... and the ids really are the same in both builds.
    let site = site();
    for page in site.pages_of("en") {
        let rel = page.strip_prefix(site.lang_dir("en")).unwrap();
        let zh = site.lang_dir("zh-CN").join(rel);
        let en_ids = book::heading_ids(&fs::read_to_string(&page).unwrap());
        let zh_ids = book::heading_ids(&fs::read_to_string(&zh).unwrap());
        assert_eq!(en_ids, zh_ids, "{}: heading ids differ between languages", rel.display());
    }
}

#[test]
fn translation_matches_the_english_source() {
    let report = book::translation_report().expect("extracting messages");
    assert!(report.is_complete(), "po/zh-CN.po is out of date with the English source:\n{report}");
}

#[test]
fn included_outputs_are_exactly_the_pinned_snapshots() {
    // A chapter shows a pinned output with `{{#include ../tests/snapshots/<file>.snap:<first line>:}}`.
    // The range must start right after the insta header and run to the end, so what the page shows is
    // exactly the body that `cargo test` pins -- never a stale or shifted slice of it.
    let mut checked = 0;
    for (path, text) in book::chapters() {
        for include in book::snapshot_includes(&text) {
            let snap = Path::new("src").join(&include.file);
            let file = common::root().join(&snap);
            let content =
                fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), snap.display()));
            let body_start = common::snapshot_body_line(&content)
                .unwrap_or_else(|| panic!("{}: not an insta snapshot", snap.display()));
            assert_eq!(
                include.range,
                format!("{body_start}:"),
                "{}: `{}` must include exactly the pinned body, i.e. the range `{body_start}:`",
                path.display(),
                include.directive
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no chapter includes a pinned output");
}

#[test]
fn chapter_numbers_in_the_text_match_the_sidebar() {
    // The introduction is an unnumbered prefix chapter, so the sidebar numbers the address-space chapter
    // 1. A "chapter N" / "第 N 章" left in the text must link to the chapter the sidebar numbers N.
    let site = site();
    let mut wrong = Vec::new();
    for lang in ["en", "zh-CN"] {
        let numbers = book::rendered_chapter_numbers(&site.lang_dir(lang));
        assert_eq!(
            numbers.get("ch02-address-space").map(String::as_str),
            Some("1"),
            "{lang}: the sidebar's numbering was not found or changed: {numbers:?}"
        );
        for page in site.pages_of(lang) {
            if page.ends_with("print.html") || page.ends_with("toc.html") {
                continue;
            }
            let html = fs::read_to_string(&page).unwrap();
            for w in book::wrong_chapter_numbers(&html, &numbers) {
                wrong.push(format!("{}: {w}", site.relative(&page)));
            }
        }
    }
    assert!(wrong.is_empty(), "chapter references by number that the sidebar contradicts:\n{}", wrong.join("\n"));
}

#[test]
fn wrong_chapter_numbers_are_found() {
    // The check above can fail: an off-by-one reference and a bare number are both reported.
    let numbers: BTreeMap<String, String> =
        [("ch02-address-space", "1"), ("ch03-buddy", "2")].map(|(p, n)| (p.to_string(), n.to_string())).into();
    let ok = r#"<main><p>see chapter 1 (<a href="ch02-address-space.html">The Kernel's Address Space</a>)</p></main>"#;
    assert!(book::wrong_chapter_numbers(ok, &numbers).is_empty());
    let off = r#"<main><p>the vmalloc area (chapter 2, <a href="ch02-address-space.html">x</a>)</p></main>"#;
    assert_eq!(book::wrong_chapter_numbers(off, &numbers).len(), 1);
    let bare = "<main><p>见第 2 章。</p></main>";
    assert_eq!(book::wrong_chapter_numbers(bare, &numbers).len(), 1);
    let code = "<main><pre>chapter 7</pre></main>";
    assert!(book::wrong_chapter_numbers(code, &numbers).is_empty());
}

/// Where an English glossary word is used in another sense, so its rendering is not expected:
/// (term, start of the English message).
const GLOSSARY_EXEMPT: &[(&str, &str)] = &[
    // "order" as in sequence, not a buddy order.
    ("order", "deterministic kmalloc caches, free lists and page order"),
    ("order", "The vmalloc buffer still lands just above"),
    ("order", "With kernel address space layout randomisation"),
    ("order", "The line is the whole block"),
    ("order", "`kmalloc_caches[][]` has a row of size classes"),
    ("order", "`mempool_exit()` gives the reserve back to the cache"),
    ("order", "The kernel prints a mask with `%pGg`"),
    ("order", "SLUB's fast path touches only per-CPU data"),
    ("order", "The two objects of `kmem_book_record`"),
    ("order", "Read the addresses against the flowchart."),
    ("order", "Any violation returns NULL."),
    ("order", "**Detach releases in reverse.**"),
    ("order", "The scope belongs to the task, not to the code"),
    ("order", "**Growing in place of the old.**"),
    ("order", "Some numbers differ between two boots"),
    ("order", "the order of the lines"),
    ("order", "The real kernel may list the same areas in another order"),
    // The 3G/1G split of the address space, not the split of a buddy block.
    ("split", "32-bit x86: the 3G/1G split"),
    // SLAB, the allocator removed in 6.8, not a slab.
    ("slab", "always 0 (SLAB's shared array)"),
    ("slab", "always 0: SLAB's tuning knobs"),
];

#[test]
fn glossary_terms_have_one_rendering() {
    let glossary = book::glossary();
    assert!(glossary.len() > 40, "the glossary table was not parsed: {glossary:?}");
    // One rendering per English term in the glossary itself.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (en, forms) in &glossary {
        if let Some(other) = seen.insert(en.to_lowercase(), forms[0].clone()) {
            assert_eq!(other, forms[0], "the glossary gives {en:?} two renderings");
        }
    }
    // ... and every translated message that uses a term uses that rendering.
    let violations = book::glossary_violations("zh-CN", GLOSSARY_EXEMPT).expect("reading the po file");
    assert!(
        violations.is_empty(),
        "{} message(s) do not use the glossary's rendering:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// The label above the simulator's pin and above the real kernel's capture.
const SIMULATOR_LABEL: &str = r#"<span class="kmem-source">Simulator</span>"#;
const REAL_LABEL: &str = r#"<span class="kmem-source">Linux 6.12.117 (QEMU)</span>"#;

#[test]
fn every_listing_output_is_shown_beside_its_real_capture() {
    // Each pinned listing output a chapter includes is labelled "Simulator" and followed, as the next
    // include, by the committed real capture of the same output labelled "Linux 6.12.117 (QEMU)"; no
    // capture is shown without its pin; and every output of every listing is shown somewhere.
    let include = regex::Regex::new(r"\{\{#include\s+([^}\s:]+?)(?::[^}\s]*)?\s*\}\}").unwrap();
    let mut shown = BTreeSet::new();
    let mut pairs = 0;
    let mut wrong = Vec::new();
    for (path, text) in book::chapters() {
        let incs: Vec<_> = include.captures_iter(&text).map(|c| (c.get(0).unwrap(), c[1].to_string())).collect();
        for (i, (m, file)) in incs.iter().enumerate() {
            let at = format!("{}: `{}`", path.display(), m.as_str());
            if let Some(snap) = file.strip_prefix("../tests/snapshots/listings__") {
                let snap = snap.strip_suffix(".snap").unwrap_or(snap);
                let (listing, stem) = snap.split_once('-').unwrap_or((snap, "dmesg"));
                // The 32-bit experiment's pins (`<listing>-i386-<size>-<stem>`) pair with its captures of
                // `listings/kernel/observed-i386/<size>/<listing>/`.
                let capture = match stem.strip_prefix("i386-").and_then(|r| r.split_once('-')) {
                    Some((size, stem)) => format!("../listings/kernel/observed-i386/{size}/{listing}/{stem}.txt"),
                    None => format!("../{}/{listing}/{stem}.txt", kmem_truth::observed::DIR),
                };
                let before = &text[..m.start()];
                if !before
                    .trim_end()
                    .trim_end_matches("```text")
                    .trim_end()
                    .trim_end_matches("<!-- i18n:skip -->")
                    .trim_end()
                    .ends_with(SIMULATOR_LABEL)
                {
                    wrong.push(format!("{at}: not labelled {SIMULATOR_LABEL}"));
                }
                match incs.get(i + 1) {
                    Some((next, f)) if *f == capture => {
                        let between = &text[m.end()..next.start()];
                        if !between.contains(REAL_LABEL) {
                            wrong.push(format!("{at}: its real capture is not labelled {REAL_LABEL}"));
                        }
                    }
                    _ => wrong.push(format!("{at}: not followed by the real capture, `{{{{#include {capture}}}}}`")),
                }
                if !common::root().join(&capture[3..]).is_file() {
                    wrong.push(format!("{at}: no committed capture {}", &capture[3..]));
                }
                shown.insert(format!("{listing}/{stem}"));
                pairs += 1;
            } else if file.contains(kmem_truth::observed::DIR) || file.contains("observed-i386/") {
                let paired = i > 0 && incs[i - 1].1.starts_with("../tests/snapshots/listings__");
                if !paired {
                    wrong.push(format!("{at}: a real capture without the simulator's pin before it"));
                }
            }
        }
    }
    let mut listings = Vec::new();
    for dir in fs::read_dir(common::root().join("listings")).unwrap() {
        let dir = dir.unwrap().path();
        if dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("ch")) {
            for f in fs::read_dir(&dir).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "rs") {
                    listings.push(f);
                }
            }
        }
    }
    assert!(listings.len() > 30, "found only {} listings", listings.len());
    for src in listings {
        let name = src.file_stem().unwrap().to_string_lossy().into_owned();
        let manifest = kmem_truth::Manifest::for_listing(&src).unwrap_or_else(|e| panic!("{e}"));
        for out in kmem_truth::observed::outputs(&name, &manifest) {
            if !shown.contains(&format!("{name}/{}", out.stem)) {
                wrong.push(format!("{}: output `{}` is shown nowhere in the book", src.display(), out.stem));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Both labels reach the rendered pages of both languages, translated in the Chinese edition.
    let site = site();
    for lang in ["en", "zh-CN"] {
        let mut labels = 0;
        for page in site.pages_of(lang) {
            // print.html repeats every page, index.html the introduction.
            if page.file_name().is_some_and(|n| n == "print.html" || n == "index.html") {
                continue;
            }
            let html = fs::read_to_string(&page).unwrap();
            labels += html.matches("class=\"kmem-source\"").count();
            if lang == "zh-CN" {
                assert!(!html.contains(">Simulator</span>"), "{}: the label is not translated", page.display());
            }
        }
        assert_eq!(labels, 2 * pairs, "{lang}: {labels} output labels on the pages for {pairs} outputs shown");
    }
}
