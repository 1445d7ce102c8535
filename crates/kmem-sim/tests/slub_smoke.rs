//! `/proc/slabinfo` shape and the SLUB boot line.
use kmem_sim::*;

#[test]
fn slabinfo_format_and_boot_line() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    assert!(m.dmesg().contains("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=4, Nodes=1"));
    let a = m.kmalloc(100, Gfp::GFP_KERNEL);
    let info = m.proc_slabinfo();
    let mut lines = info.lines();
    assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
    assert!(lines.next().unwrap().starts_with("# name            <active_objs> <num_objs>"));
    assert!(info.contains(
        "kmalloc-128           32     32    128   32    1 : tunables    0    0    0 : slabdata      1      1      0"
    ));
    assert!(info.trim_end().ends_with(
        "kmem_cache            64     64    256   16    1 : tunables    0    0    0 : slabdata      4      4      0"
    ));
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
