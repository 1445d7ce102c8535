//! Module code's bad accesses on the simulator (the driver in `tests/driver/faults.rs`): fixed programs for each
//! kind of fault, then seeded random programs. The libFuzzer target `module_faults` runs the same driver
//! on arbitrary programs (`cargo xtask fuzz`).

#[path = "driver/faults.rs"]
mod faults;

#[test]
fn each_kind_of_access() {
    let programs: &[(&str, &[u8])] = &[
        ("vmalloc, in bounds", &[1, 0, 3, 0, 0, 0, 0x10, 0, 1]),
        ("vmalloc, one past the end", &[1, 0, 3, 0, 0, 1, 1]),
        ("vmalloc, then read after vfree", &[1, 1, 2, 0, 0, 3, 0, 0, 0, 0x20, 0, 0]),
        ("kmalloc, past the end and after kfree", &[0, 100, 0, 3, 0, 0, 1, 0, 2, 0, 0, 3, 0, 0, 0, 5, 0, 0]),
        ("NULL + 0x10", &[4, 0x10, 0]),
        ("a fault, then the machine goes on", &[1, 0, 3, 0, 0, 2, 1, 0, 0x40, 0, 3, 1, 0, 0, 0, 0, 1]),
        ("a shallow recursion", &[5, 4]),
        ("a stack overflow, then a new machine", &[5, 30, 0, 8, 0, 4, 0, 0]),
    ];
    for (what, p) in programs {
        if let Err(e) = faults::run_program(p) {
            panic!("{what}: {e}");
        }
    }
}

#[test]
fn random_programs() {
    // A fixed-seed xorshift: the same 40 programs on every machine.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..40 {
        let len = 8 + (n * 7) % 56;
        let p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        if let Err(e) = faults::run_program(&p) {
            panic!("program {n} {p:?}: {e}");
        }
    }
}
