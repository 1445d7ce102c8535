//! The conformance modules, `tests/conformance/*.rs`: small kernel modules written only against the stock
//! Linux 6.12 Rust API (the `kernel` crate, and from `kernel::bindings` only what the stock bindings have,
//! `listings/kernel/stock-bindings.txt`, none of the book's patch), each on another allocator path. Each runs on
//! the book's default simulated machine (or as its manifest `NAME.toml` says), its outputs are pinned
//! (`tests/snapshots/conformance__<name>.snap`) and compared, under the masks of `kmem_truth`, with the real
//! 6.12.117 kernel's committed capture, `listings/kernel/observed-conformance/<name>/` (recorded by
//! `cargo xtask qemu --conformance --record`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/conformance.rs"));

mod names {
    include!(concat!(env!("OUT_DIR"), "/listing_names.rs"));
}

fn check(name: &str, module: &'static kernel::__sim::ModuleDesc) {
    let root = common::root();
    let manifest = kmem_truth::Manifest::for_listing(&root.join(format!("tests/conformance/{name}.rs")))
        .unwrap_or_else(|e| panic!("{e}"));
    let run = kmem_runner::run_listing(module, &manifest, None);
    let mut settings = insta::Settings::clone_current();
    settings.set_description(format!("tests/conformance/{name}.rs"));
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (stem, text) in &run.outputs {
            let snap = if stem == "dmesg" { name.to_string() } else { format!("{name}-{stem}") };
            insta::assert_snapshot!(snap, text);
        }
    });
    // The real kernel is the judge, as for the listings (no exceptions: a conformance module prints nothing
    // that differs between two real boots).
    assert!(manifest.exceptions.is_empty(), "{name}: a conformance module declares no exceptions");
    let dir = root.join(kmem_truth::observed::CONFORMANCE_DIR).join(name);
    let mut differences = Vec::new();
    for ((stem, text), o) in run.outputs.iter().zip(kmem_truth::observed::outputs(name, &manifest)) {
        let Ok(cap) = std::fs::read_to_string(dir.join(&o.capture)) else {
            differences.push(format!(
                "{name}: no real capture {} (run `cargo xtask qemu --conformance --record`)",
                dir.join(&o.capture).display()
            ));
            continue;
        };
        let c = kmem_truth::compare(stem, text, &cap, &manifest.exceptions);
        if !c.is_equal() {
            differences.push(format!("{name}: the simulator's {stem} differs from the real kernel's\n{}", c.diff));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let fails = !matches!(manifest.insmod, kmem_truth::Insmod::Succeeds);
    assert_eq!(fails, run.insmod_error.is_some(), "{name}: insmod outcome (manifest says {:?})", manifest.insmod);
}

/// What a conformance module may name in `kernel::bindings`: every item of the stock bindings (a `fn`,
/// `helper`, `const`, `static` or `type` line of `stock-bindings.txt`), and the types the signatures of those
/// items name (`page`, `kmem_cache`: bindgen emits every type an allowlisted item uses, so the stock bindings
/// have them although they are declared outside the allocation headers and listed as `real`).
fn stock_names(list: &str) -> BTreeSet<String> {
    let mut stock = BTreeSet::new();
    let mut sigs = String::new();
    let mut real_types = BTreeSet::new();
    for line in list.lines().filter(|l| !l.starts_with('#')) {
        let Some((head, sig)) = line.split_once(" :: ") else { continue };
        let w: Vec<&str> = head.split_whitespace().collect();
        match w.as_slice() {
            ["real", name, "type"] => {
                real_types.insert(name.to_string());
            }
            [kind, name, _] if ["fn", "helper", "const", "static", "type"].contains(kind) => {
                stock.insert(name.to_string());
                sigs.push_str(sig);
                sigs.push('\n');
            }
            _ => {}
        }
    }
    let ident = regex::Regex::new(r"\b\w+\b").unwrap();
    let used: BTreeSet<&str> = ident.find_iter(&sigs).map(|m| m.as_str()).collect();
    stock.extend(real_types.into_iter().filter(|t| used.contains(t.as_str())));
    stock
}

/// The problems of one module's source: each `bindings::NAME` that is not stock, and any way of naming bindings
/// items that the scan cannot follow (a glob, a group or a rename of the module: write `bindings::NAME`).
fn non_stock(file: &str, source: &str, stock: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let path = regex::Regex::new(r"\bbindings\s*::\s*(\w+|\*|\{)").unwrap();
    for c in path.captures_iter(source) {
        let name = &c[1];
        if name == "*" || name == "{" {
            out.push(format!("{file}: `bindings::{name}…`: name each item as `bindings::NAME`"));
        } else if !stock.contains(name) {
            out.push(format!("{file}: `bindings::{name}` is not in the stock 6.12.117 bindings"));
        }
    }
    if regex::Regex::new(r"\bbindings\s+as\b").unwrap().is_match(source) {
        out.push(format!("{file}: `bindings as …`: name each item as `bindings::NAME`"));
    }
    out
}

fn stock_list() -> String {
    std::fs::read_to_string(common::root().join("listings/kernel/stock-bindings.txt")).unwrap()
}

#[test]
fn conformance_modules_use_only_the_stock_api() {
    let stock = stock_names(&stock_list());
    let dir = common::root().join("tests/conformance");
    let mut problems = Vec::new();
    let mut seen = 0;
    for (name, _) in CONFORMANCE {
        let file = Path::new("tests/conformance").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(dir.join(format!("{name}.rs"))).unwrap();
        problems.extend(non_stock(&file.display().to_string(), &source, &stock));
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} conformance modules");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check can fail: a patch helper, a name no binding has, a glob and a rename are each caught; the stock
/// function, helper, constant and a type a stock signature names pass.
#[test]
fn a_non_stock_binding_is_caught() {
    let stock = stock_names(&stock_list());
    let ok = "bindings::__kmalloc_noprof(8, bindings::GFP_KERNEL); bindings::krealloc(p, 1, f); \
              let c: *mut bindings::kmem_cache; let p: *mut bindings::page; bindings::MAX_PAGE_ORDER";
    assert_eq!(non_stock("ok.rs", ok, &stock), Vec::<String>::new());
    let bad = "bindings::kmalloc(8, bindings::GFP_KERNEL); bindings::page_address(p); bindings::made_up; \
               use kernel::bindings::*; use kernel::bindings as b;";
    let p = non_stock("bad.rs", bad, &stock);
    assert_eq!(p.len(), 5, "{p:#?}");
    assert!(p[0].contains("bad.rs: `bindings::kmalloc`"), "{p:?}");
    assert!(p[1].contains("`bindings::page_address`"), "{p:?}");
}

#[test]
fn conformance_modules_are_not_listings() {
    let listings: BTreeSet<&str> = names::LISTINGS.iter().map(|(n, _)| *n).collect();
    for (name, module) in CONFORMANCE {
        assert!(!listings.contains(name), "tests/conformance/{name}.rs has a listing's module name");
        assert_eq!(module.name, *name, "tests/conformance/{name}.rs: module name = file stem");
    }
}
