//! Coherent DMA (kernel/dma/mapping.c, direct.c): masks, zones, alignment, zeroing, refusals and warnings.
use kmem_sim::dma::DMA_ATTR_NO_WARN;
use kmem_sim::*;

fn machine(ram_mib: u64) -> (Machine, DeviceId) {
    let mut m = Machine::boot(MachineConfig::x86_64().ram_mib(ram_mib)).unwrap();
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-dma", 0);
    (m, dev)
}

fn check_buffer(m: &Machine, a: DmaAlloc, size: u64, limit: u64) {
    assert_eq!(a.cpu_addr % 4096, 0, "page aligned");
    assert_eq!(a.dma_handle, m.virt_to_phys(a.cpu_addr), "bus = physical");
    assert!(a.dma_handle + size.div_ceil(4096) * 4096 - 1 <= limit, "{:#x} under {limit:#x}", a.dma_handle);
    let mut b = vec![0xffu8; size as usize];
    m.read_bytes(a.cpu_addr, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0), "zeroed");
}

#[test]
fn platform_device_defaults() {
    let (m, dev) = machine(256);
    assert_eq!(m.dev_name(dev), "kmem-book-dma.0");
    assert_eq!(m.dev_driver_string(dev), "platform");
    let d = m.device(dev).unwrap();
    assert_eq!(d.coherent_dma_mask, DMA_BIT_MASK(32));
    assert_eq!(d.dma_mask, Some(0xffff_ffff));
    assert_eq!(DMA_BIT_MASK(64), u64::MAX);
    assert_eq!(DMA_BIT_MASK(24), 0xff_ffff);
    assert_eq!(m.dma_get_required_mask(dev), 0x0fff_ffff);
}

#[test]
fn masks_choose_zones() {
    let (mut m, dev) = machine(6 * 1024);
    // 24-bit (ISA-style): ZONE_DMA, below 16 MiB.
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    for size in [100u64, 4096, 10_000, 65_536] {
        let a = m.dma_alloc_coherent(Some(dev), size, Gfp::GFP_KERNEL).unwrap();
        check_buffer(&m, a, size, DMA_BIT_MASK(24));
    }
    // The caller's zone modifiers are stripped: GFP_DMA32 does not lift a 24-bit device out of ZONE_DMA.
    let a = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL | Gfp::GFP_DMA32).unwrap();
    check_buffer(&m, a, 4096, DMA_BIT_MASK(24));
    // 32-bit: ZONE_DMA32, below 4 GiB although most RAM is above.
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32)).unwrap();
    for _ in 0..8 {
        let a = m.dma_alloc_coherent(Some(dev), 3 * 4096, Gfp::GFP_KERNEL).unwrap();
        check_buffer(&m, a, 3 * 4096, DMA_BIT_MASK(32));
    }
    // 64-bit: any zone: ZONE_NORMAL first, above 4 GiB here.
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64)).unwrap();
    let a = m.dma_alloc_coherent(Some(dev), 8192, Gfp::GFP_KERNEL).unwrap();
    check_buffer(&m, a, 8192, u64::MAX);
    assert!(a.dma_handle >= 1 << 32);
    let zones: Vec<&str> = m.dma_coherent_allocations().iter().map(|c| c.zone.name()).collect();
    assert_eq!(&zones[..5], &["DMA"; 5]);
    assert_eq!(&zones[5..13], &["DMA32"; 8]);
    assert_eq!(zones[13], "Normal");
    let dump = m.dma_coherent_dump();
    assert!(dump.starts_with("platform kmem-book-dma.0: cpu_addr=0xffff8880"), "{dump}");
    assert!(dump.contains(" size=100 order=0 zone=DMA\n"), "{dump}");
    assert_eq!(m.count_pages_owned_by(PageOwner::Dma), 1 + 1 + 4 + 16 + 1 + 8 * 4 + 2);
    // Free them all; the free-page count comes back (counting the pages freed onto the per-CPU lists).
    let free0 = m.nr_free_pages() + m.nr_free_pcp();
    let allocs = m.dma_coherent_allocations().to_vec();
    let n: u64 = allocs.iter().map(|c| 1u64 << c.order).sum();
    for c in allocs {
        m.dma_free_coherent(Some(dev), c.size, c.cpu_addr, c.dma_handle);
    }
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), free0 + n);
    assert!(m.dma_coherent_allocations().is_empty());
    assert_eq!(m.check_consistency(), Ok(()));
    assert_eq!(m.count_pages_owned_by(PageOwner::Dma), 0);
    assert!(!m.dmesg().contains("WARNING"));
    assert!(!m.dmesg().contains("Bad page"));
}

