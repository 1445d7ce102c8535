//! Page frames: a compact `struct page` (include/linux/mm_types.h, include/linux/page-flags.h).
//!
//! Each simulated frame costs 24 bytes of host memory ([`PageFrame`]). The fields are those the kernel's page
//! allocator looks at: the page flags that matter (`PG_reserved`, `PG_head`, ...), the page type kept in the top
//! byte of `page_type` (buddy, slab, ...), `_refcount`, the buddy order or compound order, the compound head of a
//! tail page, and the free-list links (pfn indices instead of pointers). What is not in the kernel's `struct page`
//! is [`PageOwner`], the simulator's record of who holds the frame, which later parts (slab, vmalloc, dma,
//! mempool) set for their pages.

#![forbid(unsafe_code)]

use std::fmt;

/// A page frame number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Pfn(pub u64);

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// `PG_locked` .. `PG_unevictable`: the kernel's bit numbers (enum pageflags).
pub mod pg {
    pub const PG_LOCKED: u32 = 0;
    pub const PG_WRITEBACK: u32 = 1;
    pub const PG_REFERENCED: u32 = 2;
    pub const PG_UPTODATE: u32 = 3;
    pub const PG_DIRTY: u32 = 4;
    pub const PG_LRU: u32 = 5;
    pub const PG_HEAD: u32 = 6;
    pub const PG_WAITERS: u32 = 7;
    pub const PG_ACTIVE: u32 = 8;
    pub const PG_WORKINGSET: u32 = 9;
    pub const PG_OWNER_PRIV_1: u32 = 10;
    pub const PG_OWNER_2: u32 = 11;
    pub const PG_ARCH_1: u32 = 12;
    pub const PG_RESERVED: u32 = 13;
    pub const PG_PRIVATE: u32 = 14;
    pub const PG_PRIVATE_2: u32 = 15;
    pub const PG_RECLAIM: u32 = 16;
    pub const PG_SWAPBACKED: u32 = 17;
    pub const PG_UNEVICTABLE: u32 = 18;
    pub const PG_MLOCKED: u32 = 19;

    /// `pageflag_names` in the kernel's printing order (include/trace/events/mmflags.h).
    pub const PAGEFLAG_NAMES: &[(u32, &str)] = &[
        (PG_LOCKED, "locked"),
        (PG_WAITERS, "waiters"),
        (PG_REFERENCED, "referenced"),
        (PG_UPTODATE, "uptodate"),
        (PG_DIRTY, "dirty"),
        (PG_LRU, "lru"),
        (PG_ACTIVE, "active"),
        (PG_WORKINGSET, "workingset"),
        (PG_OWNER_PRIV_1, "owner_priv_1"),
        (PG_OWNER_2, "owner_2"),
        (PG_ARCH_1, "arch_1"),
        (PG_RESERVED, "reserved"),
        (PG_PRIVATE, "private"),
        (PG_PRIVATE_2, "private_2"),
        (PG_WRITEBACK, "writeback"),
        (PG_HEAD, "head"),
        (PG_RECLAIM, "reclaim"),
        (PG_SWAPBACKED, "swapbacked"),
        (PG_UNEVICTABLE, "unevictable"),
        (PG_MLOCKED, "mlocked"),
    ];

    /// `PAGE_FLAGS_CHECK_AT_FREE` restricted to the flags the simulator models.
    pub const PAGE_FLAGS_CHECK_AT_FREE: u32 = (1 << PG_LRU)
        | (1 << PG_LOCKED)
        | (1 << PG_PRIVATE)
        | (1 << PG_PRIVATE_2)
        | (1 << PG_WRITEBACK)
        | (1 << PG_RESERVED)
        | (1 << PG_SLAB_UNUSED)
        | (1 << PG_ACTIVE)
        | (1 << PG_UNEVICTABLE)
        | (1 << PG_MLOCKED);
    // There is no PG_slab in 6.12 (slab is a page type); keep the mask shape with an unused bit.
    const PG_SLAB_UNUSED: u32 = 31;
}

/// Page types (the top byte of `page->page_type`, `enum pagetype` in 6.12).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum PageType {
    /// No type: `page_type`/`_mapcount` is -1.
    None = 0,
    Buddy = 0xf0,
    Offline = 0xf1,
    Table = 0xf2,
    Guard = 0xf3,
    Hugetlb = 0xf4,
    Slab = 0xf5,
    Zsmalloc = 0xf6,
    Unaccepted = 0xf7,
}

impl PageType {
    /// The name `page_type_name()` prints.
    ///
    /// Context: any.
    pub fn name(self) -> &'static str {
        match self {
            PageType::None => "",
            PageType::Buddy => "buddy",
            PageType::Offline => "offline",
            PageType::Table => "table",
            PageType::Guard => "guard",
            PageType::Hugetlb => "hugetlb",
            PageType::Slab => "slab",
            PageType::Zsmalloc => "zsmalloc",
            PageType::Unaccepted => "unaccepted",
        }
    }
    fn from_u8(v: u8) -> PageType {
        match v {
            0xf0 => PageType::Buddy,
            0xf1 => PageType::Offline,
            0xf2 => PageType::Table,
            0xf3 => PageType::Guard,
            0xf4 => PageType::Hugetlb,
            0xf5 => PageType::Slab,
            0xf6 => PageType::Zsmalloc,
            0xf7 => PageType::Unaccepted,
            _ => PageType::None,
        }
    }
}

