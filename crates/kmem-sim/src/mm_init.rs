//! Boot-time memory setup (mm/mm_init.c, mm/memblock.c, arch/x86/kernel/setup.c, arch/x86/mm/init*.c):
//! the e820 map, memblock reservations, zones, the memmap, freeing memory to the buddy allocator, watermarks.
//!
//! # Where the numbers come from
//! The physical map is QEMU's i440FX machine with SeaBIOS, as a `-m <ram>` guest sees it in its e820 table:
//! usable 0x0-0x9fbff (the kernel trims page 0 to reserved), a hole up to 1 MiB (EBDA, VGA, option ROMs),
//! usable from 1 MiB to 128 KiB below the top of RAM below 4 GiB (SeaBIOS keeps those 128 KiB), and RAM beyond
//! 3 GiB mapped above 4 GiB when the guest has 3.5 GiB or more.
//!
//! memblock reservations made before the buddy allocator takes over (a `nokaslr` boot, bottom-up for the
//! fixed ones, top-down from the end of usable low memory for the allocated ones, as memblock does by default):
//! - the first 1 MiB (`reserve_real_mode()`: x86 always reserves it since 5.13);
//! - the kernel image at `CONFIG_PHYSICAL_START` = 16 MiB, [`crate::MachineConfig::kernel_image_kib`] long
//!   (default 12 MiB for x86_64, 8 MiB for i386: text+data+init+bss of the book's small config; a Debian
//!   kernel is about 40 MiB);
//! - page tables for the direct map (`alloc_low_pages`): 2 pages + 1 per GiB;
//! - x86_64: the vmemmap, 2 MiB (a PMD-mapped block) per 128 MiB memory section, allocated as one
//!   2 MiB-aligned buffer (`sparse_buffer_init`); i386 (FLATMEM): `mem_map`, 32 bytes per page frame,
//!   cache-line aligned, below `max_low_pfn`;
//! - the per-cpu first chunk (`pcpu_embed_first_chunk`): 176 KiB per CPU (the unused part of each unit is given
//!   back, as the kernel does);
//! - the dentry and inode hash tables (`alloc_large_system_hash`, "linear"): 8-byte buckets,
//!   roundup_pow_of_two(lowmem pages / 2) and (lowmem pages / 4) entries.
//!
//! Then `memblock_free_all()` frees every unreserved range in ascending order, in the largest aligned chunks
//! (`__free_pages_memory`), each with `FPI_TO_TAIL` so a fresh machine hands out its lowest addresses first.
//! On i386, highmem pages are freed one by one afterwards (`set_highmem_pages_init`). All pageblocks start as
//! MIGRATE_MOVABLE (`memmap_init_range`). Watermarks are computed (`init_per_zone_wmark_min`), then the
//! kernel's own boot-time page allocations are simulated ([`crate::MachineConfig::boot_alloc_kib`], a fixed
//! mix of orders 0-3, two thirds unmovable), then the init sections of the image are freed page by page
//! (`free_initmem`, [`crate::MachineConfig::kernel_init_kib`]).

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::{e820_usable, Arch, Machine, PAGE_SHIFT};
use crate::page::{pg, PageFrame, PageOwner};
use crate::printk::{LogLevel, BOOT_END_NS};
use crate::sched::SystemState;
use crate::zone::{MigrateType, Zone, ZoneType, MAX_NR_ZONES, MAX_PAGE_ORDER};

const MIB_PFNS: u64 = 256;

/// A simple memblock: reserved pfn ranges.
#[derive(Default, Debug, Clone)]
struct Memblock {
    usable: Vec<(u64, u64)>,
    reserved: Vec<(u64, u64)>,
}

