//! Zones, free areas and migrate types (include/linux/mmzone.h).

#![forbid(unsafe_code)]

use std::fmt;

use crate::page::NIL;

/// `MAX_PAGE_ORDER` (inclusive): 11 orders 0..=10.
pub const MAX_PAGE_ORDER: u32 = 10;
/// `NR_PAGE_ORDERS`.
pub const NR_PAGE_ORDERS: usize = 11;
/// `pageblock_order` of the x86_64 profile (the machine's value: `Machine::pageblock_order()`).
pub const PAGEBLOCK_ORDER: u32 = 9;
/// `pageblock_nr_pages`.
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;
/// `PAGE_ALLOC_COSTLY_ORDER`.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// `MIGRATE_TYPES` the simulator models (no CMA, no ISOLATE).
pub const MIGRATE_TYPES: usize = 4;
/// `MIGRATE_PCPTYPES`.
pub const MIGRATE_PCPTYPES: usize = 3;
/// `MAX_NR_ZONES` of both profiles (x86_64: DMA, DMA32, Normal, Movable; i386: DMA, Normal, HighMem, Movable).
pub const MAX_NR_ZONES: usize = 4;

/// `enum zone_type` (the simulator uses one enum for both profiles; the per-profile zone index is the position in `Machine::zones()`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub enum ZoneType {
    Dma,
    Dma32,
    Normal,
    HighMem,
    Movable,
}

impl ZoneType {
    /// `zone_names[]`.
    ///
    /// Context: any.
    pub fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::HighMem => "HighMem",
            ZoneType::Movable => "Movable",
        }
    }
}

impl fmt::Display for ZoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `enum migratetype`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MigrateType {
    Unmovable = 0,
    Movable = 1,
    Reclaimable = 2,
    HighAtomic = 3,
}

impl MigrateType {
    /// All modelled types in index order.
    pub const ALL: [MigrateType; MIGRATE_TYPES] =
        [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable, MigrateType::HighAtomic];

    /// `migratetype_names[]` (as /proc/pagetypeinfo prints them).
    ///
    /// Context: any.
    pub fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
        }
    }

    /// The letter `show_migration_types()` prints.
    ///
    /// Context: any.
    pub fn letter(self) -> char {
        match self {
            MigrateType::Unmovable => 'U',
            MigrateType::Movable => 'M',
            MigrateType::Reclaimable => 'E',
            MigrateType::HighAtomic => 'H',
        }
    }

    /// From the index.
    ///
    /// Context: any.
    pub fn from_index(i: usize) -> MigrateType {
        Self::ALL[i]
    }
}

/// One free list: a doubly linked list of pfns threaded through the page frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeList {
    /// First pfn or [`NIL`].
    pub head: u32,
    /// Last pfn or [`NIL`].
    pub tail: u32,
    /// Number of blocks on the list.
    pub len: u64,
}

impl Default for FreeList {
    fn default() -> Self {
        FreeList { head: NIL, tail: NIL, len: 0 }
    }
}

impl FreeList {
    /// `free_area_empty()`.
    ///
    /// Context: any.
    pub fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// `struct free_area`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreeArea {
    /// One list per migrate type.
    pub free_list: [FreeList; MIGRATE_TYPES],
    /// `nr_free`: blocks of this order on all lists.
    pub nr_free: u64,
}

/// Watermark indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wmark {
    Min = 0,
    Low = 1,
    High = 2,
    Promo = 3,
}

/// `NR_PCP_LISTS` without THP: one list per pcp migrate type and order up to `PAGE_ALLOC_COSTLY_ORDER`.
pub const NR_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);

