//! The buddy allocator at work on the book's x86_64 machine, with the per-CPU page lists in front of it:
//! `/proc/buddyinfo` and CPU 0's list after boot; two order-0 allocations (the first refills the list
//! from the buddy lists, the second takes a page from it); the two frees, which go to the list, not to
//! the buddy lists; `drain_all_pages()`, after which the pages are back in the buddy lists and merged;
//! then an order-4 block, which bypasses the per-CPU lists and merges at once; then the zones'
//! watermarks as `/proc/zoneinfo` shows them.
//!
//! Run it with `cargo run --example buddy`.

use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

/// CPU 0's per-CPU list of zone DMA32 as `/proc/zoneinfo` shows it (`count`: pages on it).
fn cpu0_list(m: &Machine) -> String {
    let z = m.proc_zoneinfo();
    let dma32 = z.split("Node 0, zone").find(|s| s.trim_start().starts_with("DMA32")).unwrap_or("");
    let cpu0 = dma32.split("cpu: ").nth(1).unwrap_or("");
    let count = cpu0.lines().find_map(|l| l.trim().strip_prefix("count: ")).unwrap_or("?");
    format!("CPU 0's per-CPU list (DMA32): {count} pages")
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    let mut out = String::new();
    writeln!(out, "After boot (free blocks per order 0..10):\n{}{}\n", m.proc_buddyinfo(), cpu0_list(&m)).unwrap();

    let a = m.alloc_pages(Gfp::GFP_KERNEL, 0).expect("a page");
    writeln!(out, "alloc_pages(GFP_KERNEL, 0) -> pfn {:#x}", a.0).unwrap();
    writeln!(out, "{}{}\n", m.proc_buddyinfo(), cpu0_list(&m)).unwrap();
    let b = m.alloc_pages(Gfp::GFP_KERNEL, 0).expect("a page");
    writeln!(out, "alloc_pages(GFP_KERNEL, 0) -> pfn {:#x}", b.0).unwrap();
    writeln!(out, "{}{}\n", m.proc_buddyinfo(), cpu0_list(&m)).unwrap();
    for page in [a, b] {
        m.__free_pages(page, 0);
        writeln!(out, "__free_pages(pfn {:#x}, 0)", page.0).unwrap();
    }
    writeln!(out, "{}{}\n", m.proc_buddyinfo(), cpu0_list(&m)).unwrap();
    m.drain_all_pages();
    let drained = m.proc_buddyinfo();
    writeln!(out, "drain_all_pages()\n{drained}{}\n", cpu0_list(&m)).unwrap();

    let big = m.alloc_pages(Gfp::GFP_KERNEL, 4).expect("an order-4 block");
    writeln!(out, "alloc_pages(GFP_KERNEL, 4) -> pfn {:#x}", big.0).unwrap();
    writeln!(out, "{}", m.proc_buddyinfo()).unwrap();
    m.__free_pages(big, 4);
    writeln!(out, "__free_pages(pfn {:#x}, 4)\n{}", big.0, m.proc_buddyinfo()).unwrap();
    writeln!(out, "free lists identical to those after the drain: {}", m.proc_buddyinfo() == drained).unwrap();
    writeln!(out).unwrap();

    writeln!(out, "Watermarks (/proc/zoneinfo, in pages):").unwrap();
    for line in m.proc_zoneinfo().lines() {
        let t = line.trim_start();
        if t.starts_with("Node ") || ["min ", "low ", "high ", "managed "].iter().any(|k| t.starts_with(k)) {
            writeln!(out, "{line}").unwrap();
        }
    }
    out
}

fn main() {
    print!("{}", report());
}