impl Memblock {
    fn is_reserved(&self, s: u64, e: u64) -> bool {
        self.reserved.iter().any(|&(a, b)| a < e && s < b)
    }
    fn reserve(&mut self, s: u64, e: u64) {
        if s < e {
            self.reserved.push((s, e));
        }
    }
    /// Top-down allocation below `limit` (pfn), size and alignment in pfns.
    fn alloc_top_down(&mut self, npages: u64, align: u64, limit: u64) -> Option<u64> {
        let mut ranges = self.usable.clone();
        ranges.sort();
        for &(s, e) in ranges.iter().rev() {
            let e = e.min(limit);
            if e <= s || e - s < npages {
                continue;
            }
            let mut cand = (e - npages) / align * align;
            while cand >= s {
                if !self.is_reserved(cand, cand + npages) {
                    self.reserve(cand, cand + npages);
                    return Some(cand);
                }
                // step below the conflicting reservation
                let lowest_conflict = self
                    .reserved
                    .iter()
                    .filter(|&&(a, b)| a < cand + npages && cand < b)
                    .map(|&(a, _)| a)
                    .min()
                    .unwrap_or(cand);
                if lowest_conflict < npages {
                    break;
                }
                let next = (lowest_conflict - npages) / align * align;
                if next >= cand {
                    break;
                }
                cand = next;
            }
        }
        None
    }
    /// Present (usable) pages inside the reserved ranges (overlaps counted once).
    fn reserved_present(&self) -> u64 {
        let mut res = self.reserved.clone();
        res.sort();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (a, b) in res {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged
            .iter()
            .map(|&(a, b)| self.usable.iter().map(|&(s, e)| e.min(b).saturating_sub(s.max(a))).sum::<u64>())
            .sum()
    }

    /// Free (usable and unreserved) ranges in ascending order, clipped to `[0, limit)`.
    fn free_ranges(&self, limit: u64) -> Vec<(u64, u64)> {
        let mut res = self.reserved.clone();
        res.sort();
        let mut out = Vec::new();
        let mut usable = self.usable.clone();
        usable.sort();
        for &(s, e) in &usable {
            let e = e.min(limit);
            let mut cur = s;
            for &(a, b) in &res {
                if b <= cur || a >= e {
                    continue;
                }
                if a > cur {
                    out.push((cur, a.min(e)));
                }
                cur = cur.max(b);
                if cur >= e {
                    break;
                }
            }
            if cur < e {
                out.push((cur, e));
            }
        }
        out
    }
}

fn roundup_pow2(x: u64) -> u64 {
    x.max(1).next_power_of_two()
}

fn int_sqrt(x: u64) -> u64 {
    let mut r = (x as f64).sqrt() as u64;
    while r * r > x {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= x {
        r += 1;
    }
    r
}

impl Machine {
    pub(crate) fn mm_init(&mut self) {
        let arch = self.cfg.arch;
        let max_pfn = self.layout.max_pfn;
        let max_low = self.layout.max_low_pfn;
        let usable = e820_usable(self.cfg.ram_mib << 20);
        let mut mb = Memblock { usable: usable.clone(), reserved: Vec::new() };
        // mm_core_init() → mem_debugging_and_hardening_init(): debug_pagealloc= is known before any page is freed.
        self.debug_pagealloc_init();

        // ---- zones
        let types: [ZoneType; MAX_NR_ZONES] = match arch {
            Arch::X86_64 => [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable],
            Arch::I386 => [ZoneType::Dma, ZoneType::Normal, ZoneType::HighMem, ZoneType::Movable],
        };
        let bounds: [(u64, u64); MAX_NR_ZONES] = match arch {
            Arch::X86_64 => [(0, 4096), (4096, 1 << 20), (1 << 20, u64::MAX), (0, 0)],
            Arch::I386 => [(0, 4096), (4096, max_low), (max_low, u64::MAX), (0, 0)],
        };
        self.zones = types.iter().enumerate().map(|(i, &t)| Zone::new(t, i)).collect();
        self.pages = vec![PageFrame::default(); max_pfn as usize];
        for (i, &(lo, hi)) in bounds.iter().enumerate() {
            let hi = hi.min(max_pfn);
            let present: Vec<(u64, u64)> = usable
                .iter()
                .filter_map(|&(s, e)| {
                    let (s, e) = (s.max(lo), e.min(hi));
                    (s < e).then_some((s, e))
                })
                .collect();
            let Some(first) = present.first() else {
                continue;
            };
            let z = &mut self.zones[i];
            z.zone_start_pfn = first.0;
            z.spanned_pages = present.last().unwrap().1 - first.0;
            z.present_pages = present.iter().map(|(s, e)| e - s).sum();
        }
        // memmap_init: every frame gets its zone; present ones start reserved with refcount 1 (they become
        // free when memblock_free_all hands them over), holes stay reserved.
        for (i, z) in self.zones.clone().iter().enumerate() {
            if !z.populated() {
                continue;
            }
            for pfn in z.zone_start_pfn..z.zone_end_pfn() {
                let f = &mut self.pages[pfn as usize];
                f.zone = i as u8;
            }
        }
        for f in self.pages.iter_mut() {
            f.set(pg::PG_RESERVED);
            f.refcount = 1;
        }
        for &(s, e) in &usable {
            for pfn in s..e.min(max_pfn) {
                self.pages[pfn as usize].set_owner(PageOwner::Reserved);
            }
        }
        // memmap_init_range(): a pageblock gets MIGRATE_MOVABLE when the zone's initialisation reaches its first
        // pfn; every other pageblock keeps the zeroed default, MIGRATE_UNMOVABLE. The DMA zone starts at pfn 1
        // (page 0 is reserved), so its first pageblock stays unmovable.
        let pb = self.pageblock_order();
        self.alloc.pageblock_mt = vec![MigrateType::Unmovable as u8; (max_pfn >> pb) as usize + 1];
        for z in self.zones.iter().filter(|z| z.populated()) {
            let first = z.zone_start_pfn.div_ceil(1 << pb);
            for block in first..=((z.zone_end_pfn() - 1) >> pb) {
                self.alloc.pageblock_mt[block as usize] = MigrateType::Movable as u8;
            }
        }

        // ---- memblock reservations
        mb.reserve(0, MIB_PFNS); // reserve_real_mode(): the first 1 MiB
        let recording = self.recording();
        let recorded = recording.is_some();
        let real = recording.unwrap_or(&crate::qemu_boot::X86_64_256M).boot();
        let ksyms = crate::kallsyms::Symbols::kernel(arch);
        // __pa_symbol() of a kernel-image symbol (nokaslr: phys_base 0), as a pfn.
        let kernel_map = self.layout.start_kernel_map;
        let image_pfn = |name: &str| ksyms.layout(name).map(|a| (a - kernel_map) >> PAGE_SHIFT);
        let kstart = 16 * MIB_PFNS;
        let kpages = match (recorded, image_pfn("_text"), image_pfn("__end_of_kernel_reserve")) {
            // setup_arch(): memblock_reserve(__pa_symbol(_text), __end_of_kernel_reserve - _text).
            (true, Some(t), Some(e)) if t == kstart => e - t,
            _ => self.cfg.kernel_image_kib.div_ceil(4),
        };
        mb.reserve(kstart, kstart + kpages);
        // The initramfs QEMU loaded for this boot (reserve_initrd(): from its first page to PAGE_ALIGN() of its end)
        // and NODE_DATA (alloc_node_data()), the first memblock allocation, right below it when it was so in the
        // recorded boot (memblock allocates top-down).
        let initrd = match self.cfg.initrd {
            Some((first, last)) if recorded => (first >> PAGE_SHIFT, (last + 1).div_ceil(1 << PAGE_SHIFT)),
            _ => real.initrd,
        };
        let node_data = if real.node_data.1 == real.initrd.0 {
            let n = real.node_data.1 - real.node_data.0;
            (initrd.0 - n, initrd.0)
        } else {
            real.node_data
        };
        if recorded {
            mb.reserve(initrd.0, initrd.1);
            mb.reserve(node_data.0, node_data.1);
        }
        let limit = max_low; // memblock.current_limit for early allocations
        let ram_gib = (self.cfg.ram_mib).div_ceil(1024);
        mb.alloc_top_down(2 + ram_gib, 1, limit); // direct-map page tables
        match arch {
            Arch::X86_64 => {
                let sections = max_pfn.div_ceil(32768); // 128 MiB sections
                mb.alloc_top_down(sections * 512, 512, limit); // 2 MiB of struct page per section
            }
            Arch::I386 => {
                // FLATMEM mem_map from pfn 0 aligned down/up to MAX_ORDER_NR_PAGES; 32 bytes per page.
                let span = max_pfn.div_ceil(1 << MAX_PAGE_ORDER) << MAX_PAGE_ORDER;
                let bytes = span * 32;
                if let Some(p) = mb.alloc_top_down(bytes.div_ceil(4096), 1, limit) {
                    self.layout.vmemmap_base = self.layout.page_offset + (p << PAGE_SHIFT);
                }
            }
        }
        // per-cpu first chunk (pcpu_embed_first_chunk()): one allocation of all units, atom-aligned (2 MiB on
        // x86_64, a page on i386); each unit keeps the static, reserved and dynamic sizes (the recorded boot's
        // `pcpu-alloc: sS rR dD` line) and gives the rest of its unit size back.
        let (s_size, r_size, d_size) = if recorded && real.percpu_sizes.0 > 0 {
            real.percpu_sizes
        } else {
            crate::percpu::modelled_first_chunk_sizes(arch)
        };
        let cpus = self.cfg.cpus.max(1) as u64;
        let atom = if arch == Arch::X86_64 { 512 } else { 1 };
        let (unit_size, upa) = crate::percpu::pcpu_build_alloc_info(s_size, r_size, d_size, atom << PAGE_SHIFT, cpus);
        let unit_pages = unit_size >> PAGE_SHIFT;
        let kept = (s_size + r_size + d_size).div_ceil(4096);
        let nr_units = cpus.div_ceil(upa) * upa;
        if let Some(base) = mb.alloc_top_down(nr_units * unit_pages, atom, limit) {
            mb.reserved.pop();
            for u in 0..cpus {
                mb.reserve(base + u * unit_pages, base + u * unit_pages + kept);
            }
            self.pcpu_setup_first_chunk(crate::page::Pfn(base), s_size, r_size, d_size);
        }
        // large system hashes (dentry: scale 13, inode: scale 14), 8-byte buckets (4 on i386)
        let lowmem_pages: u64 = usable.iter().map(|&(s, e)| e.min(max_low).saturating_sub(s)).sum();
        let bucket = if arch == Arch::X86_64 { 8 } else { 4 };
        let dentry = roundup_pow2(lowmem_pages >> 1) * bucket;
        let inode = roundup_pow2(lowmem_pages >> 2) * bucket;
        mb.alloc_top_down(dentry.div_ceil(4096), 1, limit);
        mb.alloc_top_down(inode.div_ceil(4096), 1, limit);
        if recorded {
            // The rest of what the real boot kept in memblock (firmware tables, the real-mode trampoline,
            // setup_data, early page tables, memblock's arrays): the real count minus the modelled ones
            // (crate::qemu_boot). The SMP alternatives were still reserved at memblock_free_all().
            // This boot's initramfs was reserved then too: its pages beyond the recorded boot's count.
            let kept = (real.reserved_at_mem_init_kib + real.smp_alternatives_kib) / 4 + (initrd.1 - initrd.0)
                - (real.initrd.1 - real.initrd.0);
            let modelled = mb.reserved_present();
            if kept > modelled {
                mb.alloc_top_down(kept - modelled, 1, limit);
            }
        }

        // ---- init_mem_mapping() with debug_pagealloc: probe_page_size_mask() allows no large page, so each 2 MiB
        // of the direct map needs a PTE page (split_mem_range() otherwise maps with 4 KiB pages only the parts of
        // a range that do not fill a 2 MiB page). alloc_low_pages() takes table pages from the brk's pgt_buf
        // (INIT_PGD_PAGE_COUNT pages, reserved with the kernel image however many are used; the calibrated
        // boot's tables fit in it) and then from memblock: those come on top of the calibrated reservations.
        if self.debug_pagealloc_enabled() && arch == Arch::X86_64 {
            use crate::pgtable::INIT_PGD_PAGE_COUNT;
            // init_memory_mapping(0, ISA_END_ADDRESS), then each memory range above it.
            let mut mapped = vec![(0, MIB_PFNS)];
            for &(s, e) in &usable {
                let s = s.max(MIB_PFNS);
                match mapped.last_mut() {
                    Some(last) if last.1 == s => last.1 = e,
                    _ if s < e => mapped.push((s, e)),
                    _ => {}
                }
            }
            // Distinct blocks of 2^shift frames the ranges touch (all of each range, or only where it does not
            // fill a block: its unaligned ends).
            let blocks = |shift: u32, only_partial: bool| -> u64 {
                let mut set = std::collections::BTreeSet::new();
                for &(s, e) in &mapped {
                    if !only_partial {
                        set.extend((s >> shift)..=((e - 1) >> shift));
                        continue;
                    }
                    let mask = (1u64 << shift) - 1;
                    if s & mask != 0 {
                        set.insert(s >> shift);
                    }
                    if e & mask != 0 {
                        set.insert((e - 1) >> shift);
                    }
                }
                set.len() as u64
            };
            // A PUD page per 512 GiB and a PMD page per GiB either way; PTE pages per 2 MiB.
            let upper = blocks(27, false) + blocks(18, false);
            let from_memblock = |ptes: u64| (upper + ptes).saturating_sub(INIT_PGD_PAGE_COUNT);
            let extra = from_memblock(blocks(9, false)) - from_memblock(blocks(9, true));
            let brk = ksyms.layout("__brk_base").map(|a| (a - kernel_map) >> PAGE_SHIFT).unwrap_or(kstart + kpages);
            let memblock = mb.alloc_top_down(extra, 1, limit).unwrap_or(0);
            // The pgt_buf pages follow the brk's first page (where the recorded boot's walk found them).
            let mut pages =
                (1..=INIT_PGD_PAGE_COUNT).map(|i| brk + i).chain(memblock..memblock + extra).map(|p| p << PAGE_SHIFT);
            self.direct_map_tables_4k(&mapped, &mut pages);
        }

        // ---- mem_init() → pci_iommu_alloc() → swiotlb_init(): a bounce-buffer pool for `swiotlb=force`
        // (swiotlb.rs). memblock_alloc_low() takes the buffers top-down below 4 GiB, memblock_alloc() the slot
        // array below them; the areas' 64 bytes (SMP_CACHE_BYTES-aligned) fit in the partly used page memblock's
        // earlier small allocations ended in, so they take no page of their own.
        if let Some(b) = self.swiotlb_boot_size() {
            let low_limit = limit.min(1 << (32 - PAGE_SHIFT));
            if let Some(tlb) = mb.alloc_top_down(b.tlb_pages, 1, low_limit) {
                mb.alloc_top_down(b.slot_pages, 1, limit);
                self.swiotlb_init_pool(tlb << PAGE_SHIFT, b);
            }
        }

        // ---- memblock_free_all(): lowmem in aligned chunks with FPI_TO_TAIL
        for (s, e) in mb.free_ranges(max_low) {
            let mut start = s;
            while start < e {
                let mut order = if start == 0 { MAX_PAGE_ORDER } else { start.trailing_zeros().min(MAX_PAGE_ORDER) };
                while start + (1 << order) > e {
                    order -= 1;
                }
                self.boot_free_range(start, order, true);
                start += 1 << order;
            }
        }
        // highmem (i386): page by page
        if max_pfn > max_low {
            for (s, e) in mb.free_ranges(max_pfn) {
                for pfn in s.max(max_low)..e {
                    self.boot_free_range(pfn, 0, false);
                }
            }
        }

        // ---- mem_init() → preallocate_vmalloc_pages(): the vmalloc area's upper page-table levels.
        self.preallocate_vmalloc_pages();

        // ---- alternative_instructions(): on SMP the SMP-lock alternatives are freed before the initcalls.
        if recorded {
            if let (Some(a), Some(b)) = (image_pfn("__smp_locks"), image_pfn("__smp_locks_end")) {
                self.free_init_pages("SMP alternatives", kernel_map + (a << PAGE_SHIFT), a, b);
            }
        }

        // ---- watermarks and lowmem reserves (init_per_zone_wmark_min(), a postcore initcall)
        self.setup_per_zone_wmarks();
        self.setup_per_zone_lowmem_reserve();

        // ---- boot log (a few of the lines a real boot prints about memory)
        self.boot_log(&mb);

        // ---- kmem_cache_init(): the slab allocator and the kmalloc caches
        let slab_cfg = self.cfg.slab.clone();
        self.kmem_cache_init(slab_cfg);
        // mm_core_init(): vmalloc_init() follows kmem_cache_init().
        self.vmalloc_init();

        // ---- the kernel's own page allocations during boot
        if recorded {
            self.replay_boot_caches();
            self.replay_boot_vmalloc();
            if real.dma_debug {
                self.dma_debug_init();
            }
            self.replay_boot_user_pages();
            self.replay_boot_slab_objects();
        } else {
            self.boot_allocations();
        }
        // ---- slab_late_init() (a late initcall): /sys/kernel/slab and /sys/kernel/debug/slab.
        self.slab_late_init();

        if recorded {
            // populate_rootfs(): the initramfs, once unpacked, is freed (free_initrd_mem()).
            let (a, b) = initrd;
            self.free_init_pages("initrd", self.__va(a << PAGE_SHIFT), a, b);
        }
        // ---- free_initmem(): the init sections, then (x86_64) the gap between rodata and data
        // (mark_rodata_ro() → free_kernel_image_pages()).
        let (init_start, init_pages) = match (recorded, image_pfn("__init_begin"), image_pfn("__init_end")) {
            (true, Some(a), Some(b)) => (a, b - a),
            _ => {
                // placed before the last eighth of the image, i.e. before bss
                let n = self.cfg.kernel_init_kib.div_ceil(4).min(kpages / 2);
                (kstart + kpages - kpages / 8 - n, n)
            }
        };
        let image = |pfn: u64| kernel_map + (pfn << PAGE_SHIFT);
        self.free_init_pages("unused kernel image (initmem)", image(init_start), init_start, init_start + init_pages);
        if let (true, Some(a), Some(b)) = (recorded, image_pfn("__end_rodata"), image_pfn("_sdata")) {
            // x86_64's mark_rodata_ro() frees the gap between rodata and data; i386's image has none.
            self.free_init_pages("unused kernel image (rodata/data gap)", image(a), a, b);
        }
        if recorded {
            self.replay_boot_remainder();
            self.replay_boot_pcp();
        }
        self.printk(LogLevel::Info, "Write protecting the kernel read-only data: 12288k\n");
        self.printk(LogLevel::Info, "Run /init as init process\n");

        self.clock_ns = self.clock_ns.max(BOOT_END_NS);
        self.sched.system_state = SystemState::Running;
        // Userspace init is running when a listing gets loaded; the runner switches to its insmod task.
        self.set_current("init", 1);
    }

    /// `__free_pages_core()`: hand a reserved range over to the buddy allocator.
    fn boot_free_range(&mut self, pfn: u64, order: u32, to_tail: bool) {
        let n = 1u64 << order;
        let z = self.pages[pfn as usize].zone as usize;
        for i in 0..n {
            let f = &mut self.pages[(pfn + i) as usize];
            f.clear(pg::PG_RESERVED);
            f.refcount = 0;
            f.set_owner(PageOwner::Buddy);
        }
        self.zones[z].managed_pages += n;
        // __free_pages_ok() → free_pages_prepare(): out of the direct map with debug_pagealloc.
        self.debug_pagealloc_unmap_pages(pfn, n);
        self.free_one_page(pfn, order, to_tail);
    }

    /// `free_init_pages(what, begin, end)` (arch/x86/mm/init.c): boot memory no longer needed, the frames
    /// `[first, end)`, which the kernel names by `begin` (their address in the kernel image's mapping or in the
    /// direct map). `free_reserved_area()` gives each page to the page allocator and prints `Freeing <what>
    /// memory: <n>K`; with `debug_pagealloc` the pages are unmapped instead (`set_memory_np()`, which also
    /// unmaps the direct map's alias of an image address) and stay reserved, so that a late access faults.
    fn free_init_pages(&mut self, what: &str, begin: u64, first: u64, end: u64) {
        if first >= end {
            return;
        }
        if self.debug_pagealloc_enabled() {
            let last = begin + ((end - first) << PAGE_SHIFT) - 1;
            self.printk(LogLevel::Info, &format!("debug: unmapping init [mem {begin:#010x}-{last:#010x}]\n"));
            self.debug_pagealloc_unmap_pages(first, end - first);
            return;
        }
        for pfn in first..end {
            self.boot_free_reserved_page(pfn);
        }
        self.printk(LogLevel::Info, &format!("Freeing {what} memory: {}K\n", (end - first) * 4));
    }

    /// `free_reserved_page()`: one reserved page given to the page allocator (`__free_page()`: through this
    /// CPU's per-CPU list once those exist).
    fn boot_free_reserved_page(&mut self, pfn: u64) {
        let f = self.pages[pfn as usize];
        if !f.test(pg::PG_RESERVED) || f.owner() != PageOwner::Reserved {
            return;
        }
        let z = f.zone as usize;
        if self.zones[z].pcp.is_empty() {
            self.boot_free_range(pfn, 0, false);
            return;
        }
        let f = &mut self.pages[pfn as usize];
        f.clear(pg::PG_RESERVED);
        self.zones[z].managed_pages += 1;
        self.free_range_to_buddy(pfn, 0);
    }

    fn boot_allocations(&mut self) {
        let budget = self.cfg.boot_alloc_kib.div_ceil(4);
        let orders = [0u32, 0, 2, 0, 1, 0, 0, 3, 0, 2, 0, 0];
        let mut used = 0u64;
        let mut i = 0usize;
        while used < budget {
            let order = orders[i % orders.len()];
            let gfp = if i % 3 == 2 && order == 0 { Gfp::GFP_HIGHUSER_MOVABLE } else { Gfp::GFP_KERNEL };
            i += 1;
            match self.try_alloc_pages(gfp, order) {
                Ok(p) => {
                    self.set_page_owner(p, order, PageOwner::Boot);
                    used += 1 << order;
                }
                Err(_) => break,
            }
        }
        self.alloc.nr_allocs = 0;
    }

    /// `nr_free_buffer_pages()` (mm/page_alloc.c): the managed pages of the zones up to ZONE_NORMAL minus
    /// their high watermarks.
    ///
    /// Context: any.
    pub fn nr_free_buffer_pages(&self) -> u64 {
        self.zones
            .iter()
            .filter(|z| !z.highmem && z.zone_type != ZoneType::Movable)
            .map(|z| z.managed_pages.saturating_sub(z.high_wmark()))
            .sum()
    }

    /// `calculate_min_free_kbytes()` + `__setup_per_zone_wmarks()`.
    pub(crate) fn setup_per_zone_wmarks(&mut self) {
        // The watermarks are 0 still.
        let lowmem = self.nr_free_buffer_pages();
        let lowmem_kbytes = lowmem * 4;
        let min_free_kbytes = int_sqrt(lowmem_kbytes * 16).clamp(128, 262_144);
        self.alloc.min_free_kbytes = min_free_kbytes;
        let pages_min = min_free_kbytes >> (PAGE_SHIFT - 10);
        let lowmem_pages: u64 =
            self.zones.iter().filter(|z| !z.highmem && z.zone_type != ZoneType::Movable).map(|z| z.managed_pages).sum();
        let watermark_scale_factor = 10u64;
        for z in self.zones.iter_mut() {
            let managed = z.managed_pages;
            let mut tmp = (pages_min * managed).checked_div(lowmem_pages).unwrap_or(0);
            if z.highmem || z.zone_type == ZoneType::Movable {
                z.watermark[0] = (managed / 1024).clamp(32, 128);
            } else {
                z.watermark[0] = tmp;
            }
            // mult_frac(managed, watermark_scale_factor, 10000)
            let frac = (managed / 10000) * watermark_scale_factor + (managed % 10000) * watermark_scale_factor / 10000;
            tmp = (tmp >> 2).max(frac);
            z.watermark[1] = z.watermark[0] + tmp;
            z.watermark[2] = z.watermark[1] + tmp;
            z.watermark[3] = z.watermark[2] + tmp;
        }
        // setup_per_zone_wmarks() ends with zone_pcp_update() for every zone.
        self.zone_pcp_update();
    }

    /// `setup_per_zone_lowmem_reserve()` with the 6.12 ratios (DMA 256, DMA32 256, Normal 32, HighMem 0).
    pub(crate) fn setup_per_zone_lowmem_reserve(&mut self) {
        let ratio = |t: ZoneType| match t {
            ZoneType::Dma | ZoneType::Dma32 => 256u64,
            ZoneType::Normal => 32,
            ZoneType::HighMem | ZoneType::Movable => 0,
        };
        let n = self.zones.len();
        for i in 0..n - 1 {
            let r = ratio(self.zones[i].zone_type);
            let clear = r == 0 || self.zones[i].managed_pages == 0;
            let mut managed = 0;
            for j in i + 1..n {
                managed += self.zones[j].managed_pages;
                self.zones[i].lowmem_reserve[j] = if clear { 0 } else { managed / r };
            }
        }
    }

    /// `min_free_kbytes`.
    ///
    /// Context: any.
    pub fn min_free_kbytes(&self) -> u64 {
        self.alloc.min_free_kbytes
    }

    fn boot_log(&mut self, mb: &Memblock) {
        let l = LogLevel::Info;
        self.clock_ns = 0;
        let usable = mb.usable.clone();
        self.printk(l, "BIOS-provided physical RAM map:\n");
        let ram_bytes = self.cfg.ram_mib << 20;
        let below = if ram_bytes >= 0xe000_0000 { 0xc000_0000 } else { ram_bytes };
        let mut lines = vec![
            (0u64, 0x9fbffu64, "usable"),
            (0x9fc00, 0x9ffff, "reserved"),
            (0xf0000, 0xfffff, "reserved"),
            (0x100000, below - 0x20001, "usable"),
            (below - 0x20000, below - 1, "reserved"),
            (0xfeffc000, 0xfeffffff, "reserved"),
            (0xfffc0000, 0xffffffff, "reserved"),
        ];
        if ram_bytes > below {
            lines.push((0x1_0000_0000, 0x1_0000_0000 + (ram_bytes - below) - 1, "usable"));
        }
        for (s, e, t) in lines {
            self.printk(l, &format!("BIOS-e820: [mem {s:#018x}-{e:#018x}] {t}\n"));
        }
        let _ = usable;
        if self.cfg.arch == Arch::I386 {
            let mb_low = (self.layout.max_low_pfn << PAGE_SHIFT) >> 20;
            let high = self.layout.max_pfn.saturating_sub(self.layout.max_low_pfn);
            if high > 0 {
                self.printk(LogLevel::Notice, &format!("{}MB HIGHMEM available.\n", (high << PAGE_SHIFT) >> 20));
            }
            self.printk(LogLevel::Notice, &format!("{mb_low}MB LOWMEM available.\n"));
        }
        self.printk(l, "Zone ranges:\n");
        let is64 = self.cfg.arch == Arch::X86_64;
        let zs = self.zones.clone();
        for z in zs.iter().filter(|z| z.zone_type != ZoneType::Movable) {
            if z.populated() {
                let s = z.zone_start_pfn << PAGE_SHIFT;
                let e = (z.zone_end_pfn() << PAGE_SHIFT) - 1;
                let w = if is64 { 18 } else { 10 };
                self.printk(l, &format!("  {:<8} [mem {s:#0w$x}-{e:#0w$x}]\n", z.name(), w = w));
            } else {
                self.printk(l, &format!("  {:<8} empty\n", z.name()));
            }
        }
        let total_present: u64 = zs.iter().map(|z| z.present_pages).sum();
        let managed: u64 = zs.iter().map(|z| z.managed_pages).sum();
        self.clock_ns = 40_000_000;
        // mem_init_print_info(): the image split into sections by fixed shares of the configured size.
        let image = self.cfg.kernel_image_kib;
        let init = self.cfg.kernel_init_kib.min(image / 2);
        let (code, rw, ro) = (image * 35 / 100, image / 10, image / 4);
        let bss = image.saturating_sub(code + rw + ro + init);
        let highmem = if self.cfg.arch == Arch::I386 {
            let h: u64 = zs.iter().filter(|z| z.highmem).map(|z| z.managed_pages).sum();
            format!(", {}K highmem", h * 4)
        } else {
            String::new()
        };
        self.printk(
            l,
            &format!(
                "Memory: {}K/{}K available ({code}K kernel code, {rw}K rwdata, {ro}K rodata, {init}K init, {bss}K bss, {}K reserved, 0K cma-reserved{highmem})\n",
                managed * 4,
                total_present * 4,
                (total_present - managed) * 4
            ),
        );
    }
}
