// SPDX-License-Identifier: GPL-2.0

//! Coherent DMA buffers for a platform device the module registers: `dma_alloc_coherent` with the
//! device's default 32-bit mask and after narrowing it to 24 bits (ZONE_DMA), the bus address next to
//! the physical address of the CPU address, and a mask the platform cannot satisfy (`-EIO`).

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DmaCoherent,
    name: "dma_coherent",
    author: "kmem-book",
    description: "dma_alloc_coherent() under 32-bit and 24-bit DMA masks",
    license: "GPL",
}

// ANCHOR: module
/// `DMA_BIT_MASK(n)` (a C macro, so not in the bindings).
const fn dma_bit_mask(n: u32) -> u64 {
    (1u64 << n) - 1
}

struct Buf {
    cpu: *mut c_void,
    dma: bindings::dma_addr_t,
    size: usize,
}

struct DmaCoherent {
    pdev: *mut bindings::platform_device,
    bufs: [Buf; 2],
}

// SAFETY: the device and the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for DmaCoherent {}
// SAFETY: as above.
unsafe impl Sync for DmaCoherent {}

fn alloc(dev: *mut bindings::device, size: usize) -> Result<Buf> {
    let mut dma: bindings::dma_addr_t = 0;
    // SAFETY: `dev` is a registered device; process context, so GFP_KERNEL may sleep.
    let cpu = unsafe { bindings::dma_alloc_coherent(dev, size, &mut dma, bindings::GFP_KERNEL) };
    if cpu.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `cpu` is a direct-map address of the buffer just allocated.
    let phys = unsafe { bindings::virt_to_phys(cpu) };
    // SAFETY: the buffer has `size` >= 1 bytes.
    let first = unsafe { *cpu.cast::<u8>() };
    pr_info!(
        "dma_alloc_coherent({}) = {:p}, dma {:#x}, virt_to_phys {:#x}, first byte {}\n",
        size,
        cpu,
        dma,
        phys,
        first
    );
    Ok(Buf { cpu, dma, size })
}

impl kernel::Module for DmaCoherent {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a name and id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-dma").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };

        let a = alloc(dev, 8192)?;
        // SAFETY: `dev` is valid.
        let r = unsafe { bindings::dma_set_mask_and_coherent(dev, dma_bit_mask(24)) };
        pr_info!("dma_set_mask_and_coherent(DMA_BIT_MASK(24)) = {}\n", r);
        let b = alloc(dev, 4096)?;
        // SAFETY: `dev` is valid.
        let r = unsafe { bindings::dma_set_mask_and_coherent(dev, dma_bit_mask(20)) };
        pr_info!("dma_set_mask_and_coherent(DMA_BIT_MASK(20)) = {}\n", r);
        Ok(DmaCoherent { pdev, bufs: [a, b] })
    }
}

impl Drop for DmaCoherent {
    fn drop(&mut self) {
        // SAFETY: `pdev` is still registered.
        let dev = unsafe { core::ptr::addr_of_mut!((*self.pdev).dev) };
        for b in &self.bufs {
            // SAFETY: each buffer came from dma_alloc_coherent on `dev` with this size.
            unsafe { bindings::dma_free_coherent(dev, b.size, b.cpu, b.dma) };
        }
        // SAFETY: registered by init, unregistered once.
        unsafe { bindings::platform_device_unregister(self.pdev) };
        pr_info!("buffers freed, device unregistered\n");
    }
}
// ANCHOR_END: module
