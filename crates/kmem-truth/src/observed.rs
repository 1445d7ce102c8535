//! Where the committed real captures live: `listings/kernel/observed/<listing>/`.
//!
//! | file | what |
//! |---|---|
//! | `dmesg.txt` | the kernel log from insmod through rmmod, as `dmesg` prints it (a fresh boot per listing) |
//! | `insmod.txt` | what insmod printed on the terminal, when it failed or was killed |
//! | `<stem>.txt` | each `show` file of the listing's manifest (`slabinfo.txt` for `/proc/slabinfo`), while it was loaded, trimmed to the shown rows |
//!
//! `listings/kernel/observed/PROVENANCE` says which kernel, configuration, QEMU and command line made them;
//! `initrd.txt` (in each captures folder) where each listing's boot had its initramfs ([`INITRD`]).

use std::path::{Path, PathBuf};

/// The folder of the committed captures under the workspace root.
pub const DIR: &str = "listings/kernel/observed";

/// The folder of the committed captures of the conformance modules (`tests/conformance/*.rs`, written against
/// the stock kernel crate only; `cargo xtask qemu --conformance --record`), one folder per module as here.
pub const CONFORMANCE_DIR: &str = "listings/kernel/observed-conformance";

/// The file, in each captures folder ([`DIR`], [`CONFORMANCE_DIR`]), that says where QEMU loaded each boot's
/// initramfs: `<listing> <first byte> <last byte>` per line, hexadecimal, from the boot's `RAMDISK: [mem
/// 0x…-0x…]` line. The initramfs holds the listing's own module, so its size, and so where the boot's first
/// memblock allocations land below it, differs from listing to listing by a page or two; the simulated boot of
/// a listing takes its range from here ([`initrd_of`]).
pub const INITRD: &str = "initrd.txt";

/// A hexadecimal number, with or without `0x`.
fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

/// The `RAMDISK: [mem 0x…-0x…]` range of a boot's console log, `(first byte, last byte)`.
///
/// Context: any.
pub fn ramdisk_of_console(console: &str) -> Option<(u64, u64)> {
    let line = console.lines().find_map(|l| l.split_once("RAMDISK: [mem ").map(|(_, r)| r))?;
    let (a, b) = line.trim_end_matches(']').split_once('-')?;
    Some((hex(a)?, hex(b)?))
}

/// The lines of an [`INITRD`] file: listing name → `(first byte, last byte)`. Lines that do not parse are
/// left out.
///
/// Context: any.
pub fn parse_initrd(text: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, a, b) = (w.next()?, hex(w.next()?)?, hex(w.next()?)?);
            Some((name.to_string(), (a, b)))
        })
        .collect()
}

/// An [`INITRD`] file's text for `entries`.
///
/// Context: any.
pub fn format_initrd(entries: &std::collections::BTreeMap<String, (u64, u64)>) -> String {
    let mut s = String::from(
        "# Where QEMU loaded each listing's initramfs (its boot's `RAMDISK: [mem first-last]`), recorded by\n\
         # `cargo xtask qemu --record`; the simulated boot of the listing loads it there too.\n",
    );
    for (name, (a, b)) in entries {
        s.push_str(&format!("{name} {a:#010x} {b:#010x}\n"));
    }
    s
}

/// Where the recorded boot of `listing` had its initramfs, from the [`INITRD`] file of the listings' or the
/// conformance modules' captures under `root`: `(first byte, last byte)`, or `None` when it was not recorded.
///
/// Context: any (reads the files).
pub fn initrd_of(root: &Path, listing: &str) -> Option<(u64, u64)> {
    [DIR, CONFORMANCE_DIR].iter().find_map(|d| {
        let text = std::fs::read_to_string(root.join(d).join(INITRD)).ok()?;
        parse_initrd(&text).get(listing).copied()
    })
}

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

#[cfg(test)]
mod initrd_tests {
    use super::*;

    #[test]
    fn the_ramdisk_line_round_trips() {
        let console = "[    0.000000] RAMDISK: [mem 0x0fd3d000-0x0ffdffff]\n";
        let r = ramdisk_of_console(console).unwrap();
        assert_eq!(r, (0x0fd3_d000, 0x0ffd_ffff));
        let mut m = std::collections::BTreeMap::new();
        m.insert("a".to_string(), r);
        assert_eq!(parse_initrd(&format_initrd(&m)), m);
        assert_eq!(ramdisk_of_console("no such line"), None);
    }
}
