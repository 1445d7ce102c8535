//! Property tests of the buddy allocator and the per-CPU page lists in front of it.

use std::collections::BTreeSet;

use kmem_sim::zone::MIGRATE_PCPTYPES;
use kmem_sim::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc { order: u32, gfp: u8 },
    Free { idx: usize },
}

fn gfp_of(i: u8) -> Gfp {
    match i % 6 {
        0 => Gfp::GFP_KERNEL,
        1 => Gfp::GFP_ATOMIC,
        2 => Gfp::GFP_KERNEL | Gfp::__GFP_COMP,
        3 => Gfp::GFP_KERNEL | Gfp::GFP_DMA,
        4 => Gfp::GFP_NOWAIT | Gfp::__GFP_RECLAIMABLE,
        _ => Gfp::GFP_HIGHUSER_MOVABLE,
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            3 => (prop_oneof![6 => 0u32..4, 1 => 4u32..11], any::<u8>()).prop_map(|(order, gfp)| Op::Alloc { order, gfp }),
            2 => any::<usize>().prop_map(|idx| Op::Free { idx }),
        ],
        1..120,
    )
}

/// The free blocks as (zone, order, pfn), ignoring list order and migrate type.
fn free_blocks(m: &Machine) -> BTreeSet<(usize, u32, u64)> {
    m.free_lists_snapshot().into_iter().flat_map(|(z, o, _, l)| l.into_iter().map(move |p| (z, o, p))).collect()
}

/// The blocks on every CPU's per-CPU lists as (zone, order, pfn); order from the list (`order_to_pindex()`:
/// `MIGRATE_PCPTYPES * order + migratetype`).
fn pcp_blocks(m: &Machine) -> Vec<(usize, u32, u64)> {
    let mut v = Vec::new();
    for (zi, z) in m.zones().iter().enumerate() {
        for p in &z.pcp {
            for (pindex, list) in p.lists.iter().enumerate() {
                v.extend(list.iter().map(|&pfn| (zi, (pindex / MIGRATE_PCPTYPES) as u32, pfn)));
            }
        }
    }
    v
}

fn run(m: &mut Machine, ops: &[Op]) -> Vec<(Pfn, u32)> {
    let mut live: Vec<(Pfn, u32)> = Vec::new();
    for op in ops {
        match *op {
            Op::Alloc { order, gfp } => {
                if let Some(p) = m.alloc_pages(gfp_of(gfp) | Gfp::__GFP_NOWARN, order) {
                    live.push((p, order));
                }
            }
            Op::Free { idx } => {
                if !live.is_empty() {
                    let (p, o) = live.swap_remove(idx % live.len());
                    m.__free_pages(p, o);
                }
            }
        }
    }
    live
}

