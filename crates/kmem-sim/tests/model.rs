//! Model-based property test over the whole public API, misuse included (see `driver/mod.rs` and
//! `crates/kmem-sim/README.md` for the properties). The fuzz target `fuzz/fuzz_targets/api.rs` runs the same
//! driver under libFuzzer.

mod driver;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_calls(prog in prop::collection::vec(any::<u8>(), 1..1200)) {
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
