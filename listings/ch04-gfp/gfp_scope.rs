// SPDX-License-Identifier: GPL-2.0

//! The GFP scope API: `memalloc_nofs_save()` and `memalloc_noio_save()` mark a section of the task in
//! which every allocation drops `__GFP_FS` (and `__GFP_IO`), whatever mask the caller passes. The scopes
//! nest; a failing `GFP_KERNEL` request inside them is reported with the mask the allocator really used.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: GfpScope,
    name: "gfp_scope",
    author: "kmem-book",
    description: "memalloc_nofs_save()/memalloc_noio_save(): scoped GFP_NOFS and GFP_NOIO",
    license: "GPL",
}

const ORDER: u32 = 10;
const MAX_BLOCKS: usize = 64;

struct GfpScope {
    blocks: [*mut bindings::page; MAX_BLOCKS],
    n: usize,
}

// SAFETY: the pages are only touched by init and exit, which never run concurrently.
unsafe impl Send for GfpScope {}
// SAFETY: as above.
unsafe impl Sync for GfpScope {}

impl kernel::Module for GfpScope {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = GfpScope { blocks: [core::ptr::null_mut(); MAX_BLOCKS], n: 0 };
        // Use up the order-10 blocks quietly, so that the next order-10 request fails.
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

        // ANCHOR: scope
        // SAFETY (the calls below): process context; each restore gets its own save's value, innermost first.
        unsafe {
            let fs = bindings::memalloc_nofs_save();
            let io = bindings::memalloc_noio_save();
            let io2 = bindings::memalloc_noio_save(); // nested: already in a NOIO scope
            pr_info!("memalloc_nofs_save() = {:#x}, memalloc_noio_save() = {:#x}, then {:#x}\n", fs, io, io2);

            // The caller asks for GFP_KERNEL; inside the scope the allocator uses GFP_NOIO.
            let page = bindings::alloc_pages(bindings::GFP_KERNEL, ORDER);
            pr_info!("alloc_pages(GFP_KERNEL, {}) in the scope = {:p}\n", ORDER, page);
            if !page.is_null() {
                bindings::__free_pages(page, ORDER);
            }

            bindings::memalloc_noio_restore(io2); // 0: the outer NOIO scope goes on
            bindings::memalloc_noio_restore(io);
            bindings::memalloc_nofs_restore(fs);
        }
        // ANCHOR_END: scope
        Ok(this)
    }
}

impl Drop for GfpScope {
    fn drop(&mut self) {
        for &page in &self.blocks[..self.n] {
            // SAFETY: each block was allocated with ORDER and is freed once.
            unsafe { bindings::__free_pages(page, ORDER) };
        }
    }
}
