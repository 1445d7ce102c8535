//! Which kmalloc cache serves a request of each size on the book's x86_64 machine (4 CPUs), what
//! `ksize()` then reports, and the kmalloc caches' rows of `/proc/slabinfo` after boot and those requests
//! (objects and pages per slab).
//!
//! Run it with `cargo run --example kmalloc_sizes`.

use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

/// The request sizes shown: each size-class boundary and its next byte, then page-allocator sizes.
const SIZES: &[u64] = &[
    1,
    8,
    9,
    16,
    17,
    32,
    33,
    64,
    65,
    96,
    97,
    128,
    129,
    192,
    193,
    256,
    257,
    512,
    513,
    1024,
    1025,
    2048,
    2049,
    4096,
    4097,
    8192,
    8193,
    16384,
    100_000,
    4 << 20,
];

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    let mut out = String::new();
    writeln!(out, "{:>9}  {:<30} {:>8}", "kmalloc(n)", "served by", "ksize").unwrap();
    let mut held = Vec::new();
    for &size in SIZES {
        let p = m.kmalloc(size, Gfp::GFP_KERNEL);
        assert_ne!(p, 0, "kmalloc({size})");
        let by = match m.slab_of(p) {
            Some((_, slab)) => m.kmem_cache_name(slab.cache).unwrap_or("?").to_string(),
            None => {
                let order = (size.div_ceil(4096)).next_power_of_two().trailing_zeros();
                format!("page allocator, order {order}")
            }
        };
        writeln!(out, "{size:>10}  {by:<30} {:>8}", m.ksize(p)).unwrap();
        held.push(p);
    }
    for p in held {
        m.kfree(p);
    }
    writeln!(out).unwrap();

    // The kmalloc-N caches in size order (/proc/slabinfo lists the newest cache first).
    let slabinfo = m.proc_slabinfo();
    let mut lines: Vec<&str> = slabinfo.lines().collect();
    let header: Vec<&str> = lines.drain(..2).collect();
    let size_of = |l: &str| -> u64 {
        let name = l.split_whitespace().next().unwrap_or("");
        let n = name.trim_start_matches("kmalloc-");
        match n.strip_suffix('k') {
            Some(k) => k.parse::<u64>().unwrap_or(0) * 1024,
            None => n.parse().unwrap_or(0),
        }
    };
    let mut rows: Vec<&str> = lines.into_iter().filter(|l| l.starts_with("kmalloc-") && size_of(l) > 0).collect();
    rows.sort_by_key(|l| size_of(l));
    writeln!(out, "/proc/slabinfo, the kmalloc caches after boot and the kmalloc()/kfree()s above:").unwrap();
    for l in header.into_iter().chain(rows) {
        writeln!(out, "{l}").unwrap();
    }
    out
}

fn main() {
    print!("{}", report());
}
