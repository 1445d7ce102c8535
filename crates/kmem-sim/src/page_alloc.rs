//! The buddy allocator (mm/page_alloc.c): free lists per order and migrate type, split (`expand`) and merge
//! (`__free_one_page`), migrate-type fallback, zone fallback, watermark checks, `warn_alloc`, `bad_page`.
//!
//! What is simplified, and how:
//! - **No per-cpu page lists (pcp).** Every allocation and free goes straight to the zone's free lists, as if
//!   `pcp->high` were 0. The kernel would hand out order-0..3 pages from per-cpu batches, so the exact pfns a
//!   real kernel returns for small orders differ; the buddy behaviour (lowest address first after a boot,
//!   split and merge) is the same.
//! - **No reclaim, compaction, kswapd or OOM killer.** A request that may sleep goes through the same watermark
//!   and retry decisions, but where the kernel would reclaim, compact or kill, the simulator gives up:
//!   `warn_alloc()` and NULL. (A real kernel loops "forever" for small GFP_KERNEL orders; the simulator fails.)
//! - **`__GFP_NOFAIL`**: tries the zone reserves (`ALLOC_MIN_RESERVE`, then, unlike the kernel,
//!   `ALLOC_NO_WATERMARKS`) and, if that fails too, prints the allocation failure and returns NULL where the
//!   kernel would loop.
//! - **Migrate-type fallback** follows 6.12's `__rmqueue_fallback` order (largest block of a fallback type
//!   first, `find_smallest` for movable requests that cannot steal); claiming a whole pageblock needs at least
//!   half of it free (the kernel also counts "alike" allocated pages, which the simulator does not track).
//! - **Highatomic reserves**: an order > 0 atomic allocation reserves its pageblock as HighAtomic (up to 1% of
//!   the zone, like `reserve_highatomic_pageblock`); reserves are never unreserved (no reclaim path).
//! - **`ALLOC_NOFRAGMENT`** (first pass avoiding fallback while other zones have memory) is left out.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::{Machine, ALLOC_STEP_NS, PAGE_SHIFT};
use crate::page::{pg, PageOwner, PageType, Pfn, NIL};
use crate::panic::Taint;
use crate::printk::LogLevel;
use crate::zone::{
    MigrateType, Zone, ZoneType, MAX_NR_ZONES, MAX_PAGE_ORDER, MIGRATE_PCPTYPES, NR_PAGE_ORDERS, NR_PCP_LISTS,
    PAGE_ALLOC_COSTLY_ORDER,
};

/// `ALLOC_WMARK_MIN`.
pub const ALLOC_WMARK_MIN: u32 = 0;
/// `ALLOC_WMARK_LOW`.
pub const ALLOC_WMARK_LOW: u32 = 1;
/// `ALLOC_WMARK_HIGH`.
pub const ALLOC_WMARK_HIGH: u32 = 2;
/// `ALLOC_NO_WATERMARKS`.
pub const ALLOC_NO_WATERMARKS: u32 = 0x04;
/// `ALLOC_WMARK_MASK`.
pub const ALLOC_WMARK_MASK: u32 = ALLOC_NO_WATERMARKS - 1;
/// `ALLOC_OOM`.
pub const ALLOC_OOM: u32 = 0x08;
/// `ALLOC_NON_BLOCK`.
pub const ALLOC_NON_BLOCK: u32 = 0x10;
/// `ALLOC_MIN_RESERVE`.
pub const ALLOC_MIN_RESERVE: u32 = 0x20;
/// `ALLOC_CPUSET`.
pub const ALLOC_CPUSET: u32 = 0x40;
/// `ALLOC_HIGHATOMIC`.
pub const ALLOC_HIGHATOMIC: u32 = 0x200;
/// `ALLOC_KSWAPD`.
pub const ALLOC_KSWAPD: u32 = 0x800;
/// `ALLOC_RESERVES`.
pub const ALLOC_RESERVES: u32 = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM;

/// Line of `WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp)` in 6.12.117's mm/page_alloc.c.
pub const LINE_ORDER_WARN: u32 = 4832;
/// Line of `might_sleep_if()` in `might_alloc()` (include/linux/sched/mm.h).
pub const LINE_MIGHT_ALLOC: u32 = 321;

/// Page allocator bookkeeping that is not in the zones.
#[derive(Clone, Debug, Default)]
pub struct AllocState {
    /// Migrate type of each pageblock (index: pfn >> 9).
    pub pageblock_mt: Vec<u8>,
    /// `min_free_kbytes`.
    pub min_free_kbytes: u64,
    /// `nopage_rs` ratelimit: (begin jiffies, printed in this interval, missed).
    pub nopage_rs: (u64, u32, u32),
    /// `bad_page()` ratelimit: (resume jiffies, nr_shown, nr_unshown).
    pub bad_page_rs: (u64, u64, u64),
    /// Successful allocations so far.
    pub nr_allocs: u64,
    /// Frees so far.
    pub nr_frees: u64,
    /// Failed allocations so far.
    pub nr_failures: u64,
    /// Pages a bad free left behind (`PageOwner::Leaked`).
    pub nr_leaked: u64,
}

/// Migrate type fallbacks (`fallbacks[]`).
fn fallbacks(mt: MigrateType) -> [MigrateType; 2] {
    match mt {
        MigrateType::Unmovable => [MigrateType::Reclaimable, MigrateType::Movable],
        MigrateType::Movable => [MigrateType::Reclaimable, MigrateType::Unmovable],
        MigrateType::Reclaimable => [MigrateType::Unmovable, MigrateType::Movable],
        MigrateType::HighAtomic => [MigrateType::HighAtomic, MigrateType::HighAtomic],
    }
}

/// A failed allocation's reason (for callers that want to know; the API returns `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// order > MAX_PAGE_ORDER.
    OrderTooLarge,
    /// Fault injection.
    Injected,
    /// No memory within the watermarks.
    NoMemory,
}

impl Machine {
    // ---------------------------------------------------------------- helpers

    /// `pageblock_order`: 9 on x86_64 (HPAGE_PMD_ORDER, with CONFIG_HUGETLB_PAGE or THP), 10 on non-PAE
    /// 32-bit x86 (4 MiB huge pages give order 10; without hugepages it is MAX_PAGE_ORDER anyway).
    ///
    /// Context: any.
    pub fn pageblock_order(&self) -> u32 {
        self.cfg.pageblock_order
    }

    /// `pageblock_nr_pages`.
    ///
    /// Context: any.
    pub fn pageblock_nr_pages(&self) -> u64 {
        1 << self.cfg.pageblock_order
    }

    pub(crate) fn zone_idx_of_type(&self, t: ZoneType) -> usize {
        self.zones.iter().position(|z| z.zone_type == t).unwrap_or(0)
    }

    /// `get_pfnblock_migratetype()`.
    ///
    /// Context: any.
    pub fn pageblock_migratetype(&self, pfn: Pfn) -> MigrateType {
        MigrateType::from_index(self.alloc.pageblock_mt[(pfn.0 >> self.pageblock_order()) as usize] as usize)
    }

    pub(crate) fn set_pageblock_mt(&mut self, pfn: u64, mt: MigrateType) {
        let idx = (pfn >> self.pageblock_order()) as usize;
        self.alloc.pageblock_mt[idx] = mt as u8;
    }

    fn list_add(&mut self, z: usize, order: u32, mt: MigrateType, pfn: u64, tail: bool) {
        let p = pfn as u32;
        let list = self.zones[z].free_area[order as usize].free_list[mt as usize];
        {
            let f = &mut self.pages[pfn as usize];
            f.set_page_type(PageType::Buddy);
            f.order = order as u8;
            f.set_owner(PageOwner::Buddy);
        }
        let mut l = list;
        if l.head == NIL {
            self.pages[pfn as usize].next = NIL;
            self.pages[pfn as usize].prev = NIL;
            l.head = p;
            l.tail = p;
        } else if tail {
            self.pages[pfn as usize].prev = l.tail;
            self.pages[pfn as usize].next = NIL;
            self.pages[l.tail as usize].next = p;
            l.tail = p;
        } else {
            self.pages[pfn as usize].next = l.head;
            self.pages[pfn as usize].prev = NIL;
            self.pages[l.head as usize].prev = p;
            l.head = p;
        }
        l.len += 1;
        let area = &mut self.zones[z].free_area[order as usize];
        area.free_list[mt as usize] = l;
        area.nr_free += 1;
    }

    fn list_del(&mut self, z: usize, order: u32, mt: MigrateType, pfn: u64) {
        let (prev, next) = {
            let f = &self.pages[pfn as usize];
            (f.prev, f.next)
        };
        let area = &mut self.zones[z].free_area[order as usize];
        let l = &mut area.free_list[mt as usize];
        if prev == NIL {
            l.head = next;
        } else {
            self.pages[prev as usize].next = next;
        }
        if next == NIL {
            l.tail = prev;
        } else {
            self.pages[next as usize].prev = prev;
        }
        l.len -= 1;
        area.nr_free -= 1;
        let f = &mut self.pages[pfn as usize];
        f.next = NIL;
        f.prev = NIL;
        f.set_page_type(PageType::None);
        f.order = 0;
    }

    fn account_freepages(&mut self, z: usize, nr: i64, mt: MigrateType) {
        let zone = &mut self.zones[z];
        zone.nr_free_pages = (zone.nr_free_pages as i64 + nr) as u64;
        if mt == MigrateType::HighAtomic {
            zone.nr_free_highatomic = (zone.nr_free_highatomic as i64 + nr) as u64;
        }
    }

    /// `find_buddy_page_pfn()`: the buddy of `pfn` at `order` if it is free at that order in the same zone.
    fn find_buddy(&self, pfn: u64, order: u32, z: usize) -> Option<u64> {
        let buddy = pfn ^ (1 << order);
        let f = self.pages.get(buddy as usize)?;
        (f.is_buddy() && f.order as u32 == order && f.zone as usize == z).then_some(buddy)
    }

    fn buddy_merge_likely(&self, pfn: u64, buddy_pfn: u64, order: u32, z: usize) -> bool {
        if order >= MAX_PAGE_ORDER - 1 {
            return false;
        }
        let higher = buddy_pfn & pfn;
        self.find_buddy(higher, order + 1, z).is_some()
    }

    /// `__free_one_page()`.
    pub(crate) fn free_one_page(&mut self, pfn: u64, order: u32, to_tail_fpi: bool) {
        let z = self.pages[pfn as usize].zone as usize;
        let mut mt = self.pageblock_migratetype(Pfn(pfn));
        let mut pfn = pfn;
        let mut order = order;
        let mut buddy_pfn = pfn;
        self.account_freepages(z, 1 << order, mt);
        while order < MAX_PAGE_ORDER {
            let Some(b) = self.find_buddy(pfn, order, z) else {
                break;
            };
            buddy_pfn = b;
            let mut buddy_mt = mt;
            if order >= self.pageblock_order() {
                buddy_mt = self.pageblock_migratetype(Pfn(b));
                // All modelled types are mergeable (no ISOLATE/CMA).
            }
            let list_mt = self.pageblock_migratetype(Pfn(b));
            self.list_del(z, order, list_mt, b);
            if order >= self.pageblock_order() && buddy_mt != mt {
                // change_pageblock_range(buddy, order, migratetype)
                for i in 0..(1u64 << (order - self.pageblock_order())) {
                    self.set_pageblock_mt(b + i * self.pageblock_nr_pages(), mt);
                }
                if buddy_mt == MigrateType::HighAtomic {
                    self.zones[z].nr_free_highatomic -= 1 << order;
                }
                if mt == MigrateType::HighAtomic {
                    self.zones[z].nr_free_highatomic += 1 << order;
                }
            }
            pfn &= b;
            order += 1;
        }
        mt = self.pageblock_migratetype(Pfn(pfn));
        let to_tail = if to_tail_fpi { true } else { self.buddy_merge_likely(pfn, buddy_pfn, order, z) };
        self.list_add(z, order, mt, pfn, to_tail);
    }

