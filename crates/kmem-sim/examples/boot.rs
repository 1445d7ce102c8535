//! Boots the default machine and prints its boot log, /proc/buddyinfo, /proc/pagetypeinfo and /proc/meminfo.
use kmem_sim::{Machine, MachineConfig};

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let cfg = if arg == "i386" {
        MachineConfig::i386()
    } else {
        MachineConfig::x86_64()
    };
    let m = Machine::boot(cfg).expect("boot");
    print!("{}", m.dmesg());
    println!("{:#x?}", m.layout());
    print!("{}", m.proc_buddyinfo());
    print!("{}", m.proc_pagetypeinfo());
    print!("{}", m.proc_meminfo());
    print!("{}", m.proc_zoneinfo());
}