/// Runs `ops` on a fresh machine and checks that no two places hold a page and that every page is counted.
fn accounting(cfg: MachineConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut m = Machine::boot(cfg).unwrap();
    m.set_current("prop", 7);
    // What the boot allocated: managed pages neither in the buddy allocator nor on a per-CPU list.
    let boot_allocated = m.totalram_pages() - m.nr_free_pages() - m.nr_free_pcp();
    let live = run(&mut m, ops);
    let mut ranges: Vec<(u64, u64)> = live.iter().map(|(p, o)| (p.0, p.0 + (1 << o))).collect();
    ranges.sort();
    for w in ranges.windows(2) {
        prop_assert!(w[0].1 <= w[1].0, "overlap {:?}", w);
    }
    let live_pages: u64 = live.iter().map(|(_, o)| 1u64 << o).sum();
    prop_assert_eq!(m.count_pages_owned_by(PageOwner::PageAlloc), live_pages);
    prop_assert_eq!(m.count_pages_owned_by(PageOwner::Buddy), m.nr_free_pages());
    prop_assert_eq!(m.count_pages_owned_by(PageOwner::Pcp), m.nr_free_pcp());
    // Every page in exactly one place: the buddy allocator, a CPU's list, the boot's, ours, reserved.
    prop_assert_eq!(
        m.nr_free_pages() + m.nr_free_pcp() + boot_allocated + live_pages + m.nr_reserved_pages(),
        m.total_pages()
    );
    let free = free_blocks(&m);
    let pcp = pcp_blocks(&m);
    for (p, o) in &live {
        let hits = |fo: u32, fp: u64| fp < p.0 + (1 << o) && p.0 < fp + (1 << fo);
        prop_assert!(!free.iter().any(|&(_, fo, fp)| hits(fo, fp)));
        prop_assert!(!pcp.iter().any(|&(_, fo, fp)| hits(fo, fp)), "{:?} is on a per-CPU list", (p, o));
    }
    // Per-CPU lists never hold a buddy block, nor the same block twice.
    for &(z, o, pfn) in &pcp {
        prop_assert!(!free.iter().any(|&(fz, fo, fp)| fz == z && fp < pfn + (1 << o) && pfn < fp + (1 << fo)));
    }
    let distinct: BTreeSet<_> = pcp.iter().collect();
    prop_assert_eq!(distinct.len(), pcp.len());
    for z in m.zones() {
        for p in &z.pcp {
            let pages: u64 = p.lists.iter().enumerate().map(|(i, l)| (l.len() as u64) << (i / MIGRATE_PCPTYPES)).sum();
            prop_assert_eq!(pages, p.count);
        }
    }
    prop_assert_eq!(m.check_consistency(), Ok(()));
    prop_assert_eq!(m.log_text_since(0).contains("Bad page state"), false);
    // /proc/buddyinfo keeps the kernel's fixed-width format: "Node 0, zone %8s " + 11 x "%6lu "
    for (line, z) in m.proc_buddyinfo().lines().zip(m.zones().iter().filter(|z| z.populated())) {
        let mut want = format!("Node 0, zone {:>8} ", z.name());
        for o in 0..11 {
            want.push_str(&format!("{:6} ", z.free_area[o].nr_free));
        }
        prop_assert_eq!(line, want.as_str());
    }
    // /proc/pagetypeinfo's per-type counts add up to buddyinfo's
    let pti = m.proc_pagetypeinfo();
    for z in m.zones().iter().filter(|z| z.populated()) {
        let mut sums = [0u64; 11];
        for l in pti.lines().filter(|l| l.starts_with(&format!("Node    0, zone {:>8}, type ", z.name()))) {
            for (o, v) in l[44..].split_whitespace().enumerate() {
                sums[o] += v.parse::<u64>().unwrap();
            }
        }
        for (o, s) in sums.iter().enumerate() {
            prop_assert_eq!(*s, z.free_area[o].nr_free);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn allocations_never_overlap_and_pages_add_up(ops in ops()) {
        accounting(MachineConfig::x86_64().ram_mib(64), &ops)?;
    }

    /// The same on the book's booted machine: its per-CPU lists hold the recorded boot's pages from the start.
    #[test]
    fn allocations_never_overlap_and_pages_add_up_booted(ops in ops()) {
        accounting(MachineConfig::x86_64(), &ops)?;
    }

    #[test]
    fn freeing_everything_restores_the_free_lists(ops in ops()) {
        for cfg in [MachineConfig::x86_64().ram_mib(64), MachineConfig::x86_64()] {
            let mut m = Machine::boot(cfg).unwrap();
            m.set_current("prop", 7);
            // Freed pages of order <= 3 stay on the per-CPU lists: compare the buddy allocator with every
            // list drained (drain_all_pages()), before and after.
            m.drain_all_pages();
            prop_assert_eq!(m.nr_free_pcp(), 0);
            let before = free_blocks(&m);
            let free_before = m.nr_free_pages();
            let buddyinfo = m.proc_buddyinfo();
            let live = run(&mut m, &ops);
            for (p, o) in live {
                m.__free_pages(p, o);
            }
            prop_assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), free_before);
            prop_assert_eq!(m.check_consistency(), Ok(()));
            m.drain_all_pages();
            prop_assert_eq!(m.nr_free_pages(), free_before);
            prop_assert_eq!(free_blocks(&m), before);
            prop_assert_eq!(m.proc_buddyinfo(), buddyinfo);
            prop_assert_eq!(m.check_consistency(), Ok(()));
        }
    }

    #[test]
    fn i386_160m_lowmem_addresses(orders in prop::collection::vec(0u32..6, 1..40), high in any::<bool>()) {
        let mut m = Machine::boot(MachineConfig::i386()).unwrap();
        m.set_current("prop", 7);
        let hm = m.layout().high_memory;
        let mut got = Vec::new();
        for o in orders {
            let gfp = if high { Gfp::GFP_HIGHUSER } else { Gfp::GFP_KERNEL };
            let a = m.__get_free_pages(gfp | Gfp::__GFP_NOWARN, o);
            prop_assert!(a == 0 || (a >= 0xC000_0000 && a + (4096u64 << o) <= hm), "{:#x}", a);
            let p = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, o).unwrap();
            let pa = m.page_address(p);
            prop_assert!(pa >= 0xC000_0000 && pa < hm);
            got.push((a, o));
            m.__free_pages(p, o);
        }
        for (a, o) in got {
            m.free_pages(a, o);
        }
        prop_assert_eq!(m.check_consistency(), Ok(()));
    }
}