#[test]
fn buffers_are_zeroed_even_when_reused() {
    let (mut m, dev) = machine(256);
    let a = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    m.fill(a.cpu_addr, 4096, 0xee).unwrap();
    m.dma_free_coherent(Some(dev), 4096, a.cpu_addr, a.dma_handle);
    let b = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(a, b, "the same page again (LIFO)");
    check_buffer(&m, b, 4096, DMA_BIT_MASK(32));
}

#[test]
fn set_mask_failures() {
    let (mut m, dev) = machine(256);
    // Smaller than ZONE_DMA can satisfy: -EIO, masks unchanged.
    for bits in [12, 20, 23] {
        let e = m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(bits)).unwrap_err();
        assert_eq!(e.errno(), -5);
    }
    assert_eq!(m.dma_get_mask(dev), DMA_BIT_MASK(32));
    assert_eq!(m.device(dev).unwrap().coherent_dma_mask, DMA_BIT_MASK(32));
    m.dma_set_mask(dev, DMA_BIT_MASK(24)).unwrap();
    m.dma_set_mask(dev, DMA_BIT_MASK(28)).unwrap();
    // A device without dev->dma_mask: dma_set_mask fails, the coherent mask can be set, coerce works.
    let bare = m.device_create_bare("kmem-book-bare", None, Some("kmem"));
    assert_eq!(m.dma_set_mask(bare, DMA_BIT_MASK(64)), Err(DmaError::Io));
    assert_eq!(m.dma_set_mask_and_coherent(bare, DMA_BIT_MASK(64)), Err(DmaError::Io));
    assert_eq!(m.device(bare).unwrap().coherent_dma_mask, 0);
    m.dma_coerce_mask_and_coherent(bare, DMA_BIT_MASK(32)).unwrap();
    assert_eq!(m.dma_get_mask(bare), DMA_BIT_MASK(32));
    assert_eq!(m.dev_driver_string(bare), "kmem", "class name without bus");
    assert!(m.dmesg().lines().all(|l| !l.contains("WARNING")));
}

#[test]
fn gfp_comp_is_refused_with_a_warning_once() {
    let (mut m, dev) = machine(256);
    m.push_module_frame("kmem_book_init", "kmem_book_dma");
    let seq = m.log_seq();
    let r = m.dma_alloc_coherent(Some(dev), 16384, Gfp::GFP_KERNEL | Gfp::__GFP_COMP);
    assert!(r.is_none());
    let log = m.log_text_since(seq);
    assert!(log.starts_with("------------[ cut here ]------------\nWARNING: CPU: 0 PID: 95 at kernel/dma/mapping.c:605 dma_alloc_attrs+0x"), "{log}");
    assert!(log.contains(" kmem_book_init+0x"), "{log}");
    assert!(m.test_taint(Taint::Warn));
    let seq = m.log_seq();
    assert!(m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL | Gfp::__GFP_COMP).is_none());
    assert_eq!(m.log_text_since(seq), "", "WARN_ON_ONCE");
    m.pop_frame();
}

#[test]
fn zero_coherent_mask_warns_and_fails() {
    let (mut m, _) = machine(256);
    let bare = m.device_create_bare("kmem-book-bare", Some("platform"), None);
    let seq = m.log_seq();
    assert!(m.dma_alloc_coherent(Some(bare), 4096, Gfp::GFP_KERNEL).is_none());
    let log = m.log_text_since(seq);
    assert!(log.contains("at kernel/dma/mapping.c:598 dma_alloc_attrs+0x"), "{log}");
    assert_eq!(m.count_pages_owned_by(PageOwner::Dma), 0);
}

