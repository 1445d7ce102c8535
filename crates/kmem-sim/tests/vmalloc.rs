//! vmalloc (mm/vmalloc.c) and kvmalloc (mm/util.c) behaviour of the simulator.

use kmem_sim::vmalloc::{PgProt, VM_MAP, VM_NO_GUARD};
use kmem_sim::{Gfp, Machine, MachineConfig, SlabConfig, VmallocError, VmapTree};

/// The book's QEMU kernels boot with `no_hash_pointers`.
fn cfg64() -> MachineConfig {
    MachineConfig::x86_64().slab_config(SlabConfig::from_cmdline("no_hash_pointers"))
}

/// The 32-bit machine with a modelled boot: an empty vmalloc area (the recorded 160 MiB boot has its areas).
fn cfg32() -> MachineConfig {
    MachineConfig::i386().modelled_boot().slab_config(SlabConfig::from_cmdline("no_hash_pointers"))
}

fn x86() -> Machine {
    let mut m = Machine::boot(cfg64()).unwrap();
    m.push_module_frame("demo_init", "demo");
    m
}

fn since(m: &Machine, seq: u64) -> String {
    m.log_text_since(seq)
}

/// The lowest address of `[VMALLOC_START, VMALLOC_END)` where a free vmap area holds `size` bytes: where
/// alloc_vmap_area() puts a vmalloc() whose node pool has nothing (find_vmap_lowest_match(), page alignment).
fn lowest_fit(m: &Machine, size: u64) -> u64 {
    let (vs, ve) = (m.layout().vmalloc_start, m.layout().vmalloc_end);
    let s = m.vmap_snapshot();
    s.free
        .iter()
        .map(|v| (v.va_start.max(vs), v.va_end.min(ve)))
        .find(|(a, b)| b > a && b - a >= size)
        .map(|(a, _)| a)
        .unwrap()
}

/// The lines `m.vmallocinfo()` has beyond those of `before` (which must all still be there).
fn new_lines(m: &Machine, before: &str) -> Vec<String> {
    let now = m.vmallocinfo();
    for l in before.lines() {
        assert!(now.lines().any(|n| n == l), "{l} went away:\n{now}");
    }
    now.lines().filter(|l| !before.lines().any(|b| b == *l)).map(str::to_string).collect()
}

fn caller_str(func: &str, module: &str) -> String {
    let (o, s) = kmem_sim::panic::frame_offsets(func);
    format!("{func}+{o:#x}/{s:#x} [{module}]")
}

#[test]
fn vmalloc_16k_is_20k_with_four_pages() {
    let mut m = x86();
    // The booted machine's vmalloc space holds the boot's areas (task stacks, IRQ stacks, unpurged areas);
    // nothing was purged into the node pools yet, so the area is the lowest hole of 20 KiB.
    assert!(m.vmap_snapshot().pooled.is_empty());
    let want_at = lowest_fit(&m, 20480);
    let before = m.vmallocinfo();
    let a = m.vmalloc(16384);
    assert_eq!(a, want_at);
    let want =
        format!("0x{a:016x}-0x{:016x}   20480 {} pages=4 vmalloc N0=4", a + 20480, caller_str("demo_init", "demo"));
    assert_eq!(new_lines(&m, &before), [want]);
    // On an empty vmalloc space (the modelled boot) it is the first address.
    let mut e = Machine::boot(cfg64().modelled_boot()).unwrap();
    e.push_module_frame("demo_init", "demo");
    let b = e.vmalloc(16384);
    assert_eq!(b, 0xffff_c900_0000_0000);
    assert_eq!(
        e.vmallocinfo(),
        format!(
            "0xffffc90000000000-0xffffc90000005000   20480 {} pages=4 vmalloc N0=4\n",
            caller_str("demo_init", "demo")
        )
    );
    let vm = m.find_vm_area(a).unwrap();
    assert_eq!((vm.size, vm.nr_pages, vm.requested_size, vm.get_vm_area_size()), (20480, 4, 16384, 16384));
    // The guard page is not mapped.
    assert!(m.vmalloc_to_page(a + 16384).is_none());
    assert!(m.read_u64(a + 16384).is_err());
    m.vmap_check_invariants().unwrap();
}

