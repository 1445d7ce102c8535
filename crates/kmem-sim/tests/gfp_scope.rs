//! The GFP scope API (include/linux/sched/mm.h): saves return the flags they set, scopes nest, NOIO wins over
//! NOFS, and the page allocator works with — and reports — the constrained mask.
use kmem_sim::sched::{PF_MEMALLOC_NOFS, PF_MEMALLOC_NOIO};
use kmem_sim::*;

#[test]
fn saves_nest_and_restore_only_their_own_flags() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_KERNEL);
    let fs = m.memalloc_nofs_save();
    assert_eq!(fs, PF_MEMALLOC_NOFS);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_NOFS);
    let io = m.memalloc_noio_save();
    let io2 = m.memalloc_noio_save();
    assert_eq!((io, io2), (PF_MEMALLOC_NOIO, 0));
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_NOIO, "NOIO wins");
    assert_eq!(m.current_gfp_context(Gfp::GFP_ATOMIC), Gfp::GFP_ATOMIC, "nothing to drop");
    m.memalloc_noio_restore(io2);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_NOIO, "the outer scope goes on");
    m.memalloc_noio_restore(io);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_NOFS);
    m.memalloc_nofs_restore(fs);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_KERNEL);
    // Scopes belong to the task.
    let io = m.memalloc_noio_save();
    m.set_current("kworker/0:1", 20);
    assert_eq!(m.current_gfp_context(Gfp::GFP_KERNEL), Gfp::GFP_KERNEL);
    m.set_current("insmod", 95);
    m.memalloc_noio_restore(io);
}

#[test]
fn a_failure_in_a_scope_reports_the_constrained_mask() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    while m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 10).is_some() {}
    let io = m.memalloc_noio_save();
    let seq = m.log_seq();
    assert!(m.alloc_pages(Gfp::GFP_KERNEL, 10).is_none());
    m.memalloc_noio_restore(io);
    let log = m.log_text_since(seq);
    assert!(
        log.starts_with("insmod: page allocation failure: order:10, mode:0xc00(GFP_NOIO), nodemask=(null)"),
        "{log}"
    );
}
