//! Behaviour and report-format tests of the page allocator simulator.

use kmem_sim::fault_inject::FaultConfig;
use kmem_sim::workload::{fragment, FragConfig};
use kmem_sim::*;

fn boot() -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("boot");
    m.set_current("insmod", 95);
    m.load_module_name("hello", true);
    m.push_module_frame("hello_init", "hello");
    m
}

fn exhaust(m: &mut Machine, gfp: Gfp) -> Vec<Pfn> {
    let mut v = Vec::new();
    while let Some(p) = m.alloc_pages(gfp | Gfp::__GFP_NOWARN, 0) {
        v.push(p);
    }
    v
}

/// The book's machine boots as the recorded real boot did (crate::qemu_boot): its numbers are those of the
/// real boot's /proc/zoneinfo (listings/kernel/observed/boot/zoneinfo.txt).
#[test]
fn default_machine_boot_numbers() {
    let m = boot();
    let l = m.layout();
    assert_eq!(l.page_offset, 0xffff_8880_0000_0000);
    assert_eq!(l.vmalloc_start, 0xffff_c900_0000_0000);
    assert_eq!(l.vmemmap_base, 0xffff_ea00_0000_0000);
    assert_eq!(l.vmalloc_size(), 32 << 40);
    let z = m.zones();
    assert_eq!(
        (z[0].zone_start_pfn, z[0].spanned_pages, z[0].present_pages, z[0].managed_pages),
        (1, 4095, 3998, 3840)
    );
    assert_eq!((z[1].present_pages, z[1].managed_pages), (61408, 57382));
    assert_eq!(m.total_pages(), 65406);
    // calculate_min_free_kbytes() (init_per_zone_wmark_min(), a postcore initcall): int_sqrt(lowmem kB * 16)
    // of the lowmem pages managed then, before free_initmem() and the initrd's free added theirs.
    assert_eq!(m.min_free_kbytes(), 1962);
    // __setup_per_zone_wmarks(): min = pages_min * managed / lowmem per zone, so the zones' mins add up to
    // min_free_kbytes / 4 but for the rounding down; low/high/promo step by max(min / 4, managed * 10 / 10000).
    assert_eq!(z[0].watermark, [31, 38, 45, 52]);
    assert_eq!(z[1].watermark, [458, 572, 686, 800]);
    let pages_min = m.min_free_kbytes() / 4;
    assert!((pages_min - 2..=pages_min).contains(&(z[0].watermark[0] + z[1].watermark[0])));
    // setup_per_zone_lowmem_reserve(): DMA32's managed pages then / sysctl_lowmem_reserve_ratio 256 (the real
    // zoneinfo's "protection: (0, 220, 220, 220)").
    assert_eq!(z[0].lowmem_reserve[1..], [220, 220, 220]);
    // The per-CPU lists as the real boot left them (its zoneinfo's pagesets, read by qemu_boot.rs):
    // zone_batchsize() 15 for DMA32 (1 for DMA: zone_batchsize() is 0 there, zone_set_pageset_high_and_batch()
    // makes it 1), each CPU's count and auto-tuned high; and "pages free" of zoneinfo, NR_FREE_PAGES, the
    // per-CPU lists' pages not included.
    let real = kmem_sim::qemu_boot::RealBoot::recorded();
    let (rdma, rdma32) = (real.zone("DMA").unwrap(), real.zone("DMA32").unwrap());
    assert!(z[0].pcp.iter().all(|p| (p.count, p.high, p.batch) == (0, 0, 1)));
    assert!(rdma.pcp.iter().all(|&p| p == (0, 0, 1)));
    let dma32: Vec<(u64, u64, u64)> = z[1].pcp.iter().map(|p| (p.count, p.high, p.batch)).collect();
    assert_eq!(dma32, rdma32.pcp);
    assert!(dma32.iter().all(|p| p.2 == 15));
    assert_eq!(m.nr_free_pcp(), rdma32.pcp.iter().map(|p| p.0).sum::<u64>());
    // The free pages: the simulated boot's modelled consumers (memblock, page tables, slabs, vmalloc areas,
    // per-CPU lists, page cache and user pages) take a few dozen pages more of DMA32 than the real boot's
    // whole consumption left free (`replay_boot_remainder()` can only take pages, not give them back), a
    // known gap of the model; DMA is exact.
    assert_eq!(z[0].nr_free_pages, rdma.free);
    let short = rdma32.free - z[1].nr_free_pages;
    assert!(short < 64, "DMA32 has {short} free pages fewer than the real boot");
    assert!(m.check_consistency().is_ok());
    assert_eq!(m.count_pages_owned_by(PageOwner::Buddy), m.nr_free_pages());
    assert_eq!(m.count_pages_owned_by(PageOwner::Pcp), m.nr_free_pcp());
}

