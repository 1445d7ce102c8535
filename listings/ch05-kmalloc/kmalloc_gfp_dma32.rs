// SPDX-License-Identifier: GPL-2.0

//! `kmalloc()` with `__GFP_DMA32`: there are no kmalloc caches for `ZONE_DMA32`, so the slab allocator
//! refuses the zone modifier where it gets pages — `kmalloc_fix_flags()` warns, strips it and goes on
//! with the rest of the mask. 16 KiB is above the largest kmalloc cache (8 KiB), so the request goes
//! straight to the page allocator (`___kmalloc_large_node()`), where the check is made on every call.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocGfpDma32,
    name: "kmalloc_gfp_dma32",
    author: "kmem-book",
    description: "kmalloc() with __GFP_DMA32: the warning and the memory it gives instead",
    license: "GPL",
}

struct KmallocGfpDma32 {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for KmallocGfpDma32 {}
// SAFETY: as above.
unsafe impl Sync for KmallocGfpDma32 {}

impl kernel::Module for KmallocGfpDma32 {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        // SAFETY: process context; the flags are wrong on purpose (the slab allocator fixes them up).
        let buf = unsafe { bindings::kmalloc(16384, bindings::GFP_KERNEL | bindings::__GFP_DMA32) };
        // ANCHOR_END: alloc
        if buf.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a kmalloc() address is a direct-map address.
        let phys = unsafe { bindings::virt_to_phys(buf) };
        pr_info!("kmalloc(16384, GFP_KERNEL | __GFP_DMA32) = {:p}, phys {:#x}\n", buf, phys);
        Ok(KmallocGfpDma32 { buf })
    }
}

impl Drop for KmallocGfpDma32 {
    fn drop(&mut self) {
        // SAFETY: `buf` came from kmalloc() and is freed once.
        unsafe { bindings::kfree(self.buf) };
        pr_info!("freed\n");
    }
}
