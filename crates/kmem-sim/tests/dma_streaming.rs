//! Streaming DMA (kernel/dma/mapping.c, direct.h) and DMA-API debugging (kernel/dma/debug.c): direct
//! mappings, the mask check without swiotlb, and the records every map, unmap, sync and coherent free is
//! checked against — only the first problem of a boot reported.
use kmem_sim::dma_debug::{MapErr, DMA_MAPPING_ERROR};
use kmem_sim::*;

const TO_DEVICE: u32 = 1;
const FROM_DEVICE: u32 = 2;
const BIDIRECTIONAL: u32 = 0;

/// The calibrated 256 MiB machine (its recorded boot has CONFIG_DMA_API_DEBUG) and a platform device.
fn machine() -> (Machine, DeviceId) {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    assert!(m.dmesg().contains("DMA-API: debugging enabled by kernel config"));
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-dma", 0);
    (m, dev)
}

fn map(m: &mut Machine, dev: DeviceId, buf: u64, size: u64, dir: u32) -> u64 {
    let pfn = Pfn(m.virt_to_phys(buf) >> 12);
    m.dma_map_page_attrs(Some(dev), pfn, buf & 4095, size, dir, 0)
}

#[test]
fn a_checked_mapping_is_the_physical_address_and_leaves_no_trace() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(4096, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    let a = map(&mut m, dev, buf, 4096, TO_DEVICE);
    assert_eq!(a, m.virt_to_phys(buf));
    assert_eq!(m.dma_debug_entries().len(), 1);
    assert_eq!(m.dma_debug_entries()[0].map_err, MapErr::NotChecked);
    m.debug_dma_mapping_error(Some(dev), a);
    assert_eq!(m.dma_debug_entries()[0].map_err, MapErr::Checked);
    m.dma_sync_single(Some(dev), a, 4096, TO_DEVICE, false);
    m.dma_unmap_page_attrs(Some(dev), a, 4096, TO_DEVICE, 0);
    assert!(m.dma_debug_entries().is_empty());
    assert_eq!(m.dmesg_since(seq), "");
    assert_eq!(m.dma_debug_error_count(), 0);
}

#[test]
fn a_buffer_above_the_mask_is_refused_once_with_a_warning() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(4096, Gfp::GFP_KERNEL);
    assert!(m.virt_to_phys(buf) > 16 << 20);
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    let seq = m.log_seq();
    assert_eq!(map(&mut m, dev, buf, 4096, TO_DEVICE), DMA_MAPPING_ERROR);
    let log = m.log_text_since(seq);
    let phys = m.virt_to_phys(buf);
    assert!(log.contains(&format!(
        "platform kmem-book-dma.0: DMA addr 0x{phys:016x}+4096 overflow (mask ffffff, bus limit 0).\n"
    )));
    assert!(log.contains("at kernel/dma/direct.h:105 dma_map_page_attrs+"), "{log}");
    assert!(m.dma_debug_entries().is_empty(), "a failed mapping is not recorded");
    let seq = m.log_seq();
    assert_eq!(map(&mut m, dev, buf, 4096, TO_DEVICE), DMA_MAPPING_ERROR);
    assert_eq!(m.log_text_since(seq), "", "WARN_ONCE");
    // Below the mask it maps.
    let low = m.__get_free_pages(Gfp::GFP_DMA, 0);
    assert_ne!(map(&mut m, dev, low, 4096, TO_DEVICE), DMA_MAPPING_ERROR);
}

#[test]
fn an_unchecked_mapping_is_reported_at_unmap_with_its_stack() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(4096, Gfp::GFP_KERNEL);
    let a = map(&mut m, dev, buf, 4096, BIDIRECTIONAL);
    let seq = m.log_seq();
    m.dma_unmap_page_attrs(Some(dev), a, 4096, BIDIRECTIONAL, 0);
    let log = m.log_text_since(seq);
    assert!(log.contains(&format!(
        "DMA-API: platform kmem-book-dma.0: device driver failed to check map error[device address=0x{a:016x}] [size=4096 bytes] [mapped as single]\n"
    )));
    assert!(log.contains("at kernel/dma/debug.c:1047 check_unmap+"), "{log}");
    assert!(log.contains("DMA-API: Mapped at:\n"));
    assert_eq!(m.dma_debug_error_count(), 1);
}