#[test]
fn vmallocinfo_without_numa_and_on_i386() {
    let mut m = Machine::boot(cfg64().numa(false)).unwrap();
    let before = m.vmallocinfo();
    let a = m.vmalloc(4096);
    assert_eq!(new_lines(&m, &before), [format!("0x{a:016x}-0x{:016x}    8192 pages=1 vmalloc", a + 8192)]);
    // Without CONFIG_NUMA no line has the N<node>= counts (show_numa_info()), the boot's areas included.
    assert!(!m.vmallocinfo().contains(" N0="), "{}", m.vmallocinfo());
    let mut m = Machine::boot(cfg32()).unwrap();
    let a = m.vmalloc(100);
    assert_eq!(m.vmallocinfo(), format!("0x{a:08x}-0x{:08x}    8192 pages=1 vmalloc\n", a + 8192));
}

#[test]
fn write_through_vmalloc_lands_in_the_direct_map_alias() {
    let mut m = x86();
    let a = m.vzalloc(3 * 4096);
    m.write_bytes(a + 4096 + 100, b"vmalloc!").unwrap();
    let pfn = m.vmalloc_to_page(a + 4096).unwrap();
    assert_eq!(m.vmalloc_to_pfn(a + 4096), Some(pfn.0));
    let alias = m.page_address(pfn);
    assert!(m.layout().is_direct_map_addr(alias));
    let mut buf = [0u8; 8];
    m.read_bytes(alias + 100, &mut buf).unwrap();
    assert_eq!(&buf, b"vmalloc!");
    // And the other way round.
    m.write_bytes(alias + 200, b"direct").unwrap();
    let mut b2 = [0u8; 6];
    m.read_bytes(a + 4096 + 200, &mut b2).unwrap();
    assert_eq!(&b2, b"direct");
    // A write across a page boundary lands in two different frames.
    m.write_bytes(a + 4096 - 2, b"abcd").unwrap();
    let p0 = m.vmalloc_to_page(a).unwrap();
    let mut c = [0u8; 2];
    m.read_bytes(m.page_address(p0) + 4094, &mut c).unwrap();
    assert_eq!(&c, b"ab");
    m.read_bytes(alias, &mut c).unwrap();
    assert_eq!(&c, b"cd");
    // vzalloc memory is zero elsewhere.
    assert_eq!(m.read_u64(a + 2 * 4096).unwrap(), 0);
    // After vfree the mapping is gone at once (use-after-vfree faults), though the range is only lazily freed.
    m.vfree(a);
    assert!(m.read_u64(a).is_err());
    assert!(m.vmalloc_to_page(a).is_none());
    assert!(m.vmallocinfo().contains("unpurged vm_area"));
}

#[test]
fn pages_come_one_by_one_and_the_big_page_array_is_vmalloced() {
    let mut m = x86();
    let a = m.vmalloc(600 * 4096);
    let vm = m.find_vm_area(a).unwrap().clone();
    assert_eq!(vm.nr_pages, 600);
    assert_eq!(vm.page_order, 0);
    assert_eq!(vm.page_list.len(), 600);
    // 600 * 8 bytes > PAGE_SIZE: the array is itself vmalloc'ed (2 pages) with the same caller.
    assert!(m.is_vmalloc_addr(vm.pages));
    let arr = m.find_vm_area(vm.pages).unwrap().clone();
    assert_eq!((arr.nr_pages, arr.size), (2, 3 * 4096));
    assert_eq!(arr.caller, vm.caller);
    let info = m.vmallocinfo();
    assert!(info.lines().any(|l| l.contains("pages=600 vmalloc vpages N0=600")), "{info}");
    // The array holds the struct page pointers.
    for i in [0usize, 1, 599] {
        let v = m.read_u64(vm.pages + 8 * i as u64).unwrap();
        assert_eq!(v, m.page_struct_addr(vm.page_list[i]));
    }
    // Every page maps where the array says.
    for (i, p) in vm.page_list.iter().enumerate() {
        assert_eq!(m.vmalloc_to_page(a + i as u64 * 4096), Some(*p));
    }
    // vfree() gives the 600 pages and the array's 2 back (order 0: through this CPU's per-CPU list, which
    // sends batches on to the buddy allocator above its high mark).
    let (before, boot_pages) = (m.nr_free_pages() + m.nr_free_pcp(), m.vmalloc_nr_pages() - 602);
    m.vfree(a);
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), before + 600 + 2);
    assert_eq!(m.vmalloc_nr_pages(), boot_pages, "the boot's areas keep theirs");
    m.vmap_check_invariants().unwrap();
}