    /// `expand()`: puts the upper halves of a split block on the free lists (at the head).
    fn expand(&mut self, z: usize, pfn: u64, low: u32, high: u32, mt: MigrateType) {
        let mut high = high;
        let mut size = 1u64 << high;
        while high > low {
            high -= 1;
            size >>= 1;
            self.list_add(z, high, mt, pfn + size, false);
        }
    }

    /// `__rmqueue_smallest()`.
    fn rmqueue_smallest(&mut self, z: usize, order: u32, mt: MigrateType) -> Option<u64> {
        for cur in order..=MAX_PAGE_ORDER {
            let head = self.zones[z].free_area[cur as usize].free_list[mt as usize].head;
            if head == NIL {
                continue;
            }
            let pfn = head as u64;
            self.list_del(z, cur, mt, pfn);
            self.account_freepages(z, -(1 << order), mt);
            self.expand(z, pfn, order, cur, mt);
            return Some(pfn);
        }
        None
    }

    fn can_steal_fallback(&self, order: u32, start: MigrateType) -> bool {
        order >= self.pageblock_order() / 2 || start == MigrateType::Reclaimable || start == MigrateType::Unmovable
    }

    fn find_suitable_fallback(&self, z: usize, order: u32, start: MigrateType) -> Option<(MigrateType, bool)> {
        let area = &self.zones[z].free_area[order as usize];
        if area.nr_free == 0 {
            return None;
        }
        for fb in fallbacks(start) {
            if fb == start {
                continue;
            }
            if !area.free_list[fb as usize].is_empty() {
                return Some((fb, self.can_steal_fallback(order, start)));
            }
        }
        None
    }

    /// Moves every free block inside pageblock `block_start` to `new_mt`'s lists; sets the pageblock type.
    fn move_freepages_block(&mut self, z: usize, block_start: u64, old_mt: MigrateType, new_mt: MigrateType) {
        let end = block_start + self.pageblock_nr_pages();
        let mut pfn = block_start;
        let mut moved = 0i64;
        while pfn < end && (pfn as usize) < self.pages.len() {
            let f = self.pages[pfn as usize];
            if f.is_buddy() {
                let o = f.order as u32;
                self.list_del(z, o, old_mt, pfn);
                self.set_pageblock_mt(block_start, new_mt);
                self.list_add(z, o, new_mt, pfn, true);
                moved += 1 << o;
                pfn += 1 << o;
            } else {
                pfn += 1;
            }
        }
        self.set_pageblock_mt(block_start, new_mt);
        if old_mt == MigrateType::HighAtomic {
            self.zones[z].nr_free_highatomic -= moved as u64;
        }
        if new_mt == MigrateType::HighAtomic {
            self.zones[z].nr_free_highatomic += moved as u64;
        }
    }

    fn free_pages_in_block(&self, block_start: u64) -> u64 {
        let end = block_start + self.pageblock_nr_pages();
        let mut pfn = block_start;
        let mut n = 0;
        while pfn < end && (pfn as usize) < self.pages.len() {
            let f = &self.pages[pfn as usize];
            if f.is_buddy() {
                n += 1 << f.order;
                pfn += 1 << f.order;
            } else {
                pfn += 1;
            }
        }
        n
    }

    /// `__rmqueue_fallback()` (simplified, see the module docs).
    fn rmqueue_fallback(&mut self, z: usize, order: u32, start: MigrateType) -> Option<u64> {
        let mut found: Option<(u32, MigrateType, bool)> = None;
        let mut cur = MAX_PAGE_ORDER as i64;
        while cur >= order as i64 {
            if let Some((fb, can_steal)) = self.find_suitable_fallback(z, cur as u32, start) {
                if !can_steal && start == MigrateType::Movable && cur as u32 > order {
                    // find_smallest
                    for o in order..=MAX_PAGE_ORDER {
                        if let Some((fb2, cs2)) = self.find_suitable_fallback(z, o, start) {
                            found = Some((o, fb2, cs2));
                            break;
                        }
                    }
                } else {
                    found = Some((cur as u32, fb, can_steal));
                }
                break;
            }
            cur -= 1;
        }
        let (cur, fb, can_steal) = found?;
        let pfn = self.zones[z].free_area[cur as usize].free_list[fb as usize].head as u64;
        if cur >= self.pageblock_order() {
            // Whole pageblocks: claim them all.
            self.list_del(z, cur, fb, pfn);
            self.account_freepages(z, -(1 << cur), fb);
            self.account_freepages(z, (1 << cur) - (1 << order), start);
            for i in 0..(1u64 << (cur - self.pageblock_order())) {
                self.set_pageblock_mt(pfn + i * self.pageblock_nr_pages(), start);
            }
            self.expand(z, pfn, order, cur, start);
            return Some(pfn);
        }
        let block = pfn & !(self.pageblock_nr_pages() - 1);
        if can_steal && self.free_pages_in_block(block) >= self.pageblock_nr_pages() / 2 {
            self.move_freepages_block(z, block, fb, start);
            return self.rmqueue_smallest(z, order, start);
        }
        self.list_del(z, cur, fb, pfn);
        self.account_freepages(z, -(1 << order), fb);
        self.expand(z, pfn, order, cur, fb);
        Some(pfn)
    }

    /// `rmqueue()`: orders up to `PAGE_ALLOC_COSTLY_ORDER` come from this CPU's per-CPU list
    /// (`rmqueue_pcplist()`), refilled from the buddy allocator in batches; larger ones, and what the list
    /// cannot give, from the buddy allocator (`rmqueue_buddy()`).
    fn rmqueue(&mut self, z: usize, order: u32, mt: MigrateType, alloc_flags: u32) -> Option<u64> {
        if order <= PAGE_ALLOC_COSTLY_ORDER && !self.zones[z].pcp.is_empty() {
            if let Some(pfn) = self.rmqueue_pcplist(z, order, mt, alloc_flags) {
                return Some(pfn);
            }
        }
        self.rmqueue_buddy(z, order, mt, alloc_flags)
    }

