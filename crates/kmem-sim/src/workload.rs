//! A fragmentation workload (no kernel file: it plays the part of a long-running system): seeded mixed-order
//! allocations and frees of random lifetimes that age a machine until a high-order allocation fails although
//! plenty of order-0 pages are free, the reason vmalloc exists.

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
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig {
            seed: 1,
            target_order: 4,
            max_steps: 2_000_000,
            free_permille: 150,
            gfp: Gfp::GFP_KERNEL,
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
    /// Live allocations (pfn, order).
    pub live: Vec<(Pfn, u32)>,
}

impl Fragmenter {
    /// Frees everything the workload holds.
    ///
    /// Context: any.
    pub fn release(&mut self, m: &mut Machine) {
        for (p, o) in self.live.drain(..) {
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

/// Ages `m`: random orders (70% order 0, 15% order 1, 10% order 2, 5% order 3) allocated and freed in random
/// order, holding memory at about `free_permille` free, until no free block of `target_order` or more is left
/// in the zones the gfp may use; then tries one `target_order` allocation (with `__GFP_NOWARN`) to show it
/// fails. Returns the report and the allocations still held.
///
/// Context: process context; the workload's gfp may sleep (GFP_KERNEL by default).
pub fn fragment(m: &mut Machine, cfg: &FragConfig) -> (FragReport, Fragmenter) {
    let mut rng = SplitMix64(cfg.seed);
    let mut fr = Fragmenter::default();
    let before = m.proc_buddyinfo();
    let gfp = cfg.gfp | Gfp::__GFP_NOWARN;
    let has_dma32 = m
        .zones()
        .iter()
        .any(|z| z.zone_type == crate::zone::ZoneType::Dma32);
    let has_high = m
        .zones()
        .iter()
        .any(|z| z.zone_type == crate::zone::ZoneType::HighMem);
    let highest = gfp
        .gfp_zone(has_high, has_dma32)
        .map(|t| m.zone_idx_of_type(t))
        .unwrap_or(0);
    let managed = m.totalram_pages();
    let keep_free = managed * cfg.free_permille / 1000;
    let mut steps = 0;
    while steps < cfg.max_steps {
        steps += 1;
        let free = m.nr_free_pages();
        let p_alloc = if free > keep_free { 75 } else { 25 };
        if fr.live.is_empty() || rng.below(100) < p_alloc {
            let r = rng.below(100);
            let order = if r < 70 {
                0
            } else if r < 85 {
                1
            } else if r < 95 {
                2
            } else {
                3
            };
            match m.alloc_pages(gfp, order) {
                Some(p) => fr.live.push((p, order)),
                None => {
                    if !fr.live.is_empty() {
                        let i = rng.below(fr.live.len() as u64) as usize;
                        let (p, o) = fr.live.swap_remove(i);
                        m.__free_pages(p, o);
                    }
                }
            }
        } else {
            let i = rng.below(fr.live.len() as u64) as usize;
            let (p, o) = fr.live.swap_remove(i);
            m.__free_pages(p, o);
        }
        if steps % 256 == 0 && free <= keep_free * 11 / 10 {
            if let Some(o) = largest_free_order(m, highest) {
                if o < cfg.target_order {
                    break;
                }
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
