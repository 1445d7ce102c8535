//! `debug_pagealloc=on` (crates/kmem-sim/src/debug_page_alloc.rs): free pages out of the direct map, the boot's
//! init memory unmapped instead of freed, the direct map of 4 KiB pages, and the page-fault report of a read
//! of a freed page.

use kmem_sim::*;

fn boot(cmdline: &str) -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline(cmdline)).expect("boot");
    m.set_current("insmod", 95);
    m
}

fn meminfo_kb(m: &Machine, field: &str) -> u64 {
    let text = m.read_file("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn off_unless_the_command_line_turns_it_on() {
    for (cmdline, on) in [("", false), ("debug_pagealloc=on", true), ("debug_pagealloc=1 debug_pagealloc=off", false)] {
        let m = boot(cmdline);
        assert_eq!(m.debug_pagealloc_enabled(), on, "{cmdline:?}");
    }
}

#[test]
fn free_pages_leave_the_direct_map_and_come_back_when_allocated() {
    let mut m = boot("debug_pagealloc=on");
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 2).expect("a block");
    for i in 0..4 {
        assert!(m.direct_map_present(p.0 + i));
    }
    m.__free_pages(p, 2);
    for i in 0..4 {
        assert!(!m.direct_map_present(p.0 + i), "pfn {:#x} still mapped after the free", p.0 + i);
    }
    // Without the option every page stays mapped.
    let mut n = boot("");
    let q = n.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    n.__free_pages(q, 0);
    assert!(n.direct_map_present(q.0));
}

#[test]
fn the_boot_unmaps_its_init_memory_and_maps_the_direct_map_with_small_pages() {
    let on = boot("debug_pagealloc=on");
    let off = boot("");
    let log = on.dmesg();
    assert!(log.contains("debug: unmapping init [mem 0xffffffff"), "{log}");
    assert!(!log.contains("Freeing initrd memory"), "{log}");
    assert!(!log.contains("Freeing unused kernel image"), "{log}");
    assert!(off.dmesg().contains("Freeing unused kernel image (initmem) memory"));
    let total = meminfo_kb(&off, "DirectMap4k:") + meminfo_kb(&off, "DirectMap2M:");
    assert_eq!((meminfo_kb(&on, "DirectMap4k:"), meminfo_kb(&on, "DirectMap2M:")), (total, 0));
    // What stays reserved: every unmapped init range, and the PTE pages beyond the brk's pgt_buf.
    let unmapped_kb: u64 = log
        .lines()
        .filter_map(|l| l.split_once("debug: unmapping init [mem ")?.1.strip_suffix(']')?.split_once('-'))
        .map(|(a, b)| {
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
            (hex(b) + 1 - hex(a)) / 1024
        })
        .sum();
    let tables_kb = (meminfo_kb(&off, "MemTotal:") - meminfo_kb(&on, "MemTotal:")) - unmapped_kb;
    // 128 PTE pages for the 2 MiB blocks of a 256 MiB direct map, a PUD and a PMD page, less the 6 of pgt_buf;
    // the book's usual boot fits its tables in pgt_buf.
    assert_eq!(tables_kb, (128 + 2 - 6) * 4);
}

#[test]
fn a_read_of_a_freed_page_walks_to_a_pte_that_is_not_present() {
    let mut m = boot("debug_pagealloc=on no_hash_pointers");
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    let addr = m.page_address(p);
    m.__free_pages(p, 0);
    m.page_fault_oops(addr, 0);
    let log = m.dmesg();
    assert!(log.contains(&format!("BUG: unable to handle page fault for address: {addr:016x}")), "{log}");
    assert!(log.contains("Oops: Oops: 0000 [#1] PREEMPT SMP DEBUG_PAGEALLOC"), "{log}");
    let walk = log.lines().find(|l| l.contains("PGD ")).unwrap();
    // The frame, inverted (pte_needs_invert()), with NX and _PAGE_ACCESSED left.
    let pte = ((p.0 << 12) ^ 0x000f_ffff_ffff_f000) | 0x8000_0000_0000_0020;
    assert!(walk.ends_with(&format!(" PTE {pte:x}")), "{walk}");
    assert!(walk.contains("067 PTE "), "{walk}");
}
