//! Property test: any interleaving of vmalloc-family allocations, frees and purges keeps the vmap space
//! consistent — red-black properties, exact `subtree_max_size`, sorted lists equal to the trees, no overlap,
//! and free + busy + lazy + pooled areas tiling `[1, ULONG_MAX)` exactly — and every live allocation stays
//! where it was, mapped, with its contents.

use proptest::prelude::*;

use kmem_sim::vmalloc::{PgProt, VM_NO_GUARD};
use kmem_sim::{Gfp, Machine, MachineConfig};

#[derive(Clone, Debug)]
enum Op {
    /// vmalloc of this many bytes.
    Vmalloc(u64),
    /// __vmalloc_node_range in a window of the vmalloc range, with this alignment (log2 pages) and flags.
    Range { pages: u64, align_log: u32, window: u64, no_guard: bool },
    /// Free the n-th live allocation (modulo).
    Free(usize),
    /// vm_unmap_aliases(): purge now.
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u64..40_000).prop_map(Op::Vmalloc),
        3 => (1u64..24, 0u32..5, 0u64..4, any::<bool>())
            .prop_map(|(pages, align_log, window, no_guard)| Op::Range { pages, align_log, window, no_guard }),
        8 => any::<usize>().prop_map(Op::Free),
        1 => Just(Op::Purge),
    ]
}

fn run(cfg: MachineConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut m = Machine::boot(cfg).unwrap();
    let vs = m.layout().vmalloc_start;
    // The booted machine (4 CPUs) starts with the boot's areas: they stay busy, with their pages, throughout.
    let boot = m.vmap_snapshot();
    let boot_pages = m.vmalloc_nr_pages();
    let mut live: Vec<(u64, u64)> = Vec::new(); // (addr, tag)
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Vmalloc(size) => {
                let a = m.vmalloc(size);
                if a != 0 {
                    m.write_u64(a, step as u64).unwrap();
                    live.push((a, step as u64));
                }
            }
            Op::Range { pages, align_log, window, no_guard } => {
                let start = vs + window * (1 << 20);
                let end = start + (2 << 20);
                let flags = if no_guard { VM_NO_GUARD } else { 0 };
                let a = m.__vmalloc_node_range(
                    pages * 4096,
                    4096 << align_log,
                    start,
                    end,
                    Gfp::GFP_KERNEL,
                    PgProt::PAGE_KERNEL,
                    flags,
                    -1,
                    None,
                );
                if a != 0 {
                    prop_assert!(a >= start && a + pages * 4096 <= end);
                    prop_assert_eq!(a % (4096 << align_log), 0);
                    m.write_u64(a, step as u64).unwrap();
                    live.push((a, step as u64));
                }
            }
            Op::Free(i) => {
                if !live.is_empty() {
                    let (a, _) = live.swap_remove(i % live.len());
                    m.vfree(a);
                    prop_assert!(m.vmalloc_to_page(a).is_none());
                }
            }
            Op::Purge => m.vm_unmap_aliases(),
        }
        if let Err(e) = m.vmap_check_invariants() {
            return Err(TestCaseError::fail(format!("after step {step} ({op:?}): {e}")));
        }
        for k in 0..4u64 {
            let size = ((step as u64 * 7 + k * 13) % 40 + 1) * 4096;
            let align = 4096 << ((step as u64 + k) % 6);
            let vstart = vs + ((step as u64 * 31 + k * 17) % 64) * 4096 * 3;
            m.vmap_lowest_match_check(size, align, vstart).map_err(TestCaseError::fail)?;
        }
    }
    for (a, tag) in &live {
        prop_assert_eq!(m.read_u64(*a).unwrap(), *tag);
        prop_assert!(m.find_vm_area(*a).is_some());
    }
    let snap = m.vmap_snapshot();
    prop_assert_eq!(snap.busy.len(), boot.busy.len() + live.len() + count_nested(&m, &live));
    for b in &boot.busy {
        prop_assert!(snap.busy.contains(b), "boot area {:?} gone", b);
    }
    for (a, _) in live {
        m.vfree(a);
    }
    m.vm_unmap_aliases();
    m.vmap_check_invariants().map_err(TestCaseError::fail)?;
    prop_assert_eq!(m.vmap_snapshot().busy, boot.busy);
    prop_assert_eq!(m.vmalloc_nr_pages(), boot_pages);
    Ok(())
}

/// Page arrays larger than a page are vmalloc areas of their own.
fn count_nested(m: &Machine, live: &[(u64, u64)]) -> usize {
    live.iter().filter(|(a, _)| m.find_vm_area(*a).is_some_and(|v| m.is_vmalloc_addr(v.pages))).count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn vmap_space_stays_consistent_4cpu(ops in prop::collection::vec(op(), 1..120)) {
        run(MachineConfig::x86_64(), &ops)?;
    }

    #[test]
    fn vmap_space_stays_consistent_1cpu(ops in prop::collection::vec(op(), 1..120)) {
        run(MachineConfig::x86_64().cpus(1), &ops)?;
    }

    #[test]
    fn vmap_space_stays_consistent_i386(ops in prop::collection::vec(op(), 1..80)) {
        run(MachineConfig::i386(), &ops)?;
    }
}
