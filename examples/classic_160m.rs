//! The classic experiment on the classic machine: the `three_allocators` listing loaded on a 32-bit x86
//! kernel (3G/1G split) with 160 MiB of RAM, and where each allocation landed relative to the layout
//! of the kernel's address space: `PAGE_OFFSET`, `high_memory` and the vmalloc area 8 MiB above it.
//!
//! Run it with `cargo run --example classic_160m`.

use kmem_sim::MachineConfig;
use std::fmt::Write as _;

#[path = "../listings/ch02-address-space/three_allocators.rs"]
#[allow(dead_code)]
mod three_allocators;

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let run = kmem_runner::run(
        &three_allocators::__MODULE,
        MachineConfig::i386().ram_mib(160),
    );
    let l = run.machine.layout().clone();
    let mib = |a: u64| (a - l.page_offset) as f64 / (1 << 20) as f64;
    let mut out = String::new();
    writeln!(out, "32-bit x86, 160 MiB of RAM, 3G/1G split").unwrap();
    writeln!(out, "PAGE_OFFSET    {:#010x}  (3G)", l.page_offset).unwrap();
    writeln!(
        out,
        "high_memory    {:#010x}  (3G+{:.0}M: end of lowmem)",
        l.high_memory,
        mib(l.high_memory)
    )
    .unwrap();
    writeln!(
        out,
        "VMALLOC_START  {:#010x}  (3G+{:.0}M: high_memory + {} MiB)",
        l.vmalloc_start,
        mib(l.vmalloc_start),
        (l.vmalloc_start - l.high_memory) >> 20
    )
    .unwrap();
    writeln!(
        out,
        "VMALLOC_END    {:#010x}  (3G+{:.0}M)",
        l.vmalloc_end,
        mib(l.vmalloc_end)
    )
    .unwrap();
    writeln!(out).unwrap();
    for line in run.dmesg.lines() {
        writeln!(out, "{line}").unwrap();
    }
    writeln!(out).unwrap();
    for line in run.dmesg.lines() {
        let Some((call, value)) = line.split_once(" = ") else {
            continue;
        };
        let call = call.rsplit(": ").next().unwrap_or(call).trim();
        let Ok(addr) = u64::from_str_radix(value.trim().trim_start_matches("0x"), 16) else {
            continue;
        };
        let region = if addr >= l.page_offset && addr < l.high_memory {
            "lowmem (direct map)"
        } else if addr >= l.vmalloc_start && addr < l.vmalloc_end {
            "vmalloc area"
        } else {
            "elsewhere"
        };
        writeln!(out, "{call:<32} 3G+{:.1}M  {region}", mib(addr)).unwrap();
    }
    out
}

fn main() {
    print!("{}", report());
}
