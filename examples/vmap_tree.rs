//! The free vmap areas of the book's x86_64 machine, in the augmented red-black tree that
//! `find_vmap_lowest_match()` searches: five 1 MiB vmalloc areas, two of them freed (and purged), then
//! five allocations that clip a free area in each of the four ways of `va_clip()`.
//!
//! Run it with `cargo run --example vmap_tree`.

use kmem_sim::vmalloc::{PgProt, VaInfo, VmapTree};
use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

const MIB: u64 = 1 << 20;
const KIB: u64 = 1 << 10;

fn boot() -> Machine {
    Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots")
}

/// The free areas, one per line, except those between `VMALLOC_START` and `low` (the holes the boot's
/// allocations left below the example's first area), which are counted in one line with their sizes.
fn free_list(m: &Machine, low: u64) -> String {
    let start = m.layout().vmalloc_start;
    let mut out = String::new();
    let free = m.vmap_snapshot().free;
    let holes: Vec<_> = free.iter().filter(|f| f.va_start >= start && f.va_end <= low).collect();
    for f in free.iter().filter(|f| f.va_start < start) {
        writeln!(out, "  free {:#x}-{:#x} size {:#x}", f.va_start, f.va_end, f.va_end - f.va_start).unwrap();
    }
    if let (Some(first), Some(last)) = (holes.first(), holes.last()) {
        let mut sizes: Vec<u64> = holes.iter().map(|f| f.va_end - f.va_start).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let sizes: Vec<String> = sizes.iter().map(|s| format!("{s:#x}")).collect();
        writeln!(
            out,
            "  ... {} holes between the boot's areas, {:#x}-{:#x}, of sizes {}",
            holes.len(),
            first.va_start,
            last.va_end,
            sizes.join(", ")
        )
        .unwrap();
    }
    for f in free.iter().filter(|f| f.va_start >= start && f.va_end > low) {
        writeln!(out, "  free {:#x}-{:#x} size {:#x}", f.va_start, f.va_end, f.va_end - f.va_start).unwrap();
    }
    out
}

/// Which of the four `va_clip()` cases carving `[addr, addr + size)` out of the free areas `before` was.
fn fit_type(before: &[VaInfo], addr: u64, size: u64) -> &'static str {
    // The simulator sets up the free space (one area [1, ULONG_MAX)) on the first vmalloc.
    let whole = [VaInfo { va_start: 1, va_end: u64::MAX, subtree_max_size: u64::MAX - 1, node: None }];
    let before = if before.is_empty() { &whole[..] } else { before };
    let Some(va) = before.iter().find(|f| f.va_start <= addr && addr + size <= f.va_end) else {
        return "NOTHING_FIT";
    };
    match (va.va_start == addr, va.va_end == addr + size) {
        (true, true) => "FL_FIT_TYPE (full fit: the free area is used up)",
        (true, false) => "LE_FIT_TYPE (left edge: the free area keeps its right part)",
        (false, true) => "RE_FIT_TYPE (right edge: the free area keeps its left part)",
        (false, false) => "NE_FIT_TYPE (no edge: the free area is split in two)",
    }
}

/// Allocates with `alloc`, then reports the area (guard page included) and the clip it caused.
fn step(m: &mut Machine, out: &mut String, what: &str, alloc: impl FnOnce(&mut Machine) -> u64) -> u64 {
    let before = m.vmap_snapshot().free;
    let addr = alloc(m);
    assert_ne!(addr, 0, "{what} failed");
    let busy = m.vmap_snapshot().busy.into_iter().find(|b| b.va_start == addr).expect("a busy area");
    let size = busy.va_end - busy.va_start;
    writeln!(
        out,
        "{what} = {addr:#x}: area {:#x}-{:#x} ({size:#x} bytes with the guard page)",
        busy.va_start, busy.va_end
    )
    .unwrap();
    writeln!(out, "  {}", fit_type(&before, addr, size)).unwrap();
    addr
}

/// The machine with five 1 MiB areas of which the second and the fourth are freed and purged, so the free
/// tree has two holes (each 1 MiB + the guard page: more than 256 pages, so no vmap node pool keeps them).
fn with_holes(out: &mut String) -> (Machine, Vec<u64>) {
    let mut m = boot();
    let mut a = Vec::new();
    for i in 0..5 {
        a.push(step(&mut m, out, &format!("vmalloc(1 MiB) #{i}"), |m| m.vmalloc(MIB)));
    }
    m.vfree(a[1]);
    m.vfree(a[3]);
    m.vm_unmap_aliases(); // purge the lazily freed ranges now
    writeln!(out, "\nvfree(#1), vfree(#3), purge: the free areas in address order").unwrap();
    out.push_str(&free_list(&m, a[0]));
    (m, a)
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut out = String::new();
    let (mut m, a) = with_holes(&mut out);

    writeln!(
        out,
        "\nThe free tree lying on its side (right subtrees above, left below; a left subtree wholly below #0 in one line):"
    )
    .unwrap();
    out.push_str(&m.vmap_tree_text_above(VmapTree::Free, a[0]));

    writeln!(out, "\nfind_vmap_lowest_match(): the lowest free area that fits").unwrap();
    step(&mut m, &mut out, "vmalloc(2 MiB)", |m| m.vmalloc(2 * MIB));
    step(&mut m, &mut out, "vmalloc(1 MiB)", |m| m.vmalloc(MIB));
    step(&mut m, &mut out, "vmalloc(512 KiB)", |m| m.vmalloc(512 * KIB));
    // A window that starts in the middle of the rest of hole #3, so the area touches neither of its edges.
    let hole_end = a[4];
    let (s, e) = (hole_end - 448 * KIB, m.layout().vmalloc_end);
    step(&mut m, &mut out, "__vmalloc_node_range(124 KiB, start = end of the hole - 448 KiB)", |m| {
        m.__vmalloc_node_range(124 * KIB, 1, s, e, Gfp::GFP_KERNEL, PgProt::PAGE_KERNEL, 0, -1, None)
    });
    // A window that starts inside what is left above it, so the area ends exactly where the hole ends.
    let (s, e) = (hole_end - 256 * KIB, m.layout().vmalloc_end);
    step(&mut m, &mut out, "__vmalloc_node_range(252 KiB, start = end of the hole - 256 KiB)", |m| {
        m.__vmalloc_node_range(252 * KIB, 1, s, e, Gfp::GFP_KERNEL, PgProt::PAGE_KERNEL, 0, -1, None)
    });
    writeln!(out, "\nThe free areas now:").unwrap();
    out.push_str(&free_list(&m, a[0]));
    m.vmap_check_invariants().expect("the vmap space is consistent");
    out
}

/// The free tree of [`report`] (two holes; the boot's holes below #0 collapsed) as Mermaid source, pinned separately for the chapter.
pub fn mermaid() -> String {
    let (m, a) = with_holes(&mut String::new());
    m.vmap_tree_mermaid_above(VmapTree::Free, a[0])
}

fn main() {
    print!("{}", report());
    println!("\nMermaid:\n{}", mermaid());
}
