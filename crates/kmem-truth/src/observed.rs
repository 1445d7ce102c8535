//! Where the committed real captures live: `listings/kernel/observed/<listing>/`.
//!
//! | file | what |
//! |---|---|
//! | `dmesg.txt` | the kernel log from insmod through rmmod, as `dmesg` prints it (a fresh boot per listing) |
//! | `insmod.txt` | what insmod printed on the terminal, when it failed or was killed |
//! | `<stem>.txt` | each `show` file of the listing's manifest (`slabinfo.txt` for `/proc/slabinfo`), while it was loaded, trimmed to the shown rows |
//!
//! `listings/kernel/observed/PROVENANCE` says which kernel, configuration, QEMU and command line made them.

use std::path::{Path, PathBuf};

/// The folder of the committed captures under the workspace root.
pub const DIR: &str = "listings/kernel/observed";

/// The folder of the committed captures of the conformance modules (`tests/conformance/*.rs`, written against
/// the stock kernel crate only; `cargo xtask qemu --conformance --record`), one folder per module as here.
pub const CONFORMANCE_DIR: &str = "listings/kernel/observed-conformance";

/// The capture folder of `listing` under the workspace `root`.
///
/// Context: any.
pub fn listing_dir(root: &Path, listing: &str) -> PathBuf {
    root.join(DIR).join(listing)
}

/// One output the book shows of a listing, in both worlds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `dmesg`, `insmod`, or a shown file's stem (`slabinfo` …); exceptions name it.
    pub stem: String,
    /// The committed capture's file name in the listing's folder (`dmesg.txt` …).
    pub capture: String,
    /// The simulator's pin, `tests/snapshots/<snapshot>`.
    pub snapshot: String,
}

/// Every output of `listing` the book shows: its dmesg, insmod's message when it does not load, and each
/// file its manifest shows.
///
/// Context: any.
pub fn outputs(listing: &str, manifest: &crate::Manifest) -> Vec<Output> {
    let mut out = vec![Output {
        stem: "dmesg".into(),
        capture: "dmesg.txt".into(),
        snapshot: format!("listings__{listing}.snap"),
    }];
    if matches!(manifest.insmod, crate::Insmod::Fails | crate::Insmod::Killed) {
        out.push(Output {
            stem: "insmod".into(),
            capture: "insmod.txt".into(),
            snapshot: format!("listings__{listing}-insmod.snap"),
        });
    }
    for s in &manifest.show {
        let stem = s.stem();
        out.push(Output { capture: format!("{stem}.txt"), snapshot: format!("listings__{listing}-{stem}.snap"), stem });
    }
    out
}
