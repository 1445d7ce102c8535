//! An aged machine: the simulator's fragmentation workload (`kmem_sim::workload::fragment`) allocates and
//! frees pages of orders 0-2 with random lifetimes on the book's x86_64 machine until no free block of
//! order 4 (64 KiB) is left, although thousands of pages are free. Then a 64 KiB request: the buddy
//! allocator fails, vmalloc() and kvmalloc() succeed with scattered pages.
//!
//! Run it with `cargo run --example fragmentation`.

use kmem_sim::workload::{fragment, FragConfig};
use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

const SIZE: u64 = 64 * 1024;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    let mut out = String::new();
    let (r, _held) = fragment(&mut m, &FragConfig::default());
    writeln!(out, "/proc/buddyinfo after boot:\n{}", r.buddyinfo_before).unwrap();
    writeln!(out, "after {} allocation and free steps:\n{}", r.steps, r.buddyinfo_after).unwrap();
    writeln!(
        out,
        "free pages: {} ({} MiB), largest free order: {:?}",
        r.free_pages,
        r.free_pages * 4 / 1024,
        r.largest_free_order
    )
    .unwrap();

    let page = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 4);
    writeln!(out, "alloc_pages(GFP_KERNEL | __GFP_NOWARN, 4) -> {}", if page.is_some() { "a block" } else { "NULL" })
        .unwrap();

    let v = m.vmalloc(SIZE);
    write!(out, "vmalloc(64 KiB) = {v:#x}, pfns:").unwrap();
    for i in 0..SIZE / 4096 {
        let pfn = m.vmalloc_to_pfn(v + i * 4096).expect("mapped");
        write!(out, " {pfn:#x}").unwrap();
    }
    writeln!(out).unwrap();

    let kv = m.kvmalloc(SIZE, Gfp::GFP_KERNEL);
    let from = if m.is_vmalloc_addr(kv) { "vmalloc area" } else { "direct map" };
    writeln!(out, "kvmalloc(64 KiB, GFP_KERNEL) = {kv:#x}: {from}").unwrap();
    m.kvfree(kv);
    m.vfree(v);
    out
}

fn main() {
    print!("{}", report());
}