/// The modelled boot of the same machine (what any other RAM size or CPU count gets): memblock and the
/// boot's allocations from the configuration alone.
#[test]
fn modelled_256m_boot_numbers() {
    let m = Machine::boot(MachineConfig::x86_64().modelled_boot()).unwrap();
    let z = m.zones();
    assert_eq!(
        (z[0].zone_start_pfn, z[0].spanned_pages, z[0].present_pages, z[0].managed_pages),
        (1, 4095, 3998, 3840)
    );
    assert_eq!(z[1].present_pages, 61408);
    assert_eq!(m.total_pages(), 65406);
    // int_sqrt(lowmem kB * 16) with the 60877 lowmem pages managed when init_per_zone_wmark_min() ran
    assert_eq!(m.min_free_kbytes(), 1973);
    assert_eq!(z[1].watermark[0], (1973 / 4) * 57037 / 60877);
    // computed before free_initmem() added the init sections to DMA32's managed pages, as in the kernel
    assert_eq!(z[0].lowmem_reserve[1..], [222, 222, 222]);
    assert_eq!(m.vmallocinfo(), "", "no recorded vmalloc areas");
    assert!(m.check_consistency().is_ok());
    assert_eq!(m.count_pages_owned_by(PageOwner::Buddy), m.nr_free_pages());
    assert_eq!(m.count_pages_owned_by(PageOwner::Pcp), m.nr_free_pcp());
}

#[test]
fn translations_round_trip() {
    let mut m = boot();
    let addr = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    assert_ne!(addr, 0);
    let pfn = m.virt_to_page(addr).unwrap();
    assert_eq!(m.page_address(pfn), addr);
    assert_eq!(m.__va(m.__pa(addr)), addr);
    assert_eq!(m.virt_to_phys(addr), pfn.0 << 12);
    assert_eq!(m.phys_to_virt(pfn.0 << 12), addr);
    let ps = m.page_struct_addr(pfn);
    assert_eq!(ps, 0xffff_ea00_0000_0000 + pfn.0 * 64);
    assert_eq!(m.pfn_of_page_struct(ps), Some(pfn));
    assert_eq!(m.pfn_to_page(pfn), ps);
    // real bytes, both ways
    m.write_u64(addr + 8, 0x1122_3344_5566_7788).unwrap();
    assert_eq!(m.read_u64(addr + 8).unwrap(), 0x1122_3344_5566_7788);
    let host = m.host_ptr(addr + 8).unwrap();
    assert_eq!(m.kaddr_of_host(host as usize), Some(addr + 8));
    assert_eq!(m.read_bytes(ps, &mut [0u8; 1]), Err(MemFault::PageStruct(ps)));
    // a vmalloc address that shares a page with the direct map
    let win = m.layout().vmalloc_start + 0x5000;
    m.hostmem_mut().map_frame_into_window(0x5000, pfn.0).unwrap();
    assert_eq!(m.read_u64(win + 8).unwrap(), 0x1122_3344_5566_7788);
    m.write_bytes(win, b"vmalloc!").unwrap();
    let mut b = [0u8; 8];
    m.read_bytes(addr, &mut b).unwrap();
    assert_eq!(&b, b"vmalloc!");
    assert_eq!(m.kaddr_of_host(m.host_ptr(win).unwrap() as usize), Some(win));
    // virt_to_phys of a vmalloc address is the kernel's (meaningless) arithmetic
    assert_eq!(m.virt_to_phys(win), win.wrapping_sub(m.layout().page_offset));
    m.hostmem_mut().unmap_window(0x5000, 4096).unwrap();
    assert!(m.read_bytes(win, &mut b).is_err());
    m.free_pages(addr, 0);
}

/// On the modelled boot, whose free lists only memblock_free_all() and the modelled boot allocations shaped,
/// the first pages come from low addresses.
#[test]
fn first_allocations_come_from_low_addresses_and_split() {
    let mut m = Machine::boot(MachineConfig::x86_64().modelled_boot()).unwrap();
    m.set_current("insmod", 95);
    // Free pages: the buddy allocator's (NR_FREE_PAGES) and those on the per-CPU lists.
    let before = m.nr_free_pages() + m.nr_free_pcp();
    let a = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    let b = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), before - 2);
    assert!(a.0 < 0x4000, "{a}");
    assert_ne!(a, b);
    m.__free_pages(a, 0);
    m.__free_pages(b, 0);
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), before);
    assert!(m.check_consistency().is_ok());
}

