//! `/proc/slabinfo` shape and the SLUB boot line.
use kmem_sim::*;

/// The line `cache_show()` prints for a cache (mm/slab_common.c: `"%-17s %6lu %6lu %6u %4u %4d"`, then the
/// tunables and slabdata triples; SLUB has no tunables and no shared objects).
fn slabinfo_line(i: &slab_common::SlabInfo) -> String {
    format!(
        "{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}",
        i.name,
        i.active_objs,
        i.num_objs,
        i.objsize,
        i.objects_per_slab,
        i.pages_per_slab,
        0,
        0,
        0,
        i.active_slabs,
        i.num_slabs,
        0
    )
}

#[test]
fn slabinfo_format_and_boot_line() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    assert!(m.dmesg().contains("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=4, Nodes=1"));
    let k128 = m.find_cache("kmalloc-128").unwrap();
    let before = m.slabinfo_of(k128).unwrap();
    // The booted machine's kmalloc-128 is the recorded boot's row of /proc/slabinfo.
    let recorded = include_str!("../../../listings/kernel/observed/boot/slabinfo.txt");
    let row: Vec<u64> = recorded
        .lines()
        .find(|l| l.starts_with("kmalloc-128 "))
        .expect("a kmalloc-128 row")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // active_objs num_objs objsize objperslab pagesperslab : … : slabdata active_slabs num_slabs
    assert_eq!((before.active_objs, before.num_objs, before.num_slabs), (row[0], row[1], row[9]));
    let a = m.kmalloc(100, Gfp::GFP_KERNEL);
    let info = m.proc_slabinfo();
    let mut lines = info.lines();
    assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
    assert!(lines.next().unwrap().starts_with("# name            <active_objs> <num_objs>"));
    // Every slab is full: the 100-byte object takes a new slab (order 0, 32 objects of 128 bytes), whose
    // objects all count as active while it is the CPU slab (SLUB counts only partial-list objects free).
    let after = m.slabinfo_of(k128).unwrap();
    let (a0, n0, s0) = (before.active_objs, before.num_objs, before.num_slabs);
    assert_eq!((after.active_objs, after.num_objs, after.num_slabs), (a0 + 32, n0 + 32, s0 + 1));
    assert_eq!((after.objsize, after.objects_per_slab, after.pages_per_slab), (128, 32, 1));
    assert!(info.contains(&format!("\n{}\n", slabinfo_line(&after))), "{info}");
    // slabinfo_show()'s "%-17s %6lu %6lu %6u %4u %4d" and the rest, written out.
    let row = format!(
        "\nkmalloc-128       {:>6} {:>6}    128   32    1 : tunables    0    0    0 : slabdata {:>6} {:>6}      0\n",
        a0 + 32,
        n0 + 32,
        s0 + 1,
        s0 + 1
    );
    assert!(info.contains(&row), "{row}");
    // The oldest cache comes last: kmem_cache, which holds every cache's struct kmem_cache (256 bytes).
    let last = info.trim_end().lines().last().unwrap();
    let kc = m.slabinfo().into_iter().find(|i| i.name == "kmem_cache").unwrap();
    assert_eq!(last, slabinfo_line(&kc));
    assert_eq!((kc.objsize, kc.objects_per_slab, kc.pages_per_slab), (256, 16, 1));
    assert!(kc.active_objs as usize >= m.slabinfo().len(), "{last}");
    m.kfree(a);
    assert!(m.slabtop().contains("kmalloc-128"));
}

/// Regression: the recorded boot ran with `slab_nomerge`, so each cache of its /proc/slabinfo is a cache of
/// its own; replayed on a machine without `slab_nomerge`, 17 of them (uid_cache, filp, sigqueue,
/// memdup_user-128 …) became aliases of older replayed caches and vanished from /proc/slabinfo.
#[test]
fn the_booted_machine_has_the_recorded_boots_caches() {
    const REAL: &str = include_str!("../../../listings/kernel/observed/boot/slabinfo.txt");
    let real: Vec<&str> = REAL.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    for cmdline in ["", "slab_nomerge"] {
        let m = Machine::boot(MachineConfig::x86_64().cmdline(cmdline)).unwrap();
        let names: Vec<String> = m.slabinfo().into_iter().map(|i| i.name).collect();
        assert_eq!(names, real, "cmdline {cmdline:?}");
        for c in m.all_caches() {
            assert_eq!(m.kmem_cache_layout(c).unwrap().aliases, Vec::<String>::new(), "cmdline {cmdline:?}");
        }
    }
}

#[test]
fn an_alias_shares_its_targets_struct_kmem_cache() {
    // `kmem_cache_create()` of a mergeable cache returns the existing cache's `struct kmem_cache *`,
    // which the façade hands to modules as `kmem_cache_addr()`.
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let a = m.kmem_cache_create("merge_a", 200, 0, 0, None).unwrap();
    let b = m.kmem_cache_create("merge_b", 196, 0, 0, None).unwrap();
    assert_eq!(a, b);
    let addr = m.kmem_cache_addr(a);
    assert!(m.layout().is_direct_map_addr(addr), "{addr:#x}");
    assert_eq!(m.kmem_cache_addr(b), addr);
    let mut nomerge = Machine::boot(MachineConfig {
        slab: slab_common::SlabConfig::from_cmdline("slab_nomerge"),
        ..MachineConfig::x86_64()
    })
    .unwrap();
    let a = nomerge.kmem_cache_create("merge_a", 200, 0, 0, None).unwrap();
    let b = nomerge.kmem_cache_create("merge_b", 196, 0, 0, None).unwrap();
    assert_ne!(nomerge.kmem_cache_addr(a), nomerge.kmem_cache_addr(b));
}