/// Who holds a frame (simulator bookkeeping, not a kernel field). Later parts mark their pages with their own
/// variant; add new variants at the end.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum PageOwner {
    /// Not RAM (a hole in the e820 map) or never initialised.
    NoRam = 0,
    /// Free in the buddy allocator (head or inside a free block).
    Buddy,
    /// memblock-reserved at boot (BIOS area, kernel image, memmap, early allocations).
    Reserved,
    /// Allocated by the simulated kernel itself during boot (kernel threads, early slabs, ...).
    Boot,
    /// Allocated through the page allocator API (`alloc_pages` & co.).
    PageAlloc,
    /// A slab page (part 2).
    Slab,
    /// Backing a vmalloc area (part 3).
    Vmalloc,
    /// Held by a mempool (part 4).
    Mempool,
    /// A coherent DMA buffer (part 5).
    Dma,
    /// Page tables.
    PageTable,
    /// Per-cpu areas.
    Percpu,
    /// Leaked after a bad-page report.
    Leaked,
    /// Free, on a CPU's per-CPU list (`struct per_cpu_pages`), not in the buddy allocator.
    Pcp,
}

impl PageOwner {
    fn from_u8(v: u8) -> PageOwner {
        match v {
            1 => PageOwner::Buddy,
            2 => PageOwner::Reserved,
            3 => PageOwner::Boot,
            4 => PageOwner::PageAlloc,
            5 => PageOwner::Slab,
            6 => PageOwner::Vmalloc,
            7 => PageOwner::Mempool,
            8 => PageOwner::Dma,
            9 => PageOwner::PageTable,
            10 => PageOwner::Percpu,
            11 => PageOwner::Leaked,
            12 => PageOwner::Pcp,
            _ => PageOwner::NoRam,
        }
    }
}

/// Bit of `PageFrame::owner` that records that the page was allocated at least once.
const PRISTINE_USED: u8 = 0x80;

/// "No pfn" for the list links and `compound_head`.
pub const NIL: u32 = u32::MAX;

/// The simulator's `struct page` (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFrame {
    /// Page flags (bit numbers of [`pg`]).
    pub flags: u32,
    /// `_refcount`.
    pub refcount: i32,
    /// Free-list successor (pfn) while in a buddy list.
    pub next: u32,
    /// Free-list predecessor (pfn) while in a buddy list.
    pub prev: u32,
    /// For tail pages of a compound page: pfn of the head; else [`NIL`].
    pub compound_head: u32,
    /// Buddy order (free head pages, `page_private`) or compound order (`folio_order`, head pages).
    pub order: u8,
    page_type: u8,
    owner: u8,
    /// Zone index (the kernel keeps it in the top bits of `flags`).
    pub zone: u8,
}

impl Default for PageFrame {
    fn default() -> Self {
        PageFrame {
            flags: 0,
            refcount: 0,
            next: NIL,
            prev: NIL,
            compound_head: NIL,
            order: 0,
            page_type: 0,
            owner: PageOwner::NoRam as u8,
            zone: 0,
        }
    }
}

impl PageFrame {
    /// Tests a page flag.
    ///
    /// Context: any.
    pub fn test(&self, bit: u32) -> bool {
        self.flags & (1 << bit) != 0
    }
    /// Sets a page flag.
    ///
    /// Context: any.
    pub fn set(&mut self, bit: u32) {
        self.flags |= 1 << bit;
    }
    /// Clears a page flag.
    ///
    /// Context: any.
    pub fn clear(&mut self, bit: u32) {
        self.flags &= !(1 << bit);
    }
    /// The page type.
    ///
    /// Context: any.
    pub fn page_type(&self) -> PageType {
        PageType::from_u8(self.page_type)
    }
    /// Sets the page type.
    ///
    /// Context: any.
    pub fn set_page_type(&mut self, t: PageType) {
        self.page_type = t as u8;
    }
    /// `PageBuddy()`.
    ///
    /// Context: any.
    pub fn is_buddy(&self) -> bool {
        self.page_type == PageType::Buddy as u8
    }
    /// The owner.
    ///
    /// Context: any.
    pub fn owner(&self) -> PageOwner {
        PageOwner::from_u8(self.owner & !PRISTINE_USED)
    }
    /// Sets the owner.
    ///
    /// Context: any.
    pub fn set_owner(&mut self, o: PageOwner) {
        self.owner = (self.owner & PRISTINE_USED) | o as u8;
    }
    /// Whether the page was ever handed out by the page allocator since boot (simulator bookkeeping: a page
    /// that never was still holds the zeroes host memory starts with, so zeroing it can be skipped).
    ///
    /// Context: any.
    pub fn ever_allocated(&self) -> bool {
        self.owner & PRISTINE_USED != 0
    }
    /// Marks the page as handed out.
    ///
    /// Context: any.
    pub fn set_allocated(&mut self) {
        self.owner |= PRISTINE_USED;
    }
    /// `PageTail()`.
    ///
    /// Context: any.
    pub fn is_tail(&self) -> bool {
        self.compound_head != NIL
    }
    /// `PageHead()`.
    ///
    /// Context: any.
    pub fn is_head(&self) -> bool {
        self.test(pg::PG_HEAD)
    }
    /// The raw `page_type` / `_mapcount` word (`0xf0000000` for buddy, `0xffffffff` when untyped).
    ///
    /// Context: any.
    pub fn page_type_word(&self) -> u32 {
        if self.page_type == 0 {
            u32::MAX
        } else {
            (self.page_type as u32) << 24
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn compact() {
        assert!(std::mem::size_of::<PageFrame>() <= 24);
    }
}