/// Order-0 requests go through the current CPU's per-CPU list (rmqueue_pcplist()): an empty list of the
/// request's migrate type is refilled with a batch from the buddy allocator (rmqueue_bulk(), nr_pcp_alloc()),
/// frees go to the list's head (free_unref_page_commit()), and the next allocation takes the last page freed.
#[test]
fn order0_pages_come_through_the_per_cpu_list() {
    let mut m = boot();
    let z = m.zones().iter().position(|z| z.zone_type == ZoneType::Dma32).unwrap();
    let pcp0 = |m: &Machine| m.zones()[z].pcp[0].clone();
    // The recorded boot left movable pages on the lists (which lists /proc does not say): CPU 0 has no
    // unmovable page yet.
    let p = pcp0(&m);
    assert_eq!(p.lists[0].len(), 0);
    let (free, count) = (m.nr_free_pages(), p.count);
    let total = m.nr_free_pages() + m.nr_free_pcp();
    let a = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    // nr_pcp_alloc(): batch << alloc_factor (0 after boot) pages, within high - count - batch.
    let batch = p.batch;
    assert_eq!(batch, 15);
    assert_eq!(m.nr_free_pages(), free - batch);
    assert_eq!(pcp0(&m).count, count + batch - 1);
    assert_eq!(pcp0(&m).lists[0].len() as u64, batch - 1);
    let b = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    assert_ne!(a, b);
    assert_eq!(m.nr_free_pages(), free - batch, "the second page comes from the list");
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), total - 2);
    assert!(!pcp0(&m).lists[0].contains(&a.0) && !pcp0(&m).lists[0].contains(&b.0));
    // Freed pages stay on the list (count below high), at its head: last freed, first allocated.
    m.__free_pages(a, 0);
    m.__free_pages(b, 0);
    assert_eq!(m.nr_free_pages(), free - batch);
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), total);
    assert_eq!(pcp0(&m).lists[0].front(), Some(&b.0));
    assert_eq!(m.alloc_pages(Gfp::GFP_KERNEL, 0), Some(b));
    assert_eq!(m.alloc_pages(Gfp::GFP_KERNEL, 0), Some(a));
    m.__free_pages(a, 0);
    m.__free_pages(b, 0);
    assert!(m.check_consistency().is_ok());
}

#[test]
fn zone_modifiers_and_fallback() {
    let mut m = boot();
    let d = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::GFP_DMA, 0).unwrap();
    assert!(d.0 < 4096);
    let d32 = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::GFP_DMA32, 2).unwrap();
    assert!(d32.0 >= 4096 && d32.0 < 1 << 20);
    // Normal is empty on a 256 MiB machine: GFP_KERNEL falls back to DMA32
    let n = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    assert!(n.0 >= 4096);
    // after DMA32 is exhausted GFP_KERNEL falls back to DMA (above DMA's lowmem_reserve)
    let v = exhaust(&mut m, Gfp::GFP_KERNEL);
    assert!(v.iter().any(|p| p.0 < 4096));
    let dma = &m.zones()[0];
    assert!(dma.nr_free_pages > dma.lowmem_reserve[2]);
}

#[test]
fn gfp_zero_and_comp() {
    let mut m = boot();
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 2).unwrap();
    let a = m.page_address(p);
    m.fill(a, 4 * 4096, 0xa5).unwrap();
    m.__free_pages(p, 2);
    let q = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO | Gfp::__GFP_COMP, 2).unwrap();
    assert_eq!(q, p, "the freed block comes back first");
    let mut buf = vec![1u8; 4 * 4096];
    m.read_bytes(m.page_address(q), &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    assert!(m.page_frame(q).unwrap().is_head());
    assert!(m.page_frame(Pfn(q.0 + 3)).unwrap().is_tail());
    let z = m.get_zeroed_page(Gfp::GFP_KERNEL);
    assert_eq!(m.read_u64(z).unwrap(), 0);
    m.free_pages(z, 0);
    m.__free_pages(q, 2);
    assert!(m.check_consistency().is_ok());
}

#[test]
fn order_above_max_warns_once() {
    let mut m = boot();
    let seq = m.log_seq();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 11).is_none());
    assert_eq!(m.log_seq(), seq, "__GFP_NOWARN stays silent");
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 11).is_none());
    let log = m.log_text_since(seq);
    assert!(log.starts_with("------------[ cut here ]------------\nWARNING: CPU: 0 PID: 95 at mm/page_alloc.c:4832 __alloc_pages_noprof+0x"), "{log}");
    assert!(log.contains("\nModules linked in: hello(O+)\n"));
    assert!(log.contains("\nCPU: 0 UID: 0 PID: 95 Comm: insmod Tainted: G           O       6.12.117 #1 \n"), "{log}");
    assert!(log
        .contains("\nHardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2 04/01/2014\n"));
    assert!(log.contains("\nRIP: 0010:__alloc_pages_noprof+0x"));
    assert!(log.contains("\nCall Trace:\n <TASK>\n"));
    assert!(log.contains(" hello_init+0x"));
    assert!(log.contains(" [hello]\n"));
    assert!(log.ends_with(" </TASK>\n---[ end trace 0000000000000000 ]---\n"));
    assert!(m.test_taint(Taint::Warn));
    let seq2 = m.log_seq();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 12).is_none());
    assert_eq!(m.log_seq(), seq2, "WARN_ON_ONCE");
}