    /// `rmqueue_buddy()`.
    fn rmqueue_buddy(&mut self, z: usize, order: u32, mt: MigrateType, alloc_flags: u32) -> Option<u64> {
        let mut page = None;
        if alloc_flags & ALLOC_HIGHATOMIC != 0 {
            page = self.rmqueue_smallest(z, order, MigrateType::HighAtomic);
        }
        if page.is_none() {
            page = self.rmqueue_smallest(z, order, mt).or_else(|| self.rmqueue_fallback(z, order, mt));
            if page.is_none() && alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK) != 0 {
                page = self.rmqueue_smallest(z, order, MigrateType::HighAtomic);
            }
        }
        page
    }

    /// `__zone_watermark_ok()`.
    pub(crate) fn zone_watermark_ok(
        &self,
        z: usize,
        order: u32,
        mark: u64,
        highest_zoneidx: usize,
        alloc_flags: u32,
    ) -> bool {
        let zone = &self.zones[z];
        let mut free = zone.nr_free_pages as i64;
        let mut min = mark as i64;
        let mut unusable = (1i64 << order) - 1;
        if alloc_flags & ALLOC_RESERVES == 0 {
            unusable += zone.nr_free_highatomic as i64;
        }
        free -= unusable;
        if alloc_flags & ALLOC_RESERVES != 0 {
            if alloc_flags & ALLOC_MIN_RESERVE != 0 {
                min -= min / 2;
                if alloc_flags & ALLOC_NON_BLOCK != 0 {
                    min -= min / 4;
                }
            }
            if alloc_flags & ALLOC_OOM != 0 {
                min -= min / 2;
            }
        }
        if free <= min + zone.lowmem_reserve[highest_zoneidx] as i64 {
            return false;
        }
        if order == 0 {
            return true;
        }
        for o in order as usize..NR_PAGE_ORDERS {
            let area = &zone.free_area[o];
            if area.nr_free == 0 {
                continue;
            }
            for mt in 0..MIGRATE_PCPTYPES {
                if !area.free_list[mt].is_empty() {
                    return true;
                }
            }
            if alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM) != 0
                && !area.free_list[MigrateType::HighAtomic as usize].is_empty()
            {
                return true;
            }
        }
        false
    }

    /// `reserve_highatomic_pageblock()`.
    fn reserve_highatomic_pageblock(&mut self, pfn: u64, z: usize) {
        // ALIGN(zone_managed_pages(zone) / 100, pageblock_nr_pages)
        let max_managed =
            (self.zones[z].managed_pages / 100).div_ceil(self.pageblock_nr_pages()) * self.pageblock_nr_pages();
        if self.zones[z].nr_reserved_highatomic >= max_managed {
            return;
        }
        let block = pfn & !(self.pageblock_nr_pages() - 1);
        let mt = self.pageblock_migratetype(Pfn(block));
        if mt == MigrateType::HighAtomic {
            return;
        }
        self.zones[z].nr_reserved_highatomic += self.pageblock_nr_pages();
        self.move_freepages_block(z, block, mt, MigrateType::HighAtomic);
    }

    /// `prep_new_page()`: refcount, compound metadata, zeroing, owner.
    fn prep_new_page(&mut self, pfn: u64, order: u32, gfp: Gfp) {
        let n = 1u64 << order;
        // post_alloc_hook(): the block back in the direct map (debug_page_alloc.rs).
        self.debug_pagealloc_map_pages(pfn, n);
        let comp = gfp.intersects(Gfp::__GFP_COMP) && order > 0;
        for i in 0..n {
            let f = &mut self.pages[(pfn + i) as usize];
            f.set_page_type(PageType::None);
            f.set_owner(PageOwner::PageAlloc);
            f.refcount = 0;
            f.flags &= !(1 << pg::PG_HEAD);
            f.compound_head = if comp && i > 0 { pfn as u32 } else { NIL };
            f.order = 0;
        }
        let head = &mut self.pages[pfn as usize];
        head.refcount = 1;
        head.order = order as u8;
        if comp {
            head.set(pg::PG_HEAD);
        }
        if gfp.intersects(Gfp::__GFP_ZERO) {
            // Pages never handed out since boot still hold host memory's zeroes.
            for i in 0..n {
                if self.pages[(pfn + i) as usize].ever_allocated() {
                    let _ = self.mem.fill((pfn + i) << PAGE_SHIFT, 1u64 << PAGE_SHIFT, 0);
                }
            }
        }
        for i in 0..n {
            self.pages[(pfn + i) as usize].set_allocated();
        }
    }

    /// `gfp_to_alloc_flags()`.
    fn gfp_to_alloc_flags(gfp: Gfp, order: u32) -> u32 {
        let mut f = ALLOC_WMARK_MIN | ALLOC_CPUSET;
        if gfp.intersects(Gfp::__GFP_HIGH) {
            f |= ALLOC_MIN_RESERVE;
        }
        if gfp.intersects(Gfp::__GFP_KSWAPD_RECLAIM) {
            f |= ALLOC_KSWAPD;
        }
        if !gfp.intersects(Gfp::__GFP_DIRECT_RECLAIM) {
            if !gfp.intersects(Gfp::__GFP_NOMEMALLOC) {
                f |= ALLOC_NON_BLOCK;
                if order > 0 {
                    f |= ALLOC_HIGHATOMIC;
                }
            }
            if f & ALLOC_MIN_RESERVE != 0 {
                f &= !ALLOC_CPUSET;
            }
        }
        f
    }

    /// `get_page_from_freelist()`: walks the zonelist from the highest usable zone down.
    fn get_page_from_freelist(&mut self, gfp: Gfp, order: u32, alloc_flags: u32, highest: usize) -> Option<u64> {
        let mt = gfp.migratetype();
        for z in (0..=highest.min(self.zones.len() - 1)).rev() {
            if !self.zones[z].populated() {
                continue;
            }
            if alloc_flags & ALLOC_NO_WATERMARKS == 0 {
                // get_page_from_freelist(): below the high watermark the per-CPU lists keep fewer pages.
                if !self.zones[z].below_high {
                    let high = self.zones[z].high_wmark();
                    if !self.zone_watermark_ok(z, order, high, highest, alloc_flags) {
                        self.zones[z].below_high = true;
                    }
                }
                let mark = self.zones[z].watermark[(alloc_flags & ALLOC_WMARK_MASK) as usize];
                if !self.zone_watermark_ok(z, order, mark, highest, alloc_flags) {
                    continue;
                }
            }
            let mut got = None;
            while let Some(pfn) = self.rmqueue(z, order, mt, alloc_flags) {
                if self.check_new_pages(pfn, order) {
                    got = Some(pfn);
                    break;
                }
            }
            if let Some(pfn) = got {
                self.prep_new_page(pfn, order, gfp);
                if alloc_flags & ALLOC_HIGHATOMIC != 0 && order > 0 {
                    self.reserve_highatomic_pageblock(pfn, z);
                }
                return Some(pfn);
            }
        }
        None
    }

    /// The full allocation path; `Err` says why it failed (after any report was printed).
    ///
    /// Context: any; may report sleeping in atomic context for blocking gfp.
    pub fn try_alloc_pages(&mut self, gfp: Gfp, order: u32) -> Result<Pfn, AllocError> {
        self.clock_ns += ALLOC_STEP_NS;
        let r = self.with_frame("__alloc_pages_noprof", |m| m.alloc_pages_inner(gfp, order));
        match r {
            Ok(p) => {
                self.alloc.nr_allocs += 1;
                Ok(Pfn(p))
            }
            Err(e) => {
                self.alloc.nr_failures += 1;
                Err(e)
            }
        }
    }

    fn alloc_pages_inner(&mut self, gfp: Gfp, order: u32) -> Result<u64, AllocError> {
        if order > MAX_PAGE_ORDER {
            if !gfp.intersects(Gfp::__GFP_NOWARN) {
                self.warn_once("mm/page_alloc.c", LINE_ORDER_WARN, None);
            }
            return Err(AllocError::OrderTooLarge);
        }
        // The scope API's constraints (memalloc_noio_save() …) apply to everything after this point,
        // the failure report's mode included.
        let gfp = self.current_gfp_context(gfp);
        self.might_alloc(gfp);
        if self.should_fail_alloc_page(gfp, order) {
            return Err(AllocError::Injected);
        }
        let has_dma32 = self.zones.iter().any(|z| z.zone_type == ZoneType::Dma32);
        let has_highmem = self.zones.iter().any(|z| z.zone_type == ZoneType::HighMem);
        // gfp_zone(): a combination of zone modifiers GFP_ZONE_TABLE has no entry for (GFP_ZONE_BAD) reads as 0,
        // ZONE_DMA; the VM_BUG_ON() that would catch it is compiled out (the real kernel hands out a DMA page).
        let zt = gfp.gfp_zone(has_highmem, has_dma32).unwrap_or(ZoneType::Dma);
        let highest = self.zone_idx_of_type(zt);
        if let Some(p) = self.get_page_from_freelist(gfp, order, ALLOC_WMARK_LOW, highest) {
            return Ok(p);
        }
        self.push_kframe("__alloc_pages_slowpath");
        let r = self.alloc_slowpath(gfp, order, highest);
        self.pop_frame();
        r
    }

    fn alloc_slowpath(&mut self, gfp: Gfp, order: u32, highest: usize) -> Result<u64, AllocError> {
        let can_direct_reclaim = gfp.gfpflags_allow_blocking();
        if gfp.intersects(Gfp::__GFP_NOFAIL) {
            // Plain WARN_ON_ONCE()s (not silenced by __GFP_NOWARN) at the top of __alloc_pages_slowpath().
            if order > 1 {
                self.warn_once("mm/page_alloc.c", 4309, None);
            }
            if !can_direct_reclaim {
                self.warn_once("mm/page_alloc.c", 4314, None);
            }
        }
        let alloc_flags = Self::gfp_to_alloc_flags(gfp, order);
        if let Some(p) = self.get_page_from_freelist(gfp, order, alloc_flags, highest) {
            return Ok(p);
        }
        // __GFP_MEMALLOC: ALLOC_NO_WATERMARKS (__gfp_pfmemalloc_flags).
        if gfp.intersects(Gfp::__GFP_MEMALLOC) && !gfp.intersects(Gfp::__GFP_NOMEMALLOC) {
            if let Some(p) = self.get_page_from_freelist(gfp, order, ALLOC_NO_WATERMARKS, highest) {
                return Ok(p);
            }
        }
        // __alloc_pages_direct_reclaim(): nothing is reclaimed (no LRU pages to write back are modelled), but
        // before giving up it drains the per-CPU lists once and retries.
        if can_direct_reclaim {
            self.drain_all_pages();
            if let Some(p) = self.get_page_from_freelist(gfp, order, alloc_flags, highest) {
                return Ok(p);
            }
        }
        // No compaction or OOM killer in the simulator: everything goes to nopage.
        if gfp.intersects(Gfp::__GFP_NOFAIL) && can_direct_reclaim {
            if let Some(p) = self.get_page_from_freelist(gfp, order, ALLOC_MIN_RESERVE, highest) {
                return Ok(p);
            }
            // Where the kernel would loop until memory shows up, the simulator dips into everything.
            if let Some(p) = self.get_page_from_freelist(gfp, order, ALLOC_NO_WATERMARKS, highest) {
                return Ok(p);
            }
        }
        self.warn_alloc(gfp, &format!("page allocation failure: order:{order}"));
        Err(AllocError::NoMemory)
    }

    /// `warn_alloc()`: unless `__GFP_NOWARN` or rate limited (one per 10 s of simulated time), prints
    /// `<comm>: <msg>, mode:0x..(..), nodemask=(null),cpuset=/,mems_allowed=0`, a stack dump and `Mem-Info:`.
    ///
    /// Context: any.
    pub fn warn_alloc(&mut self, gfp: Gfp, msg: &str) {
        if gfp.intersects(Gfp::__GFP_NOWARN) || !self.ratelimit_nopage() {
            return;
        }
        let comm = self.current().comm.clone();
        self.printk(LogLevel::Warning, &format!("{comm}: {msg}, mode:{gfp}, nodemask=(null)"));
        if self.cfg.cpusets {
            self.pr_cont(",cpuset=/,mems_allowed=0");
        }
        self.pr_cont("\n");
        self.dump_stack_with(&["warn_alloc"]);
        let has_dma32 = self.zones.iter().any(|z| z.zone_type == ZoneType::Dma32);
        let has_highmem = self.zones.iter().any(|z| z.zone_type == ZoneType::HighMem);
        let max_zone =
            gfp.gfp_zone(has_highmem, has_dma32).map(|t| self.zone_idx_of_type(t)).unwrap_or(MAX_NR_ZONES - 1);
        self.show_mem(max_zone);
    }

    /// `__ratelimit(&nopage_rs)` with interval 10*HZ, burst 1.
    fn ratelimit_nopage(&mut self) -> bool {
        let j = self.jiffies();
        let (begin, printed, missed) = self.alloc.nopage_rs;
        let interval = 10 * crate::printk::HZ;
        if printed == 0 && begin == 0 && missed == 0 {
            self.alloc.nopage_rs = (j.max(1), 1, 0);
            return true;
        }
        if j >= begin + interval {
            if missed > 0 {
                self.printk(LogLevel::Warning, &format!("warn_alloc: {missed} callbacks suppressed\n"));
            }
            self.alloc.nopage_rs = (j, 1, 0);
            return true;
        }
        if printed < 1 {
            self.alloc.nopage_rs.1 += 1;
            return true;
        }
        self.alloc.nopage_rs.2 += 1;
        false
    }

    // ---------------------------------------------------------------- public allocation API

    /// `might_alloc(gfp)`: `might_sleep_if(gfpflags_allow_blocking(gfp))`, reported at
    /// include/linux/sched/mm.h:321 as the kernel's inline function is. For other allocators (slab, vmalloc).
    ///
    /// Context: any.
    pub fn might_alloc(&mut self, gfp: Gfp) {
        if gfp.gfpflags_allow_blocking() {
            self.might_sleep("include/linux/sched/mm.h", LINE_MIGHT_ALLOC);
        }
    }

    /// `alloc_pages(gfp, order)`: `2^order` contiguous frames, `None` on failure (after the kernel's reports).
    ///
    /// Context: any; with a gfp that allows blocking, process context outside atomic sections (else the
    /// sleeping-in-atomic report is printed and the allocation still proceeds, as in the kernel).
    pub fn alloc_pages(&mut self, gfp: Gfp, order: u32) -> Option<Pfn> {
        let depth = self.stack.frames.len();
        // mm/mempolicy.c: alloc_pages_noprof() -> alloc_pages_mpol_noprof() -> __alloc_pages_noprof().
        self.push_kframe("alloc_pages_noprof");
        self.push_kframe("alloc_pages_mpol_noprof");
        let r = self.try_alloc_pages(gfp, order).ok();
        self.stack.frames.truncate(depth);
        r
    }

    /// `alloc_page(gfp)`.
    ///
    /// Context: as [`Machine::alloc_pages`].
    pub fn alloc_page(&mut self, gfp: Gfp) -> Option<Pfn> {
        self.alloc_pages(gfp, 0)
    }

    /// `__get_free_pages(gfp, order)`: allocates without `__GFP_HIGHMEM` and returns the direct-map address,
    /// 0 on failure.
    ///
    /// Context: as [`Machine::alloc_pages`].
    #[allow(non_snake_case)]
    pub fn __get_free_pages(&mut self, gfp: Gfp, order: u32) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("get_free_pages_noprof");
        self.push_kframe("alloc_pages_noprof");
        self.push_kframe("alloc_pages_mpol_noprof");
        let r = self.try_alloc_pages(gfp & !Gfp::__GFP_HIGHMEM, order).ok();
        self.stack.frames.truncate(depth);
        match r {
            Some(p) => self.page_address(p),
            None => 0,
        }
    }

    /// `__get_free_page(gfp)`.
    ///
    /// Context: as [`Machine::alloc_pages`].
    #[allow(non_snake_case)]
    pub fn __get_free_page(&mut self, gfp: Gfp) -> u64 {
        self.__get_free_pages(gfp, 0)
    }

    /// `get_zeroed_page(gfp)`: one zeroed page's address, 0 on failure.
    ///
    /// Context: as [`Machine::alloc_pages`].
    pub fn get_zeroed_page(&mut self, gfp: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("get_zeroed_page_noprof");
        let a = self.__get_free_pages(gfp | Gfp::__GFP_ZERO, 0);
        self.stack.frames.truncate(depth);
        a
    }

    /// `alloc_pages_exact(size, gfp)`: allocates `get_order(size)` pages (no `__GFP_COMP`) and frees the unused
    /// tail pages; returns the address or 0.
    ///
    /// Context: as [`Machine::alloc_pages`].
    pub fn alloc_pages_exact(&mut self, size: u64, gfp: Gfp) -> u64 {
        let order = get_order(size);
        let gfp = gfp & !Gfp::__GFP_COMP;
        let depth = self.stack.frames.len();
        self.push_kframe("alloc_pages_exact_noprof");
        let addr = self.__get_free_pages(gfp, order);
        self.stack.frames.truncate(depth);
        if addr == 0 {
            return 0;
        }
        let pfn = self.__pa(addr) >> PAGE_SHIFT;
        let used = size.div_ceil(4096).max(1);
        // split_page(): every page gets its own reference
        for i in 0..(1u64 << order) {
            let f = &mut self.pages[(pfn + i) as usize];
            f.refcount = 1;
            f.order = 0;
        }
        for i in used..(1u64 << order) {
            self.free_pages_checked(pfn + i, 0);
        }
        addr
    }

    /// `node_zonelist(nid, gfp)` followed by the first read of the zonelist (`first_zones_zonelist()`), for
    /// the entry points that take a `preferred_nid`: on the book's machines only node 0 exists, and
    /// `NODE_DATA(nid)` of any other node is NULL (`node_data[]` has no entry for it; for `NUMA_NO_NODE` the
    /// word before the array, which the real oops shows is 0 too), so the read of
    /// `NODE_DATA(nid)->node_zonelists[gfp_zonelist(gfp)]._zonerefs[0].zone_idx` faults at
    /// `0x1300 + 0x1010 * THISNODE + 8` (offsets measured in the real build, listings/kernel/struct-offsets.txt).
    /// The inline wrappers (`alloc_pages_node()`, `alloc_pages_bulk_array()` …) turn `NUMA_NO_NODE` into
    /// `numa_mem_id()` first; a direct caller must not pass it. Without CONFIG_NUMA (the 32-bit profile) the
    /// node is ignored.
    ///
    /// Context: any. Returns whether the node can be used (false after the oops).
    pub fn node_zonelist_ok(&mut self, nid: i32, gfp: Gfp) -> bool {
        if nid == 0 || !self.cfg.numa {
            return true;
        }
        const NODE_ZONELISTS: u64 = 0x1300;
        const SIZEOF_ZONELIST: u64 = 0x1010;
        const ZONEREF_ZONE_IDX: u64 = 0x8;
        let thisnode = gfp.intersects(Gfp::__GFP_THISNODE) as u64;
        self.die_on_access(NODE_ZONELISTS + SIZEOF_ZONELIST * thisnode + ZONEREF_ZONE_IDX);
        false
    }

    /// `__alloc_pages_noprof(gfp, order, preferred_nid, NULL)`: [`Machine::alloc_pages`] on a preferred node
    /// (which must exist, see [`Machine::node_zonelist_ok`]).
    ///
    /// Context: as [`Machine::alloc_pages`].
    pub fn alloc_pages_nid(&mut self, gfp: Gfp, order: u32, nid: i32) -> Option<Pfn> {
        let depth = self.stack.frames.len();
        self.push_kframe("__alloc_pages_noprof");
        let ok = order > MAX_PAGE_ORDER || self.node_zonelist_ok(nid, gfp);
        self.stack.frames.truncate(depth);
        if !ok {
            return None;
        }
        self.try_alloc_pages(gfp, order).ok()
    }

    /// A function of the page allocator given a `struct page` pointer that is none (NULL, or outside the memory
    /// map — an unchecked `alloc_pages()` failure, a pointer computed wrongly): its first read of the page,
    /// `page->flags`, faults at that address, inside `func`, as on the real kernel (`__free_pages(NULL, 0)`:
    /// `BUG: kernel NULL pointer dereference, address: 0000000000000000`, RIP in `__free_pages`). A pointer into
    /// the memory map that is not the start of a `struct page` is not modelled (the kernel would read another
    /// page's fields); it is treated the same way.
    ///
    /// Context: any.
    pub fn bad_page_pointer(&mut self, page: u64, func: &'static str) {
        let depth = self.stack.frames.len();
        self.push_kframe(func);
        self.die_on_access(page);
        self.stack.frames.truncate(depth);
    }

    /// `split_page(page, order)`: turns a non-compound order-`order` allocation into `2^order` order-0 pages,
    /// each with its own reference (`set_page_refcounted()` of every page after the first), so that they are
    /// freed one by one. The kernel's checks of a compound or unreferenced `page` are `VM_BUG_ON_PAGE()`s,
    /// compiled out without `CONFIG_DEBUG_VM` (the book's kernel); what the kernel then does to a compound
    /// page's metadata is not modelled: the simulator leaves such a page as it is.
    ///
    /// Context: any.
    pub fn split_page(&mut self, page: Pfn, order: u32) {
        let Some(f) = self.pages.get(page.0 as usize).copied() else {
            return;
        };
        if f.is_head() || f.is_tail() || f.refcount == 0 || page.0 + (1 << order) > self.pages.len() as u64 {
            return;
        }
        for i in 0..(1u64 << order) {
            let g = &mut self.pages[(page.0 + i) as usize];
            if i > 0 {
                g.refcount = 1;
            }
            g.order = 0;
        }
    }

    /// `alloc_pages_bulk_noprof(gfp, nid, NULL, nr_pages, NULL, page_array)` (the array form; `nid` must be a
    /// node of the machine, see [`Machine::node_zonelist_ok`]):
    /// fills the NULL entries of `array[..nr_pages]` with order-0 pages and returns how many entries are
    /// populated. Entries already set are skipped (and counted). As mm/page_alloc.c does it: with one page to
    /// get, or `__GFP_ACCOUNT`, or no zone above its low watermark plus `nr_pages`, a single `__alloc_pages()`;
    /// otherwise pages straight from this CPU's per-CPU list of the zone (`__rmqueue_pcplist()`, refilled in
    /// batches from the buddy allocator), without the slow path, stopping when the list and the buddy
    /// allocator have none left (falling back to one `__alloc_pages()` if not even one came).
    ///
    /// Context: as [`Machine::alloc_pages`].
    pub fn alloc_pages_bulk(&mut self, gfp: Gfp, nid: i32, array: &mut [Option<Pfn>]) -> usize {
        self.with_frame("alloc_pages_bulk_noprof", |m| m.alloc_pages_bulk_inner(gfp, nid, array))
    }

    fn alloc_pages_bulk_inner(&mut self, gfp: Gfp, nid: i32, array: &mut [Option<Pfn>]) -> usize {
        let nr_pages = array.len();
        let mut nr = array.iter().take_while(|p| p.is_some()).count();
        if nr_pages == 0 || nr == nr_pages {
            return nr;
        }
        let single = |m: &mut Self, array: &mut [Option<Pfn>], nr: usize| -> usize {
            // failed: __alloc_pages_noprof(gfp, 0, preferred_nid, nodemask) into the first hole.
            let Some(p) = m.alloc_pages_nid(gfp, 0, nid) else { return nr };
            let i = array.iter().position(|p| p.is_none()).unwrap_or(nr);
            array[i] = Some(p);
            nr + 1
        };
        if gfp.intersects(Gfp::__GFP_ACCOUNT) || nr_pages - nr == 1 {
            return single(self, array, nr);
        }
        // prepare_alloc_pages(): the scope constraints, might_alloc(), fault injection.
        let gfp = self.current_gfp_context(gfp);
        self.might_alloc(gfp);
        if self.should_fail_alloc_page(gfp, 0) {
            return nr;
        }
        // for_each_zone_zonelist_nodemask() reads the preferred node's zonelist.
        if !self.node_zonelist_ok(nid, gfp) {
            return nr;
        }
        let has_dma32 = self.zones.iter().any(|z| z.zone_type == ZoneType::Dma32);
        let has_highmem = self.zones.iter().any(|z| z.zone_type == ZoneType::HighMem);
        let zt = gfp.gfp_zone(has_highmem, has_dma32).unwrap_or(ZoneType::Dma);
        let highest = self.zone_idx_of_type(zt);
        let mt = gfp.migratetype();
        let zone = (0..=highest.min(self.zones.len() - 1)).rev().find(|&z| {
            self.zones[z].populated() && {
                let mark = self.zones[z].watermark[ALLOC_WMARK_LOW as usize] + nr_pages as u64;
                self.zone_watermark_ok(z, 0, mark, highest, ALLOC_WMARK_LOW | ALLOC_CPUSET)
            }
        });
        let Some(z) = zone.filter(|&z| !self.zones[z].pcp.is_empty()) else {
            return single(self, array, nr);
        };
        let mut got = 0;
        while nr < nr_pages {
            if array[nr].is_some() {
                nr += 1;
                continue;
            }
            let Some(pfn) = self.rmqueue_pcplist(z, 0, mt, ALLOC_WMARK_LOW) else {
                if got == 0 {
                    return single(self, array, nr);
                }
                break;
            };
            got += 1;
            self.prep_new_page(pfn, 0, gfp);
            self.alloc.nr_allocs += 1;
            array[nr] = Some(Pfn(pfn));
            nr += 1;
        }
        nr
    }

    /// `__folio_alloc_noprof(gfp, order, nid, NULL)` / `folio_alloc_noprof(gfp, order)` (node 0): `alloc_pages()` with
    /// `__GFP_COMP` — a folio is a compound page seen through its head (`page_rmappable_folio()` only marks
    /// orders above 1 as rmappable, which nothing here reads).
    ///
    /// Context: as [`Machine::alloc_pages`]. Returns the head page or None.
    pub fn folio_alloc(&mut self, gfp: Gfp, order: u32, nid: i32) -> Option<Pfn> {
        let depth = self.stack.frames.len();
        self.push_kframe("folio_alloc_noprof");
        self.push_kframe("__folio_alloc_noprof");
        let r = self.alloc_pages_nid(gfp | Gfp::__GFP_COMP, order, nid);
        self.stack.frames.truncate(depth);
        r
    }

    /// `__folio_put(folio)`: what the inline `folio_put()` calls when it has dropped the last reference:
    /// the folio goes back to the page allocator at its order (`free_unref_page(&folio->page,
    /// folio_order(folio))`), whatever its count. A pointer that is not a folio's head is not modelled (the
    /// kernel would read a tail page as a folio and free what that names): the simulator leaves it alone.
    ///
    /// Context: any.
    pub fn __folio_put(&mut self, folio: Pfn) {
        let Some(f) = self.pages.get(folio.0 as usize).copied() else {
            return;
        };
        if f.is_tail() || f.owner() != PageOwner::PageAlloc {
            return;
        }
        let order = if f.is_head() { f.order as u32 } else { 0 };
        let depth = self.stack.frames.len();
        self.push_kframe("__folio_put");
        self.free_range_to_buddy(folio.0, order);
        self.alloc.nr_frees += 1;
        self.stack.frames.truncate(depth);
    }

    /// `free_pages_exact(addr, size)`.
    ///
    /// Context: any.
    pub fn free_pages_exact(&mut self, addr: u64, size: u64) {
        let n = size.div_ceil(4096).max(1);
        for i in 0..n {
            self.free_pages(addr + i * 4096, 0);
        }
    }

    /// `__free_pages(page, order)`: drops a reference; at zero, returns the `2^order` frames to the buddy
    /// allocator. A bad free (already free, reserved, wrong order, tail page) prints `BUG: Bad page state` and
    /// is refused; the page state and free-page counts stay intact.
    ///
    /// Context: any.
    #[allow(non_snake_case)]
    pub fn __free_pages(&mut self, page: Pfn, order: u32) {
        self.clock_ns += ALLOC_STEP_NS;
        let depth = self.stack.frames.len();
        self.push_kframe("__free_pages");
        self.free_pages_checked(page.0, order);
        self.stack.frames.truncate(depth);
    }

    /// `__free_page(page)`.
    ///
    /// Context: any.
    #[allow(non_snake_case)]
    pub fn __free_page(&mut self, page: Pfn) {
        self.__free_pages(page, 0);
    }

    /// `free_pages(addr, order)`: `addr` 0 does nothing; else `__free_pages(virt_to_page(addr), order)`; an
    /// address outside the direct map oopses reading the `struct page` it names.
    ///
    /// Context: any.
    pub fn free_pages(&mut self, addr: u64, order: u32) {
        if addr == 0 {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("free_pages");
        match self.virt_to_page(addr) {
            Some(p) if self.pfn_valid(p) => self.__free_pages(p, order),
            _ => {
                // VM_BUG_ON(!virt_addr_valid(addr)) is compiled out without CONFIG_DEBUG_VM: free_pages()
                // tail-calls __free_pages(virt_to_page(addr)), whose first read, the page's flags, faults at
                // the struct page that arithmetic names (outside the memory map), as on the real kernel
                // (`free_pages()` of a vmalloc address faults at 0xffffeb02…).
                self.stack.frames.truncate(depth);
                self.push_kframe("__free_pages");
                let page = self.vmemmap_addr_of(addr);
                self.die_on_access(page);
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `free_page(addr)`.
    ///
    /// Context: any.
    pub fn free_page(&mut self, addr: u64) {
        self.free_pages(addr, 0);
    }

    /// `get_page()`: takes a reference.
    ///
    /// Context: any.
    pub fn get_page(&mut self, page: Pfn) {
        if let Some(f) = self.pages.get_mut(page.0 as usize) {
            f.refcount += 1;
        }
    }

    /// `page_ref_count()`.
    ///
    /// Context: any.
    pub fn page_ref_count(&self, page: Pfn) -> i32 {
        self.pages.get(page.0 as usize).map(|f| f.refcount).unwrap_or(0)
    }

    /// `free_contig_range(pfn, nr_pages)`: gives back a range of pages allocated as one (by
    /// `alloc_contig_range()` in the kernel, or a block after `split_page()`). A large folio must be given back
    /// whole, with a reference dropped (`folio_put()`); a count that is not its size is a WARN and frees
    /// nothing. Otherwise each page gets `__free_page()`, and pages whose count was not 1 (still used by
    /// someone else, or never referenced: a tail of a block that was not split) are counted in a WARN.
    ///
    /// Context: process or atomic context.
    pub fn free_contig_range(&mut self, pfn: u64, nr_pages: u64) {
        self.with_frame("free_contig_range", |m| {
            let Some(f) = m.pages.get(pfn as usize).copied() else {
                m.warn("mm/page_alloc.c", 4953, Some(&format!("free_contig_range: invalid pfn {pfn:#x}")));
                return;
            };
            if f.is_head() && f.order > 0 {
                let expected = 1u64 << f.order;
                if nr_pages == expected {
                    m.put_page(Pfn(pfn));
                } else {
                    m.warn(
                        "mm/page_alloc.c",
                        6914,
                        Some(&format!("PFN {pfn}: nr_pages {nr_pages} != expected {expected}\n")),
                    );
                }
                return;
            }
            let mut count = 0u64;
            for p in pfn..pfn.saturating_add(nr_pages).min(m.pages.len() as u64) {
                count += (m.page_ref_count(Pfn(p)) != 1) as u64;
                m.__free_page(Pfn(p));
            }
            if count != 0 {
                m.warn("mm/page_alloc.c", 6924, Some(&format!("{count} pages are still in use!\n")));
            }
        })
    }

    /// `put_page()` of an order-0 or compound page: frees at the last reference.
    ///
    /// Context: any.
    pub fn put_page(&mut self, page: Pfn) {
        let Some(f) = self.pages.get(page.0 as usize).copied() else {
            return;
        };
        let order = if f.is_head() { f.order as u32 } else { 0 };
        self.__free_pages(page, order);
    }

    /// `is_check_pages_enabled()` (mm/mm_init.c): the sanity checks of `struct page` on free and allocation run
    /// only with CONFIG_DEBUG_VM or when a page debugging or hardening option is on — `init_on_alloc=1`,
    /// `init_on_free=1`, `debug_pagealloc=on` (`mem_debugging_and_hardening_init()`'s `want_check_pages`;
    /// `page_poison=1` is not modelled). The book's kernel has none of them by default, so without them a bad
    /// free goes unreported, as there.
    ///
    /// Context: any.
    pub fn check_pages_enabled(&self) -> bool {
        self.slab.cfg.init_on_alloc || self.slab.cfg.init_on_free || self.debug_pagealloc_enabled()
    }

    /// `__free_pages()` and `free_pages_prepare()`, then the free.
    ///
    /// `put_page_testzero()` drops the reference; only when it reaches zero is the block freed. A reference
    /// that does not reach zero — a page already free (0 → -1), a tail page, a block another holder still has
    /// — frees nothing, but for a block that is not compound the kernel then frees its tail half by half
    /// (`while (order-- > 0) free_unref_page(page + (1 << order), order)`), which the simulator does for an
    /// allocated block; for a block already free that would free free pages again, which corrupts the
    /// kernel's free lists, and the simulator does not follow. Nothing is printed in any of these cases: the
    /// kernel's checks of the freed page (`free_page_is_bad()`) run only when the block is freed, and only with
    /// [`Machine::check_pages_enabled`]; with them, a page the allocator finds bad later (a count of -1) is
    /// reported when it is allocated again (`check_new_pages()`).
    ///
    /// At zero, with the checks, a reserved page, a page with a type (slab …) and, for `order > 0`, every page
    /// of the range that is free or in use elsewhere are `Bad page state` reports, and nothing is freed.
    /// Without them the kernel frees what it is told — a reserved page, a slab's page, the neighbours of a
    /// block freed with too large an order — into the free lists, corrupting them or handing memory in use out
    /// again; the simulator frees nothing then (stated in the book's chapter on the buddy allocator). Too
    /// small an order frees the first `2^order` pages and leaks the rest, as the kernel does.
    fn free_pages_checked(&mut self, pfn: u64, order: u32) {
        if pfn >= self.pages.len() as u64 || order > MAX_PAGE_ORDER {
            self.warn("mm/page_alloc.c", 4953, Some(&format!("__free_pages: invalid pfn {pfn:#x} order {order}")));
            return;
        }
        let f = self.pages[pfn as usize];
        let head = f.is_head();
        // put_page_testzero()
        self.pages[pfn as usize].refcount -= 1;
        if f.refcount != 1 {
            let in_use = !matches!(f.owner(), PageOwner::Buddy | PageOwner::Pcp | PageOwner::NoRam | PageOwner::Leaked)
                && !f.is_tail()
                && f.refcount > 1;
            if !head && in_use && order > 0 && order <= f.order as u32 {
                let mut o = order;
                while o > 0 {
                    o -= 1;
                    let first = pfn + (1 << o);
                    self.free_range_to_buddy(first, o);
                    self.alloc.nr_frees += 1;
                }
                // What the holder keeps is the first page alone.
                self.pages[pfn as usize].order = 0;
            }
            return;
        }
        // free_unref_page() -> free_pages_prepare()
        let alloc_order = f.order as u32;
        let checks = self.check_pages_enabled();
        if checks {
            if f.test(pg::PG_RESERVED) {
                self.bad_page(pfn, "PAGE_FLAGS_CHECK_AT_FREE flag(s) set", None);
                return;
            }
            if f.page_type() != PageType::None {
                self.bad_page(pfn, "nonzero mapcount", None);
                return;
            }
            if !head && order > alloc_order {
                // free_page_is_bad() of every page of the range: the ones beyond the allocation.
                let mut bad = false;
                for i in (1u64 << alloc_order)..(1u64 << order) {
                    let g = self.pages[(pfn + i) as usize];
                    if g.owner() == PageOwner::Buddy || g.owner() == PageOwner::Pcp {
                        self.bad_page(pfn + i, "nonzero mapcount", None);
                        bad = true;
                    } else if g.refcount != 0 {
                        self.bad_page(pfn + i, "nonzero _refcount", None);
                        bad = true;
                    }
                }
                if bad {
                    return;
                }
            }
        }
        let corrupting = f.test(pg::PG_RESERVED)
            || f.page_type() != PageType::None
            || (head && order != alloc_order)
            || (!head && order > alloc_order)
            || matches!(
                f.owner(),
                PageOwner::Buddy | PageOwner::Pcp | PageOwner::NoRam | PageOwner::Leaked | PageOwner::Reserved
            );
        if corrupting {
            // What the kernel would free here is not the caller's to free; the simulator keeps its lists intact
            // and leaves the page as it is (with the reference dropped).
            return;
        }
        if order < alloc_order {
            // The first 2^order pages go back; the rest of the block is leaked (count 0, never freed).
            for i in (1u64 << order)..(1u64 << alloc_order) {
                let g = &mut self.pages[(pfn + i) as usize];
                if !matches!(g.owner(), PageOwner::Buddy | PageOwner::Pcp) {
                    g.order = 0;
                }
            }
        }
        self.free_range_to_buddy(pfn, order);
        self.alloc.nr_frees += 1;
    }

    /// `check_new_pages()` (with [`Machine::check_pages_enabled`]): every page of a block the allocator is about
    /// to hand out must have a count of 0; one that does not (a page freed twice has -1) is reported — `Bad page state`,
    /// `nonzero _refcount` — and left out (the kernel takes another page and the bad one is lost).
    ///
    /// Context: any. Returns whether the block is good.
    pub(crate) fn check_new_pages(&mut self, pfn: u64, order: u32) -> bool {
        if !self.check_pages_enabled() {
            return true;
        }
        for i in 0..(1u64 << order) {
            if self.pages[(pfn + i) as usize].refcount != 0 {
                self.bad_page(pfn + i, "nonzero _refcount", None);
                for j in 0..(1u64 << order) {
                    self.pages[(pfn + j) as usize].set_owner(PageOwner::Leaked);
                }
                return false;
            }
        }
        true
    }

    /// Clears the allocation state of `2^order` frames and frees them (no checks). For later parts that free
    /// their own pages (slab, vmalloc ...).
    ///
    /// Context: any.
    pub fn free_range_to_buddy(&mut self, pfn: u64, order: u32) {
        // free_pages_prepare(): the block out of the direct map, before it reaches a per-CPU list
        // (debug_page_alloc.rs).
        self.debug_pagealloc_unmap_pages(pfn, 1 << order);
        for i in 0..(1u64 << order) {
            let f = &mut self.pages[(pfn + i) as usize];
            f.refcount = 0;
            f.compound_head = NIL;
            f.flags &= !(1 << pg::PG_HEAD);
            f.set_page_type(PageType::None);
            f.set_owner(PageOwner::Buddy);
            f.order = 0;
        }
        let z = self.pages[pfn as usize].zone as usize;
        if order <= PAGE_ALLOC_COSTLY_ORDER && !self.zones[z].pcp.is_empty() {
            self.free_unref_page(pfn, order);
        } else {
            self.free_one_page(pfn, order, false);
        }
    }

    /// Marks `2^order` frames starting at `page` as owned by `owner` (for later parts).
    ///
    /// Context: any.
    pub fn set_page_owner(&mut self, page: Pfn, order: u32, owner: PageOwner) {
        for i in 0..(1u64 << order) {
            if let Some(f) = self.pages.get_mut((page.0 + i) as usize) {
                f.set_owner(owner);
            }
        }
    }

    /// Sets the page type (e.g. `PageType::Slab`) of a page (for later parts).
    ///
    /// Context: any.
    pub fn set_page_type(&mut self, page: Pfn, t: PageType) {
        if let Some(f) = self.pages.get_mut(page.0 as usize) {
            f.set_page_type(t);
        }
    }

    /// `is_free_buddy_page(page)`: whether the page is inside a free block of the buddy allocator (the head
    /// of one, or a page within it; not one on a per-CPU list).
    ///
    /// Context: any.
    pub fn is_free_buddy_page(&self, page: Pfn) -> bool {
        self.page_frame(page).is_some_and(|f| f.owner() == crate::page::PageOwner::Buddy)
    }

    /// A frame's state (read only).
    ///
    /// Context: any.
    pub fn page_frame(&self, page: Pfn) -> Option<&crate::page::PageFrame> {
        self.pages.get(page.0 as usize)
    }

    /// The zone index and zone of a pfn.
    ///
    /// Context: any.
    pub fn page_zone(&self, page: Pfn) -> Option<&Zone> {
        let f = self.pages.get(page.0 as usize)?;
        (f.owner() != PageOwner::NoRam).then(|| &self.zones[f.zone as usize])
    }

    /// `PageHighMem()`.
    ///
    /// Context: any.
    pub fn page_is_highmem(&self, page: Pfn) -> bool {
        page.0 >= self.layout.max_low_pfn && page.0 < self.layout.max_pfn
    }

    // ---------------------------------------------------------------- bad_page

    /// `bad_page()`: `BUG: Bad page state in process <comm>  pfn:<pfn>`, `dump_page()`, modules, stack, taint
    /// B. Rate limited like the kernel (60 reports then quiet for the rest of the minute). `shown_refcount`
    /// overrides the refcount printed (the kernel has already dropped the reference when it checks).
    ///
    /// Context: any.
    pub fn bad_page(&mut self, pfn: u64, reason: &str, shown_refcount: Option<i32>) {
        let j = self.jiffies();
        let hz = crate::printk::HZ;
        let (resume, shown, unshown) = self.alloc.bad_page_rs;
        let mut quiet = false;
        if shown == 60 {
            if j < resume {
                self.alloc.bad_page_rs.2 += 1;
                quiet = true;
            } else {
                if unshown > 0 {
                    self.printk(LogLevel::Alert, &format!("BUG: Bad page state: {unshown} messages suppressed\n"));
                }
                self.alloc.bad_page_rs = (resume, 0, 0);
            }
        }
        if !quiet {
            if self.alloc.bad_page_rs.1 == 0 {
                self.alloc.bad_page_rs.0 = j + 60 * hz;
            }
            self.alloc.bad_page_rs.1 += 1;
            let comm = self.current().comm.clone();
            self.printk(LogLevel::Alert, &format!("BUG: Bad page state in process {comm}  pfn:{pfn:05x}\n"));
            self.dump_page(Pfn(pfn), Some(reason), shown_refcount);
            self.print_modules();
            self.dump_stack_with(&["bad_page"]);
        }
        self.add_taint_lockdep_unreliable(Taint::BadPage);
    }

    /// The `%pGp` page flags word as the kernel lays it out (zone, and node with NUMA, in the top bits).
    ///
    /// Context: any.
    pub fn page_flags_word(&self, page: Pfn) -> u64 {
        let f = self.pages[page.0 as usize];
        let bits = if self.layout.arch == crate::machine::Arch::X86_64 { 64 } else { 32 };
        // SECTIONS_WIDTH 0 (vmemmap / flatmem), NODES_WIDTH 6 with NUMA (NODES_SHIFT 6), ZONES_WIDTH 2.
        let zones_pgoff = if self.cfg.numa { bits - 6 - 2 } else { bits - 2 };
        (f.flags as u64) | ((f.zone as u64) << zones_pgoff)
    }

    /// `%pGp`: `0x...(names|node=0|zone=N)`.
    ///
    /// Context: any.
    pub fn format_page_flags(&self, page: Pfn) -> String {
        let f = self.pages[page.0 as usize];
        let word = self.page_flags_word(page);
        let mut names = Vec::new();
        let mut main = f.flags;
        for &(bit, name) in pg::PAGEFLAG_NAMES {
            if main & (1 << bit) != 0 {
                names.push(name.to_string());
                main &= !(1 << bit);
            }
        }
        let mut s = names.join("|");
        if main != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(&format!("{main:#x}"));
        }
        let mut fields = Vec::new();
        if self.cfg.numa {
            fields.push("node=0".to_string());
        }
        fields.push(format!("zone={}", f.zone));
        for fl in fields {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(&fl);
        }
        format!("{word:#x}({s})")
    }

    /// `dump_page()`.
    ///
    /// Context: any.
    pub fn dump_page(&mut self, page: Pfn, reason: Option<&str>, shown_refcount: Option<i32>) {
        let f = self.pages[page.0 as usize];
        let (head_pfn, idx) =
            if f.is_tail() { (f.compound_head as u64, page.0 - f.compound_head as u64) } else { (page.0, 0) };
        let head = self.pages[head_pfn as usize];
        let refcount = shown_refcount.unwrap_or(head.refcount);
        let mapcount = 0;
        let l = LogLevel::Warning;
        let null_ptr = if self.layout.arch == crate::machine::Arch::X86_64 { "0000000000000000" } else { "00000000" };
        self.printk(
            l,
            &format!(
                "page: refcount:{refcount} mapcount:{mapcount} mapping:{null_ptr} index:{idx:#x} pfn:{:#x}\n",
                page.0
            ),
        );
        let large = head.is_head();
        if large {
            self.printk(
                l,
                &format!("head: order:{} mapcount:0 entire_mapcount:0 nr_pages_mapped:0 pincount:0\n", head.order),
            );
        }
        let flags = self.format_page_flags(Pfn(head_pfn));
        self.printk(l, &format!("flags: {flags}\n"));
        if f.page_type() != PageType::None {
            self.printk(l, &format!("page_type: {:x}({})\n", f.page_type() as u8, f.page_type().name()));
        }
        let raw = self.raw_page_words(page, shown_refcount);
        self.print_raw_words("raw: ", &raw);
        if large {
            let mut both = self.raw_page_words(Pfn(head_pfn), shown_refcount);
            both.extend(self.raw_page_words(Pfn(head_pfn + 1), None));
            self.print_raw_words("head: ", &both);
        }
        if let Some(r) = reason {
            self.printk(l, &format!("page dumped because: {r}\n"));
        }
    }

    fn print_raw_words(&mut self, prefix: &str, words: &[u64]) {
        let is64 = self.layout.arch == crate::machine::Arch::X86_64;
        let per_line = if is64 { 4 } else { 8 };
        for chunk in words.chunks(per_line) {
            let s: Vec<String> =
                chunk.iter().map(|w| if is64 { format!("{w:016x}") } else { format!("{:08x}", *w as u32) }).collect();
            self.printk(LogLevel::Warning, &format!("{prefix}{}\n", s.join(" ")));
        }
    }

    /// The words of `struct page` as `print_hex_dump` shows them (flags, lru/buddy_list or compound_head,
    /// mapping, index, private, mapcount|refcount, memcg_data).
    fn raw_page_words(&self, page: Pfn, shown_refcount: Option<i32>) -> Vec<u64> {
        let f = self.pages[page.0 as usize];
        let is64 = self.layout.arch == crate::machine::Arch::X86_64;
        let flags = self.page_flags_word(page);
        let poison1 = if is64 { 0xdead_0000_0000_0100u64 } else { 0x0000_0100 };
        let poison2 = if is64 { 0xdead_0000_0000_0122u64 } else { 0x0000_0122 };
        let (w1, w2) = if f.is_tail() {
            (self.page_struct_addr(Pfn(f.compound_head as u64)) + 1, 0xffff_ffffu64)
        } else if f.is_buddy() {
            let next = if f.next == NIL { 0 } else { self.page_struct_addr(Pfn(f.next as u64)) + 8 };
            let prev = if f.prev == NIL { 0 } else { self.page_struct_addr(Pfn(f.prev as u64)) + 8 };
            (next, prev)
        } else {
            (poison1, poison2)
        };
        let refcount = shown_refcount.unwrap_or(f.refcount) as u32 as u64;
        let private = if f.is_buddy() { f.order as u64 } else { 0 };
        let mc = f.page_type_word() as u64;
        if is64 {
            vec![flags, w1, w2, 0, 0, private, (refcount << 32) | mc, 0]
        } else {
            vec![flags, w1 & 0xffff_ffff, w2 & 0xffff_ffff, 0, 0, private, mc, refcount]
        }
    }

    // ---------------------------------------------------------------- accounting

    /// Free pages in all zones (`NR_FREE_PAGES`).
    ///
    /// Context: any.
    pub fn nr_free_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.nr_free_pages).sum()
    }

    /// Pages of RAM (present pages in all zones).
    ///
    /// Context: any.
    pub fn total_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.present_pages).sum()
    }

    /// `totalram_pages()`: managed pages.
    ///
    /// Context: any.
    pub fn totalram_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.managed_pages).sum()
    }

    /// Pages reserved at boot (present minus managed).
    ///
    /// Context: any.
    pub fn nr_reserved_pages(&self) -> u64 {
        self.total_pages() - self.totalram_pages()
    }

    /// Pages allocated from the buddy allocator (managed minus free), including boot allocations.
    ///
    /// Context: any.
    pub fn nr_allocated_pages(&self) -> u64 {
        self.totalram_pages() - self.nr_free_pages()
    }

    /// Pages currently owned by `owner` (a full scan; for tests and examples).
    ///
    /// Context: any.
    pub fn count_pages_owned_by(&self, owner: PageOwner) -> u64 {
        self.pages.iter().filter(|f| f.owner() == owner).count() as u64
    }

    /// Every frame of `[0, max_pfn)` counted once, by owner (free, allocated by whom, reserved, no RAM); the
    /// counts add up to `max_pfn`. For tests.
    ///
    /// Context: any.
    pub fn page_owner_counts(&self) -> Vec<(PageOwner, u64)> {
        let mut v: Vec<(PageOwner, u64)> = Vec::new();
        for f in &self.pages {
            match v.iter_mut().find(|(o, _)| *o == f.owner()) {
                Some((_, n)) => *n += 1,
                None => v.push((f.owner(), 1)),
            }
        }
        v
    }

    /// The zones (index order).
    ///
    /// Context: any.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Free blocks per order of a zone (what /proc/buddyinfo shows), by zone type.
    ///
    /// Context: any.
    pub fn free_area_counts(&self, zone: ZoneType) -> Option<[u64; NR_PAGE_ORDERS]> {
        let z = self.zones.iter().find(|z| z.zone_type == zone && z.populated())?;
        let mut out = [0; NR_PAGE_ORDERS];
        for (o, a) in z.free_area.iter().enumerate() {
            out[o] = a.nr_free;
        }
        Some(out)
    }

    /// Every free block as (zone index, order, migrate type, pfn), in list order (for tests).
    ///
    /// Context: any.
    pub fn free_lists_snapshot(&self) -> Vec<(usize, u32, MigrateType, Vec<u64>)> {
        let mut v = Vec::new();
        for (zi, z) in self.zones.iter().enumerate() {
            for o in 0..NR_PAGE_ORDERS {
                for mt in MigrateType::ALL {
                    let mut list = Vec::new();
                    let mut p = z.free_area[o].free_list[mt as usize].head;
                    while p != NIL {
                        list.push(p as u64);
                        p = self.pages[p as usize].next;
                    }
                    if !list.is_empty() {
                        v.push((zi, o as u32, mt, list));
                    }
                }
            }
        }
        v
    }

    /// Checks the allocator's internal consistency (buddy lists, counts, buddy flags, and the per-CPU lists:
    /// see `check_pcp_consistency`); `Err` describes the first problem. For tests.
    ///
    /// Context: any.
    pub fn check_consistency(&self) -> Result<(), String> {
        for (zi, z) in self.zones.iter().enumerate() {
            let mut free = 0u64;
            let mut ha = 0u64;
            for o in 0..NR_PAGE_ORDERS {
                let mut n = 0;
                for mt in MigrateType::ALL {
                    let l = z.free_area[o].free_list[mt as usize];
                    let mut p = l.head;
                    let mut prev = NIL;
                    let mut len = 0;
                    while p != NIL {
                        let f = &self.pages[p as usize];
                        if !f.is_buddy() || f.order as usize != o || f.zone as usize != zi || f.prev != prev {
                            return Err(format!("bad free page {p:#x} on zone {zi} order {o} {mt:?}"));
                        }
                        if self.pageblock_migratetype(Pfn(p as u64)) != mt {
                            return Err(format!("free page {p:#x} on {mt:?} list in a block of another type"));
                        }
                        if p as u64 % (1 << o) != 0 {
                            return Err(format!("misaligned free page {p:#x} order {o}"));
                        }
                        len += 1;
                        free += 1 << o;
                        if mt == MigrateType::HighAtomic {
                            ha += 1 << o;
                        }
                        prev = p;
                        p = f.next;
                    }
                    if l.tail != prev || l.len != len {
                        return Err(format!("list tail/len mismatch zone {zi} order {o} {mt:?}"));
                    }
                    n += len;
                }
                if n != z.free_area[o].nr_free {
                    return Err(format!("nr_free mismatch zone {zi} order {o}"));
                }
            }
            if free != z.nr_free_pages {
                return Err(format!("zone {zi}: {free} pages on lists, NR_FREE_PAGES {}", z.nr_free_pages));
            }
            if ha != z.nr_free_highatomic {
                return Err(format!("zone {zi}: highatomic {ha} vs {}", z.nr_free_highatomic));
            }
        }
        self.check_pcp_consistency()
    }
}

