//! Prints the kernel reports the simulator produces: sleeping in atomic context, order > MAX_PAGE_ORDER,
//! an allocation failure with Mem-Info, a double free and a reserved-page free.
use kmem_sim::{Gfp, Machine, MachineConfig};

fn main() {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("boot");
    m.set_current("insmod", 95);
    m.load_module_name("hello", true);
    for f in [
        "entry_SYSCALL_64_after_hwframe",
        "do_syscall_64",
        "__x64_sys_finit_module",
        "idempotent_init_module",
        "init_module_from_file",
        "do_init_module",
        "do_one_initcall",
    ] {
        m.push_frame(f);
    }
    m.push_module_frame("hello_init", "hello");
    let seq = m.log_seq();
    m.spin_lock();
    let a = m.__get_free_pages(Gfp::GFP_KERNEL, 0);
    m.spin_unlock();
    m.free_pages(a, 0);
    let _ = m.alloc_pages(Gfp::GFP_KERNEL, 11);
    // exhaust
    let mut v = Vec::new();
    while let Some(p) = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN, 3) {
        v.push(p);
    }
    let _ = m.alloc_pages(Gfp::GFP_KERNEL | Gfp::__GFP_COMP, 3);
    for p in v.drain(..) {
        m.__free_pages(p, 3);
    }
    let p = m.alloc_pages(Gfp::GFP_KERNEL, 0).unwrap();
    m.__free_pages(p, 0);
    m.__free_pages(p, 0);
    let po = m.layout().page_offset;
    m.free_pages(po + 0x1000, 0);
    print!("{}", m.dmesg_since(seq));
}
