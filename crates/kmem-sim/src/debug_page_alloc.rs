//! Page allocation debugging: mm/debug_page_alloc.c (`debug_pagealloc=`), the hooks mm/page_alloc.c calls
//! (`debug_pagealloc_unmap_pages()` in `free_pages_prepare()`, `debug_pagealloc_map_pages()` in
//! `post_alloc_hook()`), and what x86 does for them: `__kernel_map_pages()` (arch/x86/mm/pat/set_memory.c)
//! clears or sets `_PAGE_PRESENT` and `_PAGE_RW` in the direct map's PTE of each page, and, because a 2 MiB or
//! 1 GiB mapping cannot lose one page, `probe_page_size_mask()` (arch/x86/mm/init.c) builds the direct map
//! of 4 KiB pages only when the option is on.
//!
//! The book's kernel has `CONFIG_DEBUG_PAGEALLOC=y` with `CONFIG_DEBUG_PAGEALLOC_ENABLE_DEFAULT` off, so it
//! is off unless the command line says `debug_pagealloc=on` (any value `kstrtobool()` reads as true). On:
//!
//! - every page the page allocator holds free is absent from the direct map: from `memblock_free_all()` on
//!   (`__free_pages_core()` frees through `free_pages_prepare()` too), and each time a page is freed, before
//!   it reaches a per-CPU list; `post_alloc_hook()` maps it again when it is handed out. Module code that reads
//!   or writes a free page faults at once (`BUG: unable to handle page fault`, `not-present page`), where it
//!   would otherwise read the page's next owner's data, or corrupt it;
//! - `free_init_pages()` does not free the memory the boot no longer needs (the initramfs, the SMP
//!   alternatives, the kernel image's init sections and gaps) but unmaps it (`debug: unmapping init [mem
//!   …]`), so that a late access to init code or data faults; that memory stays reserved;
//! - the direct map needs a PTE page for every 2 MiB it maps;
//! - oops headers say `DEBUG_PAGEALLOC` (`__die_header()`).
//!
//! The simulator gives module code a direct map of its own ([`crate::hostmem::HostMem::separate_direct_map`])
//! and takes the pages out of it with `mprotect()`, so the fault is the host's, turned into the kernel's report
//! as every fault of module code is (crate `kernel`'s `__sim::task`). Not modelled: `debug_guardpage_minorder=`
//! (guard pages at buddy splits), and the slab allocator's and vmalloc's extra care under the option
//! (`get_freepointer_safe()` reading through `copy_from_kernel_nofault()`, `vm_unmap_aliases()` on every
//! free), which change no output.

#![forbid(unsafe_code)]

use crate::machine::Machine;

/// What the simulator keeps for `debug_pagealloc`.
#[derive(Clone, Debug, Default)]
pub(crate) struct DebugPageAlloc {
    /// `debug_pagealloc_enabled()`: the command line turned it on.
    enabled: bool,
    /// Frames whose direct-map PTE is not present, one bit each (only while enabled).
    unmapped: Vec<u64>,
}