/// `get_order(size)`.
///
/// Context: any.
pub fn get_order(size: u64) -> u32 {
    if size <= 4096 {
        return 0;
    }
    64 - ((size - 1) >> 12).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::get_order;
    #[test]
    fn orders() {
        assert_eq!(get_order(1), 0);
        assert_eq!(get_order(4096), 0);
        assert_eq!(get_order(4097), 1);
        assert_eq!(get_order(8192), 1);
        assert_eq!(get_order(16384), 2);
        assert_eq!(get_order(4 << 20), 10);
    }
}

// ---------------------------------------------------------------------- per-CPU page lists

/// `CONFIG_PCP_BATCH_SCALE_MAX` (the default, 5).
const PCP_BATCH_SCALE_MAX: u32 = 5;
/// `MIN_PERCPU_PAGELIST_HIGH_FRACTION`.
const MIN_PERCPU_PAGELIST_HIGH_FRACTION: u64 = 8;
/// `PCPF_PREV_FREE_HIGH_ORDER`.
const PCPF_PREV_FREE_HIGH_ORDER: u8 = 1 << 0;
/// `PCPF_FREE_HIGH_BATCH`.
const PCPF_FREE_HIGH_BATCH: u8 = 1 << 1;

/// `order_to_pindex()` (no THP).
fn order_to_pindex(mt: MigrateType, order: u32) -> usize {
    MIGRATE_PCPTYPES * order as usize + mt as usize
}

