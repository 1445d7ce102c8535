//! ioremap: arch/x86/mm/ioremap.c of Linux 6.12.117 (`__ioremap_caller()`, `ioremap()`, `ioremap_wc()`,
//! `ioremap_cache()`, `iounmap()`), with the parts of arch/x86/mm/pat/memtype.c and kernel/resource.c it
//! calls (and `page_is_ram()`, which reads the same resources).
//!
//! # Model
//! - **The RAM check.** `__ioremap_check_mem()` walks the busy memory resources that overlap the request;
//!   for a `System RAM` one, `__ioremap_check_ram()` looks at the whole pages of the *overlap*
//!   (`find_next_iomem_res()` hands it the resource clipped to the request) and refuses the request
//!   (`WARN_ONCE(1, "ioremap on RAM at %pa - %pa\n")`, NULL) if one of them is valid and not
//!   `PageReserved`. The `System RAM` resources are the e820 table's usable ranges after the kernel's own
//!   update (`e820__reserve_resources()`): page 0 is reserved, the first range ends at 0x9fbff.
//! - **The mapping.** The request is widened to whole pages; `get_vm_area_caller(size, VM_IOREMAP,
//!   caller)` reserves an area aligned to its size's power of two (up to `IOREMAP_MAX_ORDER`) with a guard
//!   page, records `phys_addr` (shown as `phys=` and `ioremap` in `/proc/vmallocinfo`), and
//!   `ioremap_page_range()` fills page tables; the returned address keeps the offset into the first page.
//!   The caller is `__builtin_return_address(0)` of the exported entry point.
//! - **Caching.** The book's kernel has no `CONFIG_X86_PAT`: `memtype_reserve()` grants every request as
//!   asked and `memtype_free()` does nothing, so `ioremap()`, `ioremap_wc()` and `ioremap_cache()` differ
//!   only in the cache bits of their PTEs, which the simulator does not keep.
//! - **`iounmap()`** of an address outside the vmalloc area `WARN_ON_ONCE`s; of an address no area has it
//!   prints `iounmap: bad address` and a stack dump; otherwise the area is removed as `vunmap()` removes
//!   one and its `vm_struct` freed.
//!
//! Not modelled: device registers — a physical range that is not RAM has nothing behind it in the
//! simulator, so module code that reads or writes such a mapping faults where the real kernel talks to the
//! device; `memtype_kernel_map_sync()`'s change of the direct map's cache mode for RAM pages that pass the
//! check (reserved pages, or a range smaller than a page); `iomem_map_sanity_check()` (the simulator has no
//! resource tree beyond System RAM); huge (PMD/PUD) ioremap mappings: page tables are filled to the PTE
//! level.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::{pg, Pfn};
use crate::printk::LogLevel;
use crate::vmalloc::VM_IOREMAP;

const PAGE_SIZE: u64 = 4096;
const IOREMAP_C: &str = "arch/x86/mm/ioremap.c";
// Line numbers in Debian's 6.12.117 arch/x86/mm/ioremap.c.
const LINE_INVALID_PHYS: u32 = 207;
const LINE_ON_RAM: u32 = 218;
const LINE_IOUNMAP_NOT_IOREMAP: u32 = 461;

/// `boot_cpu_data.x86_phys_bits` of the book's QEMU CPU (its e820 table reaches 0xffffffffff).
const X86_PHYS_BITS: u32 = 40;

/// The caching an ioremap variant asks for (`enum page_cache_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageCacheMode {
    /// `_PAGE_CACHE_MODE_UC_MINUS` (`ioremap()`).
    UcMinus,
    /// `_PAGE_CACHE_MODE_WC` (`ioremap_wc()`).
    Wc,
    /// `_PAGE_CACHE_MODE_WB` (`ioremap_cache()`).
    Wb,
}

impl Machine {
    /// The `System RAM` resources, `[start, end]` in bytes: the e820 usable ranges after the kernel's update
    /// of page 0 (`e820__reserve_resources()`).
    fn system_ram_resources(&self) -> Vec<(u64, u64)> {
        let ram_bytes = self.cfg.ram_mib << 20;
        let below = if ram_bytes >= 0xe000_0000 { 0xc000_0000 } else { ram_bytes };
        let mut v = vec![(0x1000, 0x9fbff), (0x10_0000, below - 0x20001)];
        if ram_bytes > below {
            v.push((0x1_0000_0000, 0x1_0000_0000 + (ram_bytes - below) - 1));
        }
        v
    }

    /// `__ioremap_check_mem()`'s `IORES_MAP_SYSTEM_RAM`: whether `[start, end]` overlaps System RAM in at
    /// least one whole page that is valid and not `PageReserved`.
    fn ioremap_is_system_ram(&self, start: u64, end: u64) -> bool {
        for (rs, re) in self.system_ram_resources() {
            if rs > end || re < start {
                continue;
            }
            // __ioremap_check_ram() of the resource clipped to the request.
            let (s, e) = (rs.max(start), re.min(end));
            let start_pfn = (s + PAGE_SIZE - 1) >> PAGE_SHIFT;
            let stop_pfn = (e + 1) >> PAGE_SHIFT;
            for pfn in start_pfn..stop_pfn {
                if self.pfn_valid(Pfn(pfn)) && !self.pages[pfn as usize].test(pg::PG_RESERVED) {
                    return true;
                }
            }
        }
        false
    }

