//! Page tables: arch/x86/mm/pgtable.c (`pgd_alloc()`), mm/memory.c (`__pmd_alloc()`, `__pte_alloc_kernel()`),
//! arch/x86/mm/init_64.c (`preallocate_vmalloc_pages()`), and the walk a page-fault report prints,
//! arch/x86/mm/fault.c `dump_pagetable()`.
//!
//! The simulator keeps which page-table pages exist and where they are, not their 512 entries: a PTE
//! page per 2 MiB that was ever mapped (4 MiB on non-PAE i386), a PMD page per 1 GiB, a PUD page per
//! 512 GiB. That is what decides the walk's output and what page tables cost.
//!
//! - **Kernel (`init_mm`).** `mem_init()` preallocates the PUD pages of the whole vmalloc area (4-level
//!   x86_64: the P4D level is folded, so the pages `pud_alloc()` gives every PGD entry of the range),
//!   so that every process's PGD, which copies the kernel half, sees later vmalloc mappings.
//!   `vmap_pages_range()` allocates the PMD and PTE pages it needs on the way down (`vmap_pmd_range()` →
//!   `pmd_alloc_track()`, `vmap_pte_range()` → `pte_alloc_kernel_track()`), with `GFP_PGTABLE_KERNEL`.
//!   `vunmap_range_noflush()` clears PTEs and never frees a page-table page: once the vmalloc area has
//!   reached a 2 MiB range, it keeps its PTE page.
//! - **A user process.** `pgd_alloc()` gives it a PGD page whose kernel half is the kernel's; faulting in
//!   its text, heap and stack allocated the PUD, PMD and PTE pages below them (`GFP_PGTABLE_USER`, counted
//!   in `NR_PAGETABLE`, `PageTables:` of `/proc/meminfo`); `exit_mmap()` and `pgd_free()` free them all.
//!
//! An entry points to the next level with `_PAGE_TABLE` (present, writable, user, accessed, dirty:
//! `0x067`); a PTE of a vmalloc page is the frame with `PAGE_KERNEL` (`0x163` and NX).

use std::collections::BTreeMap;

use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::{PageOwner, Pfn};

/// `_PAGE_TABLE`: `_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY`.
pub const PAGE_TABLE: u64 = 0x067;
/// `__PAGE_KERNEL` flags of a present PTE on x86_64 (`_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED |
/// _PAGE_DIRTY | _PAGE_GLOBAL`, and `_PAGE_NX`).
pub const PAGE_KERNEL_PTE: u64 = 0x8000_0000_0000_0163;
/// i386 `_PAGE_KERNEL` PTE flags (no NX without PAE).
const PAGE_KERNEL_PTE_32: u64 = 0x163;

/// What `__set_pages_np()` leaves of a direct-map PTE: `_PAGE_NX | _PAGE_ACCESSED` (it clears `_PAGE_PRESENT`,
/// `_PAGE_RW` and `_PAGE_DIRTY`; `pgprot_clear_protnone_bits()` clears `_PAGE_GLOBAL`, which would mean
/// PROT_NONE in a PTE that is not present).
pub const DIRECT_MAP_NP_PTE_FLAGS: u64 = 0x8000_0000_0000_0020;
/// `PTE_PFN_MASK` with the 52 physical address bits of x86_64 (`__PHYSICAL_MASK_SHIFT`).
const PTE_PFN_MASK: u64 = ((1 << 52) - 1) & !0xfff;
/// `INIT_PGD_PAGE_COUNT` (arch/x86/mm/init.c, 4-level paging, no `CONFIG_RANDOMIZE_MEMORY`): the table pages
/// `early_alloc_pgt_buf()` reserves in the brk area for `init_mem_mapping()`, before memblock can give any.
pub const INIT_PGD_PAGE_COUNT: u64 = 6;

