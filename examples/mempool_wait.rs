//! A `mempool_alloc(GFP_KERNEL)` that finds the reserve empty and kmalloc failing even with its full
//! mask sleeps on the pool (`io_schedule_timeout(5*HZ)` in mm/mempool.c) until another task returns an
//! element with `mempool_free()`, which wakes it. Here failslab fails every slab allocation, and a
//! kworker frees the element it holds 300 ms later; the simulated clock shows the wait. (No module can
//! schedule "another task" on its own, so this is an example, not a listing.)
//!
//! Run it with `cargo run --example mempool_wait`.

use kmem_sim::fault_inject::FaultConfig;
use kmem_sim::{Gfp, Machine, MachineConfig, SimEvent};
use std::fmt::Write as _;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    m.set_current("insmod", 95);
    let mut out = String::new();
    let pool = m.mempool_create_kmalloc_pool(1, 512).expect("the pool is created");
    writeln!(out, "pool {:#x}: min_nr 1, reserve {:x?}", pool.0, m.mempool(pool).unwrap().reserve()).unwrap();
    // failslab: probability 100, times -1, verbose 0, ignore-gfp-wait N (fail sleeping requests too).
    m.set_failslab(Some(FaultConfig::default().probability(100).times(-1).verbose(0)), false, false);
    let a = m.mempool_alloc(pool, Gfp::GFP_KERNEL).unwrap();
    writeln!(
        out,
        "insmod/95:      mempool_alloc(GFP_KERNEL) = {a:#x} (the reserve), reserve now {:x?}",
        m.mempool(pool).unwrap().reserve()
    )
    .unwrap();
    let t0 = m.clock_ns();
    m.schedule_event(t0 + 300_000_000, "kworker/1:2", 61, SimEvent::MempoolFree { pool, element: a });
    writeln!(out, "kworker/1:2/61 will mempool_free({a:#x}) at t0 + 300 ms").unwrap();
    let b = m.mempool_alloc(pool, Gfp::GFP_KERNEL).expect("woken by the free");
    let waited = m.clock_ns() - t0;
    writeln!(
        out,
        "insmod/95:      mempool_alloc(GFP_KERNEL) = {b:#x} after sleeping {}.{:03} ms on the pool",
        waited / 1_000_000,
        waited % 1_000_000 / 1000
    )
    .unwrap();
    m.set_failslab(None, true, false);
    m.mempool_free(b, pool);
    m.mempool_destroy(pool);
    out
}

#[allow(dead_code)]
fn main() {
    print!("{}", report());
}
