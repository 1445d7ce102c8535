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
    // NR_FREE_PAGES counts only the buddy lists; a freed page may wait on a per-CPU list, so count both.
    let free = |m: &Machine| m.nr_free_pages() + m.nr_free_pcp();
    writeln!(out, "free pages after boot (buddy lists + per-CPU lists): {}", free(&m)).unwrap();
    let mut first = 0;
    for i in 1..=12 {
        let free_before = free(&m);
        let p = m.vmalloc(8 * MIB);
        assert_ne!(p, 0, "vmalloc #{i} failed");
        if i == 1 {
            first = p;
        }
        m.vfree(p);
        let s = m.vmap_snapshot();
        writeln!(
            out,
            "vmalloc(8 MiB) #{i:<2} = {p:#x}, vfree(): free pages {} -> {}, vmap_lazy_nr = {} pages, {} unpurged areas, purges so far: {}",
            free_before,
            free(&m),
            s.vmap_lazy_nr,
            s.lazy.len(),
            m.vmalloc_nr_purges()
        )
        .unwrap();
        if i == 2 {
            writeln!(out, "/proc/vmallocinfo after #2:").unwrap();
            out.push_str(&vmallocinfo_from(&m, first));
        }
    }
    writeln!(out, "/proc/vmallocinfo after #12:").unwrap();
    out.push_str(&vmallocinfo_from(&m, first));
    out
}

/// `/proc/vmallocinfo` without the boot's busy areas below `low` (counted in one line); every unpurged range
/// is kept, the boot's too.
fn vmallocinfo_from(m: &Machine, low: u64) -> String {
    let info = m.vmallocinfo();
    let start = |l: &str| l.get(2..18).and_then(|h| u64::from_str_radix(h, 16).ok()).unwrap_or(0);
    let boot = info.lines().filter(|l| !l.contains("unpurged vm_area") && start(l) < low).count();
    let mut out = format!("({boot} busy areas of the boot, below #1, not shown)\n");
    for l in info.lines().filter(|l| l.contains("unpurged vm_area") || start(l) >= low) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

fn main() {
    print!("{}", report());
}
