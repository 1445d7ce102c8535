//! One empty module per chapter of `src/`, documented with the chapter's Markdown, so that rustdoc runs
//! every inline Rust code block of the book as a doctest (`rust,ignore` blocks — the included listings,
//! tested by `tests/listings.rs` — are skipped; `text`, `console`, `mermaid` … blocks are not Rust).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = manifest.join("../../src").canonicalize().unwrap();
    println!("cargo:rerun-if-changed={}", src.display());
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("SUMMARY.md"))
        .collect();
    chapters.sort();
    let mut code = String::new();
    for chapter in chapters {
        println!("cargo:rerun-if-changed={}", chapter.display());
        let name: String = chapter
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        writeln!(code, "#[doc = include_str!({:?})]\npub mod {name} {{}}", chapter.display().to_string()).unwrap();
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("chapters.rs"), code).unwrap();
}
