//! The book's inline Rust, as doctests: each module below carries one chapter of `src/` as its
//! documentation, so `cargo test` compiles and runs every Rust code block written in a chapter (against
//! `kmem_sim`). Listings included into chapters are `rust,ignore` here: `tests/listings.rs` runs them.
//!
//! (The book once planned skeptic for this; skeptic 0.13.7 cannot parse the package ids of current
//! Cargo, so it finds no dependency to link a snippet against.)
#![allow(rustdoc::invalid_rust_codeblocks, rustdoc::broken_intra_doc_links, rustdoc::bare_urls)]

include!(concat!(env!("OUT_DIR"), "/chapters.rs"));
