//! The real kernel as the judge.
//!
//! Every output the book shows exists twice, committed: the simulator's pin
//! (`tests/snapshots/listings__<name>*.snap`) and the real kernel's capture
//! (`listings/kernel/observed/<name>/`, written by `cargo xtask qemu --record`). This crate holds what
//! both worlds share: the book's machine ([`book`]), each listing's manifest ([`manifest`]), the masks
//! ([`mask`]) and the comparison ([`compare`]), and the one parser of the simulated machines a module can be
//! run on ([`machine`]). `cargo test` (`tests/real_kernel.rs`) and
//! `cargo xtask qemu` use the same functions, so one rule decides in both places.

pub mod book;
pub mod compare;
pub mod machine;
pub mod manifest;
pub mod mask;
pub mod observed;

pub use compare::{compare, snapshot_body, Comparison};
pub use manifest::{exceptions_markdown, Insmod, Manifest, Rmmod};
pub use mask::{mask, mask_line, masks_markdown};