#[test]
fn vfree_errors_speak_the_kernels_words() {
    let mut m = x86();
    let a = m.vmalloc(8192);
    let seq = m.log_seq();
    m.vfree(0);
    assert_eq!(since(&m, seq), "");
    m.vfree(a + 8);
    let log = since(&m, seq);
    assert!(log.contains(&format!("Trying to vfree() bad address ({:016x})", a + 8)), "{log}");
    assert!(log.contains(&format!("Trying to vfree() nonexistent vm area ({:016x})", a + 8)), "{log}");
    assert!(log.contains("at mm/vmalloc.c:3292 remove_vm_area+"), "{log}");
    assert!(log.contains("at mm/vmalloc.c:3427 vfree+"), "{log}");
    let seq = m.log_seq();
    m.vfree(a + 0x10_0000);
    let log = since(&m, seq);
    assert!(!log.contains("bad address"));
    assert!(log.contains("nonexistent vm area"));
    // The area is still there; a page-aligned address inside it frees it (the lookup is by containment).
    assert!(m.find_vm_area(a).is_some());
    m.vfree(a + 4096);
    assert!(m.find_vm_area(a).is_none());
    // Double free.
    let seq = m.log_seq();
    m.vfree(a);
    assert!(since(&m, seq).contains("nonexistent vm area"));
    m.vmap_check_invariants().unwrap();
}

#[test]
fn zero_size_and_too_big() {
    let mut m = x86();
    let seq = m.log_seq();
    assert_eq!(m.vmalloc(0), 0);
    assert_eq!(m.vmalloc_last_error(), Some(&VmallocError::ZeroSize));
    assert!(since(&m, seq).contains("at mm/vmalloc.c:3838 __vmalloc_node_range_noprof+"));
    let seq = m.log_seq();
    assert_eq!(m.vmalloc(0), 0); // WARN_ON_ONCE: silent the second time
    assert!(!since(&m, seq).contains("WARNING"));
    let big = 1u64 << 40;
    assert_eq!(m.vmalloc(big), 0);
    let log = since(&m, seq);
    assert!(log.contains(&format!("vmalloc error: size {big}, exceeds total pages, mode:0xcc0(GFP_KERNEL)")), "{log}");
}

#[test]
fn lazy_purge_after_lazy_max_pages() {
    let mut m = x86(); // 4 CPUs: lazy_max_pages = fls(4) * 8192 = 24576 pages (96 MiB)
    assert_eq!(m.lazy_max_pages(), 3 * 8192);
    // The booted machine starts with the boot's unpurged areas on the lazy list.
    let s0 = m.vmap_snapshot();
    assert!(!s0.lazy.is_empty());
    let size = 8 << 20;
    let mut addrs = Vec::new();
    for _ in 0..13 {
        let a = m.get_vm_area(size, kmem_sim::vmalloc::VM_IOREMAP);
        assert_ne!(a, 0);
        addrs.push(a);
    }
    let (mut lazy_pages, mut lazy_n) = (s0.vmap_lazy_nr, s0.lazy.len());
    for a in &addrs {
        m.vunmap(*a);
        let s = m.vmap_snapshot();
        m.vmap_check_invariants().unwrap();
        lazy_pages += (size + 4096) >> 12;
        lazy_n += 1;
        if lazy_pages > m.lazy_max_pages() {
            // The 12th free crossed the limit (free_vmap_area_noflush(): nr_lazy > lazy_max_pages()):
            // everything purged, the boot's lazy areas too.
            (lazy_pages, lazy_n) = (0, 0);
        }
        assert_eq!(s.lazy.len(), lazy_n);
        assert_eq!(s.vmap_lazy_nr, lazy_pages);
    }
    assert_eq!(m.vmalloc_nr_purges(), 1);
    assert_eq!(m.vmap_snapshot().lazy.len(), 1);
    m.vm_unmap_aliases();
    let s = m.vmap_snapshot();
    assert_eq!(s.busy, s0.busy, "only the boot's areas are busy");
    assert!(s.lazy.is_empty());
    // ioremap areas are > 256 pages: never pooled, all merged back into one free area, which covers them all.
    let (lo, hi) = (addrs[0], addrs.iter().max().unwrap() + size + 4096);
    let holding: Vec<_> = s.free.iter().filter(|v| v.va_start < hi && lo < v.va_end).collect();
    assert_eq!(holding.len(), 1, "{holding:?}");
    assert!(holding[0].va_start <= lo && hi <= holding[0].va_end);
    // Above the boot's last busy area the space is one free area up to ULONG_MAX.
    assert_eq!(s.free.last().unwrap().va_end, u64::MAX);
    assert!(s.free.last().unwrap().va_start <= lo);
}