#[test]
fn free_with_irqs_disabled_warns() {
    let (mut m, dev) = machine(256);
    let a = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    m.local_irq_disable();
    let seq = m.log_seq();
    m.dma_free_coherent(Some(dev), 4096, a.cpu_addr, a.dma_handle);
    m.local_irq_enable();
    let log = m.log_text_since(seq);
    assert!(log.contains("at kernel/dma/mapping.c:650 dma_free_attrs+0x"), "{log}");
    assert!(m.dma_coherent_allocations().is_empty(), "freed anyway");
}

#[test]
fn null_device_oopses() {
    let (mut m, _) = machine(256);
    assert!(m.dma_alloc_coherent(None, 4096, Gfp::GFP_KERNEL).is_none());
    // dev->dma_mask of a NULL dev: an address in the first page, so show_fault_oops() calls it a NULL
    // pointer dereference; the walk goes through the user half of the current task's tables.
    let log = m.dmesg();
    assert!(log.contains("BUG: kernel NULL pointer dereference, address: 0000000000000248"), "{log}");
    assert!(log.contains("#PF: supervisor read access in kernel mode"), "{log}");
    assert!(m.kernel_stop().is_some());
}

#[test]
fn atomic_and_nowarn_failures() {
    let (mut m, dev) = machine(256);
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    // Exhaust ZONE_DMA quietly, down to what even atomic requests may not take.
    let mut held = Vec::new();
    while let Some(a) = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN) {
        held.push(a);
    }
    assert!(held.len() > 1000 && held.len() < 4096, "{}", held.len());
    assert!(!m.dmesg().contains("page allocation failure"));
    let seq = m.log_seq();
    assert!(m.dma_alloc_attrs(Some(dev), 4096, Gfp::GFP_ATOMIC, 0).is_none());
    let log = m.log_text_since(seq);
    assert!(
        log.contains("insmod: page allocation failure: order:0, mode:0x821(GFP_ATOMIC|GFP_DMA), nodemask=(null)"),
        "{log}"
    );
    let seq = m.log_seq();
    assert!(m.dma_alloc_attrs(Some(dev), 4096, Gfp::GFP_ATOMIC, DMA_ATTR_NO_WARN).is_none());
    assert_eq!(m.log_text_since(seq), "");
    for a in held {
        m.dma_free_coherent(Some(dev), 4096, a.cpu_addr, a.dma_handle);
    }
}

#[test]
fn i386_dma32_means_lowmem() {
    let mut m = Machine::boot(MachineConfig::i386().ram_mib(1024)).unwrap();
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-dma", -1);
    assert_eq!(m.dev_name(dev), "kmem-book-dma");
    let a = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    assert!(m.layout().is_direct_map_addr(a.cpu_addr));
    assert_eq!(m.dma_coherent_allocations()[0].zone.name(), "Normal");
    m.dma_set_mask_and_coherent(dev, DMA_BIT_MASK(24)).unwrap();
    let b = m.dma_alloc_coherent(Some(dev), 4096, Gfp::GFP_KERNEL).unwrap();
    assert!(b.dma_handle < 1 << 24);
    // A 64-bit mask is truncated to the 32-bit dma_addr_t.
    m.dma_set_mask(dev, DMA_BIT_MASK(64)).unwrap();
    assert_eq!(m.dma_get_mask(dev), 0xffff_ffff);
}

/// Regression (found by the model test): a size within a page of `ULONG_MAX` made `PAGE_ALIGN` overflow (a
/// host panic); the kernel's unsigned arithmetic wraps to 0 and the allocation fails.
#[test]
fn huge_size_wraps_like_page_align_and_fails() {
    let (mut m, dev) = machine(64);
    let free = m.nr_free_pages();
    assert_eq!(m.dma_alloc_coherent(Some(dev), u64::MAX - 10, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN), None);
    assert_eq!(m.dma_alloc_coherent(Some(dev), u64::MAX, Gfp::GFP_KERNEL), None);
    assert_eq!(m.nr_free_pages(), free);
    assert!(m.kernel_stop().is_none());
}
