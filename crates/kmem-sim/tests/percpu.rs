//! The per-CPU allocator (mm/percpu.c, mm/percpu-vm.c 6.12): the first chunk of the recorded boot, chunk
//! creation at the top of the vmalloc area, population, atomic requests and the balance work, refused sizes.
use kmem_sim::*;

fn machine() -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    m
}

fn pcpu_areas(m: &Machine) -> usize {
    m.vmallocinfo().lines().filter(|l| l.contains("pcpu_get_vm_areas")).count()
}

const BOOT_PAGES: u64 = 42 * 4;

#[test]
fn the_recorded_first_chunk() {
    let m = machine();
    // "pcpu-alloc: s135072 r8192 d28768 u524288 alloc=1*2097152"
    assert_eq!(m.pcpu_unit_size(), 524288);
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES);
    assert_eq!(pcpu_areas(&m), 0);
    assert!(m.read_file("/proc/meminfo").unwrap().contains("Percpu:              672 kB"));
}

#[test]
fn a_small_allocation_is_in_the_first_chunk_in_every_unit() {
    let mut m = machine();
    let p = m.pcpu_alloc(8, 8, false, Gfp::GFP_KERNEL);
    assert!(p != 0 && p < 42 * 4096, "a first-chunk pointer is an offset: {p:#x}");
    for cpu in 0..4 {
        let a = m.per_cpu_ptr(p, cpu);
        assert_eq!(a - m.per_cpu_ptr(p, 0), cpu as u64 * 524288);
        m.write_bytes(a, &[cpu as u8 + 1; 8]).unwrap();
    }
    let mut b = [0u8; 8];
    m.read_bytes(m.per_cpu_ptr(p, 2), &mut b).unwrap();
    assert_eq!(b, [3; 8], "each CPU has its own copy");
    assert_eq!(pcpu_areas(&m), 0);
    m.free_percpu(p);
    // freed and allocated again: the same offset, zeroed
    let q = m.pcpu_alloc(8, 8, false, Gfp::GFP_KERNEL);
    assert_eq!(q, p);
    m.read_bytes(m.per_cpu_ptr(q, 2), &mut b).unwrap();
    assert_eq!(b, [0; 8]);
}

#[test]
fn a_new_chunk_is_made_populated_and_kept() {
    let mut m = machine();
    let a = m.pcpu_alloc(32768, 4096, false, Gfp::GFP_KERNEL);
    assert!(a != 0);
    assert_eq!(pcpu_areas(&m), 1);
    // 2 MiB (four 512 KiB units) at the top of the vmalloc area, aligned to the 2 MiB atom
    assert_eq!(m.per_cpu_ptr(a, 0), 0xffff_e8ff_ffc0_0000);
    let info = m.vmallocinfo();
    assert!(info.contains(" 2097152 pcpu_get_vm_areas+0x0/"), "{info}");
    // the bitmaps and memcg's obj_exts from vmalloc
    assert_eq!(info.lines().filter(|l| l.contains("pcpu_create_chunk")).count(), 3, "{info}");
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 8 * 4);
    // a second one fits the same chunk: eight more pages per unit, no new area
    let b = m.pcpu_alloc(32768, 4096, false, Gfp::GFP_KERNEL);
    assert!(b != 0 && b != a);
    assert_eq!(pcpu_areas(&m), 1);
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 16 * 4);
    m.free_percpu(a);
    m.free_percpu(b);
    m.run_pending_work();
    // the only free chunk stays, with its pages
    assert_eq!(pcpu_areas(&m), 1);
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 16 * 4);
}

#[test]
fn the_balance_work_depopulates_and_frees_spare_chunks() {
    let mut m = machine();
    // 16 × 32 KiB fill one 512 KiB unit; the 17th needs a second chunk.
    let ptrs: Vec<u64> = (0..17).map(|_| m.pcpu_alloc(32768, 4096, false, Gfp::GFP_KERNEL)).collect();
    assert!(ptrs.iter().all(|&p| p != 0));
    assert_eq!(pcpu_areas(&m), 2);
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 17 * 8 * 4);
    for &p in &ptrs {
        m.free_percpu(p);
    }
    // Freeing the first chunk's objects left a quarter of its pages empty while enough empty pages exist
    // elsewhere: it was isolated (pcpu_should_reclaim_chunk()), and the work depopulates it entirely
    // (pcpu_reclaim_populated()). The other free chunk keeps its pages: pcpu_balance_free(true) frees only
    // chunks without populated pages, and spares the first of the free slot.
    m.run_pending_work();
    assert_eq!(pcpu_areas(&m), 2, "{}", m.vmallocinfo());
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 8 * 4);
    // A chunk that becomes free while another free chunk exists wakes the work, which frees the spare one.
    let p = m.pcpu_alloc(32768, 4096, false, Gfp::GFP_KERNEL);
    m.free_percpu(p);
    m.run_pending_work();
    assert_eq!(pcpu_areas(&m), 1, "pcpu_balance_free() keeps only the first free chunk:\n{}", m.vmallocinfo());
}

