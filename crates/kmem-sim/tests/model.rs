//! Model-based property test over the whole public API, misuse included (see `driver/mod.rs` and
//! `crates/kmem-sim/README.md` for the properties). The fuzz target `fuzz/fuzz_targets/api.rs` runs the same
//! driver under libFuzzer.

mod driver;

use proptest::prelude::*;

proptest! {
    // A fixed seed keeps `cargo test` deterministic; the fuzz target explores beyond these programs.
    #![proptest_config(ProptestConfig {
        cases: 12,
        max_shrink_iters: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6b6d_656d),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_sequence_of_calls(prog in prop::collection::vec(any::<u8>(), 1..1000)) {
        if let Err(e) = driver::run_program(&prog) {
            prop_assert!(false, "{}", e);
        }
    }
}

/// Replays a program given as comma-separated bytes in `KMEM_MODEL_PROG`, printing the dmesg of each step.
#[test]
#[ignore]
fn replay() {
    let prog: Vec<u8> = std::env::var("KMEM_MODEL_PROG")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().trim_matches(|c| c == '[' || c == ']').parse().ok())
        .collect();
    let mut b = driver::Bytes::new(&prog);
    let mut model = driver::Model::boot(b.u8());
    let mut seq = model.m.log_seq();
    while !b.done() {
        let r = model.step(&mut b);
        eprintln!("--- step {} live {:?}\n{}", model.step, model.live, model.m.dmesg_since(seq));
        seq = model.m.log_seq();
        match r {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => panic!("{e}"),
        }
    }
    model.teardown().unwrap();
}

/// A fixed program: 3000 bytes of xorshift64 output from `seed`.
fn seeded_program(seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..3000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// FNV-1a, 64 bits (stable across Rust versions and hosts, unlike `DefaultHasher`).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

#[test]
fn same_program_same_dmesg() {
    for seed in [1, 0x6b6d_656d] {
        let prog = seeded_program(seed);
        let a = driver::run_program(&prog).unwrap();
        let b = driver::run_program(&prog).unwrap();
        assert_eq!(a, b, "seed {seed}: two runs of one program differ");
    }
}

/// A seeded program on the booted book's machine (first byte with [`driver::BOOTED`]): the properties hold
/// there too, whatever the random cases picked.
#[test]
fn a_program_on_the_booted_machine() {
    let mut prog = seeded_program(7);
    prog[0] = driver::BOOTED;
    let log = driver::run_program(&prog).unwrap_or_else(|e| panic!("{e}"));
    assert!(log.contains("Run /init as init process"), "{log}");
}

/// The dmesg of one seeded program, pinned: a change means the simulator's output changed (review it, then
/// update the hash) or something host-dependent leaked into the log.
#[test]
fn pinned_dmesg_of_a_seeded_program() {
    let log = driver::run_program(&seeded_program(42)).unwrap();
    assert!(log.contains("BUG: Bad page state") || log.contains("WARNING"), "{log}");
    assert_eq!(fnv1a(&log), PINNED, "dmesg changed; length {}:\n{log}", log.len());
}

// Re-pinned after the booted machine (88a6ac8): its double frees hit pages on the per-CPU lists (LIFO reuse
// gives the same pfn twice; their dumps show the poisoned lru words of a non-buddy page), the memory summary
// counts slab pages and has no swap lines, DMA/DMA32 keep the same free totals in other blocks, and the
// NOFAIL WARN from a slab refill traps at __alloc_pages_slowpath's __bug_table site. Re-pinned again after the
// kernel page tables (CR3 and the page-table pages in the memory summary) and the boot's slab objects replayed
// after the user pages (mm_init), which move the pfns the program's pages come from. Re-pinned after
// the traces through a slab refill gained new_slab (a function of its own in the real build) and
// kmalloc_fix_flags()'s stack dumps their real innermost frames (dump_stack_lvl, kmalloc_fix_flags, and new_slab
// or ___kmalloc_large_node under them). Re-pinned after the per-CPU allocator (percpu.rs): the modelled boot's
// first chunk keeps 42 pages per unit, as pcpu_build_alloc_info() rounds the book kernel's static, reserved and
// dynamic sizes (32 KiB less reserved, the DMA zone's free blocks placed differently), and the GS base of the
// register dumps is the first chunk's unit of the CPU. Re-pinned after the book's kernel gained
// CONFIG_DEBUG_DEVRES: its new strings move .rodata, so the `Code:` bytes of the WARNs (which load string
// addresses) changed in the re-recorded symbols; nothing else in the log did. Re-pinned again when the book's
// patch gained the GFP scope helpers (rust/helpers/kmem_book.c), which move the kernel's text and .rodata the
// same way. Re-pinned when bad page frees followed the book's kernel (no page checks without CONFIG_DEBUG_VM,
// init_on_alloc or init_on_free): a double free drops the count to -1 silently, so the program's double frees
// no longer print Bad page state reports. Re-pinned when the book's kernel gained CONFIG_DEBUG_PAGEALLOC and
// CONFIG_PAGE_OWNER (both off unless the command line enables them): the allocator functions grew, so the
// symbol offsets in the traces of the re-recorded build changed; nothing else did.
const PINNED: u64 = 4816572331204669178;
