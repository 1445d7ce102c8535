//! The 32-bit x86 address space (3G/1G split) of the machines the address-space chapter's classic experiment runs on: where
//! lowmem ends (`high_memory`), where the vmalloc area begins 8 MiB above it and where it ends below the
//! persistent kmap area, at 160 MiB (all lowmem) and at 1536 MiB (lowmem up to about 880 MiB, the rest
//! highmem). `VMALLOC_END` and `PKMAP_BASE` depend on `CONFIG_NR_CPUS` (8 here, as in the real 32-bit kernel
//! `cargo xtask qemu --arch i386` builds): the fixmap below 4G holds 16 kmap slots per possible CPU.
//!
//! Run it with `cargo run --example i386_layout`.

use kmem_sim::{Machine, MachineConfig};
use std::fmt::Write as _;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut out = String::new();
    for mib in [160u64, 1536] {
        let m = Machine::boot(MachineConfig::i386().ram_mib(mib)).expect("the 32-bit machine boots");
        let l = m.layout().clone();
        let at = |a: u64| format!("3G+{:.0}M", (a - l.page_offset) as f64 / (1 << 20) as f64);
        writeln!(out, "32-bit x86, {mib} MiB of RAM, 3G/1G split, NR_CPUS=8").unwrap();
        writeln!(out, "  PAGE_OFFSET    {:#010x}  (3G)", l.page_offset).unwrap();
        writeln!(out, "  high_memory    {:#010x}  ({}: end of lowmem)", l.high_memory, at(l.high_memory)).unwrap();
        writeln!(out, "  VMALLOC_START  {:#010x}  ({}: high_memory + 8 MiB)", l.vmalloc_start, at(l.vmalloc_start))
            .unwrap();
        writeln!(out, "  VMALLOC_END    {:#010x}  ({})", l.vmalloc_end, at(l.vmalloc_end)).unwrap();
        writeln!(out, "  PKMAP_BASE     {:#010x}  ({})", l.pkmap_base, at(l.pkmap_base)).unwrap();
        let high = (l.max_pfn - l.max_low_pfn) << 12 >> 20;
        writeln!(out, "  highmem        {high} MiB above max_low_pfn {:#x}", l.max_low_pfn).unwrap();
    }
    out
}

fn main() {
    print!("{}", report());
}
