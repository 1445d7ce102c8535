//! mempool (mm/mempool.c): the reserve under injected failures and memory pressure, waiting for another
//! task's free, GFP_ATOMIC, resize, destroy, custom pools through the step API, element poisoning.
use kmem_sim::mempool::{EaterId, MempoolCall, MempoolStep, MempoolStuck, SimEvent};
use kmem_sim::*;

fn machine() -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    m
}

/// failslab failing every slab allocation, even those that may sleep.
fn fail_all_slab(m: &mut Machine, verbose: u32) {
    m.set_failslab(Some(FaultConfig::default().probability(100).times(-1).verbose(verbose)), false, false);
}

#[test]
fn kmalloc_pool_reserve_serves_under_failslab_and_refills() {
    let mut m = machine();
    let pool = m.mempool_create_kmalloc_pool(4, 100).expect("pool");
    let p = m.mempool(pool).unwrap().clone();
    assert_eq!((p.min_nr, p.curr_nr), (4, 4));
    assert_eq!(p.reserve().len(), 4);
    assert!(m.mempool_is_saturated(pool));
    let reserve = p.reserve().to_vec();

    fail_all_slab(&mut m, 1);
    let seq = m.log_seq();
    assert_eq!(m.kmalloc(100, Gfp::GFP_KERNEL), 0, "kmalloc fails");
    let log = m.log_text_since(seq);
    assert!(log.contains("FAULT_INJECTION: forcing a failure."), "{log}");

    // mempool_alloc adds __GFP_NOWARN: failslab stays quiet, the reserve serves LIFO.
    let seq = m.log_seq();
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap());
    }
    assert_eq!(got, reserve.iter().rev().copied().collect::<Vec<_>>(), "most recently returned first");
    assert_eq!(m.mempool(pool).unwrap().curr_nr, 0);
    assert!(!m.mempool_is_saturated(pool));
    // Empty reserve, atomic mask: NULL at once, nothing printed.
    let t0 = m.clock_ns();
    assert_eq!(m.mempool_alloc(pool, Gfp::GFP_ATOMIC), Ok(0));
    assert!(m.clock_ns() - t0 < 1_000_000);
    assert_eq!(m.log_text_since(seq), "", "no report at all");

    // Frees refill the reserve up to min_nr, then go back to kmalloc.
    m.set_failslab(None, true, false);
    let extra = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert!(extra != 0 && !got.contains(&extra), "from kmalloc again");
    for (i, e) in got.iter().enumerate() {
        m.mempool_free(*e, pool);
        assert_eq!(m.mempool(pool).unwrap().curr_nr, i as i32 + 1);
    }
    m.mempool_free(extra, pool);
    assert_eq!(m.mempool(pool).unwrap().curr_nr, 4);
    assert_eq!(m.kmalloc(100, Gfp::GFP_KERNEL), extra, "freed to kmalloc: SLUB hands it out again");
    m.mempool_free(0, pool); // NULL is ignored
    m.mempool_destroy(pool);
    assert!(m.mempool(pool).is_none());
    assert!(!m.dmesg().contains("BUG"));
}

#[test]
fn waiting_alloc_wakes_when_a_kworker_frees() {
    let mut m = machine();
    let pool = m.mempool_create_kmalloc_pool(2, 256).unwrap();
    fail_all_slab(&mut m, 0);
    let a = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    let b = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert!(a != 0 && b != 0);

    let t0 = m.clock_ns();
    m.schedule_event(t0 + 2_000_000_000, "kworker/0:2", 31, SimEvent::MempoolFree { pool, element: a });
    let seq = m.log_seq();
    let e = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(e, a, "the element the kworker returned");
    let dt = m.clock_ns() - t0;
    assert!((2_000_000_000..2_001_000_000).contains(&dt), "{dt}");
    assert_eq!(m.current().pid, 95, "back in insmod");
    assert_eq!(m.log_text_since(seq), "", "nothing wrong in dmesg");
    assert!(m.call_stack().is_empty());

    // Nobody frees before 12 s: two 5 s timeouts with retries, then the free at 12 s wakes it.
    let t0 = m.clock_ns();
    m.schedule_event(t0 + 12_000_000_000, "kworker/1:0", 32, SimEvent::MempoolFree { pool, element: b });
    assert_eq!(m.mempool_alloc(pool, Gfp::GFP_KERNEL), Ok(b));
    let dt = m.clock_ns() - t0;
    assert!((12_000_000_000..12_001_000_000).contains(&dt), "{dt}");
    assert!(m.scheduled_events().is_empty());

    // With nothing scheduled the kernel would sleep forever.
    let t0 = m.clock_ns();
    match m.mempool_alloc(pool, Gfp::GFP_KERNEL) {
        Err(MempoolStuck { waited_ns, .. }) => {
            assert!((120_000_000_000..120_001_000_000).contains(&waited_ns));
            assert!(m.clock_ns() - t0 >= 120_000_000_000);
        }
        other => panic!("{other:?}"),
    }
    // GFP_NOIO may sleep too; GFP_NOWAIT may not.
    assert_eq!(m.mempool_alloc(pool, Gfp::GFP_NOWAIT), Ok(0));
    m.set_failslab(None, true, false);
    m.mempool_free(a, pool);
    m.mempool_free(b, pool);
    m.mempool_destroy(pool);
}

