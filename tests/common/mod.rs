//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod book;

use std::path::PathBuf;

/// The repository root (the book's package).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The manifest of the address-space chapter's 32-bit experiment (`three_allocators` on the i386 machines).
pub fn i386_manifest() -> kmem_truth::Manifest {
    let path = root().join("listings/ch02-address-space/three_allocators-i386.toml");
    kmem_truth::Manifest::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap_or_else(|e| panic!("{e}"))
}

/// The 1-based line on which an insta snapshot's body starts (the line after the closing `---` of its
/// header), or `None` when the text is not a snapshot.
pub fn snapshot_body_line(snapshot: &str) -> Option<usize> {
    let mut lines = snapshot.lines();
    if lines.next()? != "---" {
        return None;
    }
    lines.position(|l| l == "---").map(|i| i + 3)
}
