//! The machine each listing runs on in the tests, and what is captured while it is loaded.
//! Default: the book's x86_64 VM (256 MiB, 4 CPUs, `nokaslr`), nothing captured.

use kmem_sim::{Machine, MachineConfig};

pub struct Setup {
    pub machine: MachineConfig,
    pub while_loaded: fn(&mut Machine) -> String,
    pub expect_insmod_failure: bool,
}

fn nothing(_: &mut Machine) -> String {
    String::new()
}

pub fn for_listing(name: &str) -> Setup {
    let default = Setup { machine: MachineConfig::x86_64(), while_loaded: nothing, expect_insmod_failure: false };
    match name {
        // The free lists while the module holds its pages.
        "alloc_pages_basic" => Setup { while_loaded: |m| m.proc_buddyinfo(), ..default },
        // The module's areas in /proc/vmallocinfo while it is loaded (its caller is the patch's helper).
        // /proc/vmallocinfo prints with %pK: real addresses need `no_hash_pointers`, which the QEMU run's
        // command line has (`cargo xtask qemu`: `... slab_nomerge no_hash_pointers ...`).
        "vmalloc_pages" => {
            Setup { machine: qemu_cmdline(), while_loaded: |m| vmallocinfo_of(m, "rust_helper_vmalloc+"), ..default }
        }
        "vmalloc_variants" => {
            Setup { machine: qemu_cmdline(), while_loaded: |m| vmallocinfo_of(m, "rust_helper_v"), ..default }
        }
        "kvmalloc_paths" => {
            Setup { machine: qemu_cmdline(), while_loaded: |m| vmallocinfo_of(m, "rust_helper_kvmalloc+"), ..default }
        }
        _ => default,
    }
}

/// The lines of `/proc/vmallocinfo` whose caller starts with `caller`.
fn vmallocinfo_of(m: &mut Machine, caller: &str) -> String {
    m.vmallocinfo().lines().filter(|l| l.contains(caller)).map(|l| format!("{l}\n")).collect()
}

/// The book's x86_64 machine with the slab-related words of the QEMU run's kernel command line.
fn qemu_cmdline() -> MachineConfig {
    MachineConfig {
        slab: kmem_sim::slab_common::SlabConfig::from_cmdline("slab_nomerge no_hash_pointers"),
        ..MachineConfig::x86_64()
    }
}