#[test]
fn an_event_that_does_not_free_to_the_pool_does_not_wake_it() {
    let mut m = machine();
    let pool = m.mempool_create_kmalloc_pool(1, 64).unwrap();
    fail_all_slab(&mut m, 0);
    let a = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    let t0 = m.clock_ns();
    let other = m.kmalloc_array(1, 8, Gfp::GFP_KERNEL | Gfp::__GFP_NOFAIL);
    // An unrelated kfree at 1 s, the element back at 3 s: the waiter sleeps through the first.
    m.schedule_event(t0 + 1_000_000_000, "kworker/0:1", 40, SimEvent::Kfree(other));
    m.schedule_event(t0 + 3_000_000_000, "kworker/0:1", 40, SimEvent::MempoolFree { pool, element: a });
    assert_eq!(m.mempool_alloc(pool, Gfp::GFP_KERNEL), Ok(a));
    assert!(m.clock_ns() - t0 >= 3_000_000_000);
}

#[test]
fn page_pool_under_memory_pressure() {
    let mut m = machine();
    let pool = m.mempool_create_page_pool(2, 0).unwrap();
    let reserve = m.mempool(pool).unwrap().reserve().to_vec();
    assert!(reserve.iter().all(|e| m.pfn_of_page_struct(*e).is_some()));
    assert_eq!(m.count_pages_owned_by(PageOwner::Mempool), 2);
    let eater: EaterId = m.eat_memory(Gfp::GFP_KERNEL, None);
    assert!(m.eaten_pages(eater) > 10_000);
    let seq = m.log_seq();
    assert!(m.alloc_page(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN).is_none());
    // The reserve serves, and the failed attempts print nothing (__GFP_NOWARN).
    let e = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(e, reserve[1]);
    assert_eq!(m.log_text_since(seq), "");
    assert_eq!(m.count_pages_owned_by(PageOwner::Mempool), 1);
    // Another task releases memory at +1 s while we wait for an element from the emptied reserve.
    let e2 = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(e2, reserve[0]);
    let t0 = m.clock_ns();
    m.schedule_event(t0 + 1_000_000_000, "kworker/u8:3", 50, SimEvent::ReleaseMemory(eater));
    // Releasing memory does not wake the pool: the waiter retries after its 5 s timeout.
    let e3 = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert!(e3 != 0 && e3 != e && e3 != e2);
    let dt = m.clock_ns() - t0;
    assert!((5_000_000_000..5_001_000_000).contains(&dt), "{dt}");
    assert_eq!(m.eaten_pages(eater), 0);
    for x in [e, e2, e3] {
        m.mempool_free(x, pool);
    }
    assert_eq!(m.count_pages_owned_by(PageOwner::Mempool), 2);
    // The reserve's two pages go back to the page allocator (order 0: onto this CPU's per-CPU list).
    let free_before = m.nr_free_pages() + m.nr_free_pcp();
    m.mempool_destroy(pool);
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), free_before + 2);
    assert_eq!(m.count_pages_owned_by(PageOwner::Mempool), 0);
    assert!(!m.dmesg().contains("Bad page"));
}

