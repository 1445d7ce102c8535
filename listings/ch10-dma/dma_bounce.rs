// SPDX-License-Identifier: GPL-2.0

//! Bounce buffers: with `swiotlb=force` on the command line every streaming mapping goes through the
//! software IO TLB. The device address is a slot of the pool, not the buffer; the data moves between the
//! two only at map, sync and unmap time, which is what the sync rules are for. A device that cannot reach
//! the pool either gets `DMA_MAPPING_ERROR`; coherent memory never bounces.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DmaBounce,
    name: "dma_bounce",
    author: "kmem-book",
    description: "swiotlb bounce buffers: the copies at map, sync and unmap time",
    license: "GPL",
}

// ANCHOR: inline
/// `DMA_MAPPING_ERROR` (a macro: `~(dma_addr_t)0`).
const DMA_MAPPING_ERROR: bindings::dma_addr_t = !0;

/// `dma_map_single(dev, ptr, size, dir)` for kmalloc memory (as in the streaming-mapping listing).
unsafe fn dma_map_single(dev: *mut bindings::device, ptr: *mut c_void, size: usize, dir: u32) -> bindings::dma_addr_t {
    // SAFETY: `ptr` is `size` bytes of kmalloc memory.
    unsafe {
        bindings::debug_dma_map_single(dev, ptr, size as _);
        let offset = ptr as usize & (bindings::PAGE_SIZE - 1);
        let a = bindings::dma_map_page_attrs(dev, bindings::virt_to_page(ptr), offset, size, dir, 0);
        // dma_mapping_error(): every mapping of this listing is checked.
        bindings::debug_dma_mapping_error(dev, a);
        a
    }
}

/// `dma_unmap_single()`, `dma_sync_single_for_device()`, `dma_sync_single_for_cpu()`.
unsafe fn dma_unmap_single(dev: *mut bindings::device, addr: bindings::dma_addr_t, size: usize, dir: u32) {
    // SAFETY: `addr` was mapped on `dev` with this size and direction.
    unsafe { bindings::dma_unmap_page_attrs(dev, addr, size, dir, 0) };
}

unsafe fn dma_sync_for_device(dev: *mut bindings::device, addr: bindings::dma_addr_t, size: usize, dir: u32) {
    // SAFETY: `addr` is mapped on `dev`.
    unsafe { bindings::__dma_sync_single_for_device(dev, addr, size, dir) };
}

unsafe fn dma_sync_for_cpu(dev: *mut bindings::device, addr: bindings::dma_addr_t, size: usize, dir: u32) {
    // SAFETY: `addr` is mapped on `dev`.
    unsafe { bindings::__dma_sync_single_for_cpu(dev, addr, size, dir) };
}

/// The first byte at a device address, as the device sees it: on x86 without memory encryption the
/// device address is the physical address.
unsafe fn device_byte(a: bindings::dma_addr_t) -> u8 {
    // SAFETY: `a` is a mapped bounce buffer, direct-mapped RAM.
    unsafe { *(bindings::phys_to_virt(a) as *const u8) }
}
// ANCHOR_END: inline

// ANCHOR: module
struct DmaBounce {
    pdev: *mut bindings::platform_device,
    bufs: [*mut c_void; 3],
    held: bindings::dma_addr_t,
}

// SAFETY: the device and the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for DmaBounce {}
// SAFETY: as above.
unsafe impl Sync for DmaBounce {}

impl kernel::Module for DmaBounce {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        use bindings::{dma_data_direction_DMA_FROM_DEVICE as FROM_DEV, dma_data_direction_DMA_TO_DEVICE as TO_DEV};
        // SAFETY: a name and an id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-bounce").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        let mut this = DmaBounce { pdev, bufs: [core::ptr::null_mut(); 3], held: DMA_MAPPING_ERROR };