/// `struct per_cpu_pages`: a CPU's cache of free pages of one zone (mm/page_alloc.c).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerCpuPages {
    /// Pages on the lists.
    pub count: u64,
    /// `high`: the count above which pages go back to the buddy allocator (auto-tuned between the two bounds).
    pub high: u64,
    /// `high_min`.
    pub high_min: u64,
    /// `high_max`.
    pub high_max: u64,
    /// `batch`: pages moved to or from the buddy allocator at once.
    pub batch: u64,
    /// `PCPF_PREV_FREE_HIGH_ORDER` (bit 0) and `PCPF_FREE_HIGH_BATCH` (bit 1).
    pub flags: u8,
    /// `alloc_factor`: how far refills have grown the batch since the last free.
    pub alloc_factor: u32,
    /// `free_count`: pages freed since the last allocation (capped).
    pub free_count: u64,
    /// The lists, by `order_to_pindex()`; the front is the list head.
    pub lists: [std::collections::VecDeque<u64>; NR_PCP_LISTS],
}

/// `struct zone` (the parts the simulator uses).
#[derive(Clone, Debug)]
pub struct Zone {
    /// Which zone.
    pub zone_type: ZoneType,
    /// Index in the node's zone array (`zone_idx()`).
    pub idx: usize,
    /// `zone_start_pfn`.
    pub zone_start_pfn: u64,
    /// `spanned_pages`.
    pub spanned_pages: u64,
    /// `present_pages`.
    pub present_pages: u64,
    /// `managed_pages`.
    pub managed_pages: u64,
    /// `free_area[]`.
    pub free_area: [FreeArea; NR_PAGE_ORDERS],
    /// `NR_FREE_PAGES`.
    pub nr_free_pages: u64,
    /// `nr_free_highatomic`.
    pub nr_free_highatomic: u64,
    /// `nr_reserved_highatomic`.
    pub nr_reserved_highatomic: u64,
    /// `_watermark[]` (min, low, high, promo).
    pub watermark: [u64; 4],
    /// `lowmem_reserve[]`.
    pub lowmem_reserve: [u64; MAX_NR_ZONES],
    /// Highmem zone (`is_highmem()`).
    pub highmem: bool,
    /// `per_cpu_pageset`, one per CPU.
    pub pcp: Vec<PerCpuPages>,
    /// `ZONE_BELOW_HIGH`: free pages fell below the high watermark; pcp lists are kept small.
    pub below_high: bool,
}

impl Zone {
    /// An empty zone.
    ///
    /// Context: any.
    pub fn new(zone_type: ZoneType, idx: usize) -> Zone {
        Zone {
            zone_type,
            idx,
            zone_start_pfn: 0,
            spanned_pages: 0,
            present_pages: 0,
            managed_pages: 0,
            free_area: [FreeArea::default(); NR_PAGE_ORDERS],
            nr_free_pages: 0,
            nr_free_highatomic: 0,
            nr_reserved_highatomic: 0,
            watermark: [0; 4],
            lowmem_reserve: [0; MAX_NR_ZONES],
            highmem: zone_type == ZoneType::HighMem,
            pcp: Vec::new(),
            below_high: false,
        }
    }

    /// Free pages on all CPUs' lists of this zone.
    ///
    /// Context: any.
    pub fn free_pcp(&self) -> u64 {
        self.pcp.iter().map(|p| p.count).sum()
    }

    /// `populated_zone()`.
    ///
    /// Context: any.
    pub fn populated(&self) -> bool {
        self.present_pages != 0
    }

    /// `zone_end_pfn()`.
    ///
    /// Context: any.
    pub fn zone_end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }

    /// Whether `pfn` is spanned by this zone.
    ///
    /// Context: any.
    pub fn spans(&self, pfn: u64) -> bool {
        pfn >= self.zone_start_pfn && pfn < self.zone_end_pfn()
    }

    /// `min_wmark_pages()`.
    ///
    /// Context: any.
    pub fn min_wmark(&self) -> u64 {
        self.watermark[0]
    }
    /// `low_wmark_pages()`.
    ///
    /// Context: any.
    pub fn low_wmark(&self) -> u64 {
        self.watermark[1]
    }
    /// `high_wmark_pages()`.
    ///
    /// Context: any.
    pub fn high_wmark(&self) -> u64 {
        self.watermark[2]
    }
    /// The name.
    ///
    /// Context: any.
    pub fn name(&self) -> &'static str {
        self.zone_type.name()
    }
}
