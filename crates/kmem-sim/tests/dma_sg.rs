//! Scatterlists (lib/scatterlist.c) and scatter-gather DMA (kernel/dma/mapping.c, direct.c, debug.c):
//! chained tables, one device address per entry without an IOMMU, the failure of a whole list when one
//! entry is out of reach, and the DMA-API records and checks of sg mappings and non-coherent pages.
use kmem_sim::scatterlist::{Scatterlist, SCATTERLIST_SIZE, SG_MAX_SINGLE_ALLOC};
use kmem_sim::*;

const TO_DEVICE: u32 = 1;
const FROM_DEVICE: u32 = 2;

fn machine() -> (Machine, DeviceId) {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-sg", 0);
    (m, dev)
}

/// The entries `for_each_sg()` visits, as `sg_next()` walks them.
fn walk(m: &Machine, first: u64) -> Vec<u64> {
    let mut v = vec![];
    let mut p = Some(first);
    while let Some(a) = p {
        v.push(a);
        p = m.sg_next(a);
    }
    v
}

/// An entry describing `len` bytes of direct-map memory at `buf` (`sg_set_buf()`).
fn entry(m: &Machine, buf: u64, len: u32) -> Scatterlist {
    let pfn = m.virt_to_page(buf).unwrap();
    Scatterlist { page_link: m.page_struct_addr(pfn), offset: (buf & 4095) as u32, length: len, ..Default::default() }
}

#[test]
fn a_small_table_is_one_kmalloc_object_and_a_large_one_a_chain_of_pages() {
    let (mut m, _) = machine();
    let (r, t) = m.sg_alloc_table(3, Gfp::GFP_KERNEL);
    assert_eq!((r, t.nents, t.orig_nents), (0, 3, 3));
    assert_eq!(m.ksize(t.sgl), 96);
    assert_eq!(walk(&m, t.sgl).len(), 3);

    let free = m.nr_free_pages();
    let (r, mut big) = m.sg_alloc_table(300, Gfp::GFP_KERNEL);
    assert_eq!((r, big.orig_nents), (0, 300));
    let ents = walk(&m, big.sgl);
    assert_eq!(ents.len(), 300, "chain entries are skipped");
    // Two full pages of 127 data entries each, then a kmalloc array of the last 46.
    let per = SG_MAX_SINGLE_ALLOC as u64 - 1;
    assert_eq!(ents[per as usize], m.sg_read(big.sgl + per * SCATTERLIST_SIZE).unwrap().chain_ptr());
    assert_eq!(big.sgl & 4095, 0);
    assert!(m.nr_free_pages() < free);
    m.sg_free_table(&mut big);
    assert_eq!(big.sgl, 0);
    assert_eq!(m.sg_alloc_table(0, Gfp::GFP_KERNEL).0, -22, "-EINVAL for no entries");
}

#[test]
fn each_entry_gets_its_physical_address_and_one_record() {
    let (mut m, dev) = machine();
    let a = m.kmalloc(512, Gfp::GFP_KERNEL);
    let b = m.__get_free_page(Gfp::GFP_KERNEL);
    let mut sg = vec![entry(&m, a, 512), entry(&m, b, 4096)];
    let seq = m.log_seq();
    assert_eq!(m.dma_map_sg_attrs(Some(dev), &mut sg, 2, TO_DEVICE, 0), 2);
    assert_eq!(sg[0].dma_address, m.virt_to_phys(a));
    assert_eq!((sg[1].dma_address, sg[1].dma_length), (m.virt_to_phys(b), 4096));
    assert_eq!(m.dma_debug_entries().len(), 2);
    m.dma_sync_sg(Some(dev), &sg, 2, TO_DEVICE, false);
    m.dma_unmap_sg_attrs(Some(dev), &sg, 2, TO_DEVICE, 0);
    assert!(m.dma_debug_entries().is_empty());
    assert_eq!(m.log_text_since(seq), "");
}

#[test]
fn one_entry_out_of_reach_fails_the_whole_list() {
    let (mut m, dev) = machine();
    let low = m.kmalloc(64, Gfp::GFP_KERNEL | Gfp::GFP_DMA);
    let high = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert!(m.virt_to_phys(low) < 16 << 20 && m.virt_to_phys(high) > 16 << 20);
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    let mut sg = vec![entry(&m, low, 64), entry(&m, high, 64)];
    let seq = m.log_seq();
    assert_eq!(m.dma_map_sg_attrs(Some(dev), &mut sg, 2, TO_DEVICE, 0), 0);
    assert!(m.log_text_since(seq).contains("at kernel/dma/direct.h:105"));
    assert!(m.dma_debug_entries().is_empty(), "nothing is recorded for a failed list");
}

#[test]
fn a_long_segment_is_reported_and_mapped_and_the_count_must_match() {
    let (mut m, dev) = machine();
    let page = m.alloc_pages(Gfp::GFP_KERNEL, 5).unwrap();
    let buf = m.page_address(page);
    let mut one = vec![entry(&m, buf, 128 << 10)];
    let seq = m.log_seq();
    assert_eq!(m.dma_map_sg_attrs(Some(dev), &mut one, 1, TO_DEVICE, 0), 1);
    let log = m.log_text_since(seq);
    assert!(log.contains(
        "DMA-API: platform kmem-book-sg.0: mapping sg segment longer than device claims to support [len=131072] [max=65536]"
    ));
    assert!(log.contains("at kernel/dma/debug.c:1182 debug_dma_map_sg+"), "{log}");
    assert_eq!(m.dma_debug_error_count(), 1);
    // Unmapped with another entry count: counted, not shown (only the first error of a boot is).
    let mut two = [one[0], entry(&m, buf, 64)];
    two[1].dma_address = 0;
    m.dma_unmap_sg_attrs(Some(dev), &two[..1], 2, TO_DEVICE, 0);
    assert_eq!(m.dma_debug_error_count(), 2);
}

#[test]
fn noncoherent_pages_are_recorded_and_checked_on_free() {
    let (mut m, dev) = machine();
    let (page, handle) = m.dma_alloc_pages(Some(dev), 8192, FROM_DEVICE, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(handle, page.0 << 12);
    assert_eq!(m.dma_debug_entries()[0].ty, dma_debug::DmaDebugType::Noncoherent);
    let seq = m.log_seq();
    m.dma_sync_single(Some(dev), handle, 8192, FROM_DEVICE, true);
    // The sync looks for a streaming ("single") record: a noncoherent one matches the range.
    m.dma_free_pages(Some(dev), 8192, page, handle, FROM_DEVICE);
    assert!(m.dma_debug_entries().is_empty());
    assert_eq!(m.log_text_since(seq), "");
    let (sgt, table) = m.dma_alloc_noncontiguous(Some(dev), 16384, FROM_DEVICE, Gfp::GFP_KERNEL, 0).unwrap();
    assert_eq!((table.nents, table.orig_nents), (1, 1));
    assert_eq!(m.sg_read(table.sgl).unwrap().length, 16384);
    m.dma_free_noncontiguous(Some(dev), 16384, sgt, table, FROM_DEVICE);
    assert!(m.dma_debug_entries().is_empty());
    assert_eq!(m.log_text_since(seq), "");
}
