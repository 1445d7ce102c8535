//! The book's machine, the same in both worlds: the QEMU guest `cargo xtask qemu` boots and the simulated
//! machine a listing runs on.

/// The kernel command line of the book's QEMU guest. `nokaslr` fixes the address-space layout the book
/// teaches; `slab_nomerge` keeps each module's cache its own `/proc/slabinfo` row; `no_hash_pointers`
/// prints real addresses for `%p`; `panic=-1` reboots (and, with QEMU's `-no-reboot`, ends the run) on a
/// panic; `no_timer_check` avoids a false "IO-APIC + timer doesn't work!" panic under software emulation
/// on a loaded host; `i8042.noaux i8042.nokbd` skip probing a keyboard controller the guest does not use.
pub const CMDLINE: &str =
    "console=ttyS0 nokaslr panic=-1 slab_nomerge no_hash_pointers rdinit=/init i8042.noaux i8042.nokbd no_timer_check";

/// RAM of the guest, MiB (`qemu -m 256M`).
pub const RAM_MIB: u64 = 256;

/// CPUs of the guest (`qemu -smp 4,sockets=4,cores=1,threads=1`).
pub const CPUS: u32 = 4;

/// The book's command line changed by `changes`: a word `-x` removes `x`, any other word is appended.
///
/// Context: any.
pub fn cmdline_with(changes: &[String]) -> String {
    let mut words: Vec<String> = CMDLINE.split_whitespace().map(str::to_string).collect();
    for w in changes {
        match w.strip_prefix('-') {
            Some(drop) => words.retain(|x| x != drop),
            None => words.push(w.clone()),
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes() {
        let c = super::cmdline_with(&["-slab_nomerge".into(), "slab_debug=A,kmalloc-512".into()]);
        assert!(!c.contains(" slab_nomerge"));
        assert!(c.ends_with(" slab_debug=A,kmalloc-512"));
    }
}
