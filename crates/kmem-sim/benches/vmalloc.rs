//! Benchmark: the cost of one vmalloc/vfree pair (and of the address-space part alone, get_vm_area/vunmap)
//! with 1 000, 10 000 and 100 000 busy areas, beside a naive linear first-fit list allocator in the same run.
//!
//! Setup, for n busy areas: 2n one-page `get_vm_area()` reservations (8 KiB each with the guard page), every
//! other one released and purged, so the free tree holds n holes of 8 KiB between the n busy areas. The
//! measured requests need 16 KiB (3 pages + guard), which no hole can hold: the search must find the lowest
//! fit past all of them — O(log n) with the augmented tree, O(n) for the naive list. One CPU, so purged areas
//! go back to the free tree (no per-node pools). Lazy purge: each vfree'd range waits on the lazy list; every
//! `lazy_max_pages()` (8192 pages = 2048 pairs here) a purge merges them back — amortised into the numbers.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kmem_sim::vmalloc::VM_IOREMAP;
use kmem_sim::{Machine, MachineConfig};

const PAGE: u64 = 4096;

fn machine_with_busy(n: usize) -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64().cpus(1).ram_mib(1024)).expect("boot");
    m.set_current("bench", 100);
    let mut v = Vec::with_capacity(2 * n);
    for _ in 0..2 * n {
        let a = m.get_vm_area(PAGE, VM_IOREMAP);
        assert_ne!(a, 0);
        v.push(a);
    }
    for a in v.iter().step_by(2) {
        m.vunmap(*a);
    }
    m.vm_unmap_aliases();
    assert_eq!(m.vmap_snapshot().busy.len(), n);
    m
}

/// The baseline: an address-sorted list of free ranges, first fit by linear scan, insert-and-merge on free.
struct NaiveFirstFit {
    free: Vec<(u64, u64)>,
}

impl NaiveFirstFit {
    fn new(start: u64, end: u64) -> Self {
        NaiveFirstFit {
            free: vec![(start, end)],
        }
    }

    fn alloc(&mut self, size: u64) -> Option<u64> {
        let i = self.free.iter().position(|&(s, e)| e - s >= size)?;
        let (s, e) = self.free[i];
        if e - s == size {
            self.free.remove(i);
        } else {
            self.free[i].0 = s + size;
        }
        Some(s)
    }

    fn free(&mut self, addr: u64, size: u64) {
        let i = self.free.partition_point(|&(s, _)| s < addr);
        let (mut s, mut e) = (addr, addr + size);
        let mut lo = i;
        let mut hi = i;
        if i > 0 && self.free[i - 1].1 == s {
            s = self.free[i - 1].0;
            lo = i - 1;
        }
        if i < self.free.len() && self.free[i].0 == e {
            e = self.free[i].1;
            hi = i + 1;
        }
        self.free.splice(lo..hi, [(s, e)]);
    }
}

fn naive_with_busy(n: usize) -> NaiveFirstFit {
    let base = 0xffff_c900_0000_0000u64;
    let mut l = NaiveFirstFit::new(base, base + (32u64 << 40));
    let v: Vec<u64> = (0..2 * n)
        .map(|_| l.alloc(2 * PAGE).expect("space"))
        .collect();
    for a in v.iter().step_by(2) {
        l.free(*a, 2 * PAGE);
    }
    l
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("vmalloc_vfree_pair");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(3));
    for n in [1_000usize, 10_000, 100_000] {
        let mut m = machine_with_busy(n);
        g.bench_with_input(BenchmarkId::new("vmalloc+vfree", n), &n, |b, _| {
            b.iter(|| {
                let a = m.vmalloc(3 * PAGE);
                assert_ne!(a, 0);
                m.vfree(a);
            })
        });
        g.bench_with_input(BenchmarkId::new("get_vm_area+vunmap", n), &n, |b, _| {
            b.iter(|| {
                let a = m.get_vm_area(3 * PAGE, 0);
                assert_ne!(a, 0);
                m.vunmap(a);
            })
        });
        m.vmap_check_invariants().expect("consistent after the run");
        let mut l = naive_with_busy(n);
        g.bench_with_input(BenchmarkId::new("naive_first_fit", n), &n, |b, _| {
            b.iter(|| {
                let a = l.alloc(4 * PAGE).expect("space");
                l.free(a, 4 * PAGE);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
