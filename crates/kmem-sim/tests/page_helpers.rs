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

/// Page fragments (mm/page_alloc.c): carved from the end of a 32 KiB block, the block reused when every
/// fragment came back, replaced while one is out, and freed with its last reference.
#[test]
fn page_fragments_share_a_block_by_reference_count() {
    use kmem_sim::page_alloc::PageFragCache;
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let mut nc = PageFragCache::default();
    let f: Vec<u64> = (0..4).map(|_| m.__page_frag_alloc_align(&mut nc, 8192, Gfp::GFP_KERNEL, !0)).collect();
    assert_eq!((nc.size, nc.pagecnt_bias), (32768, 32765));
    assert_eq!(f.iter().map(|a| a - nc.va).collect::<Vec<_>>(), [24576, 16384, 8192, 0]);
    let head = m.virt_to_page(nc.va).unwrap();
    assert_eq!(m.page_ref_count(head), 32769);
    for &a in &f {
        m.page_frag_free(a);
    }
    assert_eq!(m.__page_frag_alloc_align(&mut nc, 8192, Gfp::GFP_KERNEL, !0), f[0], "reused whole");
    let held: Vec<u64> = (0..3).map(|_| m.__page_frag_alloc_align(&mut nc, 8192, Gfp::GFP_KERNEL, !0)).collect();
    let old = nc.va;
    let n = m.__page_frag_alloc_align(&mut nc, 8192, Gfp::GFP_KERNEL, !0);
    assert_ne!(nc.va, old, "a fragment still out keeps the old block");
    assert_eq!(m.page_ref_count(head), 4, "the four fragments' references");
    let free_before = m.nr_free_pages() + m.nr_free_pcp();
    m.page_frag_free(f[0]);
    for a in held {
        m.page_frag_free(a);
    }
    assert_eq!(m.page_ref_count(head), 0);
    assert_eq!(
        m.nr_free_pages() + m.nr_free_pcp(),
        free_before + 8,
        "the old block went back (to this CPU's list of order-3 blocks) with its last reference"
    );
    assert_eq!(m.__page_frag_alloc_align(&mut nc, 100, Gfp::GFP_KERNEL, 64u32.wrapping_neg()) & 63, 0);
    assert_eq!(m.__page_frag_alloc_align(&mut nc, 40000, Gfp::GFP_KERNEL, !0), 0, "larger than a block");
    m.page_frag_free(n);
    m.page_frag_cache_drain(&mut nc);
    assert_eq!(nc.va, 0);
}