#[test]
fn allocation_failure_report_and_ratelimit() {
    let mut m = boot();
    let held = exhaust(&mut m, Gfp::GFP_KERNEL);
    assert!(!held.is_empty());
    let seq = m.log_seq();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 0).is_none());
    let log = m.log_text_since(seq);
    assert!(log.starts_with("insmod: page allocation failure: order:0, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0\nCPU: 0 UID: 0 PID: 95 Comm: insmod"), "{log}");
    assert!(log.contains("\n dump_stack_lvl+0x"));
    assert!(log.contains("\n warn_alloc+0x"));
    // show_free_areas(): the node's LRU counters as /proc/meminfo has them (the booted machine's user space
    // has anonymous pages), nothing isolated.
    let kb = |field: &str| -> u64 {
        let mi = m.proc_meminfo();
        let line = mi.lines().find(|l| l.starts_with(field)).unwrap().to_string();
        line[field.len()..].trim().trim_end_matches(" kB").parse().unwrap()
    };
    let lru = format!(
        "\nMem-Info:\nactive_anon:{} inactive_anon:{} isolated_anon:0\n active_file:{} inactive_file:{} isolated_file:0\n",
        kb("Active(anon):") / 4,
        kb("Inactive(anon):") / 4,
        kb("Active(file):") / 4,
        kb("Inactive(file):") / 4
    );
    assert!(log.contains(&lru), "{lru}\n{log}");
    // Before failing a request that may reclaim, the slow path drained the per-CPU lists (as
    // __alloc_pages_direct_reclaim() does after a reclaim pass; the simulator reclaims nothing): none are left.
    assert!(log.contains(" free_pcp:0 free_cma:0\n"), "{log}");
    assert!(log.contains("\nNode 0 DMA free:"));
    assert!(log.contains("\nlowmem_reserve[]: 0 "));
    assert!(log.contains("\nNode 0 DMA32: "));
    assert!(log.contains("\n65406 pages RAM\n0 pages HighMem/MovableOnly\n"));
    assert!(log.contains(&format!("\n{} pages reserved\n", m.nr_reserved_pages())), "{log}");
    // the per-order line: "N*4kB (U) ... = NkB"
    let line = log.lines().find(|l| l.starts_with("Node 0 DMA32: ")).unwrap();
    assert!(line.contains("*4kB ") && line.contains("*4096kB ") && line.ends_with("kB"), "{line}");
    // rate limited: 10 s of simulated time
    let seq = m.log_seq();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 0).is_none());
    assert_eq!(m.log_seq(), seq);
    m.advance_time_ns(10_000_000_000);
    assert!(m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_COMP, 1).is_none());
    let log = m.log_text_since(seq);
    assert!(log.starts_with("warn_alloc: 1 callbacks suppressed\ninsmod: page allocation failure: order:1, mode:0x40cc0(GFP_KERNEL|__GFP_COMP)"), "{log}");
    // atomic requests may dip below the min watermark
    let a = m.alloc_pages(Gfp::GFP_ATOMIC, 0);
    assert!(a.is_some());
    // __GFP_NOFAIL gets memory from the reserves
    assert!(m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOFAIL, 0).is_some());
    assert!(m.check_consistency().is_ok());
}

