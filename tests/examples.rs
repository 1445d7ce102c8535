//! The simulator programs in `examples/` print what no module can see; their output is pinned here.

#[path = "../examples/i386_layout.rs"]
#[allow(dead_code)]
mod i386_layout;

#[test]
fn i386_layout() {
    let report = i386_layout::report();
    insta::assert_snapshot!("i386_layout", report);
}

#[path = "../examples/address_space.rs"]
#[allow(dead_code)]
mod address_space;

#[test]
fn address_space() {
    let report = address_space::report();
    insta::assert_snapshot!("address_space", report);
    assert!(report.contains("direct map (PAGE_OFFSET)    0xffff888000000000"), "{report}");
    assert!(report.contains("vmalloc area                0xffffc90000000000"), "{report}");
    assert!(report.contains("vmemmap (struct page array) 0xffffea0000000000"), "{report}");
}

#[path = "../examples/buddy.rs"]
#[allow(dead_code)]
mod buddy;

#[test]
fn buddy() {
    let report = buddy::report();
    insta::assert_snapshot!("buddy", report);
    // Order-0 pages go through CPU 0's per-CPU list (rmqueue_pcplist(), free_unref_page()): the first
    // allocation refills the list with a batch taken from the buddy lists, the second comes from the list,
    // both frees stay on it (below its high mark), so nothing merges until drain_all_pages() gives the
    // pages back; an order-4 block bypasses the lists (pcp_allowed_order()) and merges back at once.
    // The buddyinfo rows (the watermarks' zoneinfo heading has no counts).
    let dma32: Vec<&str> = report.lines().filter(|l| l.starts_with("Node 0, zone    DMA32 ")).collect();
    assert_eq!(dma32.len(), 7, "{report}");
    let (boot, after_a, after_b, freed, drained, big, big_freed) =
        (dma32[0], dma32[1], dma32[2], dma32[3], dma32[4], dma32[5], dma32[6]);
    assert_ne!(after_a, boot, "{report}");
    assert_eq!([after_b, freed], [after_a; 2], "{report}");
    assert_ne!(drained, freed, "{report}");
    assert_ne!(big, drained, "{report}");
    assert_eq!(big_freed, drained, "{report}");
    assert!(report.contains("drain_all_pages()\n"), "{report}");
    assert!(report.contains("CPU 0's per-CPU list (DMA32): 0 pages"), "{report}");
    assert!(report.contains("free lists identical to those after the drain: true"), "{report}");
}

#[path = "../examples/gfp_table.rs"]
#[allow(dead_code)]
mod gfp_table;

#[test]
fn gfp_table() {
    let report = gfp_table::report();
    insta::assert_snapshot!("gfp_table", report);
    // The values of include/linux/gfp_types.h and the `%pGg` names of include/trace/events/mmflags.h.
    assert!(report.contains("GFP_KERNEL                0xcc0  0xcc0(GFP_KERNEL)"), "{report}");
    assert!(report.contains("GFP_ATOMIC                0x820  0x820(GFP_ATOMIC)"), "{report}");
    assert!(report.contains("0xec0(GFP_KERNEL|0x200)"), "{report}");
}

#[path = "../examples/kmalloc_sizes.rs"]
#[allow(dead_code)]
mod kmalloc_sizes;

#[test]
fn kmalloc_sizes() {
    let report = kmalloc_sizes::report();
    insta::assert_snapshot!("kmalloc_sizes", report);
    // kmalloc_size_index[] and the 96/192 caches (mm/slab_common.c); 4 CPUs: min_objects 16 (mm/slub.c).
    assert!(report.contains("        65  kmalloc-96                           96"), "{report}");
    assert!(report.contains("       129  kmalloc-192                         192"), "{report}");
    assert!(report.contains("      8193  page allocator, order 2           16384"), "{report}");
    // The geometry (object size, objects and pages per slab) of /proc/slabinfo's rows; the counts are the
    // recorded boot's objects and the example's.
    let geometry = |cache: &str| -> Vec<String> {
        let line = report.lines().find(|l| l.split_whitespace().next() == Some(cache)).unwrap();
        line.split_whitespace().skip(3).take(3).map(str::to_string).collect()
    };
    assert_eq!(geometry("kmalloc-96"), ["96", "42", "1"], "{report}");
    assert_eq!(geometry("kmalloc-8k"), ["8192", "4", "8"], "{report}");
}

#[path = "../examples/slab_freelist.rs"]
#[allow(dead_code)]
mod slab_freelist;

