//! libFuzzer target: module code's memory accesses on the simulator (the driver of `tests/faults.rs`):
//! allocations, frees and accesses in bounds, past the end, into guard pages, after free and at NULL,
//! and recursions that may overflow the 16 KiB stack, each run as a task of the simulated kernel. A
//! violated expectation, a host panic or a signal that escapes is a crash. Run with
//! `cargo xtask fuzz --seconds N` from the workspace root.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../../../tests/driver/faults.rs"]
mod faults;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = faults::run_program(data) {
        panic!("{e}");
    }
});