#[test]
fn might_sleep_reports() {
    let mut m = boot();
    let seq = m.log_seq();
    let a = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    assert_ne!(a, 0);
    assert_eq!(m.log_seq(), seq, "no report in process context");
    m.spin_lock();
    assert!(m.in_atomic() && !m.in_interrupt());
    let b = m.__get_free_pages(Gfp::GFP_ATOMIC, 0);
    assert_eq!(m.log_seq(), seq, "GFP_ATOMIC does not sleep");
    let c = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    m.spin_unlock();
    let log = m.log_text_since(seq);
    assert!(
        log.starts_with(
            "BUG: sleeping function called from invalid context at include/linux/sched/mm.h:321\n\
         in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 95, name: insmod\n\
         preempt_count: 1, expected: 0\n\
         RCU nest depth: 0, expected: 0\n\
         CPU: 0 UID: 0 PID: 95 Comm: insmod Tainted: G           O       6.12.117 #1 \n"
        ),
        "{log}"
    );
    assert!(log.contains("\nCall Trace:\n <TASK>\n dump_stack_lvl+0x"));
    assert!(log.contains("\n __might_resched+0x"));
    assert!(log.contains("\n get_free_pages_noprof+0x"));
    assert!(m.test_taint(Taint::Warn));
    // once per second
    let seq = m.log_seq();
    m.local_irq_disable();
    m.might_sleep("mm/test.c", 1);
    assert_eq!(m.log_seq(), seq);
    m.advance_time_ns(1_000_000_000);
    m.might_sleep("mm/test.c", 2);
    m.local_irq_enable();
    assert!(m
        .log_text_since(seq)
        .contains("in_atomic(): 0, irqs_disabled(): 1, non_block: 0, pid: 95, name: insmod\n"));
    // hardirq context
    m.advance_time_ns(1_000_000_000);
    let seq = m.log_seq();
    m.irq_enter();
    m.push_frame("my_irq_handler");
    assert!(m.in_interrupt());
    let d = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    m.irq_exit();
    let log = m.log_text_since(seq);
    assert!(log.contains("preempt_count: 10000, expected: 0\n"), "{log}");
    assert!(log.contains(" <IRQ>\n") && log.contains(" </IRQ>\n <TASK>\n"), "{log}");
    for x in [a, b, c, d] {
        m.free_pages(x, 0);
    }
    assert!(!m.in_atomic());
}

/// The book's kernel has no page checks (no CONFIG_DEBUG_VM, init_on_alloc or init_on_free): bad frees print
/// nothing, as `cargo xtask qemu --module` of an order-0 double free showed on the real kernel.
#[test]
fn bad_frees_are_silent_without_page_checks() {
    let mut m = boot();
    assert!(!m.check_pages_enabled());
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    m.__free_pages(p, 0);
    let free = m.nr_free_pages();
    let seq = m.log_seq();
    m.__free_pages(p, 0);
    assert_eq!(m.page_ref_count(p), -1, "put_page_testzero() of a free page");
    assert_eq!(m.nr_free_pages(), free);
    // Allocated again, the page gets its count back (set_page_refcounted()).
    let q = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    assert_eq!(q, p, "LIFO per-CPU list");
    assert_eq!(m.page_ref_count(q), 1);
    m.__free_pages(q, 0);
    // A reserved page, a tail page, too large an order: nothing printed, the simulator's lists intact.
    m.free_pages(m.layout().page_offset + 0x2000, 0);
    let c = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_COMP, 2).unwrap();
    m.__free_pages(Pfn(c.0 + 1), 0);
    let r = m.alloc_pages(Gfp::GFP_KERNEL, 1).unwrap();
    m.__free_pages(r, 3);
    assert_eq!(m.log_text_since(seq), "");
    assert!(!m.test_taint(Taint::BadPage));
    assert!(m.check_consistency().is_ok());
    m.__free_pages(c, 2);
    assert!(m.check_consistency().is_ok());
    // Too small an order frees the first pages and leaks the rest, as the kernel does.
    let b = m.alloc_pages(Gfp::GFP_KERNEL, 2).unwrap();
    m.__free_pages(b, 1);
    let is_free = |m: &Machine, p: Pfn| matches!(m.page_frame(p).unwrap().owner(), PageOwner::Pcp | PageOwner::Buddy);
    assert!(is_free(&m, b));
    assert_eq!(m.page_frame(Pfn(b.0 + 2)).unwrap().owner(), PageOwner::PageAlloc);
    assert!(m.check_consistency().is_ok());
    // A block another holder still references: the first page stays, the tail halves are freed.
    let h = m.alloc_pages(Gfp::GFP_KERNEL, 2).unwrap();
    m.get_page(h);
    m.__free_pages(h, 2);
    assert_eq!(m.page_ref_count(h), 1);
    assert!(is_free(&m, Pfn(h.0 + 2)) && is_free(&m, Pfn(h.0 + 1)));
    m.__free_pages(h, 0);
    assert!(m.check_consistency().is_ok());
    // free_pages(0) does nothing
    let seq = m.log_seq();
    m.free_pages(0, 3);
    assert_eq!(m.log_seq(), seq);
}

