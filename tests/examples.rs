//! The simulator programs in `examples/` print what no module can see; their output is pinned here.

#[path = "../examples/classic_160m.rs"]
#[allow(dead_code)]
mod classic_160m;

#[test]
fn classic_160m() {
    let report = classic_160m::report();
    insta::assert_snapshot!("classic_160m", report);
    // The 6.12 placement the book explains: the page and the kmalloc object in lowmem, the vmalloc
    // area 8 MiB above high_memory.
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("__get_free_pages(GFP_KERNEL, 0)") && l.contains("3G+")),
        "{report}"
    );
    for line in report
        .lines()
        .filter(|l| l.starts_with("__get_free_pages") || l.starts_with("kmalloc(100"))
    {
        assert!(line.ends_with("lowmem (direct map)"), "{line}");
    }
    for line in report
        .lines()
        .filter(|l| l.starts_with("vmalloc(1000000)") && l.contains("3G+"))
    {
        assert!(line.ends_with("vmalloc area"), "{line}");
    }
}

#[path = "../examples/address_space.rs"]
#[allow(dead_code)]
mod address_space;

#[test]
fn address_space() {
    let report = address_space::report();
    insta::assert_snapshot!("address_space", report);
    assert!(
        report.contains("direct map (PAGE_OFFSET)    0xffff888000000000"),
        "{report}"
    );
    assert!(
        report.contains("vmalloc area                0xffffc90000000000"),
        "{report}"
    );
    assert!(
        report.contains("vmemmap (struct page array) 0xffffea0000000000"),
        "{report}"
    );
}

#[path = "../examples/buddy.rs"]
#[allow(dead_code)]
mod buddy;

#[test]
fn buddy() {
    let report = buddy::report();
    insta::assert_snapshot!("buddy", report);
    assert!(
        report.contains("free lists identical to those after boot: true"),
        "{report}"
    );
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
    assert!(report.contains("kmalloc-96            42     42     96   42    1"), "{report}");
    assert!(report.contains("kmalloc-8k             4      4   8192    4    8"), "{report}");
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
