// SPDX-License-Identifier: GPL-2.0

//! Streaming DMA: kmalloc memory mapped for a device with `dma_map_single()` (its body: the stock
//! `debug_dma_map_single()` and `dma_map_page_attrs()`), synced and unmapped; the same buffer for a device
//! with a 24-bit mask, which cannot reach it; and a mapping nobody checked with `dma_mapping_error()`,
//! which `CONFIG_DMA_API_DEBUG` reports when it is unmapped.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DmaStreaming,
    name: "dma_streaming",
    author: "kmem-book",
    description: "dma_map_single(), dma_sync_single_for_cpu(), dma_unmap_single() and what DMA-API debugging checks",
    license: "GPL",
}

// ANCHOR: inline
/// `DMA_MAPPING_ERROR` (a macro: `~(dma_addr_t)0`).
const DMA_MAPPING_ERROR: bindings::dma_addr_t = !0;

/// `DMA_BIT_MASK(n)` (a macro).
const fn dma_bit_mask(n: u32) -> u64 {
    (1u64 << n) - 1
}

// The inline functions of include/linux/dma-mapping.h, as they expand on the book's kernel.

/// `dma_map_single(dev, ptr, size, dir)`. (The C version also refuses vmalloc memory with a
/// `dev_WARN_ONCE()`; this module maps kmalloc memory only.)
unsafe fn dma_map_single(dev: *mut bindings::device, ptr: *mut c_void, size: usize, dir: u32) -> bindings::dma_addr_t {
    // SAFETY: `ptr` is `size` bytes of kmalloc memory; virt_to_page()/offset_in_page() of a direct-map address.
    unsafe {
        bindings::debug_dma_map_single(dev, ptr, size as _);
        let offset = ptr as usize & (bindings::PAGE_SIZE - 1);
        bindings::dma_map_page_attrs(dev, bindings::virt_to_page(ptr), offset, size, dir, 0)
    }
}

/// `dma_mapping_error(dev, addr)`: 0 or -ENOMEM.
unsafe fn dma_mapping_error(dev: *mut bindings::device, addr: bindings::dma_addr_t) -> i32 {
    // SAFETY: `dev` is a registered device.
    unsafe { bindings::debug_dma_mapping_error(dev, addr) };
    if addr == DMA_MAPPING_ERROR {
        return ENOMEM.to_errno();
    }
    0
}

/// `dma_unmap_single(dev, addr, size, dir)`.
unsafe fn dma_unmap_single(dev: *mut bindings::device, addr: bindings::dma_addr_t, size: usize, dir: u32) {
    // SAFETY: `addr` was mapped on `dev` with this size and direction.
    unsafe { bindings::dma_unmap_page_attrs(dev, addr, size, dir, 0) };
}

/// `dma_sync_single_for_cpu(dev, addr, size, dir)`: `dma_dev_need_sync()` is always true with
/// `CONFIG_DMA_API_DEBUG`.
unsafe fn dma_sync_single_for_cpu(dev: *mut bindings::device, addr: bindings::dma_addr_t, size: usize, dir: u32) {
    // SAFETY: `addr` is mapped on `dev`.
    unsafe { bindings::__dma_sync_single_for_cpu(dev, addr, size, dir) };
}
// ANCHOR_END: inline

// ANCHOR: module
struct DmaStreaming {
    pdev: *mut bindings::platform_device,
    bufs: [*mut c_void; 2],
}

// SAFETY: the device and the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for DmaStreaming {}
// SAFETY: as above.
unsafe impl Sync for DmaStreaming {}

impl kernel::Module for DmaStreaming {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        use bindings::{
            dma_data_direction_DMA_BIDIRECTIONAL as BIDI, dma_data_direction_DMA_FROM_DEVICE as FROM_DEV,
            dma_data_direction_DMA_TO_DEVICE as TO_DEV,
        };
        // SAFETY: a name and an id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-dma").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: process context.
        let tx = unsafe { bindings::kmalloc(4096, bindings::GFP_KERNEL) };
        // SAFETY: as above.
        let rx = unsafe { bindings::kmalloc(2048, bindings::GFP_KERNEL) };
        if tx.is_null() || rx.is_null() {
            return Err(ENOMEM);
        }

        // SAFETY (the calls below): `dev` is registered, `tx` and `rx` are kmalloc buffers of these sizes.
        unsafe {
            let a = dma_map_single(dev, tx, 4096, TO_DEV);
            if dma_mapping_error(dev, a) != 0 {
                return Err(ENOMEM);
            }
            let phys = bindings::virt_to_phys(tx);
            pr_info!("dma_map_single(tx, 4096, DMA_TO_DEVICE): dma {:#x}, virt_to_phys {:#x}\n", a, phys);
            dma_unmap_single(dev, a, 4096, TO_DEV);

            let b = dma_map_single(dev, rx, 2048, FROM_DEV);
            if dma_mapping_error(dev, b) != 0 {
                return Err(ENOMEM);
            }
            // ... the device writes into rx; before the CPU reads it:
            dma_sync_single_for_cpu(dev, b, 2048, FROM_DEV);
            pr_info!("dma_map_single(rx, 2048, DMA_FROM_DEVICE): dma {:#x}, synced for the CPU\n", b);
            dma_unmap_single(dev, b, 2048, FROM_DEV);

            // A device that can only address the first 16 MiB.
            let r = bindings::dma_set_mask_and_coherent(dev, dma_bit_mask(24));
            let c = dma_map_single(dev, tx, 4096, TO_DEV);
            let e = dma_mapping_error(dev, c);
            let what = if c == DMA_MAPPING_ERROR { "DMA_MAPPING_ERROR" } else { "an address" };
            pr_info!("DMA_BIT_MASK(24) ({}): dma_map_single(tx) = {}, dma_mapping_error() = {}\n", r, what, e);
            bindings::dma_set_mask_and_coherent(dev, dma_bit_mask(32));

            // A mapping whose result nobody checks.
            let d = dma_map_single(dev, tx, 4096, BIDI);
            pr_info!("dma_map_single(tx, 4096, DMA_BIDIRECTIONAL): dma {:#x}, not checked\n", d);
            dma_unmap_single(dev, d, 4096, BIDI);
        }
        Ok(DmaStreaming { pdev, bufs: [tx, rx] })
    }
}

impl Drop for DmaStreaming {
    fn drop(&mut self) {
        for b in self.bufs {
            // SAFETY: kmalloc'ed by init, no longer mapped.
            unsafe { bindings::kfree(b) };
        }
        // SAFETY: registered by init, unregistered once.
        unsafe { bindings::platform_device_unregister(self.pdev) };
    }
}
// ANCHOR_END: module
