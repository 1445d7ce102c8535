//! The book's inline Rust, tested with skeptic: `build.rs` makes one test per Rust code block written in
//! a chapter of `src/` (`tests/skeptic.rs`), which compiles and runs it against `kmem_sim` and the
//! `kernel` façade. Listings included into chapters are `rust,ignore`: `tests/listings.rs` runs them.
