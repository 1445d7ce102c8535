//! skeptic turns every Rust code block of the chapters of `src/` into a test (`tests/skeptic.rs`), built
//! against this package's dev-dependencies (`kmem_sim`, `kernel`). `rust,ignore` blocks — the listings
//! included into chapters, which `tests/listings.rs` runs — are skipped; `text`, `console`, `mermaid` …
//! blocks are not Rust.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let src = manifest.join("../../src").canonicalize().unwrap();
    println!("cargo:rerun-if-changed={}", src.display());
    let mut chapters: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !p.ends_with("SUMMARY.md"))
        .map(|p| p.display().to_string())
        .collect();
    chapters.sort();
    skeptic::generate_doc_tests(&chapters);
}