        // SAFETY (the calls below): process context; `dev` is registered; the buffers are kmalloc memory of
        // the sizes mapped, and every mapping is checked before it is used.
        unsafe {
            pr_info!("dma_max_mapping_size() = {}\n", bindings::dma_max_mapping_size(dev));
            this.bufs = [
                bindings::kmalloc(4096, bindings::GFP_KERNEL),
                bindings::kzalloc(2048, bindings::GFP_KERNEL),
                bindings::kmalloc(5000, bindings::GFP_KERNEL),
            ];
            if this.bufs.iter().any(|b| b.is_null()) {
                return Err(ENOMEM);
            }
            let [tx, rx, big] = this.bufs;
            let (txb, rxb) = (tx.cast::<u8>(), rx.cast::<u8>());

            // To the device: the data is copied into the bounce buffer when the mapping is made.
            core::ptr::write_bytes(txb, 0x41, 4096);
            let a = dma_map_single(dev, tx, 4096, TO_DEV);
            if a == DMA_MAPPING_ERROR {
                return Err(ENOMEM);
            }
            pr_info!(
                "tx mapped: dma {:#x}, virt_to_phys {:#x}, the device reads {:#x}\n",
                a,
                bindings::virt_to_phys(tx),
                device_byte(a)
            );
            // The CPU changes the buffer while the device owns it: the device still sees the old data ...
            *txb = 0x42;
            pr_info!("tx[0] = 0x42 without a sync: the device reads {:#x}\n", device_byte(a));
            // ... until the buffer is handed over again.
            dma_sync_for_device(dev, a, 4096, TO_DEV);
            pr_info!("after dma_sync_single_for_device(): the device reads {:#x}\n", device_byte(a));
            dma_unmap_single(dev, a, 4096, TO_DEV);

            // From the device: what it writes reaches the buffer only at a sync for the CPU or the unmap.
            let b = dma_map_single(dev, rx, 2048, FROM_DEV);
            if b == DMA_MAPPING_ERROR {
                return Err(ENOMEM);
            }
            // The device writes its data (here: the module, through the bounce buffer's direct-map address).
            core::ptr::write_bytes(bindings::phys_to_virt(b).cast::<u8>(), 0x5a, 2048);
            pr_info!("the device wrote 0x5a: rx[0] = {:#x}\n", *rxb);
            dma_sync_for_cpu(dev, b, 2048, FROM_DEV);
            pr_info!("after dma_sync_single_for_cpu(): rx[0] = {:#x}\n", *rxb);
            core::ptr::write_bytes(bindings::phys_to_virt(b).cast::<u8>(), 0x66, 2048);
            dma_unmap_single(dev, b, 2048, FROM_DEV);
            pr_info!("the device wrote 0x66, then dma_unmap_single(): rx[0] = {:#x}\n", *rxb);

            // One mapping held while the module is loaded: 5000 bytes take three 2 KiB slots.
            this.held = dma_map_single(dev, big, 5000, TO_DEV);
            if this.held == DMA_MAPPING_ERROR {
                return Err(ENOMEM);
            }

            // A device limited to 16 MiB cannot reach the pool either.
            bindings::dma_set_mask_and_coherent(dev, (1u64 << 24) - 1);
            let c = dma_map_single(dev, tx, 4096, TO_DEV);
            let what = if c == DMA_MAPPING_ERROR { "DMA_MAPPING_ERROR" } else { "an address" };
            pr_info!("DMA_BIT_MASK(24): dma_map_single(tx) = {}\n", what);
            bindings::dma_set_mask_and_coherent(dev, (1u64 << 32) - 1);

            // Coherent memory is allocated where the device can reach it; it does not bounce.
            let mut h: bindings::dma_addr_t = 0;
            let cpu = bindings::dma_alloc_coherent(dev, 4096, &mut h, bindings::GFP_KERNEL);
            if cpu.is_null() {
                return Err(ENOMEM);
            }
            pr_info!("dma_alloc_coherent(): dma == virt_to_phys: {}\n", h == bindings::virt_to_phys(cpu));
            bindings::dma_free_coherent(dev, 4096, cpu, h);
        }
        Ok(this)
    }
}

impl Drop for DmaBounce {
    fn drop(&mut self) {
        // SAFETY: the held mapping was made by init; the buffers are no longer mapped after it.
        unsafe {
            let dev = core::ptr::addr_of_mut!((*self.pdev).dev);
            if self.held != DMA_MAPPING_ERROR {
                dma_unmap_single(dev, self.held, 5000, bindings::dma_data_direction_DMA_TO_DEVICE);
            }
            for b in self.bufs {
                bindings::kfree(b);
            }
            bindings::platform_device_unregister(self.pdev);
        }
    }
}
// ANCHOR_END: module
