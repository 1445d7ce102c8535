//! split_page(), alloc_pages_bulk_noprof() (array form), folios and a preferred node that does not exist
//! (mm/page_alloc.c, mm/swap.c).
use kmem_sim::*;

fn machine() -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    m
}

#[test]
fn split_page_gives_every_page_its_reference() {
    let mut m = machine();
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 2).unwrap();
    assert_eq!((m.page_ref_count(p), m.page_ref_count(Pfn(p.0 + 1))), (1, 0));
    m.split_page(p, 2);
    for i in 0..4 {
        assert_eq!(m.page_ref_count(Pfn(p.0 + i)), 1);
    }
    let seq = m.log_seq();
    for i in (0..4).rev() {
        m.__free_pages(Pfn(p.0 + i), 0);
    }
    assert_eq!(m.log_text_since(seq), "");
    assert!(m.check_consistency().is_ok());
    // A compound page is left as it is (the kernel's checks are VM_BUG_ON_PAGE()s, compiled out).
    let c = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_COMP, 1).unwrap();
    m.split_page(c, 1);
    assert_eq!(m.page_ref_count(Pfn(c.0 + 1)), 0);
    m.__free_pages(c, 1);
    assert!(m.check_consistency().is_ok());
}

#[test]
fn bulk_fills_the_holes_only() {
    let mut m = machine();
    let mut a = vec![None; 16];
    assert_eq!(m.alloc_pages_bulk(Gfp::GFP_KERNEL, 0, &mut a), 16);
    assert!(a.iter().all(|p| p.is_some()));
    let keep: Vec<Pfn> = a.iter().flatten().copied().collect();
    for i in (0..16).step_by(2) {
        m.__free_pages(a[i].take().unwrap(), 0);
    }
    assert_eq!(m.alloc_pages_bulk(Gfp::GFP_KERNEL, 0, &mut a), 16);
    for i in (1..16).step_by(2) {
        assert_eq!(a[i], Some(keep[i]), "set entries are left alone");
    }
    // Already full: nothing to do.
    assert_eq!(m.alloc_pages_bulk(Gfp::GFP_KERNEL, 0, &mut a), 16);
    for p in a.into_iter().flatten() {
        m.__free_pages(p, 0);
    }
    assert!(m.check_consistency().is_ok());
    // One hole: a single __alloc_pages().
    let mut b = vec![None];
    assert_eq!(m.alloc_pages_bulk(Gfp::GFP_KERNEL, 0, &mut b), 1);
    m.__free_pages(b[0].unwrap(), 0);
}

#[test]
fn a_folio_is_a_compound_block_freed_at_its_order() {
    let mut m = machine();
    let f = m.folio_alloc(Gfp::GFP_KERNEL, 3, 0).unwrap();
    assert_eq!(f.0 % 8, 0);
    assert!(m.page_frame(f).unwrap().is_head());
    assert!(m.page_frame(Pfn(f.0 + 7)).unwrap().is_tail());
    m.__folio_put(f);
    assert!(m.check_consistency().is_ok());
    assert_eq!(m.page_ref_count(f), 0);
}

/// The real kernel's oops for `alloc_pages_bulk_noprof(GFP_KERNEL, NUMA_NO_NODE, …)`: `BUG: unable to handle
/// page fault for address: 0000000000001308` in `alloc_pages_bulk_noprof`.
#[test]
fn a_node_that_does_not_exist_oopses_reading_its_zonelist() {
    let mut m = machine();
    let mut a = vec![None; 4];
    assert_eq!(m.alloc_pages_bulk(Gfp::GFP_KERNEL, -1, &mut a), 0);
    let log = m.dmesg();
    assert!(log.contains("BUG: unable to handle page fault for address: 0000000000001308"), "{log}");
    assert!(log.contains("RIP: 0010:alloc_pages_bulk_noprof+"), "{log}");
    let mut m = machine();
    assert!(m.alloc_pages_nid(Gfp::GFP_KERNEL | Gfp::__GFP_THISNODE, 0, 1).is_none());
    assert!(m.dmesg().contains("address: 0000000000002318"), "0x1300 + 0x1010 + 8");
}
