//! `vm_map_ram()` with its vmap blocks (mm/vmalloc.c) and `ioremap()` (arch/x86/mm/ioremap.c) on the simulator.

use kmem_sim::{Gfp, Machine, MachineConfig, Pfn, SlabConfig};

fn x86() -> Machine {
    let cfg = MachineConfig::x86_64().slab_config(SlabConfig::from_cmdline("no_hash_pointers"));
    let mut m = Machine::boot(cfg).unwrap();
    m.push_module_frame("demo_init", "demo");
    m
}

fn pages(m: &mut Machine, n: usize) -> Vec<Pfn> {
    (0..n).map(|_| m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap()).collect()
}

fn block_lines(m: &Machine) -> usize {
    m.vmallocinfo().lines().filter(|l| l.ends_with(" 4194304 vm_map_ram")).count()
}

#[test]
fn blocks_are_bump_allocated_in_powers_of_two() {
    let mut m = x86();
    assert_eq!((m.vmap_max_alloc(), m.vmap_bbmap_bits()), (64, 1024));
    let p = pages(&mut m, 8);
    let a = m.vm_map_ram(&p[..1], -1);
    assert_eq!(a % (4 << 20), 0, "a block is aligned to its size");
    let b = m.vm_map_ram(&p[..3], -1);
    let c = m.vm_map_ram(&p[..1], -1);
    assert_eq!((b - a, c - a), (0x1000, 0x5000));
    m.vm_unmap_ram(b, 3);
    let d = m.vm_map_ram(&p[..1], -1);
    assert_eq!(d - a, 0x6000, "unmapped pages are dirty, not reused");
    assert_eq!(m.vmalloc_to_page(a), Some(p[0]));
    assert_eq!(m.vmalloc_to_page(b), None, "vb_free() clears the PTEs at once");
    assert_eq!(m.vmap_blocks(), vec![(a, 1024 - 7, 4, 3)]);
    assert_eq!(block_lines(&m), 1);
}

#[test]
fn a_block_goes_when_all_of_it_is_dirty() {
    let mut m = x86();
    let p = pages(&mut m, 64);
    let maps: Vec<u64> = (0..16).map(|_| m.vm_map_ram(&p, -1)).collect();
    assert!(maps.windows(2).all(|w| w[1] == w[0] + 64 * 4096), "one block, 16 requests of 64 pages");
    assert_eq!(m.vmap_blocks().len(), 1);
    let next = m.vm_map_ram(&p[..1], -1);
    assert_eq!(m.vmap_blocks().len(), 2, "a full block leaves the free list: a new one is made");
    for a in maps {
        m.vm_unmap_ram(a, 64);
    }
    assert_eq!(m.vmap_blocks().len(), 1, "the all-dirty block was freed");
    assert!(m.vmallocinfo().contains(" 4194304 unpurged vm_area"), "its area waits for the lazy purge");
    m.vm_unmap_ram(next, 1);
}

#[test]
fn vm_unmap_aliases_purges_fragmented_blocks_only_below_a_quarter_free() {
    let mut m = x86();
    let p = pages(&mut m, 64);
    // 13 × 64 pages: 192 free (< 256), all others dirty after the unmaps.
    let maps: Vec<u64> = (0..13).map(|_| m.vm_map_ram(&p, -1)).collect();
    for &a in &maps {
        m.vm_unmap_ram(a, 64);
    }
    assert_eq!(m.vmap_blocks().len(), 1);
    m.vm_unmap_aliases();
    assert!(m.vmap_blocks().is_empty(), "free + dirty == all, free < VMAP_PURGE_THRESHOLD");
    // A block with a quarter or more free stays.
    let a = m.vm_map_ram(&p, -1);
    m.vm_unmap_ram(a, 64);
    m.vm_unmap_aliases();
    assert_eq!(m.vmap_blocks().len(), 1);
}

#[test]
fn large_mappings_get_an_area_of_their_own() {
    let mut m = x86();
    let p = pages(&mut m, 65);
    let a = m.vm_map_ram(&p, -1);
    assert_ne!(a, 0);
    assert!(m.vmap_blocks().is_empty());
    let line = m.vmallocinfo().lines().find(|l| l.ends_with(" vm_map_ram")).unwrap().to_string();
    assert!(line.ends_with("  266240 vm_map_ram"), "{line}: 65 pages, no guard page");
    m.vm_unmap_ram(a, 65);
    assert!(!m.vmallocinfo().contains(" vm_map_ram\n"));
}

#[test]
fn misuse_gets_the_kernels_answers() {
    let mut m = x86();
    let seq = m.log_seq();
    assert_eq!(m.vm_map_ram(&[], -1), 0);
    let log = m.log_text_since(seq);
    assert!(log.contains(" at mm/vmalloc.c:2827 "), "{log}");
    let mut m = x86();
    m.vm_unmap_ram(0, 1);
    assert!(m.dmesg().contains("kernel BUG at mm/vmalloc.c:3002!"));
    let mut m = x86();
    let p = pages(&mut m, 1);
    let a = m.vm_map_ram(&p, -1);
    // An address of the vmalloc area that no block has: vb_free()'s vb is NULL.
    m.vm_unmap_ram(a + (64 << 20), 1);
    assert!(m.dmesg().contains("BUG: kernel NULL pointer dereference, address: 0000000000000000"));
}

#[test]
fn ioremap_maps_device_memory_and_refuses_ram() {
    let mut m = x86();
    let r = m.ioremap(0xfed0_00f0, 8);
    assert_eq!(r & 0xfff, 0xf0);
    let line = m.vmallocinfo().lines().find(|l| l.ends_with(" ioremap") && l.contains("[demo]")).unwrap().to_string();
    assert!(line.contains("    8192 demo_init") && line.contains(" phys=0x00000000fed00000 ioremap"), "{line}");
    assert_eq!(m.vmalloc_to_pfn(r), Some(0xfed00));
    let ram = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    let seq = m.log_seq();
    assert_eq!(m.ioremap(ram.0 << 12, 4096), 0);
    let log = m.log_text_since(seq);
    assert!(log.contains(&format!("ioremap on RAM at 0x{:016x} - 0x{:016x}", ram.0 << 12, (ram.0 << 12) + 4095)));
    assert!(log.contains("at arch/x86/mm/ioremap.c:218"));
    let seq = m.log_seq();
    assert_eq!(m.ioremap_wc(ram.0 << 12, 4096), 0, "refused again, warned once");
    assert_eq!(m.log_text_since(seq), "");
    // Less than a page of RAM: no whole page in the overlap, so the check passes.
    assert_ne!(m.ioremap((ram.0 << 12) + 16, 64), 0);
    assert_eq!(m.ioremap(0x1000, 0), 0);
    let seq = m.log_seq();
    assert_eq!(m.ioremap(1 << 40, 4096), 0);
    assert!(m.log_text_since(seq).contains("ioremap: invalid physical address 10000000000"));
    m.iounmap(r);
    assert!(!m.vmallocinfo().contains("phys=0x00000000fed00000 ioremap"));
    let seq = m.log_seq();
    m.iounmap(r);
    assert!(m.log_text_since(seq).contains(&format!("iounmap: bad address {:016x}", r & !0xfff)));
}