const PGDIR_SHIFT: u32 = 39;
const PUD_SHIFT: u32 = 30;
const PMD_SHIFT: u32 = 21;
/// Non-PAE i386: two levels, a page directory entry maps 4 MiB.
const PGDIR_SHIFT_32: u32 = 22;
/// The 48 address bits of 4-level paging.
const VA_MASK: u64 = (1 << 48) - 1;

/// The page-table pages of one address space, by the part of the address that selects them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tables {
    /// The PGD page (`mm->pgd`), physical address; what `CR3` holds while the address space is current.
    pub pgd: u64,
    /// PUD pages by `addr >> 39` (x86_64).
    pub pud: BTreeMap<u64, u64>,
    /// PMD pages by `addr >> 30` (x86_64).
    pub pmd: BTreeMap<u64, u64>,
    /// PTE pages by `addr >> 21` (x86_64), `addr >> 22` (i386).
    pub pte: BTreeMap<u64, u64>,
}

impl Tables {
    fn pages(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.pgd)
            .chain(self.pud.values().copied())
            .chain(self.pmd.values().copied())
            .chain(self.pte.values().copied())
    }
}

/// Page-table state of the machine.
#[derive(Clone, Debug, Default)]
pub(crate) struct PageTableState {
    /// `init_mm`'s tables (the kernel half every process shares).
    pub kernel: Tables,
    /// User address spaces by the pid of the task that owns them.
    pub user: BTreeMap<u32, Tables>,
}

/// Which half of the address space `addr` is in: the kernel's (`fault_in_kernel_space()`:
/// `addr >= TASK_SIZE_MAX`), or a process's.
pub(crate) fn is_kernel_half(arch: Arch, addr: u64) -> bool {
    match arch {
        Arch::X86_64 => addr >= 0x0000_7fff_ffff_f000,
        Arch::I386 => addr >= 0xc000_0000,
    }
}

impl Machine {
    /// A zeroed page for a page table (`pagetable_alloc(GFP_PGTABLE_KERNEL/USER, 0)`); `None` when the page
    /// allocator has none. Its physical address.
    fn pagetable_alloc(&mut self, user: bool) -> Option<u64> {
        let gfp = if user { Gfp::GFP_KERNEL_ACCOUNT | Gfp::__GFP_ZERO } else { Gfp::GFP_KERNEL | Gfp::__GFP_ZERO };
        let p = self.alloc_pages(gfp, 0)?;
        self.set_page_owner(p, 0, PageOwner::PageTable);
        if user {
            self.vmstat.pagetables += 1;
        }
        Some(p.0 << 12)
    }

    /// `mem_init()` → `preallocate_vmalloc_pages()`, and `init_mm`'s PGD, the image's `init_top_pgt`
    /// (`swapper_pg_dir` on i386). x86_64: one PUD page for every PGD entry of the vmalloc area.
    ///
    /// Context: boot, after the buddy allocator has the memory.
    pub(crate) fn preallocate_vmalloc_pages(&mut self) {
        let pgd = crate::kallsyms::Symbols::kernel(self.layout.arch)
            .layout("init_top_pgt")
            .filter(|_| self.recording().is_some())
            .map(|a| a - self.layout.start_kernel_map)
            // Without the build's symbols: the image's first page (it is loaded at 16 MiB).
            .unwrap_or(16 << 20);
        self.pgtable.kernel.pgd = pgd;
        if self.layout.arch != Arch::X86_64 {
            return;
        }
        let (start, end) = (self.layout.vmalloc_start, self.layout.vmalloc_end);
        let mut addr = start;
        while addr <= end {
            let key = (addr & VA_MASK) >> PGDIR_SHIFT;
            if !self.pgtable.kernel.pud.contains_key(&key) {
                match self.pagetable_alloc(false) {
                    Some(p) => {
                        self.pgtable.kernel.pud.insert(key, p);
                    }
                    None => {
                        self.kernel_panic("Failed to pre-allocate pud pages for vmalloc area");
                        return;
                    }
                }
            }
            addr = (addr | ((1 << PGDIR_SHIFT) - 1)).wrapping_add(1);
            if addr == 0 {
                break;
            }
        }
    }