#[test]
fn slab_pool_resize_and_destroy() {
    // The book's command line has slab_nomerge: kmem_book_req is a cache of its own, whose destroy reports the
    // leaked element. (Merged into a boot cache, the destroy would only drop the alias.)
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline("slab_nomerge")).unwrap();
    m.set_current("insmod", 95);
    let c = m.kmem_cache_create("kmem_book_req", 192, 0, 0, None).unwrap();
    let pool = m.mempool_create_slab_pool(2, c).unwrap();
    assert_eq!(m.mempool(pool).unwrap().curr_nr, 2);
    let old_arr = m.mempool(pool).unwrap().elements_addr;
    m.mempool_resize(pool, 5).unwrap();
    let p = m.mempool(pool).unwrap();
    assert_eq!((p.min_nr, p.curr_nr), (5, 5));
    assert_ne!(p.elements_addr, old_arr, "a new elements array");
    // The simulated elements array holds the reserve.
    let arr = p.elements_addr;
    let reserve = p.reserve().to_vec();
    for (i, e) in reserve.iter().enumerate() {
        assert_eq!(m.read_u64(arr + 8 * i as u64).unwrap(), *e);
    }
    let out = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert!(!reserve.contains(&out), "the allocator serves first");
    m.mempool_resize(pool, 1).unwrap();
    let p = m.mempool(pool).unwrap();
    assert_eq!((p.min_nr, p.curr_nr), (1, 1));
    assert_eq!(p.reserve(), &reserve[..1], "the oldest element stays");
    // The element still out is the caller's: destroy frees only the reserve.
    m.mempool_destroy(pool);
    assert!(m.mempool(pool).is_none());
    let seq = m.log_seq();
    m.kmem_cache_destroy(Some(c));
    assert!(
        m.log_text_since(seq).contains("Objects remaining on __kmem_cache_shutdown()"),
        "the leaked element shows up when its cache goes"
    );
    m.mempool_destroy(MempoolPtr(0)); // NULL is fine
}

#[test]
fn resize_to_zero_is_a_bug() {
    let mut m = machine();
    let pool = m.mempool_create_kmalloc_pool(1, 32).unwrap();
    let _ = m.mempool_resize(pool, 0);
    assert!(m.dmesg().contains("kernel BUG at mm/mempool.c:334!"));
    assert!(m.kernel_stop().is_some());
}

#[test]
fn custom_pool_through_the_step_api() {
    let mut m = machine();
    let mut log: Vec<(u64, u32)> = Vec::new();
    let mut fail = false;
    let module = |m: &mut Machine, c: &MempoolCall, fail: bool, log: &mut Vec<(u64, u32)>| match c {
        MempoolCall::Alloc { alloc_fn, gfp, pool_data, .. } => {
            log.push((*alloc_fn, gfp.bits()));
            if fail {
                0
            } else {
                m.kmalloc(*pool_data, *gfp)
            }
        }
        MempoolCall::Free { free_fn, element, .. } => {
            log.push((*free_fn, 0));
            m.kfree(*element);
            0
        }
        MempoolCall::Event { .. } => 0,
    };
    let alloc = MempoolAllocator::Custom { alloc_fn: 0xa110c, free_fn: 0xf4ee };
    let s = m.mempool_create_start(2, alloc, 48, Gfp::GFP_KERNEL);
    let pool = match m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log)) {
        MempoolStep::Done(v) => MempoolPtr(v),
        other => panic!("{other:?}"),
    };
    assert_eq!(log, vec![(0xa110c, 0xcc0), (0xa110c, 0xcc0)]);
    log.clear();

    // The module's allocator fails: one try without reclaim/IO, then the reserve.
    fail = true;
    let s = m.mempool_alloc_start(pool, Gfp::GFP_KERNEL);
    let e1 = m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log)).done().unwrap();
    assert_ne!(e1, 0);
    assert_eq!(log, vec![(0xa110c, 0x92880)]);
    let s = m.mempool_alloc_start(pool, Gfp::GFP_KERNEL);
    let e2 = m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log)).done().unwrap();
    log.clear();
    // Reserve empty, GFP_KERNEL: retried once with the full mask, then waits; a façade event (module work at
    // +1 s, running as kworker) gives an element back and the waiter gets it.
    let t0 = m.clock_ns();
    m.schedule_event(t0 + 1_000_000_000, "kworker/0:3", 60, SimEvent::Facade(7));
    let mut events = Vec::new();
    let s = m.mempool_alloc_start(pool, Gfp::GFP_KERNEL);
    let r = m.mempool_run(s, &mut |m, c| {
        if let MempoolCall::Event { token, pid } = c {
            events.push((*token, *pid, m.current().comm.clone()));
            assert_eq!(m.call_stack()[0].func, "ret_from_fork_asm");
            let st = m.mempool_free_start(e1, pool);
            assert!(matches!(st, MempoolStep::Done(0)), "refill needs no call");
            return 0;
        }
        module(m, c, fail, &mut log)
    });
    assert_eq!(r.done(), Some(e1));
    assert_eq!(events, vec![(7, 60, "kworker/0:3".to_string())]);
    // After the wake-up the allocator is tried again, now with the full mask, before the reserve.
    assert_eq!(log, vec![(0xa110c, 0x92880), (0xa110c, 0x92cc0), (0xa110c, 0x92cc0)]);
    log.clear();
    // GFP_ATOMIC: the two masks are the same, so one try only, then NULL.
    let s = m.mempool_alloc_start(pool, Gfp::GFP_ATOMIC);
    let r = m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log));
    assert_eq!(r.done(), Some(0));
    assert_eq!(log, vec![(0xa110c, 0x92820)]);
    log.clear();
    // Frees: the first two refill, a third goes to the module's free_fn.
    fail = false;
    let s = m.mempool_alloc_start(pool, Gfp::GFP_KERNEL);
    let e3 = m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log)).done().unwrap();
    for e in [e1, e2, e3] {
        let s = m.mempool_free_start(e, pool);
        m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log));
    }
    assert_eq!(log, vec![(0xa110c, 0x92880), (0xf4ee, 0)]);
    log.clear();
    let s = m.mempool_exit_start(pool, true);
    m.mempool_run(s, &mut |m, c| module(m, c, fail, &mut log));
    assert_eq!(log, vec![(0xf4ee, 0), (0xf4ee, 0)]);
    assert!(m.mempool(pool).is_none());
    assert!(m.call_stack().is_empty());
}

