//! Boots the default machine and prints its boot log, /proc/buddyinfo, /proc/pagetypeinfo and /proc/meminfo.
use kmem_sim::{Machine, MachineConfig};

fn main() {
    // usage: boot [x86_64|i386] [RAM MiB]
    let arg = std::env::args().nth(1).unwrap_or_default();
    let mut cfg = if arg == "i386" {
        MachineConfig::i386()
    } else {
        MachineConfig::x86_64()
    };
    if let Some(mib) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        cfg = cfg.ram_mib(mib);
    }
    let m = Machine::boot(cfg).expect("boot");
    print!("{}", m.dmesg());
    println!("{:#x?}", m.layout());
    print!("{}", m.proc_buddyinfo());
    print!("{}", m.proc_pagetypeinfo());
    print!("{}", m.proc_meminfo());
    print!("{}", m.proc_zoneinfo());
}
