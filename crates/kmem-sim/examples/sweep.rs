//! Boots machines of many sizes and checks the allocator after a quick alloc/free round (a smoke test).
use kmem_sim::{Gfp, Machine, MachineConfig};

fn main() {
    let mut cfgs = Vec::new();
    for mib in [
        32u64, 48, 64, 100, 160, 256, 1000, 2048, 3583, 3584, 4096, 6000,
    ] {
        cfgs.push(
            MachineConfig::x86_64()
                .ram_mib(mib)
                .cpus(1 + (mib % 7) as u32),
        );
    }
    for mib in [32u64, 64, 160, 512, 880, 900, 1024, 2048, 3072] {
        cfgs.push(MachineConfig::i386().ram_mib(mib));
    }
    cfgs.push(MachineConfig::x86_64().cpus(64).kaslr(3));
    for cfg in cfgs {
        let label = format!("{:?} {} MiB {} cpus", cfg.arch, cfg.ram_mib, cfg.cpus);
        let mut m = match Machine::boot(cfg) {
            Ok(m) => m,
            Err(e) => {
                println!("{label}: boot error: {e}");
                continue;
            }
        };
        m.set_current("sweep", 9);
        let mut v = Vec::new();
        for o in [0u32, 1, 2, 3, 4, 5, 9, 10] {
            for g in [
                Gfp::GFP_KERNEL,
                Gfp::GFP_DMA,
                Gfp::GFP_DMA32,
                Gfp::GFP_HIGHUSER_MOVABLE,
                Gfp::GFP_ATOMIC,
            ] {
                if let Some(p) = m.alloc_pages(g | Gfp::__GFP_NOWARN, o) {
                    v.push((p, o));
                }
            }
        }
        let n = v.len();
        for (p, o) in v {
            m.__free_pages(p, o);
        }
        println!(
            "{label}: ok={} allocs={n} free={} total={} reserved={} min_free_kbytes={} first_line={:?}",
            m.check_consistency().is_ok(),
            m.nr_free_pages(),
            m.total_pages(),
            m.nr_reserved_pages(),
            m.min_free_kbytes(),
            m.proc_buddyinfo().lines().last().unwrap_or("")
        );
    }
}
