//! `Machine::boot()` of the book's machines: the calibrated 256 MiB x86_64 machine (the recorded real boot's
//! state replayed: reservations, slab objects, vmalloc areas, user pages, per-CPU lists), and the modelled
//! boot of the same machine, which computes the boot's allocations instead of replaying them; and the 32-bit
//! machines of the address-space chapter, each booted from its recorded real boot (160 MiB, 1536 MiB).
use criterion::{criterion_group, criterion_main, Criterion};
use kmem_sim::{Machine, MachineConfig};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("boot");
    g.bench_function("x86_64_256m_recorded", |b| b.iter(|| Machine::boot(MachineConfig::x86_64()).expect("boot")));
    g.bench_function("x86_64_256m_modelled", |b| {
        b.iter(|| Machine::boot(MachineConfig::x86_64().modelled_boot()).expect("boot"))
    });
    g.bench_function("i386_160m_recorded", |b| {
        b.iter(|| Machine::boot(MachineConfig::i386().ram_mib(160)).expect("boot"))
    });
    g.bench_function("i386_1536m_recorded", |b| {
        b.iter(|| Machine::boot(MachineConfig::i386().ram_mib(1536)).expect("boot"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
