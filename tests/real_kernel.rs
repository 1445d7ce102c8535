//! The committed real-kernel captures themselves (`listings/kernel/observed/`, recorded by
//! `cargo xtask qemu --record`, one fresh boot per listing): every capture belongs to a listing and is one of
//! its outputs, and the comparison with them can fail. `tests/listings.rs` compares each listing's simulator
//! outputs with them.

mod common;

include!(concat!(env!("OUT_DIR"), "/listing_names.rs"));

use std::fs;

/// Each i386 machine's outputs of the experiment: (label, stem, capture, pin).
fn i386_outputs() -> Vec<(String, String, String, String)> {
    let root = common::root();
    let mut out = Vec::new();
    for size in ["160m", "1536m"] {
        for stem in ["dmesg", "vmallocinfo", "meminfo"] {
            let cap = root.join(format!("listings/kernel/observed-i386/{size}/three_allocators/{stem}.txt"));
            let pin = root.join(format!("tests/snapshots/listings__three_allocators-i386-{size}-{stem}.snap"));
            let (cap, pin) = (fs::read_to_string(&cap).unwrap(), fs::read_to_string(&pin).unwrap());
            out.push((format!("three_allocators (i386, {size})"), stem.to_string(), cap, pin));
        }
    }
    out
}

fn manifest(chapter: &str, name: &str) -> kmem_truth::Manifest {
    kmem_truth::Manifest::for_listing(&common::root().join(format!("listings/{chapter}/{name}.rs")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Adds one comparison's line counts to the totals; whether it was equal.
fn count(c: &kmem_truth::Comparison, real: &mut usize, matched: &mut usize, excepted: &mut usize) -> bool {
    *real += c.real_lines;
    *matched += c.matched_lines;
    *excepted += c.excepted_lines;
    c.is_equal()
}

/// How close the pins are to the captures (printed; the listings test fails on any difference).
#[test]
fn summary() {
    let root = common::root();
    let (mut real, mut matched, mut excepted, mut same, mut total) = (0, 0, 0, 0, 0);
    for (name, chapter) in LISTINGS {
        let m = manifest(chapter, name);
        let mut listing_ok = true;
        for o in kmem_truth::observed::outputs(name, &m) {
            let cap = fs::read_to_string(kmem_truth::observed::listing_dir(&root, name).join(&o.capture));
            let snap = fs::read_to_string(root.join("tests/snapshots").join(&o.snapshot));
            let (Ok(cap), Ok(snap)) = (cap, snap) else {
                listing_ok = false;
                continue;
            };
            let c = kmem_truth::compare(&o.stem, kmem_truth::snapshot_body(&snap), &cap, &m.exceptions);
            listing_ok &= count(&c, &mut real, &mut matched, &mut excepted);
        }
        total += 1;
        same += listing_ok as usize;
    }
    // The 32-bit experiment, on each of its machines.
    let m = common::i386_manifest();
    for size in ["160m", "1536m"] {
        let mut ok = true;
        for (label, stem, cap, pin) in i386_outputs() {
            if !label.contains(size) {
                continue;
            }
            let c = kmem_truth::compare(&stem, kmem_truth::snapshot_body(&pin), &cap, &m.exceptions);
            ok &= count(&c, &mut real, &mut matched, &mut excepted);
        }
        total += 1;
        same += ok as usize;
    }
    eprintln!(
        "{same} of {total} runs' pins (each listing on the book's machine, the 32-bit experiment on its two) equal to the real kernel's captures; of {real} real lines, {} identical \
         under the masks, {excepted} more under the declared exceptions, {} different",
        matched - excepted,
        real - matched
    );
}

#[test]
fn every_capture_belongs_to_a_listing() {
    let dir = common::root().join(kmem_truth::observed::DIR);
    for e in fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if !e.path().is_dir() || e.file_name() == "boot" {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((_, chapter)) = LISTINGS.iter().find(|(n, _)| *n == name) else {
            panic!("{}: a capture of no listing (remove it)", e.path().display());
        };
        let m = manifest(chapter, &name);
        let wanted: Vec<String> = kmem_truth::observed::outputs(&name, &m).into_iter().map(|o| o.capture).collect();
        for f in fs::read_dir(e.path()).unwrap() {
            let f = f.unwrap().file_name().to_string_lossy().into_owned();
            assert!(wanted.contains(&f), "{name}: {f} is not an output of the listing (outputs: {wanted:?})");
        }
    }
}

/// The comparison can fail: a changed line of any capture or pin is caught, naming the listing.
#[test]
fn an_edited_line_is_caught() {
    let root = common::root();
    for (name, chapter) in LISTINGS {
        let m = manifest(chapter, name);
        let o = &kmem_truth::observed::outputs(name, &m)[0];
        let Ok(cap) = fs::read_to_string(kmem_truth::observed::listing_dir(&root, name).join(&o.capture)) else {
            continue;
        };
        let Ok(snap) = fs::read_to_string(root.join("tests/snapshots").join(&o.snapshot)) else { continue };
        let body = kmem_truth::snapshot_body(&snap);
        let last = cap.lines().last().unwrap_or("");
        let edited = cap.replacen(last, &format!("{last} (edited)"), 1);
        assert!(
            !kmem_truth::compare(&o.stem, body, &edited, &m.exceptions).is_equal(),
            "{name}: an edited capture passes"
        );
        let edited_pin = format!("{body}[    9.999999] {name}: an extra line\n");
        assert!(
            !kmem_truth::compare(&o.stem, &edited_pin, &cap, &m.exceptions).is_equal(),
            "{name}: an edited pin passes"
        );
    }
    // The 32-bit captures: the vmalloc address (no exception covers it) and each vmallocinfo line count.
    let m = common::i386_manifest();
    for (label, stem, cap, pin) in i386_outputs() {
        let body = kmem_truth::snapshot_body(&pin);
        assert!(kmem_truth::compare(&stem, body, &cap, &m.exceptions).is_equal(), "{label} {stem}");
        let edited = match stem.as_str() {
            "dmesg" => cap.replace("vmalloc(1000000)                 = 0x", "vmalloc(1000000)                 = 0x1"),
            _ => cap.replacen(" 8192 ", " 12288 ", 1).replacen(" kB", "0 kB", 1),
        };
        assert_ne!(edited, cap, "{label} {stem}: the edit applies");
        assert!(
            !kmem_truth::compare(&stem, body, &edited, &m.exceptions).is_equal(),
            "{label} {stem}: an edited capture passes"
        );
    }
}

/// The book's appendix shows the masks and every declared exception from these two pins, so that what it
/// says is exactly what the comparison does.
#[test]
fn the_appendix_tables_are_the_comparisons_own() {
    insta::assert_snapshot!("masks", kmem_truth::masks_markdown());
    let mut listings: Vec<(String, kmem_truth::Manifest)> =
        LISTINGS.iter().map(|(name, chapter)| (name.to_string(), manifest(chapter, name))).collect();
    listings.push(("three_allocators (i386, 160 and 1536 MiB)".to_string(), common::i386_manifest()));
    insta::assert_snapshot!("exceptions", kmem_truth::exceptions_markdown(&listings));
}