#[test]
fn slab_freelist() {
    let report = slab_freelist::report();
    insta::assert_snapshot!("slab_freelist", report);
    assert!(report.contains("free pointer at offset 128"), "{report}");
    assert!(report.contains("freelist: #1 -> #0 -> #2"), "{report}");
}

#[path = "../examples/vmap_tree.rs"]
#[allow(dead_code)]
mod vmap_tree;

#[test]
fn vmap_tree() {
    let report = vmap_tree::report();
    insta::assert_snapshot!("vmap_tree", report);
    // All four clips of va_clip() occur. The booted machine's vmalloc space starts with the boot's areas, so
    // the first vmalloc() takes the left edge of the free area above them; the NE split comes from a window
    // that starts inside a hole.
    for fit in ["LE_FIT_TYPE", "FL_FIT_TYPE", "RE_FIT_TYPE", "NE_FIT_TYPE"] {
        assert!(report.contains(fit), "{fit} missing:\n{report}");
    }
    // The first area is the first free range above the boot's areas that fits, and it takes the left edge.
    let first = report.lines().next().unwrap_or_default();
    assert!(first.starts_with("vmalloc(1 MiB) #0 = 0xffffc9000") && !first.contains("0xffffc90000000000:"), "{report}");
    assert!(report.lines().nth(1).is_some_and(|l| l.trim_start().starts_with("LE_FIT_TYPE")), "{report}");
    // The chapter draws this Mermaid source inside a ```mermaid fence.
    let mermaid = vmap_tree::mermaid();
    assert!(mermaid.starts_with("graph TD\n"), "{mermaid}");
    insta::assert_snapshot!("vmap_tree_mermaid", mermaid);
}

#[path = "../examples/vmap_lazy.rs"]
#[allow(dead_code)]
mod vmap_lazy;

#[test]
fn vmap_lazy() {
    let report = vmap_lazy::report();
    insta::assert_snapshot!("vmap_lazy", report);
    assert!(report.contains("unpurged vm_area"), "{report}");
    assert!(report.contains("purges so far: 1"), "{report}");
}

#[path = "../examples/fragmentation.rs"]
#[allow(dead_code)]
mod fragmentation;

#[test]
fn fragmentation() {
    let report = fragmentation::report();
    insta::assert_snapshot!("fragmentation", report);
    assert!(report.contains("alloc_pages(GFP_KERNEL | __GFP_NOWARN, 4) -> NULL"), "{report}");
    assert!(report.contains("kvmalloc(64 KiB, GFP_KERNEL) = 0xffffc9"), "{report}");
}

#[path = "../examples/vmalloc_zones.rs"]
#[allow(dead_code)]
mod vmalloc_zones;

#[test]
fn vmalloc_zones() {
    let report = vmalloc_zones::report();
    insta::assert_snapshot!("vmalloc_zones", report);
    // GFP_VMALLOC32 on x86_64 is GFP_DMA32 | GFP_KERNEL: every page below 4 GiB.
    let line = report.lines().find(|l| l.starts_with("vmalloc_32(")).unwrap();
    assert_eq!(line.matches("(DMA32)").count(), 4, "{report}");
    let line = report.lines().find(|l| l.starts_with("vmalloc(")).unwrap();
    assert_eq!(line.matches("(Normal)").count(), 4, "{report}");
}

#[path = "../examples/mempool_wait.rs"]
#[allow(dead_code)]
mod mempool_wait;

#[test]
fn mempool_wait() {
    let report = mempool_wait::report();
    insta::assert_snapshot!("mempool_wait", report);
    assert!(report.contains("after sleeping 300."), "{report}");
}

/// Same program, same output: every example's report twice, byte for byte.
#[test]
fn reports_are_deterministic() {
    type Report = (&'static str, fn() -> String);
    let reports: &[Report] = &[
        ("i386_layout", i386_layout::report),
        ("address_space", address_space::report),
        ("buddy", buddy::report),
        ("gfp_table", gfp_table::report),
        ("kmalloc_sizes", kmalloc_sizes::report),
        ("slab_freelist", slab_freelist::report),
        ("vmap_tree", vmap_tree::report),
        ("vmap_tree mermaid", vmap_tree::mermaid),
        ("vmap_lazy", vmap_lazy::report),
        ("fragmentation", fragmentation::report),
        ("vmalloc_zones", vmalloc_zones::report),
        ("mempool_wait", mempool_wait::report),
    ];
    for (name, report) in reports {
        assert_eq!(report(), report(), "{name}");
    }
}
