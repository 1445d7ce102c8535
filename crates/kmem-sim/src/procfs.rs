//! The /proc views and the memory summary (mm/vmstat.c `frag_show`/`pagetypeinfo_show`/`zoneinfo_show`,
//! fs/proc/meminfo.c, mm/show_mem.c `__show_mem`).
//!
//! The simulator models the page allocator only, so counters of other subsystems (LRU lists, page cache,
//! swap, dirty/writeback, anon, shmem, ...) are 0. Slab, vmalloc, kernel stack, page table and per-cpu
//! counters come from [`VmStat`], which later parts (slub.rs, vmalloc.rs) update. The kernel config assumed
//! for the optional rows is the book's .config: no ZSWAP, MEMORY_FAILURE, THP, CMA, UNACCEPTED_MEMORY or
//! HUGETLBFS, and no MEMORY_ISOLATION (nothing selects it: no COMPACTION, CMA or MEMORY_HOTPLUG), so
//! /proc/pagetypeinfo has no `Isolate` type; CONFIG_HIGHMEM on the i386 profile.

#![forbid(unsafe_code)]

use crate::machine::{Arch, Machine};
use crate::printk::LogLevel;
use crate::zone::{MigrateType, ZoneType, NR_PAGE_ORDERS};

/// What `si_meminfo()` fills in (`struct sysinfo`'s memory fields), in pages but for `mem_unit`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SysInfo {
    /// `totalram`.
    pub totalram: u64,
    /// `sharedram`.
    pub sharedram: u64,
    /// `freeram`.
    pub freeram: u64,
    /// `bufferram`.
    pub bufferram: u64,
    /// `totalhigh`.
    pub totalhigh: u64,
    /// `freehigh`.
    pub freehigh: u64,
    /// `mem_unit`: bytes per unit.
    pub mem_unit: u32,
}

/// Counters kept for other subsystems (pages unless named otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmStat {
    /// `NR_SLAB_RECLAIMABLE_B` in pages.
    pub slab_reclaimable: u64,
    /// `NR_SLAB_UNRECLAIMABLE_B` in pages.
    pub slab_unreclaimable: u64,
    /// `vmalloc_nr_pages()`.
    pub vmalloc_pages: u64,
    /// `NR_KERNEL_STACK_KB`.
    pub kernel_stack_kb: u64,
    /// `NR_PAGETABLE`.
    pub pagetables: u64,
    /// `NR_FILE_PAGES` (the page cache).
    pub file_pages: u64,
    /// `NR_UNEVICTABLE` (LRU_UNEVICTABLE: ramfs pages).
    pub unevictable: u64,
    /// `NR_FILE_MAPPED`.
    pub mapped: u64,
    /// `NR_ANON_MAPPED`.
    pub anon: u64,
}

/// `migratetype_names` (mm/page_alloc.c) without CONFIG_CMA and CONFIG_MEMORY_ISOLATION: the pcp types and
/// HighAtomic.
const MT_NAMES: [&str; 4] = ["Unmovable", "Movable", "Reclaimable", "HighAtomic"];

impl Machine {
    /// Counters of other subsystems (mutable, for later parts).
    ///
    /// Context: any.
    pub fn vmstat_mut(&mut self) -> &mut VmStat {
        &mut self.vmstat
    }

