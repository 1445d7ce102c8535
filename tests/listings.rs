//! Every listing (a kernel module under `listings/`) is loaded and unloaded on a fresh simulated machine,
//! booted as its manifest (`listings/<chapter>/<name>.toml`) says, and every output the book shows of it is
//! pinned by an insta snapshot: `tests/snapshots/listings__<name>.snap` (its dmesg), `…-insmod.snap`
//! (insmod's message when it does not load) and `…-<stem>.snap` for each file its manifest shows while it is
//! loaded. These pins are what the chapters include.
//!
//! The real kernel is the judge: each output must also equal the real Linux 6.12.117 kernel's committed
//! capture (`listings/kernel/observed/<name>/`, recorded by `cargo xtask qemu --record`) under the masks of
//! `kmem_truth::mask` and the exceptions the listing's manifest declares. No QEMU is needed: the capture is
//! a committed file. (`tests/real_kernel.rs` checks the captures themselves.)

mod common;

include!(concat!(env!("OUT_DIR"), "/listings.rs"));

fn check(name: &str, chapter: &str, module: &'static kernel::__sim::ModuleDesc) {
    let manifest = kmem_truth::Manifest::for_listing(&common::root().join(format!("listings/{chapter}/{name}.rs")))
        .unwrap_or_else(|e| panic!("{e}"));
    let run = kmem_runner::run_listing(module, &manifest, None);
    let mut settings = insta::Settings::clone_current();
    settings.set_description(format!("listings/{chapter}/{name}.rs"));
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (stem, text) in &run.outputs {
            let snap = if stem == "dmesg" { name.to_string() } else { format!("{name}-{stem}") };
            insta::assert_snapshot!(snap, text);
        }
    });
    // The real kernel is the judge.
    let mut differences = Vec::new();
    for ((stem, text), o) in run.outputs.iter().zip(kmem_truth::observed::outputs(name, &manifest)) {
        let cap_path = kmem_truth::observed::listing_dir(&common::root(), name).join(&o.capture);
        let Ok(cap) = std::fs::read_to_string(&cap_path) else {
            differences.push(format!(
                "{name}: no real capture {} (run `cargo xtask qemu --record --listing {name}`)",
                cap_path.display()
            ));
            continue;
        };
        let c = kmem_truth::compare(stem, text, &cap, &manifest.exceptions);
        if !c.is_equal() {
            let mut msg =
                format!("{name}: the simulator's {stem} differs from the real kernel's {}\n{}", o.capture, c.diff);
            for e in &c.exception_errors {
                msg.push_str(&format!("  {e}\n"));
            }
            differences.push(msg);
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let fails = !matches!(manifest.insmod, kmem_truth::Insmod::Succeeds);
    assert_eq!(fails, run.insmod_error.is_some(), "{name}: insmod outcome (manifest says {:?})", manifest.insmod);
    if !fails {
        // An oops in the exit kills rmmod: the machine records the stop.
        let killed = run.machine.kernel_stop().is_some();
        let expected = manifest.rmmod == kmem_truth::Rmmod::Killed;
        assert_eq!(killed, expected, "{name}: rmmod outcome (manifest says {:?})", manifest.rmmod);
    }
}

#[test]
fn every_listing_is_an_example() {
    // `cargo run --example <name>` must work for every listing.
    let manifest = std::fs::read_to_string(common::root().join("Cargo.toml")).unwrap();
    for (name, chapter, _) in LISTINGS {
        let entry = format!("name = \"{name}\"\npath = \"listings/{chapter}/{name}.rs\"");
        assert!(manifest.contains(&entry), "Cargo.toml lacks\n[[example]]\n{entry}");
    }
}

/// Prints one listing's outputs when the test binary is run with `KMEM_PRINT_LISTING=<name>` (the
/// determinism test below runs it so).
#[test]
fn print_listing_outputs() {
    let Ok(want) = std::env::var("KMEM_PRINT_LISTING") else { return };
    let (name, chapter, module) = LISTINGS.iter().find(|(n, _, _)| *n == want).expect("a listing");
    let m = kmem_truth::Manifest::for_listing(&common::root().join(format!("listings/{chapter}/{name}.rs"))).unwrap();
    let mut out = String::new();
    for (stem, text) in kmem_runner::run_listing(module, &m, None).outputs {
        out.push_str(&format!("@@{stem}\n{text}"));
    }
    println!("@@BEGIN\n{out}@@END");
}

#[test]
fn runs_are_deterministic() {
    // Same module, same machine: byte-identical outputs, for every listing, each run in a process of its own
    // (a module's statics start from their initial values at every load, as on a real kernel).
    if std::env::var("KMEM_PRINT_LISTING").is_ok() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let once = |name: &str| {
        let out = std::process::Command::new(&exe)
            .args(["--exact", "print_listing_outputs", "--nocapture", "--test-threads=1"])
            .env("KMEM_PRINT_LISTING", name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let start = text.find("@@BEGIN\n").expect("the listing's outputs") + "@@BEGIN\n".len();
        let end = text.rfind("@@END").expect("the end of the outputs");
        text[start..end].to_string()
    };
    // The two runs of a listing are processes of their own, run at the same time.
    for (name, _, _) in LISTINGS {
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| once(name));
            (once(name), other.join().unwrap())
        });
        assert_eq!(a, b, "{name}");
    }
}

// ---- The address-space chapter's classic experiment on the 32-bit machines, in both worlds: the listing three_allocators.rs on
// the simulator's i386 profile at 160 MiB and at 1536 MiB (each booted from its recorded real boot), its
// outputs pinned as `listings__three_allocators-i386-<size>-<output>.snap`, and each compared, under the masks
// and the exceptions of `three_allocators-i386.toml`, with what the real 32-bit Linux 6.12.117 printed running
// the C module three_allocators.c (`listings/kernel/observed-i386/<size>/three_allocators/`, recorded by
// `cargo xtask qemu --arch i386 --record`).

