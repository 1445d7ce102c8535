// SPDX-License-Identifier: GPL-2.0

//! Exhausting the page allocator: order-10 blocks (4 MiB each) are taken with
//! `GFP_KERNEL | __GFP_NOWARN` until none is left, silently; one more request without `__GFP_NOWARN`
//! makes `warn_alloc()` print the "page allocation failure" report and the memory summary.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: PageAllocFailure,
    name: "page_alloc_failure",
    author: "kmem-book",
    description: "warn_alloc(): page allocation failure and __GFP_NOWARN",
    license: "GPL",
}

/// Order 10 = MAX_PAGE_ORDER: 1024 pages, 4 MiB.
const ORDER: u32 = 10;
/// More blocks than the book's 256 MiB machine can have.
const MAX_BLOCKS: usize = 64;

struct PageAllocFailure {
    blocks: [*mut bindings::page; MAX_BLOCKS],
    n: usize,
}

// SAFETY: the pages are only used by init and exit, which never run concurrently.
unsafe impl Send for PageAllocFailure {}
// SAFETY: as above.
unsafe impl Sync for PageAllocFailure {}

impl kernel::Module for PageAllocFailure {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = PageAllocFailure { blocks: [core::ptr::null_mut(); MAX_BLOCKS], n: 0 };
        // ANCHOR: exhaust
        let quiet = bindings::GFP_KERNEL | bindings::__GFP_NOWARN;
        while this.n < MAX_BLOCKS {
            // SAFETY: process context; the result is checked.
            let page = unsafe { bindings::alloc_pages(quiet, ORDER) };
            if page.is_null() {
                break;
            }
            this.blocks[this.n] = page;
            this.n += 1;
        }
        // How many blocks fit depends on what the machine did since boot, so it is not printed.
        pr_info!("order-{} blocks allocated until none was left; the next one failed silently (__GFP_NOWARN)\n", ORDER);
        // ANCHOR_END: exhaust

        // ANCHOR: warn
        // SAFETY: as above.
        let page = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, ORDER) };
        pr_info!("alloc_pages(GFP_KERNEL, {}) = {:p}\n", ORDER, page);
        // ANCHOR_END: warn
        if !page.is_null() {
            // SAFETY: allocated just above with this order.
            unsafe { bindings::__free_pages(page, ORDER) };
        }
        Ok(this)
    }
}

impl Drop for PageAllocFailure {
    fn drop(&mut self) {
        for &page in &self.blocks[..self.n] {
            // SAFETY: each block was allocated with ORDER and is freed once.
            unsafe { bindings::__free_pages(page, ORDER) };
        }
        pr_info!("freed the order-{} blocks\n", ORDER);
    }
}