/// `pindex_to_order()`.
fn pindex_to_order(pindex: usize) -> u32 {
    (pindex / MIGRATE_PCPTYPES) as u32
}

impl Machine {
    /// `zone_batchsize()`: about 0.1% of the zone or 1 MiB, a quarter of it, as `2^n - 1`.
    fn zone_batchsize(&self, z: usize) -> u64 {
        let mut batch = (self.zones[z].managed_pages >> 10).min((1 << 20) >> PAGE_SHIFT) / 4;
        if batch < 1 {
            batch = 1;
        }
        let x = batch + batch / 2;
        (1u64 << (63 - x.leading_zeros())) - 1
    }

    /// `zone_highsize()` with no CPU being onlined: the low watermark (or the managed pages over
    /// `high_fraction`) split over the node's CPUs, at least four batches.
    fn zone_highsize(&self, z: usize, batch: u64, high_fraction: u64) -> u64 {
        let total = match high_fraction {
            0 => self.zones[z].low_wmark(),
            f => self.zones[z].managed_pages / f,
        };
        (total / self.cfg.cpus.max(1) as u64).max(batch << 2)
    }

    /// `zone_pcp_update()` → `zone_set_pageset_high_and_batch()`: every CPU's `batch`, `high_min` and
    /// `high_max` from the zone's size and watermarks. Called when the watermarks are set up.
    ///
    /// Context: boot, or when the watermarks change.
    pub(crate) fn zone_pcp_update(&mut self) {
        for z in 0..self.zones.len() {
            if !self.zones[z].populated() {
                continue;
            }
            let batch = self.zone_batchsize(z).max(1);
            let high_min = self.zone_highsize(z, batch, 0);
            let high_max = self.zone_highsize(z, batch, MIN_PERCPU_PAGELIST_HIGH_FRACTION);
            let cpus = self.cfg.cpus.max(1) as usize;
            let zone = &mut self.zones[z];
            zone.pcp.resize_with(cpus, Default::default);
            for p in zone.pcp.iter_mut() {
                p.batch = batch;
                p.high_min = high_min;
                p.high_max = high_max;
            }
        }
    }