    /// Reads a file of the simulated `/proc` (what `cat path` prints): `/proc/buddyinfo`, `pagetypeinfo`,
    /// `meminfo`, `zoneinfo`, `slabinfo`, `vmallocinfo` and `cmdline`; swiotlb's debugfs files
    /// (`/sys/kernel/debug/swiotlb/io_tlb_*`); and SLUB's sysfs and debugfs files,
    /// `/sys/kernel/slab/<cache>/<attribute>` and `/sys/kernel/debug/slab/<cache>/alloc_traces` (see
    /// [`crate::slub::sysfs`]).
    ///
    /// Context: process context. Returns `-ENOENT` for any other path, `-EISDIR` for a directory.
    pub fn read_file(&self, path: &str) -> Result<String, i32> {
        if path.starts_with(crate::slub::sysfs::SYSFS_SLAB) || path.starts_with(crate::slub::sysfs::DEBUGFS_SLAB) {
            return self.slab_sysfs_read(path);
        }
        if let Some(file) = path.strip_prefix("/sys/kernel/debug/swiotlb/") {
            return self.swiotlb_debugfs_read(file);
        }
        Ok(match path {
            "/proc/buddyinfo" => self.proc_buddyinfo(),
            "/proc/pagetypeinfo" => self.proc_pagetypeinfo(),
            "/proc/meminfo" => self.proc_meminfo(),
            "/proc/zoneinfo" => self.proc_zoneinfo(),
            "/proc/slabinfo" => self.proc_slabinfo(),
            "/proc/vmallocinfo" => self.vmallocinfo(),
            "/proc/cmdline" => format!("{}\n", self.cfg.cmdline),
            _ => return Err(-2),
        })
    }

    /// The entries of a directory, sorted as `ls` lists them: SLUB's `/sys/kernel/slab[/<cache>]` and
    /// `/sys/kernel/debug/slab[/<cache>]`.
    ///
    /// Context: process context. Returns `-ENOENT` for any other path, `-ENOTDIR` for a file.
    pub fn read_dir(&self, path: &str) -> Result<Vec<String>, i32> {
        self.slab_sysfs_read_dir(path)
    }

    /// `echo value > path`: writes `value` and a newline to a sysfs or debugfs file of the simulated kernel:
    /// `/sys/kernel/slab/<cache>/<attribute>` ([`crate::slub::sysfs`]) or the fault-injection files under
    /// `/sys/kernel/debug/` ([`Machine::debugfs_write`]).
    ///
    /// Context: process context, may sleep. Returns the file's error (`-ENOENT` for a file that does not
    /// exist, `-EIO` for a read-only attribute, `-EINVAL` for a value it does not take …).
    pub fn write_file(&mut self, path: &str, value: &str) -> Result<(), i32> {
        if path.starts_with(crate::slub::sysfs::SYSFS_SLAB) || path.starts_with(crate::slub::sysfs::DEBUGFS_SLAB) {
            return self.slab_sysfs_write(path, &format!("{value}\n")).map(|_| ());
        }
        self.debugfs_write(path, value)
    }

    /// `/proc/buddyinfo`.
    ///
    /// Context: any.
    pub fn proc_buddyinfo(&self) -> String {
        let mut s = String::new();
        for z in self.zones.iter().filter(|z| z.populated()) {
            s.push_str(&format!("Node 0, zone {:>8} ", z.name()));
            for o in 0..NR_PAGE_ORDERS {
                s.push_str(&format!("{:6} ", z.free_area[o].nr_free));
            }
            s.push('\n');
        }
        s
    }

