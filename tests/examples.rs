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
    assert!(report.lines().any(|l| l.starts_with("__get_free_pages(GFP_KERNEL, 0)") && l.contains("3G+")), "{report}");
    for line in report.lines().filter(|l| l.starts_with("__get_free_pages") || l.starts_with("kmalloc(100")) {
        assert!(line.ends_with("lowmem (direct map)"), "{line}");
    }
    for line in report.lines().filter(|l| l.starts_with("vmalloc(1000000)") && l.contains("3G+")) {
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
    assert!(report.contains("free lists identical to those after boot: true"), "{report}");
}