#[test]
fn allocation_failure_purges_and_retries_then_reports() {
    let mut m = Machine::boot(cfg32()).unwrap(); // 1 CPU: lazy_max_pages = 8192
    let l = m.layout().clone();
    assert_eq!(l.vmalloc_start, l.high_memory + (8 << 20));
    let chunk = 16 << 20;
    let mut v = Vec::new();
    loop {
        let a = m.get_vm_area(chunk - 4096, 0);
        if a == 0 {
            break;
        }
        v.push(a);
    }
    assert!(v.len() >= 5);
    // A 16 MiB hole is left on the lazy list (4096 pages < 8192): not purged yet.
    m.vunmap(v[1]);
    assert_eq!(m.vmap_snapshot().lazy.len(), 1);
    let seq = m.log_seq();
    let purges = m.vmalloc_nr_purges();
    let a = m.get_vm_area(chunk - 4096, 0);
    assert_eq!(a, v[1], "the purge on failure made the hole usable again");
    assert_eq!(m.vmalloc_nr_purges(), purges + 1);
    assert!(!since(&m, seq).contains("failed"));
    // Now truly full: the range message and the vmalloc warn_alloc.
    let seq = m.log_seq();
    assert_eq!(m.vmalloc(chunk), 0);
    let log = since(&m, seq);
    let want = format!(
        "vmalloc_node_range for size {} failed: Address range restricted to {:#x} - {:#x}",
        chunk + 4096,
        l.vmalloc_start,
        l.vmalloc_end
    );
    assert!(log.contains(&want), "{log}");
    assert!(
        log.contains(&format!("vmalloc error: size {chunk}, vm_struct allocation failed, mode:0xcc0(GFP_KERNEL)")),
        "{log}"
    );
    assert!(matches!(m.vmalloc_last_error(), Some(VmallocError::AddressRange { .. })));
    m.vmap_check_invariants().unwrap();
}

#[test]
fn i386_placement_highmem_and_vmalloc_32() {
    let mut m = Machine::boot(cfg32()).unwrap(); // 160 MiB
    let l = m.layout().clone();
    let a = m.vmalloc(5 * 4096);
    assert_eq!(a, l.high_memory + (8 << 20));
    assert_eq!(a, l.vmalloc_start);
    assert!(a < l.vmalloc_end && l.vmalloc_end <= l.pkmap_base);
    let vm = m.find_vm_area(a).unwrap().clone();
    // 160 MiB on i386 is all lowmem (max_low_pfn covers it), so no highmem page exists to take.
    for p in &vm.page_list {
        assert!(p.0 < l.max_pfn);
    }
    // 4-byte page pointers: the array of 5 pages fits a kmalloc, not vmalloc.
    assert!(!m.is_vmalloc_addr(vm.pages));
    let b = m.vmalloc_32(4096);
    let p = m.vmalloc_to_page(b).unwrap();
    assert!(!m.page_is_highmem(p));
    assert_eq!(b, a + 6 * 4096);
    m.write_bytes(a + 3, b"i386").unwrap();
    let mut buf = [0u8; 4];
    m.read_phys((vm.page_list[0].0 << 12) + 3, &mut buf).unwrap();
    assert_eq!(&buf, b"i386");
    m.vmap_check_invariants().unwrap();
}

