//! The software IO TLB (kernel/dma/swiotlb.c): `swiotlb=` parsing, the forced pool's memblock cost, the
//! copies at map, sync and unmap time, slot accounting, a full pool and a pool out of the device's reach.
use kmem_sim::swiotlb::SwiotlbParams;
use kmem_sim::*;

const TO_DEVICE: u32 = 1;
const FROM_DEVICE: u32 = 2;

fn machine(cmdline: &str) -> (Machine, DeviceId) {
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline(cmdline)).unwrap();
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-bounce", 0);
    (m, dev)
}

fn map(m: &mut Machine, dev: DeviceId, buf: u64, size: u64, dir: u32) -> u64 {
    let pfn = Pfn(m.virt_to_phys(buf) >> 12);
    let a = m.dma_map_page_attrs(Some(dev), pfn, buf & 4095, size, dir, 0);
    m.debug_dma_mapping_error(Some(dev), a);
    a
}

fn byte_at_phys(m: &Machine, phys: u64) -> u8 {
    let mut b = [0u8];
    m.read_bytes(m.phys_to_virt(phys), &mut b).unwrap();
    b[0]
}

fn mem_total_kb(m: &Machine) -> u64 {
    let s = m.read_file("/proc/meminfo").unwrap();
    s.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_command_line_is_read_as_setup_io_tlb_npages_reads_it() {
    let p = SwiotlbParams::from_cmdline("console=ttyS0 swiotlb=1000,3,force");
    assert_eq!((p.nslabs, p.nareas, p.force, p.disable), (1024, 4, true, false), "ALIGN(1000, 128), areas rounded up");
    let p = SwiotlbParams::from_cmdline("swiotlb=0x100");
    assert_eq!((p.nslabs, p.force), (256, false));
    assert!(SwiotlbParams::from_cmdline("swiotlb=noforce").disable);
    assert_eq!(SwiotlbParams::from_cmdline("").nslabs, 32768, "64 MiB by default");
}

#[test]
fn without_force_there_is_no_pool_and_nothing_bounces() {
    let (mut m, dev) = machine("swiotlb=1024");
    assert!(!m.is_swiotlb_active());
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used"), Err(-2));
    let buf = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert_eq!(map(&mut m, dev, buf, 64, TO_DEVICE), m.virt_to_phys(buf));
}

#[test]
fn a_forced_pool_costs_its_slots_and_slot_array() {
    let (plain, _) = machine("");
    let (m, _) = machine("swiotlb=1024,force");
    assert_eq!(mem_total_kb(&plain) - mem_total_kb(&m), 2048 + 24);
    assert!(m.dmesg().contains("software IO TLB: area num 4.\n"));
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_nslabs").unwrap(), "1024\n");
}

#[test]
fn data_moves_only_at_map_sync_and_unmap() {
    let (mut m, dev) = machine("swiotlb=1024,force");
    let tx = m.kmalloc(4096, Gfp::GFP_KERNEL);
    m.fill(tx, 4096, 0x41).unwrap();
    let a = map(&mut m, dev, tx, 4096, TO_DEVICE);
    assert!(m.is_swiotlb_buffer(a) && a != m.virt_to_phys(tx));
    assert_eq!(a & 4095, 0, "a page or more is page-aligned in the pool");
    assert_eq!(byte_at_phys(&m, a), 0x41);
    m.fill(tx, 1, 0x42).unwrap();
    assert_eq!(byte_at_phys(&m, a), 0x41, "no copy without a sync");
    m.dma_sync_single(Some(dev), a, 4096, TO_DEVICE, false);
    assert_eq!(byte_at_phys(&m, a), 0x42);
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used").unwrap(), "2\n");
    m.dma_unmap_page_attrs(Some(dev), a, 4096, TO_DEVICE, 0);
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used").unwrap(), "0\n");

    let rx = m.kzalloc(2048, Gfp::GFP_KERNEL);
    let b = map(&mut m, dev, rx, 2048, FROM_DEVICE);
    m.fill(m.phys_to_virt(b), 2048, 0x5a).unwrap();
    let mut first = [0u8];
    m.read_bytes(rx, &mut first).unwrap();
    assert_eq!(first[0], 0);
    m.dma_sync_single(Some(dev), b, 2048, FROM_DEVICE, true);
    m.read_bytes(rx, &mut first).unwrap();
    assert_eq!(first[0], 0x5a);
    m.fill(m.phys_to_virt(b), 2048, 0x66).unwrap();
    m.dma_unmap_page_attrs(Some(dev), b, 2048, FROM_DEVICE, 0);
    m.read_bytes(rx, &mut first).unwrap();
    assert_eq!(first[0], 0x66, "unmap syncs for the CPU");
    assert!(m.dma_debug_entries().is_empty());
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used_hiwater").unwrap(), "2\n");
}

#[test]
fn freed_slots_are_merged_and_reused() {
    let (mut m, dev) = machine("swiotlb=1024,force");
    let bufs: Vec<u64> = (0..4).map(|_| m.kmalloc(2048, Gfp::GFP_KERNEL)).collect();
    let addrs: Vec<u64> = bufs.iter().map(|&b| map(&mut m, dev, b, 2048, TO_DEVICE)).collect();
    for w in addrs.windows(2) {
        assert_eq!(w[1], w[0] + 2048, "next fit in the current CPU's area");
    }
    for (&a, &b) in addrs.iter().zip(&bufs) {
        let _ = b;
        m.dma_unmap_page_attrs(Some(dev), a, 2048, TO_DEVICE, 0);
    }
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used").unwrap(), "0\n");
    // 256 KiB is one whole segment: still possible after the merges.
    let big = m.alloc_pages(Gfp::GFP_KERNEL, 6).unwrap();
    let a = m.dma_map_page_attrs(Some(dev), big, 0, 256 << 10, TO_DEVICE, 0);
    assert!(m.is_swiotlb_buffer(a));
}

#[test]
fn a_mapping_longer_than_a_segment_finds_the_pool_full() {
    let (mut m, dev) = machine("swiotlb=1024,force");
    assert_eq!(m.dma_max_mapping_size(Some(dev)), 256 << 10);
    let big = m.alloc_pages(Gfp::GFP_KERNEL, 7).unwrap();
    let seq = m.log_seq();
    assert_eq!(m.dma_map_page_attrs(Some(dev), big, 0, 512 << 10, TO_DEVICE, 0), dma::DMA_MAPPING_ERROR);
    assert!(m.log_text_since(seq).contains(
        "platform kmem-book-bounce.0: swiotlb buffer is full (sz: 524288 bytes), total 1024 (slots), used 0 (slots)"
    ));
}

#[test]
fn a_pool_above_the_mask_is_refused_after_taking_slots() {
    let (mut m, dev) = machine("swiotlb=1024,force");
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    let buf = m.kmalloc(4096, Gfp::GFP_KERNEL | Gfp::GFP_DMA);
    let seq = m.log_seq();
    assert_eq!(map(&mut m, dev, buf, 4096, TO_DEVICE), dma::DMA_MAPPING_ERROR);
    let log = m.log_text_since(seq);
    assert!(log.contains("swiotlb addr 0x") && log.contains("at kernel/dma/swiotlb.c:1619 swiotlb_map+"), "{log}");
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used").unwrap(), "0\n");
    assert_eq!(m.read_file("/sys/kernel/debug/swiotlb/io_tlb_used_hiwater").unwrap(), "2\n");
    // Coherent memory does not bounce.
    let c = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(c.dma_handle, m.virt_to_phys(c.cpu_addr));
}
