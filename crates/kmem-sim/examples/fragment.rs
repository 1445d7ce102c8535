//! Ages the default machine with the fragmentation workload until an order-4 allocation fails while plenty
//! of order-0 pages are free; prints /proc/buddyinfo before and after.
use kmem_sim::workload::{fragment, FragConfig};
use kmem_sim::{Machine, MachineConfig};

fn main() {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("boot");
    m.set_current("fragmenter", 200);
    let (r, mut held) = fragment(&mut m, &FragConfig::default());
    println!("before:\n{}", r.buddyinfo_before);
    println!(
        "after {} steps ({} pages free, largest free order {:?}):\n{}",
        r.steps, r.free_pages, r.largest_free_order, r.buddyinfo_after
    );
    println!("order-4 allocation failed: {}", r.target_failed);
    held.release(&mut m);
    println!("after release:\n{}", m.proc_buddyinfo());
}