    fn pcp_mut(&mut self, z: usize) -> &mut crate::zone::PerCpuPages {
        let cpu = (self.sched.cpu as usize).min(self.zones[z].pcp.len() - 1);
        &mut self.zones[z].pcp[cpu]
    }

    /// `nr_pcp_alloc()`: how many pages a refill takes, growing `high` (when auto-tuned) and `alloc_factor`.
    fn nr_pcp_alloc(&mut self, z: usize, order: u32) -> u64 {
        let below_high = self.zones[z].below_high;
        let p = self.pcp_mut(z);
        let base = p.batch;
        p.high = p.high.clamp(p.high_min, p.high_max);
        let mut high = p.high;
        if high < base {
            return 1;
        }
        let mut batch = if order > 0 { base } else { base << p.alloc_factor };
        if p.high_min != p.high_max && !below_high {
            high = (high + batch).min(p.high_max);
            p.high = high;
        }
        if order == 0 {
            let max_nr_alloc = high.saturating_sub(p.count + base).max(base);
            if batch <= max_nr_alloc && p.alloc_factor < PCP_BATCH_SCALE_MAX {
                p.alloc_factor += 1;
            }
            batch = batch.min(max_nr_alloc);
        }
        if batch > 1 {
            batch = (batch >> order).max(2);
        }
        batch
    }

