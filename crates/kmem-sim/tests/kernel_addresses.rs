//! Where module code sees simulated memory (hostmem.rs): on the 32-bit profile at the kernel's own addresses
//! (`PAGE_OFFSET` 0xc0000000, the vmalloc area after `high_memory` + 8 MiB), so that arithmetic with literal
//! kernel constants works; on x86_64 at host addresses, with `page_offset_base` the host address of physical
//! address 0. This file is its own test process: the 32-bit placement is one machine per process at a time.
use kmem_sim::*;

#[test]
fn i386_module_addresses_are_the_kernels() {
    let mut m = Machine::boot(MachineConfig::i386()).unwrap();
    assert!(m.at_kernel_addresses(), "the host had 0xc0000000.. free");
    assert_eq!(m.host_direct_base(), 0xc000_0000);
    let k = m.kmalloc(100, Gfp::GFP_KERNEL);
    assert!((0xc000_0000..m.layout().high_memory).contains(&k), "{k:#x}");
    let p = m.host_ptr(k).unwrap();
    assert_eq!(p as u64, k, "the pointer module code gets is the kernel address");
    assert_eq!(m.kaddr_of_host(p as usize), Some(k));
    // __pa() with the literal constant, as 32-bit kernel code may write it.
    assert_eq!(k - 0xc000_0000, m.virt_to_phys(k));
    // Bytes written through the pointer are the simulator's bytes.
    m.write_bytes(k, b"kmem").unwrap();
    // SAFETY: `p` points at the 100-byte object just allocated, in the live machine's RAM.
    assert_eq!(unsafe { std::slice::from_raw_parts(p, 4) }, b"kmem");
    let v = m.vmalloc(3 * 4096);
    assert!(v >= m.layout().vmalloc_start && v < m.layout().vmalloc_end, "{v:#x}");
    assert_eq!(m.host_ptr(v).unwrap() as u64, v);
    assert_eq!(m.host_vmalloc_base() as u64, m.layout().vmalloc_start);

    // A second 32-bit machine while the first lives: the range is taken, so it works at host addresses,
    // and says so.
    let mut m2 = Machine::boot(MachineConfig::i386()).unwrap();
    assert!(!m2.at_kernel_addresses());
    let k2 = m2.kmalloc(100, Gfp::GFP_KERNEL);
    let p2 = m2.host_ptr(k2).unwrap();
    assert_ne!(p2 as u64, k2);
    assert_eq!(m2.kaddr_of_host(p2 as usize), Some(k2));
    drop(m2);
    drop(m);
    // Once it is gone, the next machine gets the kernel's addresses again.
    let m3 = Machine::boot(MachineConfig::i386()).unwrap();
    assert!(m3.at_kernel_addresses());
}

#[test]
fn x86_64_direct_map_arithmetic_with_the_host_base() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    assert!(!m.at_kernel_addresses(), "0xffff888000000000 is no user address");
    let k = m.kmalloc(100, Gfp::GFP_KERNEL);
    let p = m.host_ptr(k).unwrap() as usize;
    // page_offset_base is the host address of physical address 0: __pa() and __va() by hand.
    assert_eq!((p - m.host_direct_base()) as u64, m.virt_to_phys(k));
    assert_eq!(m.kaddr_of_host(m.host_direct_base() + m.virt_to_phys(k) as usize), Some(k));
    // high_memory, one past the direct map, still names a kernel address.
    let end = m.host_direct_base() + (m.layout().high_memory - m.layout().page_offset) as usize;
    assert_eq!(m.kaddr_of_host(end), Some(m.layout().high_memory));
    assert_eq!(m.kaddr_of_host(end + 1), None);
}