#[test]
fn i386_big_machine_uses_highmem_pages() {
    let mut m = Machine::boot(cfg32().ram_mib(1024)).unwrap();
    let a = m.vmalloc(4 * 4096);
    let vm = m.find_vm_area(a).unwrap().clone();
    assert!(vm.page_list.iter().all(|p| m.page_is_highmem(*p)), "vmalloc adds __GFP_HIGHMEM");
    let b = m.vmalloc_32(4 * 4096);
    let vm32 = m.find_vm_area(b).unwrap().clone();
    assert!(vm32.page_list.iter().all(|p| !m.page_is_highmem(*p)), "GFP_DMA32 falls back to lowmem on 32-bit");
    // Highmem pages have no direct-map alias but are reachable through vmalloc.
    m.write_bytes(a, b"high").unwrap();
    let mut buf = [0u8; 4];
    m.read_phys(vm.page_list[0].0 << 12, &mut buf).unwrap();
    assert_eq!(&buf, b"high");
}

#[test]
fn vmalloc_32_takes_dma32_pages_on_x86_64() {
    let mut m = Machine::boot(cfg64().ram_mib(6144)).unwrap();
    let a = m.vmalloc(4 * 4096);
    let b = m.vmalloc_32(4 * 4096);
    let hi = m.find_vm_area(a).unwrap().page_list.clone();
    let lo = m.find_vm_area(b).unwrap().page_list.clone();
    assert!(hi.iter().all(|p| p.0 >= 0x10_0000), "GFP_KERNEL prefers ZONE_NORMAL above 4 GiB");
    assert!(lo.iter().all(|p| p.0 < 0x10_0000), "GFP_DMA32 stays below 4 GiB");
}

#[test]
fn vmap_of_existing_pages() {
    let mut m = x86();
    let pages: Vec<_> = (0..3).map(|_| m.alloc_page(Gfp::GFP_KERNEL).unwrap()).collect();
    for (i, p) in pages.iter().enumerate() {
        let a = m.page_address(*p);
        m.write_bytes(a, &[b'A' + i as u8; 4096]).unwrap();
    }
    let before = m.vmallocinfo();
    let v = m.vmap(&pages, VM_MAP, PgProt::PAGE_KERNEL);
    assert_ne!(v, 0);
    let mut buf = vec![0u8; 3 * 4096];
    m.read_bytes(v, &mut buf).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == b'A'));
    assert!(buf[8192..].iter().all(|&b| b == b'C'));
    let want = format!("0x{v:016x}-0x{:016x}   16384 {} vmap", v + 16384, caller_str("demo_init", "demo"));
    assert_eq!(new_lines(&m, &before), [want]);
    let seq = m.log_seq();
    // VM_NO_GUARD is refused for vmap (WARN_ON_ONCE) and dropped.
    let w = m.vmap(&pages[..1], VM_MAP | VM_NO_GUARD, PgProt::PAGE_KERNEL);
    assert!(since(&m, seq).contains("at mm/vmalloc.c:3512"));
    assert_eq!(m.find_vm_area(w).unwrap().size, 8192);
    m.vunmap(v);
    m.vunmap(w);
    for p in &pages {
        assert_eq!(m.page_ref_count(*p), 1, "vunmap leaves the pages to their owner");
        m.__free_page(*p);
    }
    m.vmap_check_invariants().unwrap();
}

#[test]
fn context_rules() {
    let mut m = x86();
    m.set_current("insmod", 77);
    m.spin_lock();
    let seq = m.log_seq();
    let a = m.vmalloc(4096);
    m.spin_unlock();
    let log = since(&m, seq);
    assert!(log.contains("BUG: sleeping function called from invalid context at "), "{log}");
    assert_ne!(a, 0, "vmalloc still succeeds, as in the kernel");
    // Interrupt context: vmalloc is a BUG; vfree defers.
    m.irq_enter();
    let seq = m.log_seq();
    assert_eq!(m.vmalloc(4096), 0);
    let log = since(&m, seq);
    assert!(log.contains("kernel BUG at mm/vmalloc.c:3177!"), "{log}");
    assert!(log.contains("Oops: invalid opcode: 0000 [#1]"), "{log}");
    assert!(matches!(m.vmalloc_last_error(), Some(VmallocError::Bug { line: 3177, .. })));
    m.vfree(a);
    assert!(m.find_vm_area(a).is_some(), "deferred");
    m.irq_exit();
    m.flush_vfree_deferred();
    assert!(m.find_vm_area(a).is_none());
    m.vmap_check_invariants().unwrap();
}