    /// `rmqueue_bulk()`: `count` blocks of `order` from the buddy allocator onto a per-CPU list, in the order
    /// they come (the list tail).
    fn rmqueue_bulk(&mut self, z: usize, order: u32, count: u64, mt: MigrateType, alloc_flags: u32) -> u64 {
        let mut n = 0;
        while n < count {
            let Some(pfn) = self.rmqueue_smallest(z, order, mt).or_else(|| self.rmqueue_fallback(z, order, mt)) else {
                break;
            };
            for i in 0..(1u64 << order) {
                self.pages[(pfn + i) as usize].set_owner(PageOwner::Pcp);
            }
            self.pages[pfn as usize].order = order as u8;
            self.pcp_mut(z).lists[order_to_pindex(mt, order)].push_back(pfn);
            n += 1;
        }
        let _ = alloc_flags;
        n
    }

    /// `rmqueue_pcplist()`: a block from this CPU's list of (`mt`, `order`), refilling an empty list first.
    fn rmqueue_pcplist(&mut self, z: usize, order: u32, mt: MigrateType, alloc_flags: u32) -> Option<u64> {
        let pindex = order_to_pindex(mt, order);
        self.pcp_mut(z).free_count >>= 1;
        if self.pcp_mut(z).lists[pindex].is_empty() {
            let batch = self.nr_pcp_alloc(z, order);
            let got = self.rmqueue_bulk(z, order, batch, mt, alloc_flags);
            self.pcp_mut(z).count += got << order;
        }
        let p = self.pcp_mut(z);
        let pfn = p.lists[pindex].pop_front()?;
        p.count -= 1 << order;
        Some(pfn)
    }

    /// `nr_pcp_high()`.
    fn nr_pcp_high(&mut self, z: usize, batch: u64, free_high: bool) -> u64 {
        let below_high = self.zones[z].below_high;
        let p = self.pcp_mut(z);
        p.high = p.high.clamp(p.high_min, p.high_max);
        let mut high = p.high;
        if high == 0 {
            return 0;
        }
        if free_high {
            p.high = high.saturating_sub(batch << PCP_BATCH_SCALE_MAX).max(p.high_min);
            return 0;
        }
        if p.high_min == p.high_max {
            return high;
        }
        if below_high {
            let free_count = p.free_count.max(batch);
            p.high = high.saturating_sub(free_count).max(p.high_min);
            high = p.count.max(p.high_min);
        } else if p.count >= high {
            let need_high = p.free_count + batch;
            if p.high < need_high {
                p.high = need_high.clamp(p.high_min, p.high_max);
            }
        }
        high
    }

    /// `nr_pcp_free()`.
    fn nr_pcp_free(&mut self, z: usize, batch: u64, high: u64, free_high: bool) -> u64 {
        let p = self.pcp_mut(z);
        if free_high {
            return p.count.min(batch << PCP_BATCH_SCALE_MAX);
        }
        if high < batch {
            return 1;
        }
        let (min_nr_free, max_nr_free) = (batch, high - batch);
        p.free_count.clamp(min_nr_free, max_nr_free.max(min_nr_free))
    }

    /// `free_pcppages_bulk()`: `count` pages from the lists back to the buddy allocator, round robin over the
    /// lists starting at `pindex`, each list from its tail.
    fn free_pcppages_bulk(&mut self, z: usize, cpu: usize, count: u64, pindex: usize) {
        let mut count = count.min(self.zones[z].pcp[cpu].count);
        let mut pindex = pindex.wrapping_sub(1);
        while count > 0 {
            loop {
                pindex = pindex.wrapping_add(1);
                if pindex >= NR_PCP_LISTS {
                    pindex = 0;
                }
                if !self.zones[z].pcp[cpu].lists[pindex].is_empty() {
                    break;
                }
            }
            let order = pindex_to_order(pindex);
            let nr = 1u64 << order;
            while count > 0 {
                let Some(pfn) = self.zones[z].pcp[cpu].lists[pindex].pop_back() else { break };
                count = count.saturating_sub(nr);
                self.zones[z].pcp[cpu].count -= nr;
                for i in 0..nr {
                    self.pages[(pfn + i) as usize].set_owner(PageOwner::Buddy);
                }
                self.pages[pfn as usize].order = 0;
                self.free_one_page(pfn, order, false);
            }
        }
    }

    /// `free_unref_page()` → `free_unref_page_commit()`: the block goes to the head of this CPU's list of its
    /// pageblock's migrate type (highatomic counts as movable); the list gives pages back to the buddy
    /// allocator when its count reaches `high`.
    fn free_unref_page(&mut self, pfn: u64, order: u32) {
        let z = self.pages[pfn as usize].zone as usize;
        let mut mt = self.pageblock_migratetype(Pfn(pfn));
        if mt as usize >= MIGRATE_PCPTYPES {
            mt = MigrateType::Movable;
        }
        for i in 0..(1u64 << order) {
            self.pages[(pfn + i) as usize].set_owner(PageOwner::Pcp);
        }
        self.pages[pfn as usize].order = order as u8;
        let pindex = order_to_pindex(mt, order);
        let batch = {
            let p = self.pcp_mut(z);
            p.alloc_factor >>= 1;
            p.lists[pindex].push_front(pfn);
            p.count += 1 << order;
            p.batch
        };
        let mut free_high = false;
        {
            let p = self.pcp_mut(z);
            if order > 0 && order <= PAGE_ALLOC_COSTLY_ORDER {
                free_high = p.free_count >= batch
                    && p.flags & PCPF_PREV_FREE_HIGH_ORDER != 0
                    && (p.flags & PCPF_FREE_HIGH_BATCH == 0 || p.count >= batch);
                p.flags |= PCPF_PREV_FREE_HIGH_ORDER;
            } else if p.flags & PCPF_PREV_FREE_HIGH_ORDER != 0 {
                p.flags &= !PCPF_PREV_FREE_HIGH_ORDER;
            }
            if p.free_count < (batch << PCP_BATCH_SCALE_MAX) {
                p.free_count += 1 << order;
            }
        }
        let high = self.nr_pcp_high(z, batch, free_high);
        if self.pcp_mut(z).count >= high {
            let n = self.nr_pcp_free(z, batch, high, free_high);
            let cpu = (self.sched.cpu as usize).min(self.zones[z].pcp.len() - 1);
            self.free_pcppages_bulk(z, cpu, n, pindex);
            if self.zones[z].below_high && self.zones[z].nr_free_pages > self.zones[z].high_wmark() {
                self.zones[z].below_high = false;
            }
        }
    }

    /// `drain_all_pages(NULL)`: every CPU's lists of every zone go back to the buddy allocator.
    ///
    /// Context: process context.
    pub fn drain_all_pages(&mut self) {
        for z in 0..self.zones.len() {
            for cpu in 0..self.zones[z].pcp.len() {
                let n = self.zones[z].pcp[cpu].count;
                if n > 0 {
                    self.free_pcppages_bulk(z, cpu, n, 0);
                }
            }
        }
    }

