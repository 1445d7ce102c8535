//! `/proc/slabinfo` shape and the SLUB boot line.
use kmem_sim::*;

#[test]
fn slabinfo_format_and_boot_line() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    assert!(m
        .dmesg()
        .contains("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=4, Nodes=1"));
    let a = m.kmalloc(100, Gfp::GFP_KERNEL);
    let info = m.proc_slabinfo();
    let mut lines = info.lines();
    assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
    assert!(lines
        .next()
        .unwrap()
        .starts_with("# name            <active_objs> <num_objs>"));
    assert!(info.contains(
        "kmalloc-128           32     32    128   32    1 : tunables    0    0    0 : slabdata      1      1      0"
    ));
    assert!(info.trim_end().ends_with("kmem_cache            64     64    256   16    1 : tunables    0    0    0 : slabdata      4      4      0"));
    m.kfree(a);
    assert!(m.slabtop().contains("kmalloc-128"));
}