    /// The page-table pages `[start, end)` of the kernel half needs before `vmap_pages_range()` can set its
    /// PTEs: `pmd_alloc_track()` and `pte_alloc_kernel_track()` of mm/vmalloc.c. False when a page could not
    /// be allocated (`vmap_range_noflush()` returns `-ENOMEM`).
    ///
    /// Context: process context (the caller's GFP allows what `GFP_PGTABLE_KERNEL` does).
    pub(crate) fn pgtable_populate_kernel(&mut self, start: u64, end: u64) -> bool {
        if end <= start {
            return true;
        }
        match self.layout.arch {
            Arch::X86_64 => {
                let mut a = start & !((1 << PMD_SHIFT) - 1);
                while a < end {
                    let (pud_key, pmd_key, pte_key) =
                        ((a & VA_MASK) >> PGDIR_SHIFT, (a & VA_MASK) >> PUD_SHIFT, (a & VA_MASK) >> PMD_SHIFT);
                    if !self.pgtable.kernel.pud.contains_key(&pud_key) {
                        // Outside the preallocated vmalloc range (e.g. the module area): pud_alloc().
                        let Some(p) = self.pagetable_alloc(false) else { return false };
                        self.pgtable.kernel.pud.insert(pud_key, p);
                    }
                    if !self.pgtable.kernel.pmd.contains_key(&pmd_key) {
                        let Some(p) = self.pagetable_alloc(false) else { return false };
                        self.pgtable.kernel.pmd.insert(pmd_key, p);
                    }
                    if !self.pgtable.kernel.pte.contains_key(&pte_key) {
                        let Some(p) = self.pagetable_alloc(false) else { return false };
                        self.pgtable.kernel.pte.insert(pte_key, p);
                    }
                    a += 1 << PMD_SHIFT;
                }
            }
            Arch::I386 => {
                let mut a = start & !((1 << PGDIR_SHIFT_32) - 1);
                while a < end {
                    let key = a >> PGDIR_SHIFT_32;
                    if !self.pgtable.kernel.pte.contains_key(&key) {
                        let Some(p) = self.pagetable_alloc(false) else { return false };
                        self.pgtable.kernel.pte.insert(key, p);
                    }
                    a += 1 << PGDIR_SHIFT_32;
                }
            }
        }
        true
    }

    /// `pgd_alloc()` for the current task and the tables below the user ranges `ranges` (`[start, end)`
    /// pairs) it has touched: what `execve()` of a static binary and its first page faults leave. Replaces
    /// an address space the task had. False when the page allocator had no page (the task then has none).
    ///
    /// Context: process context.
    pub fn mm_populate_user(&mut self, ranges: &[(u64, u64)]) -> bool {
        let pid = self.current().pid;
        self.mm_release_user(pid);
        let Some(pgd) = self.pagetable_alloc(true) else { return false };
        let mut t = Tables { pgd, ..Default::default() };
        for &(s, e) in ranges {
            let mut a = s & !((1 << PMD_SHIFT) - 1);
            while a < e {
                let keys = match self.layout.arch {
                    Arch::X86_64 => [Some(a >> PGDIR_SHIFT), Some(a >> PUD_SHIFT), Some(a >> PMD_SHIFT)],
                    Arch::I386 => [None, None, Some(a >> PGDIR_SHIFT_32)],
                };
                for (level, key) in keys.into_iter().enumerate() {
                    let Some(key) = key else { continue };
                    let map = match level {
                        0 => &t.pud,
                        1 => &t.pmd,
                        _ => &t.pte,
                    };
                    if map.contains_key(&key) {
                        continue;
                    }
                    let Some(p) = self.pagetable_alloc(true) else {
                        self.pgtable.user.insert(pid, t);
                        return false;
                    };
                    match level {
                        0 => t.pud.insert(key, p),
                        1 => t.pmd.insert(key, p),
                        _ => t.pte.insert(key, p),
                    };
                }
                a += 1 << PMD_SHIFT;
            }
        }
        self.pgtable.user.insert(pid, t);
        true
    }

