//! mempool_alloc/mempool_free pairs: served by the element allocator (kmalloc, page pool) and served by the
//! reserve (failslab failing every slab allocation), beside plain kmalloc/kfree.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kmem_sim::{FaultConfig, Gfp, Machine, MachineConfig};

fn bench(c: &mut Criterion) {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("bench", 100);
    let kpool = m.mempool_create_kmalloc_pool(16, 256).unwrap();
    let ppool = m.mempool_create_page_pool(4, 0).unwrap();
    let mut g = c.benchmark_group("mempool");
    g.bench_function("kmalloc_kfree_256", |b| {
        b.iter(|| {
            let p = m.kmalloc(black_box(256), Gfp::GFP_KERNEL);
            m.kfree(p);
        })
    });
    g.bench_function("kmalloc_pool_from_allocator", |b| {
        b.iter(|| {
            let e = m.mempool_alloc(kpool, black_box(Gfp::GFP_KERNEL)).unwrap();
            m.mempool_free(e, kpool);
        })
    });
    g.bench_function("page_pool_from_allocator", |b| {
        b.iter(|| {
            let e = m.mempool_alloc(ppool, black_box(Gfp::GFP_KERNEL)).unwrap();
            m.mempool_free(e, ppool);
        })
    });
    m.set_failslab(Some(FaultConfig::default().probability(100).times(-1).verbose(0)), false, false);
    g.bench_function("kmalloc_pool_from_reserve", |b| {
        b.iter(|| {
            let e = m.mempool_alloc(kpool, black_box(Gfp::GFP_KERNEL)).unwrap();
            m.mempool_free(e, kpool);
        })
    });
    g.finish();
    m.set_failslab(None, true, false);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
