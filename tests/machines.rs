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
        _ => default,
    }
}