#[test]
fn only_the_first_problem_of_a_boot_is_shown() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(4096, Gfp::GFP_KERNEL);
    let a = map(&mut m, dev, buf, 4096, TO_DEVICE);
    m.debug_dma_mapping_error(Some(dev), a);
    // Wrong size and wrong direction: two problems of one unmap; the first is shown.
    let seq = m.log_seq();
    m.dma_unmap_page_attrs(Some(dev), a, 2048, FROM_DEVICE, 0);
    let log = m.log_text_since(seq);
    assert!(log.contains("device driver frees DMA memory with different size [device address="), "{log}");
    assert!(log.contains("[map size=4096 bytes] [unmap size=2048 bytes]"));
    assert!(!log.contains("different direction"), "{log}");
    assert_eq!(log.matches("WARNING:").count(), 1);
    assert_eq!(m.dma_debug_error_count(), 2);
    // Never mapped: counted, not shown.
    let seq = m.log_seq();
    m.dma_unmap_page_attrs(Some(dev), 0x1234_5000, 4096, TO_DEVICE, 0);
    assert_eq!(m.log_text_since(seq), "");
    assert_eq!(m.dma_debug_error_count(), 3);
}

#[test]
fn syncs_are_checked_against_their_mapping() {
    for (dir, sync_dir, to_cpu, want) in [
        (TO_DEVICE, TO_DEVICE, true, None),
        (FROM_DEVICE, FROM_DEVICE, true, None),
        (TO_DEVICE, FROM_DEVICE, true, Some("syncs DMA memory with different direction")),
        (BIDIRECTIONAL, TO_DEVICE, true, None),
    ] {
        let (mut m, dev) = machine();
        let buf = m.kmalloc(4096, Gfp::GFP_KERNEL);
        let a = map(&mut m, dev, buf, 4096, dir);
        m.debug_dma_mapping_error(Some(dev), a);
        let seq = m.log_seq();
        m.dma_sync_single(Some(dev), a + 512, 1024, sync_dir, to_cpu);
        let log = m.log_text_since(seq);
        match want {
            None => assert_eq!(log, "", "{dir} {sync_dir}"),
            Some(w) => assert!(log.contains(w), "{log}"),
        }
    }
    let (mut m, dev) = machine();
    let seq = m.log_seq();
    m.dma_sync_single(Some(dev), 0x4000_0000, 64, TO_DEVICE, true);
    assert!(m.log_text_since(seq).contains("device driver tries to sync DMA memory it has not allocated"));
}

#[test]
fn overlapping_writable_mappings_of_a_cache_line_are_reported() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(64, Gfp::GFP_KERNEL);
    let a = map(&mut m, dev, buf, 64, FROM_DEVICE);
    let seq = m.log_seq();
    let _b = map(&mut m, dev, buf, 64, FROM_DEVICE);
    assert!(m.log_text_since(seq).contains("cacheline tracking EEXIST, overlapping mappings aren't supported"));
    let _ = a;
}

#[test]
fn coherent_frees_are_checked_too() {
    let (mut m, dev) = machine();
    let c = m.dma_alloc_coherent(Some(dev), 8192, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(m.dma_debug_entries().len(), 1);
    let seq = m.log_seq();
    m.dma_free_coherent(Some(dev), 4096, c.cpu_addr, c.dma_handle);
    let log = m.log_text_since(seq);
    assert!(log.contains("device driver frees DMA memory with different size"), "{log}");
    assert!(log.contains("[map size=8192 bytes] [unmap size=4096 bytes]"));
    // The record's stack starts where the real kernel's does (cargo xtask qemu --module showed it).
    let mapped = log.split("DMA-API: Mapped at:\n").nth(1).unwrap();
    assert!(mapped.trim_start().starts_with("debug_dma_alloc_coherent+"), "{mapped}");
}

#[test]
fn an_invalid_direction_is_a_bug() {
    let (mut m, dev) = machine();
    let buf = m.kmalloc(64, Gfp::GFP_KERNEL);
    let _ = map(&mut m, dev, buf, 64, 3);
    assert!(m.dmesg().contains("kernel BUG at kernel/dma/mapping.c:162!"), "{}", m.dmesg());
}

#[test]
fn the_direct_mapping_queries() {
    let (mut m, dev) = machine();
    assert_eq!(m.dma_max_mapping_size(Some(dev)), u64::MAX);
    assert_eq!(m.dma_opt_mapping_size(Some(dev)), u64::MAX);
    assert!(!m.dma_addressing_limited(Some(dev)), "32 bits reach all of 256 MiB");
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    assert!(m.dma_addressing_limited(Some(dev)));
    assert!(m.dma_can_mmap(Some(dev)));
    assert!(!m.__dma_need_sync(Some(dev), 0x1000));
    assert_eq!(m.dma_get_merge_boundary(Some(dev)), 0);
    assert!(m.dma_pci_p2pdma_supported(None));
    assert_eq!(m.dma_direct_get_required_mask(), 0x0fff_ffff);
    // A device without a DMA mask pointer: dma_map_direct() reads *dev->dma_mask.
    let bare = m.device_create_bare("bare", None, None);
    assert_eq!(m.dma_max_mapping_size(Some(bare)), 0);
    assert!(m.dmesg().contains("BUG: kernel NULL pointer dereference, address: 0000000000000000"));
}
