// SPDX-License-Identifier: GPL-2.0

//! The classic comparison: one page from `__get_free_pages()`, 100 bytes from `kmalloc()` and
//! 1 000 000 bytes from `vmalloc()`, and where each of them lands in the kernel's address space.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: ThreeAllocators,
    name: "three_allocators",
    author: "kmem-book",
    description: "Where __get_free_pages(), kmalloc() and vmalloc() memory lives",
    license: "GPL",
}

struct ThreeAllocators {
    page: usize,
    small: *mut c_void,
    large: *mut c_void,
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for ThreeAllocators {}
// SAFETY: as above.
unsafe impl Sync for ThreeAllocators {}

impl kernel::Module for ThreeAllocators {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        // SAFETY: process context: all three allocators may sleep here.
        let (page, small, large) = unsafe {
            (
                bindings::__get_free_pages(bindings::GFP_KERNEL, 0),
                bindings::kmalloc(100, bindings::GFP_KERNEL),
                bindings::vmalloc(1_000_000),
            )
        };
        // ANCHOR_END: alloc
        let this = ThreeAllocators { page, small, large };
        if page == 0 || small.is_null() || large.is_null() {
            return Err(ENOMEM); // `this` is dropped: what was allocated is freed.
        }
        // ANCHOR: print
        pr_info!("__get_free_pages(GFP_KERNEL, 0) = {:#x}\n", page);
        pr_info!("kmalloc(100, GFP_KERNEL)         = {:p}\n", small);
        pr_info!("vmalloc(1000000)                 = {:p}\n", large);
        // SAFETY: `page` and `small` are direct-map addresses, for which virt_to_phys() is valid.
        let (page_phys, small_phys) =
            unsafe { (bindings::virt_to_phys(page as *mut c_void), bindings::virt_to_phys(small)) };
        pr_info!("virt_to_phys(page) = {:#x}, virt_to_phys(object) = {:#x}\n", page_phys, small_phys);
        // ANCHOR_END: print
        Ok(this)
    }
}

impl Drop for ThreeAllocators {
    fn drop(&mut self) {
        // SAFETY: each pointer is NULL/0 or came from the matching allocator, and is freed once.
        unsafe {
            bindings::vfree(self.large);
            bindings::kfree(self.small);
            bindings::free_pages(self.page, 0);
        }
        pr_info!("freed all three\n");
    }
}
