//! The machine each listing runs on in the tests, and what is captured while it is loaded.
//! Default: the book's x86_64 VM (256 MiB, 4 CPUs, `nokaslr`), nothing captured.

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

/// The slab part of the QEMU kernel's command line (`xtask/src/qemu/boot.rs` on branch `qemu`):
/// `slab_nomerge no_hash_pointers`, so a module's caches keep their own `/proc/slabinfo` rows and
/// SLUB reports print real addresses, as on the real-kernel run.
fn qemu_cmdline() -> MachineConfig {
    MachineConfig {
        slab: SlabConfig::from_cmdline("slab_nomerge no_hash_pointers"),
        ..MachineConfig::x86_64()
    }
}

/// The `/proc/slabinfo` header and the rows of the caches whose names start with `kmem_book`.
fn slabinfo_kmem_book(m: &mut Machine) -> String {
    let all = m.proc_slabinfo();
    let mut out = String::new();
    for line in all.lines() {
        if line.starts_with("slabinfo")
            || line.starts_with("# name")
            || line.starts_with("kmem_book")
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

pub fn for_listing(name: &str) -> Setup {
    let default = Setup {
        machine: MachineConfig::x86_64(),
        while_loaded: nothing,
        expect_insmod_failure: false,
    };
    let qemu = Setup {
        machine: qemu_cmdline(),
        ..default
    };
    match name {
        // The free lists while the module holds its pages.
        "alloc_pages_basic" => Setup {
            while_loaded: |m| m.proc_buddyinfo(),
            ..default
        },
        // Chapter 6: the module's caches in /proc/slabinfo while it is loaded, on the QEMU command line.
        "cache_basic" | "cache_flags" | "cache_ctor" => Setup {
            while_loaded: slabinfo_kmem_book,
            ..qemu
        },
        "cache_leak" => qemu,
        // Merging needs a kernel booted WITHOUT `slab_nomerge` (the stock default, SLAB_MERGE_DEFAULT=y).
        "cache_merge" => Setup {
            while_loaded: slabinfo_kmem_book,
            ..default
        },
        // Chapter 12: buggy modules on caches with debug flags, on the QEMU command line.
        "bug_no_debug" => Setup {
            expect_insmod_failure: true,
            ..qemu
        },
        name if name.starts_with("bug_") => qemu,
        _ => default,
    }
}
