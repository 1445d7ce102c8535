//! Where vmalloc pages come from on a machine with memory above 4 GiB (the book's x86_64 machine with
//! 6 GiB instead of 256 MiB): `vmalloc()` asks for `GFP_KERNEL | __GFP_HIGHMEM` and gets `ZONE_NORMAL`
//! pages, `vmalloc_32()` asks for `GFP_DMA32 | GFP_KERNEL` and gets `ZONE_DMA32` pages, below 4 GiB.
//!
//! Run it with `cargo run --example vmalloc_zones`.

use kmem_sim::{Machine, MachineConfig};
use std::fmt::Write as _;

const SIZE: u64 = 4 * 4096;

/// The name of the zone holding `pfn`.
fn zone_of(m: &Machine, pfn: u64) -> &'static str {
    m.zones()
        .iter()
        .find(|z| z.spanned_pages > 0 && (z.zone_start_pfn..z.zone_start_pfn + z.spanned_pages).contains(&pfn))
        .map_or("?", |z| z.zone_type.name())
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64().ram_mib(6 * 1024)).expect("the simulated machine boots");
    let mut out = String::new();
    for z in m.zones() {
        if z.spanned_pages > 0 {
            let (s, e) = (z.zone_start_pfn, z.zone_start_pfn + z.spanned_pages);
            writeln!(out, "zone {:<7} pfns {s:#x}-{e:#x}", z.zone_type.name()).unwrap();
        }
    }
    let v = m.vmalloc(SIZE);
    let v32 = m.vmalloc_32(SIZE);
    for (name, addr) in [("vmalloc", v), ("vmalloc_32", v32)] {
        write!(out, "{name}(16384) = {addr:#x}:").unwrap();
        for i in 0..SIZE / 4096 {
            let pfn = m.vmalloc_to_pfn(addr + i * 4096).expect("mapped");
            write!(out, " {pfn:#x} ({})", zone_of(&m, pfn)).unwrap();
        }
        writeln!(out).unwrap();
    }
    m.vfree(v);
    m.vfree(v32);
    out
}

fn main() {
    print!("{}", report());
}
