// SPDX-License-Identifier: GPL-2.0

//! The page allocator's interfaces: `alloc_pages()` returns a `struct page`, `__get_free_pages()` and
//! `get_zeroed_page()` return a direct-map address; `__free_pages()` and `free_pages()` give them back.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: AllocPagesBasic,
    name: "alloc_pages_basic",
    author: "kmem-book",
    description: "alloc_pages(), __get_free_pages() and get_zeroed_page()",
    license: "GPL",
}

struct AllocPagesBasic {
    block: *mut bindings::page,
    page: usize,
    zeroed: usize,
}

// SAFETY: the pages are only used by init and exit, which never run concurrently.
unsafe impl Send for AllocPagesBasic {}
// SAFETY: as above.
unsafe impl Sync for AllocPagesBasic {}

impl kernel::Module for AllocPagesBasic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        // SAFETY: process context; each result is checked before use.
        let (block, page, zeroed) = unsafe {
            (
                bindings::alloc_pages(bindings::GFP_KERNEL, 2), // 4 contiguous pages
                bindings::__get_free_pages(bindings::GFP_KERNEL, 0),
                bindings::get_zeroed_page(bindings::GFP_KERNEL),
            )
        };
        // ANCHOR_END: alloc
        let this = AllocPagesBasic {
            block,
            page,
            zeroed,
        };
        if block.is_null() || page == 0 || zeroed == 0 {
            return Err(ENOMEM);
        }
        // ANCHOR: inspect
        // SAFETY: `block` is a valid page; these only compute addresses.
        let (pfn, addr) = unsafe { (bindings::page_to_pfn(block), bindings::page_address(block)) };
        pr_info!(
            "alloc_pages(GFP_KERNEL, 2): struct page at {:p}, pfn {:#x}, mapped at {:p}\n",
            block,
            pfn,
            addr
        );
        pr_info!("__get_free_pages(GFP_KERNEL, 0) = {:#x}\n", page);
        // SAFETY: `zeroed` is one mapped page of PAGE_SIZE bytes that we own.
        let bytes =
            unsafe { core::slice::from_raw_parts(zeroed as *const u8, bindings::PAGE_SIZE) };
        let nonzero = bytes.iter().filter(|&&b| b != 0).count();
        pr_info!(
            "get_zeroed_page(GFP_KERNEL) = {:#x}, {} of {} bytes non-zero\n",
            zeroed,
            nonzero,
            bytes.len()
        );
        // ANCHOR_END: inspect
        Ok(this)
    }
}

impl Drop for AllocPagesBasic {
    fn drop(&mut self) {
        // ANCHOR: free
        // SAFETY: each allocation is freed once, with the order it was allocated with.
        unsafe {
            bindings::__free_pages(self.block, 2);
            bindings::free_pages(self.page, 0);
            bindings::free_pages(self.zeroed, 0);
        }
        // ANCHOR_END: free
    }
}
