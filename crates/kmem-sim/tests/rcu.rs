//! `kfree_rcu()`'s batching (kernel/rcu/tree.c) and grace periods on the simulator.

use kmem_sim::page::PageOwner;
use kmem_sim::{Gfp, Machine, MachineConfig, SlabConfig};

fn page_alloc_pages(m: &Machine) -> u64 {
    m.page_owner_counts().into_iter().find(|(o, _)| *o == PageOwner::PageAlloc).map_or(0, |(_, n)| n)
}

fn x86() -> Machine {
    let cfg = MachineConfig::x86_64().slab_config(SlabConfig::from_cmdline("no_hash_pointers"));
    let mut m = Machine::boot(cfg).unwrap();
    m.push_module_frame("demo_init", "demo");
    m
}

#[test]
fn an_object_waits_for_the_monitor_and_a_grace_period() {
    let mut m = x86();
    let p = m.kmalloc(64, Gfp::GFP_KERNEL);
    m.kvfree_call_rcu(p, p);
    assert_eq!(m.kfree_rcu_pending(), 1);
    m.synchronize_rcu();
    assert_eq!(m.kfree_rcu_pending(), 1, "a grace period alone frees nothing: the monitor waits 5 s");
    m.msleep(4000);
    assert_eq!(m.kfree_rcu_pending(), 1);
    m.msleep(1100);
    assert_eq!(m.kfree_rcu_pending(), 0, "the monitor ran, a grace period passed, kfree_rcu_work() freed it");
}

#[test]
fn the_first_object_goes_on_the_list_through_its_rcu_head_and_the_pages_follow() {
    let mut m = x86();
    let p = m.kmalloc(64, Gfp::GFP_KERNEL);
    let before_pages = page_alloc_pages(&m);
    m.kvfree_call_rcu(p + 16, p);
    // head->next = NULL, head->func = ptr.
    let mut w = [0u8; 16];
    m.read_bytes(p + 16, &mut w).unwrap();
    assert_eq!(u64::from_le_bytes(w[..8].try_into().unwrap()), 0);
    assert_eq!(u64::from_le_bytes(w[8..].try_into().unwrap()), p);
    // The page-cache worker runs at the next sleep and takes five pages.
    m.synchronize_rcu();
    assert_eq!(page_alloc_pages(&m) - before_pages, 5);
    let q = m.kmalloc(64, Gfp::GFP_KERNEL);
    m.read_bytes(q, &mut w).unwrap();
    let before = w;
    m.kvfree_call_rcu(q + 16, q);
    m.read_bytes(q, &mut w).unwrap();
    assert_eq!(w, before, "the bulk path does not touch the object");
    m.kvfree_rcu_barrier();
    assert_eq!(m.kfree_rcu_pending(), 0);
}

#[test]
fn kvfree_rcu_barrier_frees_everything_and_cache_destroy_waits_for_it() {
    let mut m = x86();
    let c = m.kmem_cache_create("rcu_demo", 64, 0, 0, None).unwrap();
    let objs: Vec<u64> = (0..10).map(|_| m.kmem_cache_alloc(c, Gfp::GFP_KERNEL)).collect();
    for &o in &objs {
        m.kvfree_call_rcu(o, o);
    }
    let v = m.vmalloc(8192);
    m.kvfree_call_rcu(0, v);
    assert!(m.kfree_rcu_pending() >= 10);
    let seq = m.log_seq();
    m.kmem_cache_destroy(Some(c));
    assert_eq!(m.kfree_rcu_pending(), 0);
    assert!(!m.log_text_since(seq).contains("still has objects"), "{}", m.log_text_since(seq));
}