    /// `page_is_ram(pfn)` (kernel/resource.c): whether the page lies wholly inside a `System RAM` resource
    /// (`walk_system_ram_range()` rounds each resource inwards to whole pages).
    ///
    /// Context: any.
    pub fn page_is_ram(&self, pfn: u64) -> bool {
        self.system_ram_resources().iter().any(|&(s, e)| {
            let (start_pfn, end_pfn) = ((s + PAGE_SIZE - 1) >> PAGE_SHIFT, (e + 1) >> PAGE_SHIFT);
            (start_pfn..end_pfn).contains(&pfn)
        })
    }

    /// `phys_addr_valid()`: below `1 << x86_phys_bits` (always with a 32-bit `phys_addr_t`).
    fn phys_addr_valid(&self, phys: u64) -> bool {
        match self.layout.arch {
            Arch::X86_64 => phys >> X86_PHYS_BITS == 0,
            Arch::I386 => true,
        }
    }

    /// `__ioremap_caller(phys_addr, size, pcm, caller, false)`: see the module documentation. Returns the
    /// address (with `phys_addr`'s offset into its page) or 0.
    fn __ioremap_caller(
        &mut self,
        phys: u64,
        size: u64,
        pcm: PageCacheMode,
        caller: Option<crate::panic::Frame>,
    ) -> u64 {
        let _ = pcm;
        let last = phys.wrapping_add(size).wrapping_sub(1);
        if size == 0 || last < phys {
            return 0;
        }
        if !self.phys_addr_valid(phys) {
            self.printk(LogLevel::Warning, &format!("ioremap: invalid physical address {phys:x}\n"));
            self.warn_once(IOREMAP_C, LINE_INVALID_PHYS, None);
            return 0;
        }
        if self.ioremap_is_system_ram(phys, last) {
            let w = if self.layout.arch == Arch::X86_64 { 16 } else { 8 };
            let msg = format!("ioremap on RAM at 0x{phys:0w$x} - 0x{last:0w$x}\n");
            self.warn_once(IOREMAP_C, LINE_ON_RAM, Some(&msg));
            return 0;
        }
        let offset = phys & (PAGE_SIZE - 1);
        let phys = phys & !(PAGE_SIZE - 1);
        let size = ((last + 1 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)) - phys;
        // memtype_reserve(): without CONFIG_X86_PAT the requested type is granted.
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        let Some(addr) = self.get_vm_area_ioremap(size, phys, s, e, caller) else {
            return 0;
        };
        // ioremap_page_range(): the page tables; the PTEs point at the physical range.
        let pfns: Vec<Pfn> = (0..size / PAGE_SIZE).map(|i| Pfn((phys >> PAGE_SHIFT) + i)).collect();
        if !self.vmap_pages_range(addr, &pfns) {
            self.free_vm_area(addr);
            return 0;
        }
        addr + offset
    }

    /// `ioremap(phys_addr, size)`: maps device memory uncached (`_PAGE_CACHE_MODE_UC_MINUS`) into the vmalloc
    /// area. Returns the address or 0 (a zero or wrapping size, an invalid physical address, RAM in use).
    ///
    /// Context: process context, may sleep.
    pub fn ioremap(&mut self, phys: u64, size: u64) -> u64 {
        self.ioremap_entry("ioremap", phys, size, PageCacheMode::UcMinus)
    }

    /// `ioremap_wc(phys_addr, size)`: as [`Machine::ioremap`], write-combining.
    ///
    /// Context: process context, may sleep.
    pub fn ioremap_wc(&mut self, phys: u64, size: u64) -> u64 {
        self.ioremap_entry("ioremap_wc", phys, size, PageCacheMode::Wc)
    }

    /// `ioremap_cache(phys_addr, size)`: as [`Machine::ioremap`], write-back.
    ///
    /// Context: process context, may sleep.
    pub fn ioremap_cache(&mut self, phys: u64, size: u64) -> u64 {
        self.ioremap_entry("ioremap_cache", phys, size, PageCacheMode::Wb)
    }

    fn ioremap_entry(&mut self, entry: &'static str, phys: u64, size: u64, pcm: PageCacheMode) -> u64 {
        let caller = (!self.stack.frames.is_empty()).then(|| self.caller_frame_of(entry));
        let depth = self.stack.frames.len();
        self.push_kframe(entry);
        self.push_kframe("__ioremap_caller");
        let r = self.__ioremap_caller(phys, size, pcm, caller);
        self.stack.frames.truncate(depth);
        r
    }

    /// `iounmap(addr)`: removes an `ioremap()` mapping (see the module documentation).
    ///
    /// Context: process context, may sleep.
    pub fn iounmap(&mut self, addr: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("iounmap");
        self.iounmap_inner(addr);
        self.stack.frames.truncate(depth);
    }

    fn iounmap_inner(&mut self, addr: u64) {
        if !self.is_vmalloc_addr(addr) {
            self.warn_once(IOREMAP_C, LINE_IOUNMAP_NOT_IOREMAP, None);
            return;
        }
        let addr = addr & !(PAGE_SIZE - 1);
        if self.find_vm_area(addr).is_none() {
            let msg = format!("iounmap: bad address {}\n", self.fmt_p(addr));
            self.printk(LogLevel::Err, &msg);
            self.dump_stack();
            return;
        }
        // memtype_free(): nothing without CONFIG_X86_PAT. remove_vm_area(), kfree(p).
        self.free_vm_area(addr);
    }

    /// `get_vm_area_caller(size, VM_IOREMAP, caller)` in `[start, end)` with `area->phys_addr = phys`.
    fn get_vm_area_ioremap(
        &mut self,
        size: u64,
        phys: u64,
        start: u64,
        end: u64,
        caller: Option<crate::panic::Frame>,
    ) -> Option<u64> {
        self.get_vm_area_phys(size, VM_IOREMAP, phys, start, end, Gfp::GFP_KERNEL, caller)
    }
}
