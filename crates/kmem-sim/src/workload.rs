//! A fragmentation workload (no kernel file: it plays the part of a long-running system): seeded mixed-order
//! allocations and frees of random lifetimes that age a machine until a high-order allocation fails although
//! plenty of order-0 pages are free, the reason vmalloc exists.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::{Machine, SplitMix64};
use crate::page::Pfn;
use crate::zone::NR_PAGE_ORDERS;

/// Settings of [`fragment`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragConfig {
    /// PRNG seed.
    pub seed: u64,
    /// The order that must end up failing (4 = 64 KiB).
    pub target_order: u32,
    /// Stop after this many alloc/free steps even if the target was not reached.
    pub max_steps: u64,
    /// Keep about this per-mille of managed memory free while churning.
    pub free_permille: u64,
    /// Gfp of the workload's own allocations (`__GFP_NOWARN` is added).
    pub gfp: Gfp,
    /// Percentage of the first fill that stays allocated for good (long-lived kernel objects that pin pages
    /// in every zone).
    pub pinned_percent: u64,
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig {
            seed: 1,
            target_order: 4,
            max_steps: 1_000_000,
            free_permille: 150,
            gfp: Gfp::GFP_KERNEL,
            pinned_percent: 50,
        }
    }
}

/// What [`fragment`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragReport {
    /// Steps run.
    pub steps: u64,
    /// Whether an allocation of `target_order` failed at the end.
    pub target_failed: bool,
    /// Free pages at the end.
    pub free_pages: u64,
    /// Largest free order at the end in the zones the workload's gfp may use (None: nothing free).
    pub largest_free_order: Option<u32>,
    /// /proc/buddyinfo before.
    pub buddyinfo_before: String,
    /// /proc/buddyinfo after.
    pub buddyinfo_after: String,
}

/// The allocations a workload still holds (free them with [`Fragmenter::release`]).
#[derive(Clone, Debug, Default)]
pub struct Fragmenter {
    /// Live short-lived allocations (pfn, order).
    pub live: Vec<(Pfn, u32)>,
    /// Long-lived allocations (pfn, order).
    pub pinned: Vec<(Pfn, u32)>,
}

impl Fragmenter {
    /// Frees everything the workload holds.
    ///
    /// Context: any.
    pub fn release(&mut self, m: &mut Machine) {
        for (p, o) in self.live.drain(..).chain(self.pinned.drain(..)) {
            m.__free_pages(p, o);
        }
    }
}

fn largest_free_order(m: &Machine, highest_zone: usize) -> Option<u32> {
    let mut best = None;
    for z in m.zones().iter().take(highest_zone + 1) {
        for o in (0..NR_PAGE_ORDERS).rev() {
            if z.free_area[o].nr_free > 0 {
                best = best.max(Some(o as u32));
                break;
            }
        }
    }
    best
}

/// Ages `m`: first fills memory with random orders (80% order 0, 15% order 1, 5% order 2) until
/// the allocator refuses (keeping `pinned_percent` of it for good), then frees and allocates in random order, holding memory at about `free_permille`
/// free, until no free block of `target_order` or more is left
/// in the zones the gfp may use; then tries one `target_order` allocation (with `__GFP_NOWARN`) to show it
/// fails. Returns the report and the allocations still held.
///
/// Context: process context; the workload's gfp may sleep (GFP_KERNEL by default).
pub fn fragment(m: &mut Machine, cfg: &FragConfig) -> (FragReport, Fragmenter) {
    let mut rng = SplitMix64(cfg.seed);
    let mut fr = Fragmenter::default();
    let before = m.proc_buddyinfo();
    let gfp = cfg.gfp | Gfp::__GFP_NOWARN;
    let has_dma32 = m.zones().iter().any(|z| z.zone_type == crate::zone::ZoneType::Dma32);
    let has_high = m.zones().iter().any(|z| z.zone_type == crate::zone::ZoneType::HighMem);
    let highest = gfp.gfp_zone(has_high, has_dma32).map(|t| m.zone_idx_of_type(t)).unwrap_or(0);
    let managed = m.totalram_pages();
    let keep_free = managed * cfg.free_permille / 1000;
    let pick_order = |rng: &mut SplitMix64| {
        let r = rng.below(100);
        if r < 80 {
            0
        } else if r < 95 {
            1
        } else {
            2
        }
    };
    // Phase 1: a busy system fills memory completely (down into the reserves, as __GFP_MEMALLOC may), so
    // that no large block survives untouched.
    loop {
        let order = pick_order(&mut rng);
        match m.alloc_pages(gfp | Gfp::__GFP_MEMALLOC, order) {
            Some(p) if rng.below(100) < cfg.pinned_percent => fr.pinned.push((p, order)),
            Some(p) => fr.live.push((p, order)),
            None => {
                if order == 0 {
                    break;
                }
            }
        }
    }
    // Phase 2: objects of random lifetimes die and new ones arrive, holding about keep_free pages free.
    let mut steps = 0;
    while steps < cfg.max_steps {
        steps += 1;
        let free = m.nr_free_pages();
        let p_alloc = if free > keep_free { 60 } else { 20 };
        if !fr.live.is_empty() && rng.below(100) >= p_alloc {
            let i = rng.below(fr.live.len() as u64) as usize;
            let (p, o) = fr.live.swap_remove(i);
            m.__free_pages(p, o);
        } else {
            let order = pick_order(&mut rng);
            if let Some(p) = m.alloc_pages(gfp, order) {
                fr.live.push((p, order));
            }
        }
        if steps % 64 == 0 && free >= keep_free * 9 / 10 {
            match largest_free_order(m, highest) {
                Some(o) if o < cfg.target_order => break,
                _ => {}
            }
        }
    }
    let target_failed = match m.alloc_pages(gfp, cfg.target_order) {
        Some(p) => {
            m.__free_pages(p, cfg.target_order);
            false
        }
        None => true,
    };
    let report = FragReport {
        steps,
        target_failed,
        free_pages: m.nr_free_pages(),
        largest_free_order: largest_free_order(m, highest),
        buddyinfo_before: before,
        buddyinfo_after: m.proc_buddyinfo(),
    };
    (report, fr)
}