    /// `exit_mmap()` and `pgd_free()`: task `pid`'s page-table pages go back to the page allocator.
    ///
    /// Context: process context (the task exits).
    pub fn mm_release_user(&mut self, pid: u32) {
        let Some(t) = self.pgtable.user.remove(&pid) else { return };
        for phys in t.pages().collect::<Vec<_>>() {
            self.vmstat.pagetables = self.vmstat.pagetables.saturating_sub(1);
            self.__free_pages(Pfn(phys >> 12), 0);
        }
    }

    /// `CR3` of the current task: its address space's PGD, or `init_mm`'s for a kernel thread.
    ///
    /// Context: any.
    pub(crate) fn cr3(&self) -> u64 {
        self.pgtable.user.get(&self.current().pid).map(|t| t.pgd).unwrap_or(self.pgtable.kernel.pgd)
    }

    /// The page-table pages of the direct map built of 4 KiB pages (`debug_pagealloc`): what
    /// `kernel_physical_mapping_init()` allocates for the frame ranges `mapped` — a PUD page per 512 GiB, a PMD page
    /// per GiB and a PTE page per 2 MiB — taken in turn from `pages` (physical addresses), into `init_mm`'s tables.
    ///
    /// Context: boot.
    pub(crate) fn direct_map_tables_4k(&mut self, mapped: &[(u64, u64)], pages: &mut impl Iterator<Item = u64>) {
        if self.layout.arch != Arch::X86_64 {
            return;
        }
        let base = self.layout.page_offset & VA_MASK;
        let t = &mut self.pgtable.kernel;
        for &(s, e) in mapped {
            for pfn in (s..e).step_by(512) {
                let a = base + (pfn << PAGE_SHIFT);
                for (map, key) in
                    [(&mut t.pud, a >> PGDIR_SHIFT), (&mut t.pmd, a >> PUD_SHIFT), (&mut t.pte, a >> PMD_SHIFT)]
                {
                    if let std::collections::btree_map::Entry::Vacant(slot) = map.entry(key) {
                        if let Some(p) = pages.next() {
                            slot.insert(p);
                        }
                    }
                }
            }
        }
    }

    /// The PTE of kernel address `addr` as the hardware sees it: the frame with its flags, or 0.
    fn kernel_pte_val(&self, addr: u64) -> u64 {
        if self.layout.arch == Arch::X86_64 && self.layout.is_direct_map_addr(addr) {
            // A direct-map page: only a page that debug_pagealloc took out can fault. pfn_pte() stores the frame of
            // an entry that is not present inverted (pte_needs_invert(), the L1TF mitigation).
            let pfn = self.__pa(addr) >> PAGE_SHIFT;
            return match self.direct_map_present(pfn) {
                true => (pfn << PAGE_SHIFT) | PAGE_KERNEL_PTE,
                false => ((pfn << PAGE_SHIFT) ^ PTE_PFN_MASK) & PTE_PFN_MASK | DIRECT_MAP_NP_PTE_FLAGS,
            };
        }
        match self.vmalloc_to_page(addr) {
            Some(p) => match self.layout.arch {
                Arch::X86_64 => (p.0 << 12) | PAGE_KERNEL_PTE,
                Arch::I386 => (p.0 << 12) | PAGE_KERNEL_PTE_32,
            },
            None => 0,
        }
    }

    /// Whether `address` is in the 512 GiB the vmemmap's PGD entry covers.
    fn in_vmemmap_slot(&self, address: u64) -> bool {
        let base = self.layout.vmemmap_base;
        address >= base && address - base < (1 << PGDIR_SHIFT)
    }

