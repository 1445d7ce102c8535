//! Benchmark: alloc/free per order on the default x86_64 machine.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kmem_sim::{Gfp, Machine, MachineConfig};

fn bench_alloc_free(c: &mut Criterion) {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("boot");
    m.set_current("bench", 100);
    let mut g = c.benchmark_group("alloc_free");
    for order in [0u32, 3, 9, 10] {
        g.bench_with_input(BenchmarkId::from_parameter(order), &order, |b, &order| {
            b.iter(|| {
                let p = m.alloc_pages(Gfp::GFP_KERNEL, order).expect("alloc");
                m.__free_pages(p, order);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_alloc_free);
criterion_main!(benches);