    /// The per-CPU lists' part of [`Machine::check_consistency`]: every block on a list is a free block of its
    /// list's order in the list's zone, aligned, owned by `Pcp` and on no other list (so neither on a buddy
    /// free list nor allocated); each CPU's `count` is the pages on its lists; the frames owned by `Pcp` are
    /// exactly the pages on the lists.
    fn check_pcp_consistency(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        let mut on_lists = 0u64;
        for (zi, z) in self.zones.iter().enumerate() {
            for (cpu, p) in z.pcp.iter().enumerate() {
                let mut pages = 0u64;
                for (pindex, list) in p.lists.iter().enumerate() {
                    let order = pindex_to_order(pindex);
                    for &pfn in list {
                        let what = format!("pfn {pfn:#x} on zone {zi} cpu {cpu} pcp list {pindex} (order {order})");
                        if pfn % (1 << order) != 0 {
                            return Err(format!("misaligned {what}"));
                        }
                        if !seen.insert(pfn) {
                            return Err(format!("{what} is on a per-CPU list twice"));
                        }
                        let Some(head) = self.pages.get(pfn as usize) else {
                            return Err(format!("{what}: no such frame"));
                        };
                        if head.order as u32 != order {
                            return Err(format!("{what} has order {}", head.order));
                        }
                        for i in 0..(1u64 << order) {
                            let f = &self.pages[(pfn + i) as usize];
                            if f.owner() != PageOwner::Pcp || f.is_buddy() || f.zone as usize != zi {
                                return Err(format!(
                                    "{what}: frame {:#x} is {:?} in zone {}",
                                    pfn + i,
                                    f.owner(),
                                    f.zone
                                ));
                            }
                        }
                        pages += 1 << order;
                    }
                }
                if pages != p.count {
                    return Err(format!("zone {zi} cpu {cpu}: {pages} pages on the per-CPU lists, count {}", p.count));
                }
                on_lists += pages;
            }
        }
        let owned = self.count_pages_owned_by(PageOwner::Pcp);
        if owned != on_lists {
            return Err(format!("{owned} frames owned by Pcp, {on_lists} pages on per-CPU lists"));
        }
        Ok(())
    }

    /// The pages on every CPU's lists (`free_pcp` of the memory summary).
    ///
    /// Context: any.
    pub fn nr_free_pcp(&self) -> u64 {
        self.zones.iter().map(|z| z.free_pcp()).sum()
    }

    /// Fills the per-CPU lists of zone `z` as the recorded boot left them: `(count, high)` per CPU, order-0
    /// pages of `mt` taken from the buddy allocator as a refill would (which lists hold them /proc does not
    /// say).
    ///
    /// Context: boot.
    pub(crate) fn pcp_fill(&mut self, z: usize, per_cpu: &[(u64, u64)], mt: MigrateType) {
        let saved = self.sched.cpu;
        for (cpu, &(count, high)) in per_cpu.iter().enumerate().take(self.zones[z].pcp.len()) {
            self.sched.cpu = cpu as u32;
            let got = self.rmqueue_bulk(z, 0, count, mt, 0);
            let p = self.pcp_mut(z);
            p.count += got;
            p.high = high;
        }
        self.sched.cpu = saved;
    }
}

#[cfg(test)]
mod pcp_tests {
    use crate::{Gfp, Machine, MachineConfig, PageOwner};

    #[test]
    fn consistency_covers_the_per_cpu_lists() {
        let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
        let mut held = Vec::new();
        for order in [0, 1, 2, 3, 0, 0, 1] {
            held.push((m.alloc_pages(Gfp::GFP_KERNEL, order).unwrap(), order));
        }
        for (p, o) in held.drain(..) {
            m.__free_pages(p, o);
        }
        assert!(m.nr_free_pcp() > 0);
        assert_eq!(m.check_consistency(), Ok(()));
        // A count that disagrees with the lists.
        let z = m.zones.iter().position(|z| z.free_pcp() > 0).unwrap();
        m.zones[z].pcp[0].count += 1;
        assert!(m.check_consistency().unwrap_err().contains("count"));
        m.zones[z].pcp[0].count -= 1;
        // A block both on a per-CPU list and handed out.
        let cpu = m.zones[z].pcp.iter().position(|p| p.count > 0).unwrap();
        let pfn = *m.zones[z].pcp[cpu].lists.iter().find_map(|l| l.front()).unwrap();
        m.pages[pfn as usize].set_owner(PageOwner::PageAlloc);
        assert!(m.check_consistency().is_err());
        m.pages[pfn as usize].set_owner(PageOwner::Pcp);
        // The same block on two lists.
        m.zones[z].pcp[cpu].lists[1].push_back(pfn);
        m.zones[z].pcp[cpu].count += 1;
        assert!(m.check_consistency().is_err());
    }
}

/// `PAGE_FRAG_CACHE_MAX_SIZE`: the fragment cache's block, 32 KiB (`__ALIGN_MASK(32768, ~PAGE_MASK)`).
pub const PAGE_FRAG_CACHE_MAX_SIZE: u32 = 32768;
/// `PAGE_FRAG_CACHE_MAX_ORDER`.
pub const PAGE_FRAG_CACHE_MAX_ORDER: u32 = 3;

/// A `struct page_frag_cache` (x86_64, where `PAGE_SIZE < PAGE_FRAG_CACHE_MAX_SIZE`): the block being carved
/// (`va`, its direct-map address, 0 for none), the offset of the last fragment (fragments are carved from
/// the end down), the block's size, and the references the cache still holds (`pagecnt_bias`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageFragCache {
    /// `va`.
    pub va: u64,
    /// `offset`.
    pub offset: u16,
    /// `size`.
    pub size: u16,
    /// `pagecnt_bias`.
    pub pagecnt_bias: u32,
    /// `pfmemalloc`.
    pub pfmemalloc: bool,
}

/// Page fragments (mm/page_alloc.c, "Page Fragment"): the network stack's allocator of arbitrary-length
/// pieces of a page. A cache holds one block — an order-3 compound page when one is free at once, else one
/// page — and hands out pieces from its end downwards. Instead of touching the page's `_refcount` per
/// fragment, it adds `PAGE_FRAG_CACHE_MAX_SIZE` references up front and counts the ones it has handed out
/// in `pagecnt_bias`; each `page_frag_free()` drops one real reference. When the block is used up, the
/// cache gives its remaining references back: if that was the last of them (every fragment freed) the same
/// block is reused, otherwise the fragments still out keep it alive and the cache takes a new block.
impl Machine {
    /// `__page_frag_cache_refill()`: an order-3 compound block, asked for without reclaim, retries,
    /// reserves or a warning, else one page with the caller's flags.
    fn __page_frag_cache_refill(&mut self, nc: &mut PageFragCache, gfp: Gfp) -> Option<Pfn> {
        let big = (gfp & !Gfp::__GFP_DIRECT_RECLAIM)
            | Gfp::__GFP_COMP
            | Gfp::__GFP_NOWARN
            | Gfp::__GFP_NORETRY
            | Gfp::__GFP_NOMEMALLOC;
        let mut page = self.alloc_pages(big, PAGE_FRAG_CACHE_MAX_ORDER);
        nc.size = if page.is_some() { PAGE_FRAG_CACHE_MAX_SIZE as u16 } else { 4096 };
        if page.is_none() {
            page = self.alloc_pages(gfp, 0);
        }
        nc.va = page.map_or(0, |p| self.page_address(p));
        page
    }

    /// `page_ref_sub_and_test()`: drops `n` references; whether none is left.
    fn page_ref_sub_and_test(&mut self, page: Pfn, n: u32) -> bool {
        let f = &mut self.pages[page.0 as usize];
        f.refcount -= n as i32;
        f.refcount == 0
    }

    /// `free_unref_page(page, compound_order(page))` of a block whose references are all gone: the
    /// reference count is set back to one and the block freed as `__free_pages()` frees it.
    fn free_frag_block(&mut self, page: Pfn) {
        let f = self.pages[page.0 as usize];
        let order = if f.is_head() { f.order as u32 } else { 0 };
        self.pages[page.0 as usize].refcount = 1;
        self.__free_pages(page, order);
    }

    /// `__page_frag_alloc_align(nc, fragsz, gfp, align_mask)` (and the inline `page_frag_alloc()`,
    /// `page_frag_alloc_align()`: `align_mask` `~0` or `-align`): `fragsz` bytes of the cache's block, at
    /// the highest offset below the previous fragment that `align_mask` allows. NULL when no block can be
    /// had, or when `fragsz` is larger than the block.
    ///
    /// Context: any (with GFP_ATOMIC in atomic context). Returns the fragment's address or 0.
    pub fn __page_frag_alloc_align(&mut self, nc: &mut PageFragCache, fragsz: u32, gfp: Gfp, align_mask: u32) -> u64 {
        self.with_frame("__page_frag_alloc_align", |m| m.page_frag_alloc_inner(nc, fragsz, gfp, align_mask))
    }

    fn page_frag_alloc_inner(&mut self, nc: &mut PageFragCache, fragsz: u32, gfp: Gfp, align_mask: u32) -> u64 {
        let mut need_refill = nc.va == 0;
        loop {
            if need_refill {
                let Some(page) = self.__page_frag_cache_refill(nc, gfp) else {
                    return 0;
                };
                // page_ref_add(page, PAGE_FRAG_CACHE_MAX_SIZE)
                self.pages[page.0 as usize].refcount += PAGE_FRAG_CACHE_MAX_SIZE as i32;
                nc.pfmemalloc = false;
                nc.pagecnt_bias = PAGE_FRAG_CACHE_MAX_SIZE + 1;
                nc.offset = nc.size;
            }
            let mut offset = nc.offset as i64 - fragsz as i64;
            if offset < 0 {
                let Some(page) = self.virt_to_page(nc.va) else { return 0 };
                if !self.page_ref_sub_and_test(page, nc.pagecnt_bias) {
                    // Fragments of this block are still out: they keep it; take a new one.
                    need_refill = true;
                    continue;
                }
                // Every fragment came back: the block is reused whole.
                self.pages[page.0 as usize].refcount = (PAGE_FRAG_CACHE_MAX_SIZE + 1) as i32;
                nc.pagecnt_bias = PAGE_FRAG_CACHE_MAX_SIZE + 1;
                offset = nc.size as i64 - fragsz as i64;
                if offset < 0 {
                    return 0;
                }
            }
            nc.pagecnt_bias -= 1;
            let offset = (offset as u32) & align_mask;
            nc.offset = offset as u16;
            return nc.va + offset as u64;
        }
    }

    /// `page_frag_free(addr)`: drops the reference of the fragment at `addr`; the block is freed with its
    /// last one.
    ///
    /// Context: any.
    pub fn page_frag_free(&mut self, addr: u64) {
        let Some(page) = self.virt_to_page(addr) else { return };
        let f = self.pages[page.0 as usize];
        let head = if f.is_tail() { Pfn(f.compound_head as u64) } else { page };
        if self.page_ref_sub_and_test(head, 1) {
            self.free_frag_block(head);
        }
    }

    /// `__page_frag_cache_drain(page, count)`: drops `count` references of a block, freeing it with the last.
    ///
    /// Context: any.
    pub fn __page_frag_cache_drain(&mut self, page: Pfn, count: u32) {
        if self.page_ref_sub_and_test(page, count) {
            self.free_frag_block(page);
        }
    }

    /// `page_frag_cache_drain(nc)`: the cache gives back the references it still holds and forgets its block
    /// (freed now if no fragment of it is out).
    ///
    /// Context: any.
    pub fn page_frag_cache_drain(&mut self, nc: &mut PageFragCache) {
        if nc.va == 0 {
            return;
        }
        if let Some(page) = self.virt_to_page(nc.va) {
            let f = self.pages[page.0 as usize];
            let head = if f.is_tail() { Pfn(f.compound_head as u64) } else { page };
            self.__page_frag_cache_drain(head, nc.pagecnt_bias);
        }
        nc.va = 0;
    }
}
