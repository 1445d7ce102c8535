//! The kernel's address space as the simulator lays it out: x86_64 with 4-level paging (with and without
//! KASLR) and 32-bit x86 with the 3G/1G split at several RAM sizes, then one page's addresses through
//! `__pa()`, `__va()`, `virt_to_page()` and `page_address()`.
//!
//! Run it with `cargo run --example address_space`.

use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

fn boot(cfg: MachineConfig) -> Machine {
    Machine::boot(cfg).expect("the simulated machine boots")
}

fn x86_64(out: &mut String, title: &str, cfg: MachineConfig) {
    let m = boot(cfg);
    let l = m.layout();
    writeln!(out, "{title}").unwrap();
    writeln!(out, "  direct map (PAGE_OFFSET)    {:#018x}", l.page_offset).unwrap();
    writeln!(
        out,
        "  vmalloc area                {:#018x} - {:#018x} ({} TiB)",
        l.vmalloc_start,
        l.vmalloc_end,
        (l.vmalloc_end - l.vmalloc_start + 1) >> 40
    )
    .unwrap();
    writeln!(
        out,
        "  vmemmap (struct page array) {:#018x}",
        l.vmemmap_base
    )
    .unwrap();
    writeln!(
        out,
        "  kernel text mapping         {:#018x}",
        l.start_kernel_map
    )
    .unwrap();
    writeln!(
        out,
        "  modules                     {:#018x} - {:#018x}",
        l.modules_vaddr, l.modules_end
    )
    .unwrap();
    writeln!(
        out,
        "  high_memory                 {:#018x} (all {} MiB of RAM are direct-mapped)",
        l.high_memory,
        (l.max_pfn << 12) >> 20
    )
    .unwrap();
    writeln!(out).unwrap();
}

fn i386(out: &mut String, ram_mib: u64) {
    let m = boot(MachineConfig::i386().ram_mib(ram_mib));
    let l = m.layout();
    let lowmem = (l.max_low_pfn << 12) >> 20;
    let highmem = ((l.max_pfn - l.max_low_pfn) << 12) >> 20;
    writeln!(
        out,
        "32-bit x86, {ram_mib} MiB of RAM: lowmem {lowmem} MiB, highmem {highmem} MiB"
    )
    .unwrap();
    writeln!(out, "  PAGE_OFFSET    {:#010x}", l.page_offset).unwrap();
    writeln!(out, "  high_memory    {:#010x}", l.high_memory).unwrap();
    writeln!(
        out,
        "  VMALLOC_START  {:#010x} (high_memory + {} MiB)",
        l.vmalloc_start,
        (l.vmalloc_start - l.high_memory) >> 20
    )
    .unwrap();
    writeln!(out, "  VMALLOC_END    {:#010x}", l.vmalloc_end).unwrap();
    writeln!(out, "  PKMAP_BASE     {:#010x}", l.pkmap_base).unwrap();
    writeln!(out, "  FIXADDR_START  {:#010x}", l.fixaddr_start).unwrap();
    writeln!(out).unwrap();
}

fn one_page(out: &mut String) {
    let mut m = boot(MachineConfig::x86_64());
    let addr = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    let pfn = m
        .virt_to_page(addr)
        .expect("a direct-map address has a page");
    let phys = m.__pa(addr);
    writeln!(
        out,
        "One page from __get_free_pages(GFP_KERNEL, 0) on the x86_64 machine:"
    )
    .unwrap();
    writeln!(out, "  virtual address      {addr:#x}").unwrap();
    writeln!(out, "  __pa(addr)           {phys:#x} = addr - PAGE_OFFSET").unwrap();
    writeln!(out, "  __va(__pa(addr))     {:#x}", m.__va(phys)).unwrap();
    writeln!(
        out,
        "  pfn                  {:#x} = phys >> PAGE_SHIFT",
        pfn.0
    )
    .unwrap();
    writeln!(
        out,
        "  virt_to_page(addr)   {:#x} = vmemmap + pfn * sizeof(struct page)",
        m.page_struct_addr(pfn)
    )
    .unwrap();
    writeln!(out, "  page_address(page)   {:#x}", m.page_address(pfn)).unwrap();
    m.free_pages(addr, 0);
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut out = String::new();
    x86_64(
        &mut out,
        "x86_64, 4-level paging, booted with nokaslr (the book's VM):",
        MachineConfig::x86_64(),
    );
    x86_64(
        &mut out,
        "x86_64, KASLR (seed 1):",
        MachineConfig::x86_64().kaslr(1),
    );
    x86_64(
        &mut out,
        "x86_64, KASLR (seed 2):",
        MachineConfig::x86_64().kaslr(2),
    );
    for ram in [160, 2048] {
        i386(&mut out, ram);
    }
    one_page(&mut out);
    out
}

fn main() {
    print!("{}", report());
}
