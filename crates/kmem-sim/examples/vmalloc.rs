//! A tour of the vmalloc simulator: a few areas, /proc/vmallocinfo, the free tree with `subtree_max_size`
//! (text and Mermaid), the lazy list, a purge.
//!
//! `cargo run -p kmem-sim --example vmalloc`

use kmem_sim::{Gfp, Machine, MachineConfig, SlabConfig, VmapTree};

fn main() {
    let cfg = MachineConfig::x86_64().cpus(1).slab_config(SlabConfig::from_cmdline("no_hash_pointers"));
    let mut m = Machine::boot(cfg).expect("boot");
    m.set_current("insmod", 95);
    m.push_module_frame("tour_init", "tour");
    let a = m.vmalloc(16384);
    let b = m.vzalloc(600 * 4096);
    let c = m.kvmalloc(5 << 20, Gfp::GFP_KERNEL);
    m.vfree(b);
    println!("== /proc/vmallocinfo\n{}", m.vmallocinfo());
    println!("== free tree\n{}", m.vmap_tree_text(VmapTree::Free));
    println!("== lazy\n{}", m.vmap_lazy_text());
    m.vm_unmap_aliases();
    println!("== free tree after the purge (Mermaid)\n{}", m.vmap_tree_mermaid(VmapTree::Free));
    println!("== busy tree\n{}", m.vmap_tree_text(VmapTree::Busy));
    m.vfree(a);
    m.kvfree(c);
    m.vmap_check_invariants().expect("consistent");
}