#[test]
fn vrealloc_follows_6_12_117() {
    let mut m = x86();
    let p = m.vrealloc(0, 100, Gfp::GFP_KERNEL);
    assert_ne!(p, 0);
    assert_eq!(m.find_vm_area(p).unwrap().requested_size, 100);
    // VBox memory names the caller of vrealloc (measured: ReallocFunc::call), not vrealloc_noprof.
    let info = m.vmallocinfo();
    assert!(info.contains(&caller_str("demo_init", "demo")), "{info}");
    assert!(!info.contains("vrealloc_noprof"));
    m.write_bytes(p, b"keep me").unwrap();
    // Growing inside the allocated page keeps the address.
    assert_eq!(m.vrealloc(p, 4096, Gfp::GFP_KERNEL), p);
    assert_eq!(m.find_vm_area(p).unwrap().requested_size, 4096);
    // Shrinking too.
    assert_eq!(m.vrealloc(p, 10, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO), p);
    // Growing beyond: a new area, the old requested_size bytes copied, the old one freed.
    let q = m.vrealloc(p, 3 * 4096, Gfp::GFP_KERNEL);
    assert_ne!(q, p);
    let mut b = [0u8; 7];
    m.read_bytes(q, &mut b).unwrap();
    assert_eq!(&b, b"keep me");
    assert!(m.find_vm_area(p).is_none());
    // size 0 frees.
    assert_eq!(m.vrealloc(q, 0, Gfp::GFP_KERNEL), 0);
    assert!(m.find_vm_area(q).is_none());
    let seq = m.log_seq();
    assert_eq!(m.vrealloc(0xffff_c900_1234_0000, 8, Gfp::GFP_KERNEL), 0);
    assert!(since(&m, seq).contains("Trying to vrealloc() nonexistent vm area (ffffc90012340000)"));
}

#[test]
fn kvmalloc_falls_back_both_ways() {
    let mut m = x86();
    // Small: kmalloc, never vmalloc.
    let a = m.kvmalloc(100, Gfp::GFP_KERNEL);
    assert!(!m.is_vmalloc_addr(a) && a != 0);
    // Big: kmalloc is tried quietly and fails (order > MAX_PAGE_ORDER), vmalloc takes over with 2 MiB pages.
    let seq = m.log_seq();
    let b = m.kvmalloc(5 << 20, Gfp::GFP_KERNEL);
    assert!(m.is_vmalloc_addr(b));
    assert_eq!(since(&m, seq), "", "no warning from the kmalloc attempt");
    let vm = m.find_vm_area(b).unwrap().clone();
    assert_eq!(b % (2 << 20), 0, "VM_ALLOW_HUGE_VMAP: PMD aligned");
    assert_eq!((vm.size, vm.nr_pages, vm.page_order), ((6 << 20) + 4096, 1536, 9));
    let info = m.vmallocinfo();
    assert!(info.contains("6295552 demo_init+"), "{info}");
    // Non-blocking gfp: no vmalloc fallback.
    assert_eq!(m.kvmalloc(5 << 20, Gfp::GFP_ATOMIC), 0);
    assert_eq!(m.kvmalloc(5 << 20, Gfp::GFP_NOWAIT), 0);
    // Crazy sizes WARN once unless __GFP_NOWARN.
    let seq = m.log_seq();
    assert_eq!(m.kvmalloc(1 << 31, Gfp::GFP_KERNEL), 0);
    assert!(since(&m, seq).contains("at mm/util.c:670"));
    assert_eq!(m.kvmalloc_array(u64::MAX / 2, 4, Gfp::GFP_KERNEL), 0);
    // A medium size that kmalloc can serve stays physically contiguous.
    let c = m.kvcalloc(3, 4096, Gfp::GFP_KERNEL);
    assert!(!m.is_vmalloc_addr(c));
    m.kvfree(a);
    m.kvfree(b);
    m.kvfree(c);
    assert!(m.find_vm_area(b).is_none());
    // kvrealloc moves a vmalloc buffer with vrealloc.
    let d = m.kvzalloc(5 << 20, Gfp::GFP_KERNEL);
    let e = m.kvrealloc(d, (5 << 20) + 10, Gfp::GFP_KERNEL);
    assert_eq!(d, e, "still inside the 6 MiB area");
    m.kvfree(e);
    m.vmap_check_invariants().unwrap();
}