use kmem_sim::machine::MachineConfig;

fn i386_run(size: &str, mib: u64) -> kmem_runner::ListingRun {
    let m = common::i386_manifest();
    let cfg = MachineConfig::i386().ram_mib(mib).cmdline(&m.kernel_cmdline());
    assert!(
        kmem_sim::qemu_boot::Recording::for_config(&cfg).is_some(),
        "i386-{size} boots from its recorded real boot"
    );
    kmem_runner::run_listing(&three_allocators::__MODULE, &m, Some(cfg))
}

fn check_i386(size: &str, mib: u64) {
    let m = common::i386_manifest();
    let run = i386_run(size, mib);
    assert!(run.insmod_error.is_none(), "{:?}", run.insmod_error);
    let mut settings = insta::Settings::clone_current();
    settings.set_description("listings/ch02-address-space/three_allocators.rs on the simulator's i386 machine");
    settings.set_omit_expression(true);
    let dir = common::root().join("listings/kernel/observed-i386").join(size).join("three_allocators");
    let mut differences = Vec::new();
    settings.bind(|| {
        for (stem, text) in &run.outputs {
            insta::assert_snapshot!(format!("three_allocators-i386-{size}-{stem}"), text);
            let real = std::fs::read_to_string(dir.join(format!("{stem}.txt")))
                .unwrap_or_else(|_| panic!("no real capture {stem}.txt in {}", dir.display()));
            let c = kmem_truth::compare(stem, text, &real, &m.exceptions);
            if !c.is_equal() {
                differences.push(format!("i386-{size} {stem}:\n{}{}", c.diff, c.exception_errors.join("\n")));
            }
        }
    });
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn classic_160m_matches_the_real_32_bit_kernel() {
    check_i386("160m", 160);
}

#[test]
fn classic_1536m_matches_the_real_32_bit_kernel() {
    check_i386("1536m", 1536);
}

/// Every attribute of SLUB's sysfs directories (and the debugfs traces) against whole directories of the real
/// kernel (`tests/real_sysfs/`, read with `cd <dir>; grep . *` while the listing was loaded): the plain and the
/// debug cache of `cache_sysfs`, and, on a kernel that merges, `cache_merge`'s `:0000200` directory (the merged
/// `kmem_book_merge_a`), its alias's `aliases` read through the alias's link and the directory of the cache
/// with a constructor (`ctor`).
#[test]
fn sysfs_files_are_the_real_kernels() {
    let real = |f: &str| std::fs::read_to_string(common::root().join("tests/real_sysfs").join(f)).unwrap();
    let run = |name: &str, shows: &[&str]| -> Vec<(String, String)> {
        let (_, chapter, module) = LISTINGS.iter().find(|(n, _, _)| *n == name).expect("a listing");
        let path = common::root().join(format!("listings/{chapter}/{name}.toml"));
        let mut toml = std::fs::read_to_string(&path).unwrap_or_default();
        toml.retain(|c| c != '\r');
        let base = kmem_truth::Manifest::parse(&toml, &path).unwrap();
        let extra: String = shows.iter().map(|f| format!("[[show]]\nfile = \"{f}\"\n")).collect();
        let cmdline: String = base.cmdline.iter().map(|w| format!("\"{w}\",")).collect();
        let m = kmem_truth::Manifest::parse(&format!("cmdline = [{cmdline}]\n{extra}"), &path).unwrap();
        kmem_runner::run_listing(module, &m, None).outputs
    };
    let out = run(
        "cache_sysfs",
        &[
            "/sys/kernel/slab/kmem_book_sysfs/",
            "/sys/kernel/slab/kmem_book_sysfs_debug/",
            "/sys/kernel/debug/slab/kmem_book_sysfs_debug/",
        ],
    );
    let get = |out: &[(String, String)], stem: &str| out.iter().find(|(s, _)| s == stem).unwrap().1.clone();
    assert_eq!(get(&out, "sys-kernel-slab-kmem_book_sysfs"), real("cache_sysfs-kmem_book_sysfs.txt"));
    assert_eq!(get(&out, "sys-kernel-slab-kmem_book_sysfs_debug"), real("cache_sysfs-kmem_book_sysfs_debug.txt"));
    // The traces under the masks; the ages are timings of one boot (the real one's three objects were
    // allocated 10 jiffies before the read, the simulator's 0: `age=10/10/10` against `age=0`).
    let traces = |t: &str| -> Vec<String> {
        let age = regex::Regex::new(r"age=\S+").unwrap();
        t.lines().filter_map(kmem_truth::mask_line).map(|l| age.replace(&l, "age=").into_owned()).collect()
    };
    assert_eq!(
        traces(&get(&out, "sys-kernel-debug-slab-kmem_book_sysfs_debug")),
        traces(&real("cache_sysfs-debugfs-kmem_book_sysfs_debug.txt"))
    );
    let out = run(
        "cache_merge",
        &[
            "/sys/kernel/slab/:0000200/",
            "/sys/kernel/slab/kmem_book_merge_b/aliases",
            "/sys/kernel/slab/kmem_book_merge_c/",
        ],
    );
    assert_eq!(get(&out, "sys-kernel-slab-:0000200"), real("cache_merge-0000200.txt"));
    assert_eq!(
        get(&out, "sys-kernel-slab-kmem_book_merge_b-aliases"),
        real("cache_merge-kmem_book_merge_b-aliases.txt")
    );
    assert_eq!(get(&out, "sys-kernel-slab-kmem_book_merge_c"), real("cache_merge-kmem_book_merge_c.txt"));
}
