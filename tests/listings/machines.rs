//! The machine each listing runs on in the tests, and what is captured while it is loaded.
//! Default: the book's x86_64 VM (256 MiB, 4 CPUs), booted with the command line of the real-kernel run
//! (`cargo xtask qemu`: `nokaslr slab_nomerge no_hash_pointers`), nothing captured.

use kmem_sim::fault_inject::FaultConfig;
use kmem_sim::slab_common::SlabConfig;
use kmem_sim::{Machine, MachineConfig};

pub struct Setup {
    pub machine: MachineConfig,
    pub while_loaded: fn(&mut Machine) -> String,
    pub expect_insmod_failure: bool,
}

fn nothing(_: &mut Machine) -> String {
    String::new()
}

/// The slab part of the QEMU kernel's command line (`xtask/src/qemu/boot.rs`): `slab_nomerge
/// no_hash_pointers`, so a module's caches keep their own `/proc/slabinfo` rows and SLUB reports print
/// real addresses, as on the real-kernel run.
fn qemu_cmdline() -> MachineConfig {
    MachineConfig { slab: SlabConfig::from_cmdline("slab_nomerge no_hash_pointers"), ..MachineConfig::x86_64() }
}

pub fn for_listing(name: &str) -> Setup {
    let default = Setup { machine: qemu_cmdline(), while_loaded: nothing, expect_insmod_failure: false };
    // A stock boot: no `slab_nomerge` (SLAB_MERGE_DEFAULT=y), hashed `%p`.
    let stock = Setup { machine: MachineConfig::x86_64(), ..default };
    match name {
        // The free lists while the module holds its pages.
        "alloc_pages_basic" => Setup { while_loaded: |m| m.proc_buddyinfo(), ..default },
        // The vmap areas of the VBox (caller vrealloc_noprof) and of the KVBox that fell back to
        // vmalloc (caller kvrealloc_noprof).
        "vbox_large" | "kvbox_choice" => Setup { while_loaded: |m| m.vmallocinfo(), ..default },
        // KVec::with_capacity() fails and `?` returns ENOMEM from init.
        "alloc_enomem" => Setup { expect_insmod_failure: true, ..default },
        // The kmalloc caches' rows in /proc/slabinfo while the module holds its objects.
        "kmalloc_slabinfo" => Setup { while_loaded: |m| slabinfo_rows(m, &["kmalloc-192 ", "kmalloc-1k "]), ..default },
        // Chapter 6: the module's caches in /proc/slabinfo while it is loaded, on the QEMU command line.
        "cache_basic" | "cache_flags" | "cache_ctor" => {
            Setup { while_loaded: |m| slabinfo_rows(m, &["kmem_book"]), ..default }
        }
        "cache_leak" => default,
        // Merging needs a kernel booted WITHOUT `slab_nomerge` (the stock default, SLAB_MERGE_DEFAULT=y).
        "cache_merge" => Setup { while_loaded: |m| slabinfo_rows(m, &["kmem_book"]), ..stock },
        // The module's areas in /proc/vmallocinfo while it is loaded (their caller is the module's init:
        // the C helpers tail-call the allocators).
        "vmalloc_pages" => Setup { while_loaded: |m| vmallocinfo_of(m, "[vmalloc_pages]"), ..default },
        "vmalloc_variants" => Setup { while_loaded: |m| vmallocinfo_of(m, "[vmalloc_variants]"), ..default },
        "kvmalloc_paths" => Setup { while_loaded: |m| vmallocinfo_of(m, "[kvmalloc_paths]"), ..default },
        // Chapter 12: buggy modules on caches with debug flags, on the QEMU command line.
        "bug_no_debug" => Setup { expect_insmod_failure: true, ..default },
        // Chapter 9: failslab fails every kmalloc-512 allocation that cannot reclaim.
        "mempool_reserve" | "mempool_atomic" => Setup { machine: failslab_kmalloc_512(), ..default },
        _ => default,
    }
}

/// Chapter 9's machine: the QEMU command line plus `slab_debug=A,kmalloc-512` (marks the cache for
/// failslab) and failslab set up as through its debugfs files before insmod: `probability` 100, `times`
/// -1, `verbose` 0, `cache-filter` Y, `ignore-gfp-wait` Y (the default). Only kmalloc-512 allocations
/// without `__GFP_DIRECT_RECLAIM` fail, so the pool's GFP_KERNEL preallocation succeeds.
fn failslab_kmalloc_512() -> MachineConfig {
    let mut slab = SlabConfig::from_cmdline("slab_nomerge no_hash_pointers slab_debug=A,kmalloc-512");
    slab.failslab = Some(FaultConfig::default().probability(100).times(-1).verbose(0));
    slab.failslab_ignore_gfp_wait = true;
    slab.failslab_cache_filter = true;
    MachineConfig { slab, ..MachineConfig::x86_64() }
}

/// The two header lines of `/proc/slabinfo` and the rows of the caches whose names start with one of
/// `prefixes`.
fn slabinfo_rows(m: &mut Machine, prefixes: &[&str]) -> String {
    let all = m.proc_slabinfo();
    let mut out = String::new();
    for (i, line) in all.lines().enumerate() {
        if i < 2 || prefixes.iter().any(|n| line.starts_with(n)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The lines of `/proc/vmallocinfo` that contain `caller` (e.g. a module's `[name]`).
fn vmallocinfo_of(m: &mut Machine, caller: &str) -> String {
    m.vmallocinfo().lines().filter(|l| l.contains(caller)).map(|l| format!("{l}\n")).collect()
}