#[test]
fn create_fails_cleanly_when_an_element_cannot_be_allocated() {
    let mut m = machine();
    // Let the pool struct and the elements array through, then fail the elements.
    let a = m.kmalloc(8, Gfp::GFP_KERNEL);
    m.kfree(a);
    m.set_failslab(
        Some(FaultConfig::default().probability(100).times(-1).verbose(0).space(72 + 24 + 100)),
        false,
        false,
    );
    let n_pools = m.mempools().len();
    assert!(m.mempool_create_kmalloc_pool(3, 100).is_none());
    assert_eq!(m.mempools().len(), n_pools);
}

#[test]
fn element_poisoning_with_slub_debug_on() {
    let mut m = Machine::boot(MachineConfig::x86_64().slub_debug_on(true)).unwrap();
    m.set_current("insmod", 95);
    let pool = m.mempool_create_kmalloc_pool(2, 32).unwrap();
    let r = m.mempool(pool).unwrap().reserve().to_vec();
    let mut b = [0u8; 32];
    m.read_bytes(r[1], &mut b).unwrap();
    assert!(b[..31].iter().all(|&x| x == 0x6b) && b[31] == 0xa5);
    m.write_bytes(r[1] + 5, &[0x42]).unwrap(); // use after free of a reserve element
    fail_all_slab(&mut m, 0);
    let seq = m.log_seq();
    let e = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(e, r[1]);
    let log = m.log_text_since(seq);
    assert!(log.starts_with("BUG: mempool element poison mismatch\nMempool "), "{log}");
    assert!(
        log.contains(" size 32\n nr=1 @ ") && log.contains(": 0x6b 6b 6b 6b 6b 42 6b 6b 6b 6b 6b 6b 6b ...\n"),
        "{log}"
    );
    assert!(log.contains("Call Trace:"));
    // A clean element is checked and set to POISON_INUSE.
    let e2 = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    m.read_bytes(e2, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0x5a));
}

#[test]
fn msleep_events_runs_other_tasks() {
    let mut m = machine();
    let p = m.kmalloc(64, Gfp::GFP_KERNEL);
    let t0 = m.clock_ns();
    m.schedule_event(t0 + 5_000_000, "kworker/0:0", 20, SimEvent::Kfree(p));
    m.msleep_events(10);
    assert_eq!(m.clock_ns() - t0, 10_000_000);
    assert_eq!(m.kmalloc(64, Gfp::GFP_KERNEL), p, "the kworker freed it");
    assert_eq!(m.current().pid, 95);
}

#[test]
fn i386_pool_uses_four_byte_pointers() {
    let mut m = Machine::boot(MachineConfig::i386()).unwrap();
    m.set_current("insmod", 95);
    let pool = m.mempool_create_kmalloc_pool(3, 40).unwrap();
    let p = m.mempool(pool).unwrap().clone();
    assert!(m.layout().is_direct_map_addr(pool.0));
    for (i, e) in p.reserve().iter().enumerate() {
        let mut b = [0u8; 4];
        m.read_bytes(p.elements_addr + 4 * i as u64, &mut b).unwrap();
        assert_eq!(u32::from_le_bytes(b) as u64, *e);
    }
    let dump = m.mempool_dump();
    assert!(dump.contains("kmalloc size=40 min_nr=3 curr_nr=3"), "{dump}");
    m.mempool_destroy(pool);
    assert_eq!(m.mempool_dump(), "");
}