/// With `init_on_free=1` the page checks run: a reserved page or too large an order is reported at the free
/// and refused; a page freed twice is reported when it is allocated again, and left out.
#[test]
fn bad_frees_are_reported_with_page_checks() {
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline("init_on_free=1")).expect("boot");
    m.set_current("insmod", 95);
    m.load_module_name("hello", true);
    m.push_module_frame("hello_init", "hello");
    assert!(m.check_pages_enabled());
    let seq = m.log_seq();
    let a = m.layout().page_offset + 0x2000;
    m.free_pages(a, 0);
    let log = m.log_text_since(seq);
    assert!(log.starts_with("BUG: Bad page state in process insmod  pfn:00002\n"), "{log}");
    assert!(log.contains("page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag(s) set\n"));
    assert!(log.contains("(reserved|node=0|zone=0)"));
    assert!(m.test_taint(Taint::BadPage));
    // A double free: silent at the free, reported at the next allocation of the page.
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    m.__free_pages(p, 0);
    let seq = m.log_seq();
    m.__free_pages(p, 0);
    assert_eq!(m.log_text_since(seq), "");
    let q = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    assert_ne!(q, p, "the bad page is left out");
    let log = m.log_text_since(seq);
    assert!(
        log.contains(&format!("page: refcount:-1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:{:#x}\n", p.0)),
        "{log}"
    );
    assert!(log.contains("page dumped because: nonzero _refcount\n"));
    assert_eq!(m.page_frame(p).unwrap().owner(), PageOwner::Leaked);
    m.__free_pages(q, 0);
    // Too large an order: the pages beyond the block are reported and nothing is freed.
    let r = m.alloc_pages(Gfp::GFP_KERNEL, 1).unwrap();
    let seq = m.log_seq();
    m.__free_pages(r, 3);
    assert!(m.log_text_since(seq).contains("BUG: Bad page state"));
    assert_eq!(m.page_frame(r).unwrap().owner(), PageOwner::PageAlloc);
    assert!(m.check_consistency().is_ok());
}

#[test]
fn fault_injection_interval() {
    let cfg = MachineConfig::x86_64().fail_page_alloc(
        FaultConfig::default().probability(100).interval(2).times(-1).min_order(0).ignore_gfp_wait(false),
    );
    let mut m = Machine::boot(cfg).unwrap();
    m.set_current("insmod", 95);
    let seq = m.log_seq();
    let r: Vec<bool> = (0..4).map(|_| m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 0).is_some()).collect();
    assert_eq!(r, [true, false, true, false]);
    assert_eq!(m.log_seq(), seq, "__GFP_NOWARN silences fail_dump");
    let _ = m.alloc_pages(Gfp::GFP_KERNEL, 0);
    let _ = m.alloc_pages(Gfp::GFP_KERNEL, 0);
    let log = m.log_text_since(seq);
    assert!(log.starts_with("FAULT_INJECTION: forcing a failure.\nname fail_page_alloc, interval 2, probability 100, space 0, times -1\nCPU: 0 UID: 0 PID: 95 Comm: insmod"), "{log}");
    assert!(log.contains("\n should_fail_ex+0x"));
    // an injected failure returns NULL from prepare_alloc_pages(): no warn_alloc()
    assert!(!log.contains("page allocation failure"));
    // the defaults ignore sleeping requests and order 0
    let mut m =
        Machine::boot(MachineConfig::x86_64().fail_page_alloc(FaultConfig::default().probability(100))).unwrap();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 1).is_some());
    assert!(m.alloc_pages(Gfp::GFP_ATOMIC, 0).is_some());
    assert!(m.alloc_pages(Gfp::GFP_ATOMIC, 1).is_none());
    assert!(m.alloc_pages(Gfp::GFP_ATOMIC, 1).is_some(), "times 1");
}

#[test]
fn i386_profile() {
    let mut m = Machine::boot(MachineConfig::i386()).unwrap();
    m.set_current("insmod", 95);
    let l = m.layout().clone();
    assert_eq!(l.page_offset, 0xC000_0000);
    assert_eq!(l.high_memory, 0xC000_0000 + (0x9fe0 << 12));
    assert_eq!(l.vmalloc_start, l.high_memory + (8 << 20));
    assert_eq!(l.vmalloc_end, 0xfeff_e000);
    assert!(m.dmesg().contains("159MB LOWMEM available.\n"));
    assert!(m.proc_pagetypeinfo().starts_with("Page block order: 10\nPages per block:  1024\n"));
    for order in [0, 1, 3, 10] {
        let a = m.__get_free_pages(Gfp::GFP_KERNEL | Gfp::__GFP_HIGHMEM, order);
        assert!(a >= 0xC000_0000 && a + (4096 << order) <= l.high_memory, "{a:#x}");
        m.free_pages(a, order);
    }
    // a 1 GiB machine has highmem above 880 MiB
    let mut m = Machine::boot(MachineConfig::i386().ram_mib(1024)).unwrap();
    let l = m.layout().clone();
    assert_eq!(l.max_low_pfn, 0x36ffe);
    assert!(m.zones().iter().any(|z| z.zone_type == ZoneType::HighMem && z.present_pages > 30_000));
    let p = m.alloc_pages(Gfp::GFP_HIGHUSER, 0).unwrap();
    assert!(p.0 >= l.max_low_pfn);
    assert_eq!(m.page_address(p), 0);
    assert!(m.proc_meminfo().contains("\nHighTotal:  "));
    m.__free_pages(p, 0);
    let a = m.__get_free_pages(Gfp::GFP_HIGHUSER, 0);
    assert!(a >= 0xC000_0000 && a < l.high_memory);
}

