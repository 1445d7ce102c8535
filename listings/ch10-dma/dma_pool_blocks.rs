// SPDX-License-Identifier: GPL-2.0

//! A DMA pool of 96-byte descriptors aligned to 32 bytes that must not cross a 256-byte boundary:
//! where its blocks land in the pool's 4 KiB chunk. On unload one block is deliberately not freed, so
//! `dma_pool_destroy` reports the pool busy (and leaks its chunk).

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DmaPoolBlocks,
    name: "dma_pool_blocks",
    author: "kmem-book",
    description: "dma_pool blocks under size, align and boundary; destroying a busy pool",
    license: "GPL",
}

// ANCHOR: module
const NR: usize = 6;

struct DmaPoolBlocks {
    pdev: *mut bindings::platform_device,
    pool: *mut bindings::dma_pool,
    blocks: [(*mut c_void, bindings::dma_addr_t); NR],
}

// SAFETY: the device, pool and blocks are only used by init and exit, which never run concurrently.
unsafe impl Send for DmaPoolBlocks {}
// SAFETY: as above.
unsafe impl Sync for DmaPoolBlocks {}

impl kernel::Module for DmaPoolBlocks {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a name and id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-dma").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        // SAFETY: process context; size 96, align 32, boundary 256.
        let pool = unsafe { bindings::dma_pool_create(c_str!("kmem_book_desc").as_char_ptr(), dev, 96, 32, 256) };
        if pool.is_null() {
            // SAFETY: registered above.
            unsafe { bindings::platform_device_unregister(pdev) };
            return Err(ENOMEM);
        }
        let mut blocks = [(core::ptr::null_mut(), 0); NR];
        for (i, (v, d)) in blocks.iter_mut().enumerate() {
            // SAFETY: `pool` is valid; GFP_KERNEL may sleep in module init.
            *v = unsafe { bindings::dma_pool_alloc(pool, bindings::GFP_KERNEL, d) };
            pr_info!("block {}: {:p} dma {:#x} (offset {:#x})\n", i, *v, *d, *d & 0xfff);
        }
        Ok(DmaPoolBlocks { pdev, pool, blocks })
    }
}

impl Drop for DmaPoolBlocks {
    fn drop(&mut self) {
        // The last block is deliberately kept: the pool is still busy when it is destroyed.
        for &(v, d) in &self.blocks[..NR - 1] {
            // SAFETY: each block came from this pool and is freed once.
            unsafe { bindings::dma_pool_free(self.pool, v, d) };
        }
        // SAFETY: the pool is destroyed once; the device outlives it.
        unsafe { bindings::dma_pool_destroy(self.pool) };
        // SAFETY: registered by init, unregistered once.
        unsafe { bindings::platform_device_unregister(self.pdev) };
    }
}
// ANCHOR_END: module