#[test]
fn an_atomic_request_uses_populated_pages_only() {
    let mut m = machine();
    let seq = m.log_seq();
    assert_eq!(m.pcpu_alloc(32768, 4096, false, Gfp::GFP_ATOMIC), 0);
    let log = m.dmesg_since(seq);
    assert!(
        log.contains("percpu: allocation failed, size=32768 align=4096 atomic=1, atomic alloc failed, no space left"),
        "{log}"
    );
    assert!(!log.contains("Call Trace"), "no stack dump for an atomic request: {log}");
    assert_eq!(pcpu_areas(&m), 0, "an atomic request creates no chunk");
    // The balance work finds no chunk with unpopulated pages and creates one; on its retry the atomic
    // failure is already consumed and the first chunk has enough empty populated pages: nothing populated.
    m.run_pending_work();
    assert_eq!(pcpu_areas(&m), 1);
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES);
    // A second failure: now a chunk has unpopulated pages, PCPU_EMPTY_POP_PAGES_HIGH of them are populated.
    assert_eq!(m.pcpu_alloc(32768, 4096, false, Gfp::GFP_ATOMIC), 0);
    m.run_pending_work();
    assert_eq!(m.pcpu_nr_pages(), BOOT_PAGES + 4 * 4);
    // a page-sized atomic request now succeeds
    assert!(m.pcpu_alloc(4096, 4096, false, Gfp::GFP_ATOMIC) != 0);
}

#[test]
fn illegal_sizes_warn_unless_nowarn() {
    let mut m = machine();
    let seq = m.log_seq();
    assert_eq!(m.pcpu_alloc(65536, 8, false, Gfp::GFP_KERNEL), 0);
    assert_eq!(m.pcpu_alloc(64, 8192, false, Gfp::GFP_KERNEL), 0);
    // an alignment below 4 is raised to 4, not refused
    let p = m.pcpu_alloc(64, 3, false, Gfp::GFP_KERNEL);
    assert!(p != 0 && p % 4 == 0);
    let log = m.dmesg_since(seq);
    assert!(log.contains("illegal size (65536) or align (8) for percpu allocation"), "{log}");
    assert!(log.contains("illegal size (64) or align (8192) for percpu allocation"), "{log}");
    assert!(log.contains("WARNING: CPU: 0 PID: 95 at mm/percpu.c:1781 pcpu_alloc_noprof+"), "{log}");
    let seq = m.log_seq();
    assert_eq!(m.pcpu_alloc(0, 8, false, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN), 0);
    assert_eq!(m.dmesg_since(seq), "");
}

#[test]
fn slab_caches_take_their_cpu_slabs_from_the_first_chunk() {
    let mut m = machine();
    // A thousand caches' kmem_cache_cpu (32 bytes each) do not fit the first chunk's 28 KiB: a chunk follows.
    let before = pcpu_areas(&m);
    let mut ids = Vec::new();
    for i in 0..1000 {
        // SLAB_NO_MERGE: each is a cache of its own, not an alias of kmalloc-64.
        let flags = kmem_sim::slab_common::SLAB_NO_MERGE;
        ids.push(m.kmem_cache_create(&format!("pcpu_test_{i}"), 64, 0, flags, None).unwrap());
    }
    assert!(pcpu_areas(&m) > before, "a thousand caches need 32000 bytes of per-CPU memory");
    for id in ids {
        m.kmem_cache_destroy(Some(id));
    }
}

/// `free_percpu()` of a pointer no chunk serves follows `page->index` of its page as a chunk, NULL there,
/// and faults reading `chunk->base_addr` at 0x20, as the real kernel did for a kmalloc pointer.
#[test]
fn free_percpu_of_a_pointer_no_chunk_serves_oopses_at_0x20() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    m.free_percpu_unknown();
    let log = m.dmesg();
    assert!(log.contains("BUG: kernel NULL pointer dereference, address: 0000000000000020"), "{log}");
    assert!(log.contains("RIP: 0010:free_percpu+"), "{log}");
}