    /// `/proc/pagetypeinfo` (without the PAGE_OWNER mixed-block table).
    ///
    /// Context: any.
    pub fn proc_pagetypeinfo(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("Page block order: {}\n", self.pageblock_order()));
        s.push_str(&format!("Pages per block:  {}\n", self.pageblock_nr_pages()));
        s.push('\n');
        s.push_str(&format!("{:<43} ", "Free pages count per migrate type at order"));
        for o in 0..NR_PAGE_ORDERS {
            s.push_str(&format!("{o:6} "));
        }
        s.push('\n');
        for z in self.zones.iter().filter(|z| z.populated()) {
            for (mt, name) in MT_NAMES.iter().enumerate() {
                s.push_str(&format!("Node {:4}, zone {:>8}, type {:>12} ", 0, z.name(), name));
                for o in 0..NR_PAGE_ORDERS {
                    let n = z.free_area[o].free_list[mt].len;
                    if n >= 100_000 {
                        s.push_str(&format!(">{:6} ", 100_000));
                    } else {
                        s.push_str(&format!("{n:6} "));
                    }
                }
                s.push('\n');
            }
        }
        s.push_str(&format!("\n{:<23}", "Number of blocks type "));
        for name in MT_NAMES {
            s.push_str(&format!("{name:>12} "));
        }
        s.push('\n');
        for (zi, z) in self.zones.iter().enumerate().filter(|(_, z)| z.populated()) {
            let mut count = [0u64; MT_NAMES.len()];
            let mut pfn = z.zone_start_pfn;
            while pfn < z.zone_end_pfn() {
                if (pfn as usize) < self.pages.len() && self.pages[pfn as usize].zone as usize == zi {
                    count[self.alloc.pageblock_mt[(pfn >> self.pageblock_order()) as usize] as usize] += 1;
                }
                pfn += self.pageblock_nr_pages();
            }
            s.push_str(&format!("Node 0, zone {:>8} ", z.name()));
            for c in count {
                s.push_str(&format!("{c:12} "));
            }
            s.push('\n');
        }
        s
    }

    /// `calculate_totalreserve_pages()`.
    ///
    /// Context: any.
    pub fn totalreserve_pages(&self) -> u64 {
        let mut total = 0;
        for (i, z) in self.zones.iter().enumerate() {
            let max = z.lowmem_reserve[i..].iter().copied().max().unwrap_or(0) + z.high_wmark();
            total += max.min(z.managed_pages);
        }
        total
    }

    /// `si_mem_available()` (no page cache or reclaimable slab beyond [`VmStat`]).
    ///
    /// Context: any.
    pub fn si_mem_available(&self) -> u64 {
        let wmark_low: u64 = self.zones.iter().map(|z| z.low_wmark()).sum();
        let mut avail = self.nr_free_pages() as i64 - self.totalreserve_pages() as i64;
        let reclaimable = self.vmstat.slab_reclaimable;
        avail += (reclaimable - (reclaimable / 2).min(wmark_low)) as i64;
        avail.max(0) as u64
    }

    fn percpu_pages(&self) -> u64 {
        self.pcpu_nr_pages()
    }

    /// `calculate_normal_threshold()` (mm/vmstat.c): `2 * fls(online CPUs) * (1 + fls(managed / 128 MiB))`,
    /// at most 125.
    fn vm_stats_threshold(&self, z: usize) -> u64 {
        let fls = |x: u64| 64 - x.leading_zeros() as u64;
        let mem = self.zones[z].managed_pages >> (27 - 12);
        (2 * fls(self.cfg.cpus as u64) * (1 + fls(mem))).min(125)
    }

    /// The zone the page cache and user pages of the boot are in (the highest populated zone below the
    /// movable one: where `GFP_HIGHUSER_MOVABLE` pages come from).
    pub(crate) fn user_pages_zone(&self) -> Option<usize> {
        (self.vmstat.file_pages + self.vmstat.anon > 0)
            .then(|| self.zones.iter().rposition(|z| z.populated() && z.zone_type != ZoneType::Movable))
            .flatten()
    }

    /// `/proc/meminfo`.
    ///
    /// Context: any.
    pub fn proc_meminfo(&self) -> String {
        let mut s = String::new();
        let mut kb = |name: &str, pages: u64| {
            s.push_str(&format!("{name:<16}{:8} kB\n", pages * 4));
        };
        let totalram = self.totalram_pages();
        let free = self.nr_free_pages();
        let high: Vec<_> = self.zones.iter().filter(|z| z.zone_type == ZoneType::HighMem).collect();
        let totalhigh: u64 = high.iter().map(|z| z.managed_pages).sum();
        let freehigh: u64 = high.iter().map(|z| z.nr_free_pages).sum();
        kb("MemTotal:", totalram);
        kb("MemFree:", free);
        kb("MemAvailable:", self.si_mem_available());
        kb("Buffers:", 0);
        kb("Cached:", self.vmstat.file_pages);
        kb("SwapCached:", 0);
        kb("Active:", 0);
        kb("Inactive:", self.vmstat.anon);
        kb("Active(anon):", 0);
        kb("Inactive(anon):", self.vmstat.anon);
        kb("Active(file):", 0);
        kb("Inactive(file):", 0);
        kb("Unevictable:", self.vmstat.unevictable);
        kb("Mlocked:", 0);
        if self.cfg.arch == Arch::I386 {
            kb("HighTotal:", totalhigh);
            kb("HighFree:", freehigh);
            kb("LowTotal:", totalram - totalhigh);
            kb("LowFree:", free - freehigh);
        }
        kb("SwapTotal:", 0);
        kb("SwapFree:", 0);
        kb("Dirty:", 0);
        kb("Writeback:", 0);
        kb("AnonPages:", self.vmstat.anon);
        kb("Mapped:", self.vmstat.mapped);
        kb("Shmem:", 0);
        let v = self.vmstat.clone();
        kb("KReclaimable:", v.slab_reclaimable);
        kb("Slab:", v.slab_reclaimable + v.slab_unreclaimable);
        kb("SReclaimable:", v.slab_reclaimable);
        kb("SUnreclaim:", v.slab_unreclaimable);
        s.push_str(&format!("KernelStack:    {:8} kB\n", v.kernel_stack_kb));
        let mut kb = |name: &str, pages: u64| {
            s.push_str(&format!("{name:<16}{:8} kB\n", pages * 4));
        };
        kb("PageTables:", v.pagetables);
        kb("SecPageTables:", 0);
        kb("NFS_Unstable:", 0);
        kb("Bounce:", 0);
        kb("WritebackTmp:", 0);
        kb("CommitLimit:", totalram / 2);
        kb("Committed_AS:", 0);
        let vtotal = self.layout.vmalloc_end - self.layout.vmalloc_start;
        s.push_str(&format!("VmallocTotal:   {:8} kB\n", vtotal >> 10));
        let mut kb = |name: &str, pages: u64| {
            s.push_str(&format!("{name:<16}{:8} kB\n", pages * 4));
        };
        kb("VmallocUsed:", v.vmalloc_pages);
        kb("VmallocChunk:", 0);
        kb("Percpu:", self.percpu_pages());
        // arch_report_meminfo(): the direct map's pages by size (direct_pages_count[], which
        // kernel_physical_mapping_init() counts and every later split by set_memory_*() moves). The recorded
        // boot's split is taken from it (how many 2 MiB pages the boot's protection changes of the kernel image's
        // alias split is not modelled); otherwise 4k mappings for the first and last partial 2 MiB (4 MiB on
        // i386), the rest large. With debug_pagealloc, probe_page_size_mask() allows no large page at all.
        let lowmem_kb = (self.layout.max_low_pfn * 4).max(4);
        let recorded = self.recording().map(|r| {
            let mem = &r.state().2;
            (mem.get("DirectMap4k").copied(), mem.get("DirectMap2M").or(mem.get("DirectMap4M")).copied())
        });
        let split = |unit: u64| {
            let (four_k, large) = match recorded {
                Some((Some(four_k), Some(large))) => (four_k, large),
                _ => {
                    let four_k = unit + (lowmem_kb % unit);
                    (four_k, lowmem_kb.saturating_sub(four_k) / unit * unit)
                }
            };
            if self.debug_pagealloc_enabled() {
                (four_k + large, 0)
            } else {
                (four_k, large)
            }
        };
        match self.cfg.arch {
            Arch::X86_64 => {
                let (four_k, large) = split(2048);
                s.push_str(&format!("DirectMap4k:    {four_k:8} kB\n"));
                s.push_str(&format!("DirectMap2M:    {large:8} kB\n"));
            }
            Arch::I386 => {
                let (four_k, large) = split(4096);
                s.push_str(&format!("DirectMap4k:    {four_k:8} kB\n"));
                s.push_str(&format!("DirectMap4M:    {large:8} kB\n"));
            }
        }
        s
    }

    /// `/proc/zoneinfo` (`zoneinfo_show_print`): per-node stats in the first populated zone, watermarks,
    /// spanned/present/managed, protection, zone stats, NUMA stats with CONFIG_NUMA, per-cpu pagesets (count
    /// 0: pcp is not modelled), start_pfn. Counters the simulator does not keep are 0. Config assumed: no
    /// ZSMALLOC, SHADOW_CALL_STACK, IOMMU_SUPPORT, NUMA_BALANCING; SWAP on.
    ///
    /// Context: any.
    pub fn proc_zoneinfo(&self) -> String {
        const NODE_STATS: &[&str] = &[
            "nr_inactive_anon",
            "nr_active_anon",
            "nr_inactive_file",
            "nr_active_file",
            "nr_unevictable",
            "nr_slab_reclaimable",
            "nr_slab_unreclaimable",
            "nr_isolated_anon",
            "nr_isolated_file",
            "workingset_nodes",
            "workingset_refault_anon",
            "workingset_refault_file",
            "workingset_activate_anon",
            "workingset_activate_file",
            "workingset_restore_anon",
            "workingset_restore_file",
            "workingset_nodereclaim",
            "nr_anon_pages",
            "nr_mapped",
            "nr_file_pages",
            "nr_dirty",
            "nr_writeback",
            "nr_writeback_temp",
            "nr_shmem",
            "nr_shmem_hugepages",
            "nr_shmem_pmdmapped",
            "nr_file_hugepages",
            "nr_file_pmdmapped",
            "nr_anon_transparent_hugepages",
            "nr_vmscan_write",
            "nr_vmscan_immediate_reclaim",
            "nr_dirtied",
            "nr_written",
            "nr_throttled_written",
            "nr_kernel_misc_reclaimable",
            "nr_foll_pin_acquired",
            "nr_foll_pin_released",
            "nr_kernel_stack",
            "nr_page_table_pages",
            "nr_sec_page_table_pages",
            "nr_swapcached",
            "pgdemote_kswapd",
            "pgdemote_direct",
            "pgdemote_khugepaged",
        ];
        const ZONE_STATS: &[&str] = &[
            "nr_free_pages",
            "nr_zone_inactive_anon",
            "nr_zone_active_anon",
            "nr_zone_inactive_file",
            "nr_zone_active_file",
            "nr_zone_unevictable",
            "nr_zone_write_pending",
            "nr_mlock",
            "nr_bounce",
            "nr_free_cma",
        ];
        const NUMA_STATS: &[&str] =
            &["numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local", "numa_other"];
        let mut s = String::new();
        let first_populated = self.zones.iter().position(|z| z.populated());
        let v = &self.vmstat;
        for (zi, z) in self.zones.iter().enumerate() {
            s.push_str(&format!("Node 0, zone {:>8}", z.name()));
            if Some(zi) == first_populated {
                s.push_str("\n  per-node stats");
                for item in NODE_STATS {
                    let val = match *item {
                        "nr_inactive_anon" => v.anon,
                        "nr_unevictable" => v.unevictable,
                        "nr_slab_reclaimable" => v.slab_reclaimable,
                        "nr_slab_unreclaimable" => v.slab_unreclaimable,
                        "nr_anon_pages" => v.anon,
                        "nr_mapped" => v.mapped,
                        "nr_file_pages" => v.file_pages,
                        "nr_kernel_stack" => v.kernel_stack_kb,
                        "nr_page_table_pages" => v.pagetables,
                        _ => 0,
                    };
                    s.push_str(&format!("\n      {item:<12} {val}"));
                }
            }
            s.push_str(&format!(
                "\n  pages free     {}\n        boost    0\n        min      {}\n        low      {}\n        high     {}\n        promo    {}\n        spanned  {}\n        present  {}\n        managed  {}\n        cma      0",
                z.nr_free_pages, z.watermark[0], z.watermark[1], z.watermark[2], z.watermark[3], z.spanned_pages,
                z.present_pages, z.managed_pages
            ));
            s.push_str(&format!("\n        protection: ({})", self.protection(zi)));
            if !z.populated() {
                s.push('\n');
                continue;
            }
            let user = self.user_pages_zone() == Some(zi);
            for item in ZONE_STATS {
                let val = match *item {
                    "nr_free_pages" => z.nr_free_pages,
                    "nr_zone_inactive_anon" if user => v.anon,
                    "nr_zone_unevictable" if user => v.unevictable,
                    _ => 0,
                };
                s.push_str(&format!("\n      {item:<12} {val}"));
            }
            if self.cfg.numa {
                for item in NUMA_STATS {
                    s.push_str(&format!("\n      {item:<12} 0"));
                }
            }
            s.push_str("\n  pagesets");
            let threshold = self.vm_stats_threshold(zi);
            for cpu in 0..self.cfg.cpus as usize {
                let (count, high, batch) = z.pcp.get(cpu).map(|p| (p.count, p.high, p.batch)).unwrap_or((0, 0, 1));
                s.push_str(&format!(
                    "\n    cpu: {cpu}\n              count: {count}\n              high:  {high}\n              batch: {batch}\n  vm stats threshold: {threshold}"
                ));
            }
            s.push_str(&format!("\n  node_unreclaimable:  0\n  start_pfn:           {}\n", z.zone_start_pfn));
        }
        s
    }

    fn protection(&self, zi: usize) -> String {
        let z = &self.zones[zi];
        z.lowmem_reserve.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// `si_meminfo()` (mm/show_mem.c): `totalram_pages()`, `NR_SHMEM` (0: no shmem), `NR_FREE_PAGES` (the buddy
    /// allocator's free pages, not the per-CPU lists'), `nr_blockdev_pages()` (0: no block device),
    /// `totalhigh_pages()` and `nr_free_highpages()`, in pages; `mem_unit` is `PAGE_SIZE`.
    ///
    /// Context: any. Returns the values in `struct sysinfo`'s order.
    pub fn si_meminfo(&self) -> SysInfo {
        let high = self.zones.iter().filter(|z| z.highmem);
        SysInfo {
            totalram: self.totalram_pages(),
            sharedram: 0,
            freeram: self.nr_free_pages(),
            bufferram: 0,
            totalhigh: high.clone().map(|z| z.managed_pages).sum(),
            freehigh: high.map(|z| z.nr_free_pages).sum(),
            mem_unit: 1 << crate::machine::PAGE_SHIFT,
        }
    }

    /// `movable_zone` (mm/mm_init.c `find_usable_zone_for_movable()`): the highest zone but `ZONE_MOVABLE` that
    /// spans any frame — where `kernelcore=`/`movablecore=` would take `ZONE_MOVABLE`'s pages from.
    ///
    /// Context: any. Returns the zone index.
    pub fn movable_zone(&self) -> usize {
        (0..self.zones.len())
            .rev()
            .find(|&i| self.zones[i].zone_type != ZoneType::Movable && self.zones[i].spanned_pages > 0)
            .unwrap_or(0)
    }

    /// `__show_mem()` as `warn_alloc` calls it: `Mem-Info:`, the global counters, the node line, per zone the
    /// watermark line and `lowmem_reserve[]:`, the per-order `Node 0 DMA: 1*4kB (U) ...` lines, and the page
    /// totals. Zones above `max_zone_idx` are skipped.
    ///
    /// Context: any.
    pub fn show_mem(&mut self, max_zone_idx: usize) {
        let l = LogLevel::Default;
        let node = if self.cfg.numa { "Node 0 " } else { "" };
        self.printk(l, "Mem-Info:\n");
        let free = self.nr_free_pages();
        let v = self.vmstat.clone();
        let pcp = self.nr_free_pcp();
        self.printk(
            l,
            &format!(
                "active_anon:0 inactive_anon:{} isolated_anon:0\n active_file:0 inactive_file:0 isolated_file:0\n unevictable:{} dirty:0 writeback:0\n slab_reclaimable:{} slab_unreclaimable:{}\n mapped:{} shmem:0 pagetables:{}\n sec_pagetables:0 bounce:0\n kernel_misc_reclaimable:0\n free:{free} free_pcp:{pcp} free_cma:0\n",
                v.anon, v.unevictable, v.slab_reclaimable, v.slab_unreclaimable, v.mapped, v.pagetables
            ),
        );
        self.printk(
            l,
            &format!(
                "{node}active_anon:0kB inactive_anon:{}kB active_file:0kB inactive_file:0kB unevictable:{}kB isolated(anon):0kB isolated(file):0kB mapped:{}kB dirty:0kB writeback:0kB shmem:0kB writeback_tmp:0kB kernel_stack:{}kB pagetables:{}kB sec_pagetables:0kB all_unreclaimable? no\n",
                v.anon * 4,
                v.unevictable * 4,
                v.mapped * 4,
                v.kernel_stack_kb,
                v.pagetables * 4
            ),
        );
        let zones = self.zones.clone();
        let user = self.user_pages_zone();
        for z in zones.iter().filter(|z| z.populated() && z.idx <= max_zone_idx) {
            let k = |p: u64| p * 4;
            self.printk(
                l,
                &format!(
                    "{node}{} free:{}kB boost:0kB min:{}kB low:{}kB high:{}kB reserved_highatomic:{}KB active_anon:0kB inactive_anon:{}kB active_file:0kB inactive_file:0kB unevictable:{}kB writepending:0kB present:{}kB managed:{}kB mlocked:0kB bounce:0kB free_pcp:{}kB local_pcp:{}kB free_cma:0kB\n",
                    z.name(),
                    k(z.nr_free_pages),
                    k(z.min_wmark()),
                    k(z.low_wmark()),
                    k(z.high_wmark()),
                    k(z.nr_reserved_highatomic),
                    k(if user == Some(z.idx) { v.anon } else { 0 }),
                    k(if user == Some(z.idx) { v.unevictable } else { 0 }),
                    k(z.present_pages),
                    k(z.managed_pages),
                    k(z.free_pcp()),
                    k(z.pcp.get(self.sched.cpu as usize).map(|p| p.count).unwrap_or(0))
                ),
            );
            self.printk(l, "lowmem_reserve[]:");
            for r in z.lowmem_reserve {
                self.pr_cont(&format!(" {r}"));
            }
            self.pr_cont("\n");
        }
        for z in zones.iter().filter(|z| z.populated() && z.idx <= max_zone_idx) {
            let mut line = format!("{node}{}: ", z.name());
            let mut total = 0u64;
            for o in 0..NR_PAGE_ORDERS {
                let nr = z.free_area[o].nr_free;
                total += nr << o;
                line.push_str(&format!("{nr}*{}kB ", 4u64 << o));
                if nr > 0 {
                    let types: String = MigrateType::ALL
                        .iter()
                        .filter(|mt| !z.free_area[o].free_list[**mt as usize].is_empty())
                        .map(|mt| mt.letter())
                        .collect();
                    line.push_str(&format!("({types}) "));
                }
            }
            line.push_str(&format!("= {}kB\n", total * 4));
            self.printk(l, &line);
        }
        self.printk(l, &format!("{} total pagecache pages\n", v.file_pages));
        // show_swap_cache_info() only with CONFIG_SWAP, which the book's kernel does not have.
        let total: u64 = zones.iter().map(|z| z.present_pages).sum();
        let reserved: u64 = zones.iter().map(|z| z.present_pages - z.managed_pages).sum();
        let highmem: u64 = zones.iter().filter(|z| z.highmem).map(|z| z.present_pages).sum();
        self.printk(l, &format!("{total} pages RAM\n"));
        self.printk(l, &format!("{highmem} pages HighMem/MovableOnly\n"));
        self.printk(l, &format!("{reserved} pages reserved\n"));
    }
}
