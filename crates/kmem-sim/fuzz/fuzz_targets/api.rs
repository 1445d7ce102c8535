//! libFuzzer target: the model-based driver of `tests/model.rs` on arbitrary byte programs. A property
//! violation or a host panic is a crash. Run from `crates/kmem-sim`:
//! `RUSTC_BOOTSTRAP=1 cargo +stable fuzz run api -- -max_total_time=600`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/driver/mod.rs"]
mod driver;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = driver::run_program(data) {
        panic!("{e}");
    }
});
