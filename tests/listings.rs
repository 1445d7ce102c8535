//! Every listing (a kernel module under `listings/`) is loaded and unloaded on a fresh simulated
//! machine, and its dmesg is pinned by an insta snapshot `tests/snapshots/listings__<name>.snap` --
//! the pin that the chapters include and that `cargo xtask qemu` compares with a real 6.12 kernel.

mod common;
#[path = "listings/machines.rs"]
mod machines;

include!(concat!(env!("OUT_DIR"), "/listings.rs"));

fn check(name: &str, chapter: &str, module: &'static kernel::__sim::ModuleDesc) {
    let setup = machines::for_listing(name);
    let run = kmem_runner::run_with(module, setup.machine, setup.while_loaded);
    let mut settings = insta::Settings::clone_current();
    settings.set_description(format!("listings/{chapter}/{name}.rs"));
    settings.set_omit_expression(true);
    settings.bind(|| {
        insta::assert_snapshot!(name, run.dmesg);
        if let Some(e) = &run.insmod_error {
            insta::assert_snapshot!(format!("{name}-insmod"), e);
        }
        if !run.while_loaded.is_empty() {
            insta::assert_snapshot!(format!("{name}-proc"), run.while_loaded);
        }
    });
    assert_eq!(
        setup.expect_insmod_failure,
        run.insmod_error.is_some(),
        "{name}: insmod outcome"
    );
}

#[test]
fn every_listing_is_an_example() {
    // `cargo run --example <name>` must work for every listing.
    let manifest = std::fs::read_to_string(common::root().join("Cargo.toml")).unwrap();
    for (name, chapter, _) in LISTINGS {
        let entry = format!("name = \"{name}\"\npath = \"listings/{chapter}/{name}.rs\"");
        assert!(
            manifest.contains(&entry),
            "Cargo.toml lacks\n[[example]]\n{entry}"
        );
    }
}

#[test]
fn runs_are_deterministic() {
    // Same module, same machine: byte-identical dmesg.
    for (name, _, module) in LISTINGS.iter().take(3) {
        let a = kmem_runner::run(module, machines::for_listing(name).machine).dmesg;
        let b = kmem_runner::run(module, machines::for_listing(name).machine).dmesg;
        assert_eq!(a, b, "{name}");
    }
}