#[test]
fn proc_formats() {
    let m = boot();
    let b = m.proc_buddyinfo();
    for line in b.lines() {
        assert!(line.starts_with("Node 0, zone "));
        let rest = &line["Node 0, zone ".len()..];
        assert_eq!(rest.len(), 8 + 1 + 11 * 7, "{line:?}");
    }
    assert!(b.starts_with(
        "Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \n"
    ));
    let p = m.proc_pagetypeinfo();
    // pageblock_order is MAX_PAGE_ORDER (include/linux/pageblock-flags.h) without CONFIG_HUGETLB_PAGE and THP.
    assert!(p.starts_with(
        "Page block order: 10\nPages per block:  1024\n\nFree pages count per migrate type at order       0      1"
    ));
    assert!(p.contains("\nNode    0, zone      DMA, type    Unmovable      0 "));
    // No CONFIG_MEMORY_ISOLATION: four types (mm/page_alloc.c migratetype_names[]).
    assert!(p.contains("\n\nNumber of blocks type     Unmovable      Movable  Reclaimable   HighAtomic \n"));
    // memmap_init_range() marks a pageblock MIGRATE_MOVABLE at its first pfn; DMA starts at pfn 1, so its
    // first pageblock keeps the zeroed default, MIGRATE_UNMOVABLE.
    assert!(p.contains("\nNode 0, zone      DMA            1            3            0            0 \n"), "{p}");
    let mi = m.proc_meminfo();
    for line in mi.lines() {
        assert!(line.ends_with(" kB"), "{line}");
        assert!(line.len() >= 27, "{line}");
    }
    assert!(mi.starts_with("MemTotal:       "));
    assert!(mi.contains("\nVmallocTotal:   34359738367 kB\n"));
    let total: u64 = mi.lines().next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(total, m.totalram_pages() * 4);
    assert!(m.proc_zoneinfo().contains("\n        managed  3840\n"));
}

#[test]
fn printk_cursor_and_cont() {
    let mut m = boot();
    let seq = m.log_seq();
    m.printk(LogLevel::Info, "hello: one");
    m.pr_cont(" two\n");
    m.printk(LogLevel::Warning, "hello: three\n");
    assert_eq!(m.log_text_since(seq), "hello: one two\nhello: three\n");
    let d = m.dmesg_since(seq);
    assert!(d.starts_with("[    1.3"), "{d}");
    assert_eq!(d.lines().count(), 2);
    assert!(m.dmesg().len() > d.len());
}

#[test]
fn kaslr_layout_translates() {
    let mut m = Machine::boot(MachineConfig::x86_64().kaslr(42)).unwrap();
    assert_ne!(m.layout().page_offset, 0xffff_8880_0000_0000);
    let a = m.get_zeroed_page(Gfp::GFP_KERNEL);
    assert!(m.layout().is_direct_map_addr(a));
    let p = m.virt_to_page(a).unwrap();
    assert_eq!(m.pfn_of_page_struct(m.page_struct_addr(p)), Some(p));
}

#[test]
fn fragmentation_defeats_order_4() {
    let mut m = boot();
    let (r, mut held) = fragment(&mut m, &FragConfig::default());
    assert!(r.target_failed, "{r:?}");
    assert!(r.free_pages > m.totalram_pages() / 10, "plenty of order-0 pages remain: {}", r.free_pages);
    held.release(&mut m);
    assert!(m.check_consistency().is_ok());
}

#[test]
fn modules_line() {
    let mut m = boot();
    m.set_module_state("hello", ModuleState::Live);
    m.load_module_name("intree", false);
    assert_eq!(m.modules_linked_in(), "Modules linked in: intree(+) hello(O)");
    m.unload_module_name("hello");
    assert_eq!(m.modules_linked_in(), "Modules linked in: intree(+) [last unloaded: hello(O)]");
}

#[test]
fn debug_preempt_line() {
    let mut m = Machine::boot(MachineConfig::x86_64().preempt_debug(false, true)).unwrap();
    m.set_current("insmod", 95);
    m.push_module_frame("hello_init", "hello");
    m.spin_lock();
    let seq = m.log_seq();
    m.might_sleep("drivers/x.c", 10);
    m.spin_unlock();
    let log = m.log_text_since(seq);
    assert!(!log.contains("RCU nest depth"));
    let l = log.lines().position(|l| l == "Preemption disabled at:").expect(&log);
    let next = log.lines().nth(l + 1).unwrap();
    assert!(
        // MODULES_VADDR = __START_KERNEL_map + KERNEL_IMAGE_SIZE (512 MiB without CONFIG_RANDOMIZE_BASE):
        // 0xffffffffa0000000 (arch/x86/include/asm/pgtable_64_types.h).
        next.starts_with("[<ffffffffa0") && next.contains("] hello_init+0x") && next.ends_with(" [hello]"),
        "{next}"
    );
}

