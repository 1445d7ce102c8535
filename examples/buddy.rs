//! The buddy allocator at work on the book's x86_64 machine: `/proc/buddyinfo` after boot, while two
//! order-0 pages are split off a larger free block, and after they are freed and merge back; then the
//! zones' watermarks as `/proc/zoneinfo` shows them.
//!
//! Run it with `cargo run --example buddy`.

use kmem_sim::{Gfp, Machine, MachineConfig, PageOwner, Pfn};
use std::fmt::Write as _;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    let mut out = String::new();
    let boot = m.proc_buddyinfo();
    writeln!(out, "After boot (free blocks per order 0..10):\n{boot}").unwrap();

    let a = m.alloc_pages(Gfp::GFP_KERNEL, 0).expect("a page");
    writeln!(out, "alloc_pages(GFP_KERNEL, 0) -> pfn {:#x}", a.0).unwrap();
    writeln!(out, "{}", m.proc_buddyinfo()).unwrap();
    let b = m.alloc_pages(Gfp::GFP_KERNEL, 0).expect("a page");
    writeln!(out, "alloc_pages(GFP_KERNEL, 0) -> pfn {:#x}", b.0).unwrap();
    writeln!(out, "{}", m.proc_buddyinfo()).unwrap();

    for page in [a, b] {
        let buddy = Pfn(page.0 ^ 1);
        let state = m.page_frame(buddy).map(|f| f.owner());
        m.__free_pages(page, 0);
        let merged = if state == Some(PageOwner::Buddy) { "free: the two merge, and on up" } else { "not free: no merge" };
        writeln!(out, "__free_pages(pfn {:#x}, 0): its order-0 buddy, pfn {:#x}, is {merged}", page.0, buddy.0).unwrap();
        writeln!(out, "{}", m.proc_buddyinfo()).unwrap();
    }
    let merged = m.proc_buddyinfo();
    writeln!(out, "free lists identical to those after boot: {}", merged == boot).unwrap();
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