/// `kstrtobool()` (lib/kstrtox.c): `y`, `Y`, `t`, `T`, `1`, `on` (any case) are true; `n`, `N`, `f`, `F`, `0`,
/// `off` are false; only the first one or two characters count. `None` for anything else (`-EINVAL`).
///
/// Context: any.
pub fn kstrtobool(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    match b.first()? {
        b'y' | b'Y' | b't' | b'T' | b'1' => Some(true),
        b'n' | b'N' | b'f' | b'F' | b'0' => Some(false),
        b'o' | b'O' => match b.get(1)? {
            b'n' | b'N' => Some(true),
            b'f' | b'F' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// `early_debug_pagealloc()` over a command line: each `debug_pagealloc=<bool>` in turn (a value
/// `kstrtobool()` rejects, or a bare `debug_pagealloc`, leaves the setting alone), starting from
/// `CONFIG_DEBUG_PAGEALLOC_ENABLE_DEFAULT` (off in the book's kernel).
///
/// Context: any.
pub fn debug_pagealloc_from_cmdline(cmdline: &str) -> bool {
    let mut on = false;
    for w in cmdline.split_whitespace() {
        if let Some(v) = w.strip_prefix("debug_pagealloc=") {
            if let Some(b) = kstrtobool(v) {
                on = b;
            }
        }
    }
    on
}

impl Machine {
    /// `debug_pagealloc_enabled()`.
    ///
    /// Context: any.
    pub fn debug_pagealloc_enabled(&self) -> bool {
        self.debug_pagealloc.enabled
    }

    /// `mem_debugging_and_hardening_init()`'s part for the option: reads the command line and, when it is on,
    /// gives module code a direct map from which pages can be removed. Prints nothing (the kernel does not).
    ///
    /// Context: boot, before any page is freed to the page allocator.
    pub(crate) fn debug_pagealloc_init(&mut self) {
        if !debug_pagealloc_from_cmdline(&self.cfg.cmdline) {
            return;
        }
        if self.mem.separate_direct_map().is_err() {
            // The host refused a second mapping: the option then changes nothing the module can see, and the
            // simulator says so rather than pretending.
            self.printk(crate::printk::LogLevel::Warning, "kmem-sim: debug_pagealloc: no host mapping for it\n");
            return;
        }
        self.debug_pagealloc.enabled = true;
        self.debug_pagealloc.unmapped = vec![0; (self.layout.max_pfn as usize).div_ceil(64)];
    }

    /// `debug_pagealloc_map_pages(page, n)` → `__kernel_map_pages(page, n, 1)`: the frames' direct-map PTEs
    /// present again. Nothing for frames outside the direct map (highmem) or with the option off.
    ///
    /// Context: any.
    pub(crate) fn debug_pagealloc_map_pages(&mut self, pfn: u64, n: u64) {
        self.set_direct_map_present(pfn, n, true);
    }

    /// `debug_pagealloc_unmap_pages(page, n)` → `__kernel_map_pages(page, n, 0)`: the frames' direct-map PTEs
    /// not present (`set_pages_np()`'s `_PAGE_PRESENT | _PAGE_RW` cleared).
    ///
    /// Context: any.
    pub(crate) fn debug_pagealloc_unmap_pages(&mut self, pfn: u64, n: u64) {
        self.set_direct_map_present(pfn, n, false);
    }

    fn set_direct_map_present(&mut self, pfn: u64, n: u64, present: bool) {
        if !self.debug_pagealloc.enabled {
            return;
        }
        let end = (pfn + n).min(self.layout.max_low_pfn);
        if pfn >= end {
            return;
        }
        // The simulator's own accesses use a mapping of their own; a failure here only leaves module code able to
        // touch the page, as without the option.
        let _ = self.mem.set_direct_map_present(pfn, end - pfn, present);
        let bits = &mut self.debug_pagealloc.unmapped;
        for p in pfn..end {
            let (w, b) = ((p / 64) as usize, p % 64);
            if present {
                bits[w] &= !(1 << b);
            } else {
                bits[w] |= 1 << b;
            }
        }
    }

    /// Whether the direct map's PTE for `pfn` is present: always, unless `debug_pagealloc` removed it.
    ///
    /// Context: any.
    pub fn direct_map_present(&self, pfn: u64) -> bool {
        let bits = &self.debug_pagealloc.unmapped;
        bits.get((pfn / 64) as usize).is_none_or(|w| w & (1 << (pfn % 64)) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstrtobool_reads_what_the_kernel_reads() {
        for s in ["1", "y", "Yes", "t", "on", "ON", "oN"] {
            assert_eq!(kstrtobool(s), Some(true), "{s}");
        }
        for s in ["0", "n", "No", "f", "off", "OFF"] {
            assert_eq!(kstrtobool(s), Some(false), "{s}");
        }
        for s in ["", "o", "2", "enable", "x"] {
            assert_eq!(kstrtobool(s), None, "{s}");
        }
    }

    #[test]
    fn the_last_valid_word_wins() {
        assert!(!debug_pagealloc_from_cmdline("console=ttyS0"));
        assert!(debug_pagealloc_from_cmdline("debug_pagealloc=on"));
        assert!(!debug_pagealloc_from_cmdline("debug_pagealloc=on debug_pagealloc=0"));
        assert!(debug_pagealloc_from_cmdline("debug_pagealloc=1 debug_pagealloc=bogus debug_pagealloc"));
    }
}
