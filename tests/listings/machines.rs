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
        // The vmap areas of the VBox (caller vrealloc_noprof) and of the KVBox that fell back to
        // vmalloc (caller kvrealloc_noprof).
        "vbox_large" | "kvbox_choice" => Setup { while_loaded: |m| m.vmallocinfo(), ..default },
        // KVec::with_capacity() fails and `?` returns ENOMEM from init.
        "alloc_enomem" => Setup { expect_insmod_failure: true, ..default },
        // The kmalloc caches' rows in /proc/slabinfo while the module holds its objects.
        "kmalloc_slabinfo" => Setup { while_loaded: |m| slabinfo_rows(m, &["kmalloc-192 ", "kmalloc-1k "]), ..default },
        _ => default,
    }
}

/// The two header lines of `/proc/slabinfo` and the rows of the named caches.
fn slabinfo_rows(m: &mut Machine, names: &[&str]) -> String {
    let all = m.proc_slabinfo();
    let mut out = String::new();
    for (i, line) in all.lines().enumerate() {
        if i < 2 || names.iter().any(|n| line.starts_with(n)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