/// Regression: /proc/pagetypeinfo printed an `Isolate` type, which exists only with CONFIG_MEMORY_ISOLATION
/// (mm/page_alloc.c `migratetype_names[]`); the book's kernel has none. The booted machine's file has the
/// real boot's lines: the same headers and rows, DMA's counts equal (DMA32's vary between boots).
#[test]
fn pagetypeinfo_has_the_real_boots_shape() {
    const REAL: &str = include_str!("../../../listings/kernel/observed/boot/pagetypeinfo.txt");
    let m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let sim = m.proc_pagetypeinfo();
    assert!(!sim.contains("Isolate"), "{sim}");
    fn shape(l: &str) -> Vec<&str> {
        l.split_whitespace().filter(|w| !w.chars().all(|c| c.is_ascii_digit())).collect()
    }
    assert_eq!(sim.lines().count(), REAL.lines().count(), "{sim}");
    for (s, r) in sim.lines().zip(REAL.lines()) {
        if r.contains("DMA32") {
            assert_eq!(shape(s), shape(r));
            assert_eq!(s.len(), r.len(), "{s:?} / {r:?}");
        } else {
            assert_eq!(s, r);
        }
    }
}

/// Regression: a WARN whose function the realised stack does not show (here the page allocator's
/// `WARN_ON_ONCE(!can_direct_reclaim)` for `__GFP_NOFAIL`, reached from a slab refill whose page-allocator
/// frames the recorded call graph cannot connect to `___slab_alloc`) printed the innermost frame as `RIP` and
/// "Code: Unable to access opcode bytes at <stack address>". The build has one site for the line: the trap is
/// there, with its code bytes.
#[test]
fn warn_rip_is_the_builds_site_when_the_stack_lacks_it() {
    let mut m = boot();
    let _eater = m.eat_memory(Gfp::GFP_KERNEL, None);
    let seq = m.log_seq();
    // The recorded boot's kmalloc-128 slabs are full: the object needs a new slab, from the slow path.
    let _ = m.kmalloc(100, Gfp::GFP_NOWAIT | Gfp::__GFP_NOFAIL);
    let log = m.log_text_since(seq);
    let site = "__alloc_pages_slowpath+0x431/0x440";
    assert!(log.contains(&format!("WARNING: CPU: 0 PID: 95 at mm/page_alloc.c:4314 {site}\n")), "{log}");
    assert!(log.contains(&format!("\nRIP: 0010:{site}\n")), "{log}");
    assert!(log.contains("\nCode: 83 fb 02 73 21 41 0f ba e7 0a 73 1e "), "{log}");
    assert!(!log.contains("Unable to access opcode bytes"), "{log}");
}

/// `free_pages()` of an address outside the direct map: `__free_pages(virt_to_page(addr))` reads the flags
/// of a `struct page` beyond the memory map and oopses there, as the real kernel did for a vmalloc address
/// (`BUG: unable to handle page fault for address: ffffeb0200000540`, `PGD 0 P4D 0`, RIP in __free_pages).
#[test]
fn free_pages_of_a_vmalloc_address_oopses_at_its_struct_page() {
    let mut m = boot();
    let v = m.vmalloc(4096);
    m.free_pages(v, 0);
    let pa = v - m.layout().page_offset;
    let page = m.layout().vmemmap_base + (pa >> 12) * 64;
    let log = m.dmesg();
    assert!(log.contains(&format!("BUG: unable to handle page fault for address: {page:016x}\n")), "{log}");
    assert!(log.contains("PGD 0 P4D 0 \n"), "{log}");
    assert!(log.contains("RIP: 0010:__free_pages+"), "{log}");
}

/// Zone modifiers GFP_ZONE_TABLE has no entry for read as ZONE_DMA (the VM_BUG_ON is compiled out): the real
/// kernel handed out a DMA page for GFP_KERNEL | __GFP_DMA | __GFP_HIGHMEM, silently.
#[test]
fn a_bad_zone_combination_allocates_from_zone_dma() {
    let mut m = boot();
    let seq = m.log_seq();
    let p = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_DMA | Gfp::__GFP_HIGHMEM, 0).unwrap();
    assert!(p.0 < 0x1000, "below 16 MiB: {:#x}", p.0);
    assert_eq!(m.log_text_since(seq), "");
    m.__free_pages(p, 0);
}
