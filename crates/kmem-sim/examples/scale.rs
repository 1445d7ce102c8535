//! Scale measurements for BENCHMARKS.md: boot time and host memory per simulated page frame for machines from
//! 256 MiB to 64 GiB, then the throughput of a long mixed-order alloc/free churn (10 million operations by
//! default) on the book's 256 MiB machine.
//!
//! `cargo run --release -p kmem-sim --example scale [ops]`

use kmem_sim::{Gfp, Machine, MachineConfig, Pfn};
use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let ops: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    println!("{:>10} {:>10} {:>14} {:>16}", "RAM", "boot", "host RSS +", "bytes/page frame");
    for mib in [256u64, 1024, 4096, 16384, 65536] {
        let before = rss_kib();
        let t = Instant::now();
        let m = Machine::boot(MachineConfig::x86_64().ram_mib(mib)).expect("boot");
        let boot = t.elapsed();
        let grown = rss_kib().saturating_sub(before);
        let frames = m.total_pages();
        println!(
            "{:>7} MiB {:>8.1} ms {:>10} KiB {:>16.1}",
            mib,
            boot.as_secs_f64() * 1e3,
            grown,
            grown as f64 * 1024.0 / frames as f64
        );
        drop(m);
    }

    // Churn: a seeded mix of orders 0..=3 (mostly order 0), holding up to 4096 blocks.
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("boot");
    let mut held: Vec<(Pfn, u32)> = Vec::with_capacity(4096);
    let mut x: u64 = 0x6b6d_656d_626f_6f6b;
    let mut failed = 0u64;
    let t = Instant::now();
    for _ in 0..ops {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if held.len() < 4096 && (x & 1 == 0 || held.is_empty()) {
            let order = match (x >> 8) % 16 {
                0..=11 => 0,
                12 | 13 => 1,
                14 => 2,
                _ => 3,
            };
            match m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, order) {
                Some(p) => held.push((p, order)),
                None => failed += 1,
            }
        } else {
            let i = ((x >> 16) as usize) % held.len();
            let (p, order) = held.swap_remove(i);
            m.__free_pages(p, order);
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "churn: {ops} operations in {secs:.2} s = {:.1} M ops/s ({failed} allocations failed)",
        ops as f64 / secs / 1e6
    );
}
