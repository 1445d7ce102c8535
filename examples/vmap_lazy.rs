//! Lazy purging of vmap areas on the book's x86_64 machine (4 CPUs): `vfree()` gives the pages back at
//! once, but the freed *address range* waits on a lazy list — shown by /proc/vmallocinfo as
//! `unpurged vm_area` — until more than `lazy_max_pages()` pages of ranges are waiting; then they are all
//! purged together, with one TLB flush.
//!
//! Run it with `cargo run --example vmap_lazy`.

use kmem_sim::slab_common::SlabConfig;
use kmem_sim::{Machine, MachineConfig};
use std::fmt::Write as _;

const MIB: u64 = 1 << 20;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    // /proc/vmallocinfo prints addresses with %pK: raw only with `no_hash_pointers`, as the book's kernels boot.
    let cfg =
        MachineConfig { slab: SlabConfig::from_cmdline("slab_nomerge no_hash_pointers"), ..MachineConfig::x86_64() };
    let mut m = Machine::boot(cfg).expect("the simulated machine boots");
    let mut out = String::new();
    let s = m.vmap_snapshot();
    writeln!(out, "lazy_max_pages() = fls(4 CPUs) * 32 MiB / PAGE_SIZE = {} pages", s.lazy_max_pages).unwrap();
    writeln!(out, "free pages after boot: {}", m.nr_free_pages()).unwrap();
    for i in 1..=12 {
        let free_before = m.nr_free_pages();
        let p = m.vmalloc(8 * MIB);
        assert_ne!(p, 0, "vmalloc #{i} failed");
        m.vfree(p);
        let s = m.vmap_snapshot();
        writeln!(
            out,
            "vmalloc(8 MiB) #{i:<2} = {p:#x}, vfree(): free pages {} -> {}, vmap_lazy_nr = {} pages, {} unpurged areas, purges so far: {}",
            free_before,
            m.nr_free_pages(),
            s.vmap_lazy_nr,
            s.lazy.len(),
            m.vmalloc_nr_purges()
        )
        .unwrap();
        if i == 2 {
            writeln!(out, "/proc/vmallocinfo after #2:").unwrap();
            out.push_str(&m.vmallocinfo());
        }
    }
    writeln!(out, "/proc/vmallocinfo after #12:").unwrap();
    let info = m.vmallocinfo();
    out.push_str(if info.is_empty() { "(empty)\n" } else { &info });
    out
}

fn main() {
    print!("{}", report());
}