#[test]
fn purged_areas_are_reused_from_the_node_pool() {
    let mut m = x86();
    let a = m.vmalloc(3 * 4096);
    let b = m.vmalloc(3 * 4096);
    m.vfree(a);
    let c = m.vmalloc(3 * 4096);
    assert_ne!(c, a, "lazily freed: not reusable before a purge");
    m.vm_unmap_aliases();
    let s = m.vmap_snapshot();
    assert_eq!(s.pooled.len(), 1, "purged into vmap node 0's pool, not the free tree");
    let d = m.vmalloc(3 * 4096);
    assert_eq!(d, a, "exact-size reuse from the pool");
    let _ = (b, c);
    m.vmap_check_invariants().unwrap();
    // A one-CPU machine has a single node and no pools.
    let mut m = Machine::boot(cfg64().cpus(1)).unwrap();
    let a = m.vmalloc(3 * 4096);
    let _b = m.vmalloc(3 * 4096);
    m.vfree(a);
    m.vm_unmap_aliases();
    let s = m.vmap_snapshot();
    assert!(s.pooled.is_empty());
    assert_eq!(s.free.first().map(|f| (f.va_start, f.va_end)), Some((1, 0xffff_c900_0000_0000 + 4 * 4096)));
}

#[test]
fn introspection_views() {
    let mut m = Machine::boot(cfg64().cpus(1)).unwrap();
    let a = m.vmalloc(4096);
    let _b = m.vmalloc(4096);
    m.vfree(a);
    m.vm_unmap_aliases();
    let t = m.vmap_tree_text(VmapTree::Free);
    assert!(t.contains("subtree_max_size="), "{t}");
    assert!(t.contains("[B] "));
    let mm = m.vmap_tree_mermaid(VmapTree::Free);
    assert!(mm.starts_with("graph TD\n"));
    assert!(mm.contains("[\"0x1-0xffffc90000002000<br/>"), "{mm}");
    let busy = m.vmap_tree_mermaid(VmapTree::Busy);
    assert!(busy.contains("[\"0xffffc90000002000-0xffffc90000004000<br/>size 0x2000\"]"), "{busy}");
    let c = m.vmalloc(4096);
    m.vfree(c);
    assert!(m.vmap_lazy_text().contains("node 0: 0xffffc90000000000-0xffffc90000002000 8192"));
    assert!(m.vmap_tree_text(VmapTree::Lazy).contains("0xffffc90000000000-0xffffc90000002000"));
}

/// The collapsed views draw every left subtree wholly below `low` as one line/node and keep every other
/// area; their counts add up to the tree's size, and `low == 0` is the full view.
#[test]
fn collapsed_tree_views_account_for_every_area() {
    let mut m = x86(); // the booted machine: dozens of boot holes
    let a = m.vmalloc(1 << 20);
    let b = m.vmalloc(1 << 20);
    let _c = m.vmalloc(1 << 20);
    m.vfree(b);
    m.vm_unmap_aliases();
    let full = m.vmap_tree_text(VmapTree::Free);
    assert_eq!(full, m.vmap_tree_text_above(VmapTree::Free, 0));
    let total = m.vmap_snapshot().free.len();
    assert_eq!(full.lines().count(), total);
    let short = m.vmap_tree_text_above(VmapTree::Free, a);
    assert!(short.lines().count() < total, "{short}");
    let counted: usize = short
        .lines()
        .map(|l| match l.trim_start().strip_prefix("[... ") {
            Some(rest) => rest.split(' ').next().unwrap().parse::<usize>().unwrap(),
            None => 1,
        })
        .sum();
    assert_eq!(counted, total, "{short}");
    // The free hole of b is above a, so it is drawn as itself.
    assert!(short.contains(&format!("{b:#x}-")), "{short}");
    let mm = m.vmap_tree_mermaid_above(VmapTree::Free, a);
    assert!(mm.contains(" areas<br/>") && mm.contains(&format!("[\"{b:#x}-")), "{mm}");
}

