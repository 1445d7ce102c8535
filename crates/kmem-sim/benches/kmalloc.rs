//! kmalloc/kfree pairs on the simulator (debugging off and `slab_debug=FZPU`) beside the host's malloc/free.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use kmem_sim::{Gfp, Machine, MachineConfig};

fn bench(c: &mut Criterion) {
    let mut plain = Machine::boot(MachineConfig::x86_64()).unwrap();
    let mut debug = Machine::boot(MachineConfig::x86_64().slab_debug("FZPU")).unwrap();
    for m in [&mut plain, &mut debug] {
        m.set_current("bench", 100);
    }
    let mut g = c.benchmark_group("kmalloc_kfree");
    for size in [16u64, 256, 4096] {
        g.bench_function(format!("sim_{size}"), |b| {
            b.iter(|| {
                let p = plain.kmalloc(black_box(size), Gfp::GFP_KERNEL);
                plain.kfree(p);
            })
        });
        g.bench_function(format!("sim_debug_{size}"), |b| {
            b.iter(|| {
                let p = debug.kmalloc(black_box(size), Gfp::GFP_KERNEL);
                debug.kfree(p);
            })
        });
        g.bench_function(format!("host_{size}"), |b| {
            b.iter(|| {
                // SAFETY-free: std::alloc through a Vec of the size.
                let v: Vec<u8> = Vec::with_capacity(black_box(size as usize));
                black_box(v.as_ptr());
                drop(v);
            })
        });
    }
    g.finish();

    // kmem_cache_alloc/kmem_cache_free pairs on a module-style cache (64-byte objects), plain and with
    // SLAB_RED_ZONE|SLAB_POISON|SLAB_STORE_USER.
    let mut g = c.benchmark_group("kmem_cache_alloc_free");
    use kmem_sim::slab_common::{SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER};
    for (name, flags) in [("plain", SLAB_HWCACHE_ALIGN), ("debug", SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER)] {
        let s = plain.kmem_cache_create(&format!("bench_{name}"), 64, 0, flags, None).expect("cache");
        g.bench_function(name, |b| {
            b.iter(|| {
                let p = plain.kmem_cache_alloc(s, Gfp::GFP_KERNEL);
                plain.kmem_cache_free(s, black_box(p));
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
