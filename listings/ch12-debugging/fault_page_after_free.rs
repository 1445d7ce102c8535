// SPDX-License-Identifier: GPL-2.0

//! A read from a page after `free_pages()`, on a kernel booted with `debug_pagealloc=on`. Without it the
//! freed page stays mapped in the direct map and the read returns whatever the page holds; with it the
//! page allocator removes a page from the direct map when it is freed (`free_pages_prepare()` →
//! `debug_pagealloc_unmap_pages()`) and maps it again when it is allocated (`post_alloc_hook()`), so the
//! read faults at once. The module keeps its page while loaded and makes the mistake in its exit.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: FaultPageAfterFree,
    name: "fault_page_after_free",
    author: "kmem-book",
    description: "A read from a page after free_pages(), caught by debug_pagealloc",
    license: "GPL",
}

struct FaultPageAfterFree {
    page: *mut u8,
}

// SAFETY: the page is only used by init and exit, which never run concurrently.
unsafe impl Send for FaultPageAfterFree {}
// SAFETY: as above.
unsafe impl Sync for FaultPageAfterFree {}

impl kernel::Module for FaultPageAfterFree {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; the result is checked.
        let page = unsafe { bindings::__get_free_pages(bindings::GFP_KERNEL, 0) } as *mut u8;
        if page.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the first byte of the page just allocated.
        unsafe { core::ptr::write_volatile(page, 0x55) };
        pr_info!("__get_free_pages(GFP_KERNEL, 0) = {:p}, first byte set to 0x55\n", page);
        Ok(FaultPageAfterFree { page })
    }
}

impl Drop for FaultPageAfterFree {
    fn drop(&mut self) {
        // ANCHOR: uaf
        // SAFETY: the page came from __get_free_pages() with order 0 and is freed once.
        unsafe { bindings::free_pages(self.page as usize, 0) };
        pr_info!("free_pages({:p}, 0) returned; reading its first byte\n", self.page);
        // SAFETY: NOT SAFE -- the page was freed: with debug_pagealloc it is no longer mapped.
        let byte = unsafe { core::ptr::read_volatile(self.page) };
        // ANCHOR_END: uaf
        pr_info!("read {:#x}\n", byte);
    }
}
