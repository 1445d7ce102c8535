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

/// The slab part of the QEMU kernel's command line (`xtask/src/qemu/boot.rs`): `slab_nomerge
/// no_hash_pointers`, so a module's caches keep their own `/proc/slabinfo` rows and SLUB reports print
/// real addresses, as on the real-kernel run.
fn qemu_cmdline() -> MachineConfig {
    MachineConfig { slab: SlabConfig::from_cmdline("slab_nomerge no_hash_pointers"), ..MachineConfig::x86_64() }
}

pub fn for_listing(name: &str) -> Setup {
    let default = Setup { machine: MachineConfig::x86_64(), while_loaded: nothing, expect_insmod_failure: false };
    let qemu = Setup { machine: qemu_cmdline(), ..default };
    match name {
        // The free lists while the module holds its pages.
        "alloc_pages_basic" => Setup { while_loaded: |m| m.proc_buddyinfo(), ..default },
        // The vmap areas of the VBox (caller vrealloc_noprof) and of the KVBox that fell back to
        // vmalloc (caller kvrealloc_noprof).
        "vbox_large" | "kvbox_choice" => Setup { while_loaded: |m| m.vmallocinfo(), ..default },
        // KVec::with_capacity() fails and `?` returns ENOMEM from init.
        "alloc_enomem" => Setup { expect_insmod_failure: true, ..default },
        // The kmalloc caches' rows in /proc/slabinfo while the module holds its objects.
        "kmalloc_slabinfo" => {
            Setup { while_loaded: |m| slabinfo_rows(m, &["kmalloc-192 ", "kmalloc-1k "]), ..default }
        }
        // Chapter 6: the module's caches in /proc/slabinfo while it is loaded, on the QEMU command line.
        "cache_basic" | "cache_flags" | "cache_ctor" => {
            Setup { while_loaded: |m| slabinfo_rows(m, &["kmem_book"]), ..qemu }
        }
        "cache_leak" => qemu,
        // Merging needs a kernel booted WITHOUT `slab_nomerge` (the stock default, SLAB_MERGE_DEFAULT=y).
        "cache_merge" => Setup { while_loaded: |m| slabinfo_rows(m, &["kmem_book"]), ..default },
        // Chapter 12: buggy modules on caches with debug flags, on the QEMU command line.
        "bug_no_debug" => Setup { expect_insmod_failure: true, ..qemu },
        name if name.starts_with("bug_") => qemu,
        _ => default,
    }
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
