//! The GFP flags of Linux 6.12 (include/linux/gfp_types.h) with their values on x86_64, each printed
//! the way the kernel's `%#x(%pGg)` prints it (lib/vsprintf.c with the names of
//! include/trace/events/mmflags.h), and the zone `gfp_zone()` picks for each zone modifier.
//!
//! Run it with `cargo run --example gfp_table`.

use kmem_sim::{Gfp, ZoneType};
use std::fmt::Write as _;

/// The flags, in the order of include/linux/gfp_types.h.
const FLAGS: &[(&str, Gfp)] = &[
    ("__GFP_DMA", Gfp::__GFP_DMA),
    ("__GFP_HIGHMEM", Gfp::__GFP_HIGHMEM),
    ("__GFP_DMA32", Gfp::__GFP_DMA32),
    ("__GFP_MOVABLE", Gfp::__GFP_MOVABLE),
    ("__GFP_RECLAIMABLE", Gfp::__GFP_RECLAIMABLE),
    ("__GFP_HIGH", Gfp::__GFP_HIGH),
    ("__GFP_IO", Gfp::__GFP_IO),
    ("__GFP_FS", Gfp::__GFP_FS),
    ("__GFP_ZERO", Gfp::__GFP_ZERO),
    ("__GFP_DIRECT_RECLAIM", Gfp::__GFP_DIRECT_RECLAIM),
    ("__GFP_KSWAPD_RECLAIM", Gfp::__GFP_KSWAPD_RECLAIM),
    ("__GFP_WRITE", Gfp::__GFP_WRITE),
    ("__GFP_NOWARN", Gfp::__GFP_NOWARN),
    ("__GFP_RETRY_MAYFAIL", Gfp::__GFP_RETRY_MAYFAIL),
    ("__GFP_NOFAIL", Gfp::__GFP_NOFAIL),
    ("__GFP_NORETRY", Gfp::__GFP_NORETRY),
    ("__GFP_MEMALLOC", Gfp::__GFP_MEMALLOC),
    ("__GFP_COMP", Gfp::__GFP_COMP),
    ("__GFP_NOMEMALLOC", Gfp::__GFP_NOMEMALLOC),
    ("__GFP_HARDWALL", Gfp::__GFP_HARDWALL),
    ("__GFP_THISNODE", Gfp::__GFP_THISNODE),
    ("__GFP_ACCOUNT", Gfp::__GFP_ACCOUNT),
    ("__GFP_ZEROTAGS", Gfp::__GFP_ZEROTAGS),
    ("__GFP_RECLAIM", Gfp::__GFP_RECLAIM),
];

/// The composites, in the order of include/linux/gfp_types.h.
const COMPOSITES: &[(&str, Gfp)] = &[
    ("GFP_ATOMIC", Gfp::GFP_ATOMIC),
    ("GFP_KERNEL", Gfp::GFP_KERNEL),
    ("GFP_KERNEL_ACCOUNT", Gfp::GFP_KERNEL_ACCOUNT),
    ("GFP_NOWAIT", Gfp::GFP_NOWAIT),
    ("GFP_NOIO", Gfp::GFP_NOIO),
    ("GFP_NOFS", Gfp::GFP_NOFS),
    ("GFP_USER", Gfp::GFP_USER),
    ("GFP_DMA", Gfp::GFP_DMA),
    ("GFP_DMA32", Gfp::GFP_DMA32),
    ("GFP_HIGHUSER", Gfp::GFP_HIGHUSER),
    ("GFP_HIGHUSER_MOVABLE", Gfp::GFP_HIGHUSER_MOVABLE),
    ("GFP_TRANSHUGE_LIGHT", Gfp::GFP_TRANSHUGE_LIGHT),
    ("GFP_TRANSHUGE", Gfp::GFP_TRANSHUGE),
];

fn zone(gfp: Gfp, has_highmem: bool, has_dma32: bool) -> String {
    match gfp.gfp_zone(has_highmem, has_dma32) {
        Ok(z) => format!("ZONE_{}", zone_name(z)),
        Err(_) => "BUG (GFP_ZONE_BAD)".into(),
    }
}

fn zone_name(z: ZoneType) -> String {
    z.name().to_uppercase()
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut out = String::new();
    writeln!(out, "{:<22} {:>8}  %#x(%pGg)", "flag", "value").unwrap();
    for &(name, gfp) in FLAGS.iter().chain(COMPOSITES) {
        writeln!(out, "{name:<22} {:>#8x}  {gfp}", gfp.bits()).unwrap();
    }
    writeln!(out).unwrap();
    writeln!(out, "A mask the table cannot fully name keeps the rest as a number:").unwrap();
    for gfp in [
        Gfp::GFP_KERNEL | Gfp::__GFP_ZERO,
        Gfp::GFP_KERNEL | Gfp::__GFP_COMP | Gfp::__GFP_NOWARN,
        Gfp::GFP_ATOMIC | Gfp::__GFP_NOWARN,
        Gfp::GFP_KERNEL | Gfp::__GFP_DMA,
        Gfp::GFP_KERNEL | Gfp(0x200),
    ] {
        writeln!(out, "  {gfp}").unwrap();
    }
    writeln!(out).unwrap();
    writeln!(out, "gfp_zone(): the highest zone a request may use").unwrap();
    writeln!(out, "{:<30} {:<19} i386 (with highmem)", "zone modifiers", "x86_64").unwrap();
    let mods: &[(&str, Gfp)] = &[
        ("(none)", Gfp::NONE),
        ("__GFP_DMA", Gfp::__GFP_DMA),
        ("__GFP_DMA32", Gfp::__GFP_DMA32),
        ("__GFP_HIGHMEM", Gfp::__GFP_HIGHMEM),
        ("__GFP_MOVABLE", Gfp::__GFP_MOVABLE),
        ("__GFP_MOVABLE | __GFP_HIGHMEM", Gfp::__GFP_MOVABLE | Gfp::__GFP_HIGHMEM),
        ("__GFP_MOVABLE | __GFP_DMA32", Gfp::__GFP_MOVABLE | Gfp::__GFP_DMA32),
        ("__GFP_DMA | __GFP_DMA32", Gfp::__GFP_DMA | Gfp::__GFP_DMA32),
        ("__GFP_DMA | __GFP_HIGHMEM", Gfp::__GFP_DMA | Gfp::__GFP_HIGHMEM),
    ];
    for &(name, gfp) in mods {
        writeln!(out, "{name:<30} {:<19} {}", zone(gfp, false, true), zone(gfp, true, false)).unwrap();
    }
    out
}

fn main() {
    print!("{}", report());
}
