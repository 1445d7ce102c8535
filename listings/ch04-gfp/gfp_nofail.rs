// SPDX-License-Identifier: GPL-2.0

//! `__GFP_NOFAIL`'s rules: the page allocator checks them only on its slow path, so an order-10 request
//! with `__GFP_NOFAIL` succeeds silently while memory is plentiful. Once the order-10 blocks are used up,
//! `GFP_NOWAIT | __GFP_NOFAIL` breaks two rules at once (an order above 1, a mask that cannot reclaim):
//! each `WARN_ON_ONCE()` fires, and the request the caller believed could not fail returns NULL.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: GfpNofail,
    name: "gfp_nofail",
    author: "kmem-book",
    description: "__GFP_NOFAIL: the slow path's warnings, and a NOFAIL request that fails",
    license: "GPL",
}

const ORDER: u32 = 10;
const MAX_BLOCKS: usize = 64;

struct GfpNofail {
    blocks: [*mut bindings::page; MAX_BLOCKS],
    n: usize,
}

// SAFETY: the pages are only touched by init and exit, which never run concurrently.
unsafe impl Send for GfpNofail {}
// SAFETY: as above.
unsafe impl Sync for GfpNofail {}

impl kernel::Module for GfpNofail {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: fast
        // SAFETY: process context; the block is freed at once.
        unsafe {
            let page = bindings::alloc_pages(bindings::GFP_KERNEL | bindings::__GFP_NOFAIL, ORDER);
            pr_info!("alloc_pages(GFP_KERNEL | __GFP_NOFAIL, {}) = {:p}\n", ORDER, page);
            if !page.is_null() {
                bindings::__free_pages(page, ORDER);
            }
        }
        // ANCHOR_END: fast

        let mut this = GfpNofail { blocks: [core::ptr::null_mut(); MAX_BLOCKS], n: 0 };
        // Use up the order-10 blocks quietly, so that the next order-10 request takes the slow path.
        while this.n < MAX_BLOCKS {
            // SAFETY: process context; the result is checked.
            let page = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL | bindings::__GFP_NOWARN, ORDER) };
            if page.is_null() {
                break;
            }
            this.blocks[this.n] = page;
            this.n += 1;
        }
        pr_info!("order-{} blocks allocated until none was left\n", ORDER);

        // ANCHOR: slow
        // SAFETY: GFP_NOWAIT never sleeps; the result is checked.
        unsafe {
            let page = bindings::alloc_pages(bindings::GFP_NOWAIT | bindings::__GFP_NOFAIL, ORDER);
            pr_info!("alloc_pages(GFP_NOWAIT | __GFP_NOFAIL, {}) = {:p}\n", ORDER, page);
            if !page.is_null() {
                bindings::__free_pages(page, ORDER);
            }
        }
        // ANCHOR_END: slow
        Ok(this)
    }
}

impl Drop for GfpNofail {
    fn drop(&mut self) {
        for &page in &self.blocks[..self.n] {
            // SAFETY: each block was allocated with ORDER and is freed once.
            unsafe { bindings::__free_pages(page, ORDER) };
        }
    }
}