#[test]
fn metadata_lives_in_slab_caches() {
    let mut m = Machine::boot(cfg64().cpus(1)).unwrap();
    assert!(m.slabinfo().iter().any(|s| s.name == "vmap_area"), "KMEM_CACHE(vmap_area) at boot");
    // One free area after boot.
    let a = m.vmalloc(16384);
    // vm_struct (72 bytes) in kmalloc-96, the 4-pointer page array in kmalloc-32.
    let vm = m.find_vm_area(a).unwrap().clone();
    assert_eq!(m.ksize(vm.obj), 96);
    assert_eq!(m.ksize(vm.pages), 32);
    assert!(m.layout().is_direct_map_addr(vm.obj));
    m.vfree(a);
    // Freed objects are poisoned/reused by SLUB; a new area takes the same slab objects back.
    let b = m.vmalloc(16384);
    let vm2 = m.find_vm_area(b).unwrap().clone();
    assert_eq!((vm2.obj, vm2.pages), (vm.obj, vm.pages));
}

#[test]
fn bug_in_interrupt_is_a_typed_oops() {
    let mut m = x86();
    m.irq_enter();
    assert_eq!(m.vmalloc(4096), 0);
    m.irq_exit();
    match m.kernel_stop() {
        Some(kmem_sim::KernelStop::Oops(o)) => {
            assert_eq!(o.function, "__get_vm_area_node");
            assert_eq!(o.kind, kmem_sim::slab_common::OopsKind::Bug { file: "mm/vmalloc.c".into(), line: 3177 });
        }
        other => panic!("{other:?}"),
    }
    let log = m.dmesg();
    assert!(log.contains("kernel BUG at mm/vmalloc.c:3177!"));
    assert!(log.contains("RIP: 0010:__get_vm_area_node+"));
    assert!(log.contains("Kernel panic - not syncing: Fatal exception in interrupt"));
}

#[test]
fn pointers_hash_without_no_hash_pointers() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let a = m.vmalloc(4096);
    let line = m.vmallocinfo();
    assert!(line.starts_with("0x00000000"), "{line}");
    assert!(!line.contains(&format!("{a:016x}")));
    let seq = m.log_seq();
    m.vfree(a + 1);
    assert!(m.log_text_since(seq).contains("Trying to vfree() bad address (00000000"));
}

/// Regression (found by the model test): `kvmalloc(__GFP_COMP)` of a huge-page-backed area left the split
/// compound page's tail pages marked as tails, so `vfree()` could not free them and they stayed owned by
/// vmalloc while `vmalloc_nr_pages()` dropped to 0.
#[test]
fn kvmalloc_with_gfp_comp_frees_every_page() {
    let mut m = x86();
    // The boot's vmalloc areas (task stacks …) keep their pages throughout.
    let boot_pages = m.vmalloc_nr_pages();
    assert_eq!(m.count_pages_owned_by(kmem_sim::PageOwner::Vmalloc), boot_pages);
    let free = m.nr_free_pages() + m.nr_free_pcp();
    let p = m.kvmalloc(7 << 20, Gfp::GFP_KERNEL | Gfp::__GFP_COMP | Gfp::__GFP_NOWARN);
    assert!(m.is_vmalloc_addr(p));
    assert!(m.vmalloc_nr_pages() > boot_pages);
    assert_eq!(m.count_pages_owned_by(kmem_sim::PageOwner::Vmalloc), m.vmalloc_nr_pages());
    m.kvfree(p);
    m.vm_unmap_aliases();
    assert_eq!(m.count_pages_owned_by(kmem_sim::PageOwner::Vmalloc), boot_pages);
    assert_eq!(m.vmalloc_nr_pages(), boot_pages);
    // Within the metadata slabs the area's descriptors left behind.
    let back = m.nr_free_pages() + m.nr_free_pcp();
    assert!(back + 16 >= free, "{back} of {free} free pages back");
    assert_eq!(m.count_pages_owned_by(kmem_sim::PageOwner::Buddy), m.nr_free_pages());
    assert_eq!(m.count_pages_owned_by(kmem_sim::PageOwner::Pcp), m.nr_free_pcp());
    m.check_consistency().unwrap();
}

/// vmalloc_to_page() walks the kernel's page tables whatever the address: a direct-map address gives its own
/// struct page (a leaf entry maps it), as the real kernel answered for a kmalloc address.
#[test]
fn vmalloc_to_page_of_a_direct_map_address() {
    let mut m = x86();
    let k = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert_eq!(m.vmalloc_to_page(k), m.virt_to_page(k));
}