    /// The walk of an address in the vmemmap's slot. `vmemmap_populate()` mapped the `struct page` array at
    /// boot with 2 MiB pages: a PUD page for the slot, a PMD page per GiB of the array, and leaf PMD entries
    /// for the array itself; an address beyond it (a `struct page` that arithmetic made up) walks to `PMD 0`,
    /// as the real kernel's reports show. The table pages came from memblock at boot; their addresses, which
    /// the simulator does not know and the comparison masks, are stood in for by pages after the PGD's.
    fn dump_vmemmap_walk(&self, address: u64) -> String {
        let off = address - self.layout.vmemmap_base;
        let memmap = self.layout.max_pfn * self.layout.struct_page_size;
        let table = |k: u64| (self.pgtable.kernel.pgd + 0x1000 * (1 + k)) | PAGE_TABLE;
        let pgd = table(0);
        let mut s = format!("PGD {pgd:x} P4D {pgd:x} ");
        let gib = off >> PUD_SHIFT;
        if gib > (memmap.saturating_sub(1) >> PUD_SHIFT) {
            return s + "PUD 0 ";
        }
        s += &format!("PUD {:x} ", table(1 + gib));
        if off < memmap.next_multiple_of(1 << PMD_SHIFT) {
            // A leaf entry maps the array there, so no access faults and no report walks to it.
            return s;
        }
        s + "PMD 0 "
    }

    /// `dump_pagetable(address)`: the entries of the current task's page tables on the way to `address`,
    /// as the page-fault report prints them (`PGD … P4D … PUD … PMD … PTE …`, stopping after the first
    /// entry that is not present; each entry but the PTE is followed by a space).
    ///
    /// Context: any.
    pub(crate) fn dump_pagetable(&self, address: u64) -> String {
        let arch = self.layout.arch;
        let kernel = is_kernel_half(arch, address);
        let empty = Tables::default();
        let t =
            if kernel { &self.pgtable.kernel } else { self.pgtable.user.get(&self.current().pid).unwrap_or(&empty) };
        let entry = |v: Option<&u64>| v.map(|p| p | PAGE_TABLE).unwrap_or(0);
        match arch {
            Arch::X86_64 if kernel && self.in_vmemmap_slot(address) => self.dump_vmemmap_walk(address),
            Arch::X86_64 => {
                let a = address & VA_MASK;
                let pgd = entry(t.pud.get(&(a >> PGDIR_SHIFT)));
                let mut s = format!("PGD {pgd:x} ");
                // 4-level paging: the P4D level is the PGD entry itself, and pgd_present() is always true
                // (the real check is p4d_present()), so the P4D entry is printed even when it is 0.
                s += &format!("P4D {pgd:x} ");
                if pgd == 0 {
                    return s;
                }
                let pud = entry(t.pmd.get(&(a >> PUD_SHIFT)));
                s += &format!("PUD {pud:x} ");
                if pud == 0 {
                    return s;
                }
                let pmd = entry(t.pte.get(&(a >> PMD_SHIFT)));
                s += &format!("PMD {pmd:x} ");
                if pmd == 0 {
                    return s;
                }
                let pte = if kernel { self.kernel_pte_val(address) } else { 0 };
                s + &format!("PTE {pte:x}")
            }
            Arch::I386 => {
                // The 32-bit dump_pagetable(): `*pde = %08lx ` and, when present, `*pte = %08lx `.
                let pde = entry(t.pte.get(&(address >> PGDIR_SHIFT_32)));
                let mut s = format!("*pde = {pde:08x} ");
                if pde != 0 {
                    let pte = if kernel { self.kernel_pte_val(address) } else { 0 };
                    s += &format!("*pte = {pte:08x} ");
                }
                s
            }
        }
    }
}
