// SPDX-License-Identifier: GPL-2.0

//! What is behind a vmalloc area: `vmalloc(16384)` reserves four pages plus a guard page of address
//! space, and `vmalloc_to_page()` on each page of the area shows the page frames the page tables map
//! there: four order-0 pages, each mapped on its own, each also reachable through the direct map.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: VmallocPages,
    name: "vmalloc_pages",
    author: "kmem-book",
    description: "vmalloc(16384) and vmalloc_to_page() on each of its pages",
    license: "GPL",
}

const SIZE: usize = 16384;

struct VmallocPages {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for VmallocPages {}
// SAFETY: as above.
unsafe impl Sync for VmallocPages {}

impl kernel::Module for VmallocPages {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: module init runs in process context, where vmalloc() may sleep.
        let buf = unsafe { bindings::vmalloc(SIZE as _) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("vmalloc({}) = {:p}\n", SIZE, buf);
        // ANCHOR: walk
        for i in 0..SIZE / bindings::PAGE_SIZE {
            let addr = buf.wrapping_byte_add(i * bindings::PAGE_SIZE);
            // SAFETY: `addr` lies inside the area vmalloc() returned; vmalloc_to_page() walks the
            // kernel page tables, page_to_pfn() and page_address() compute.
            let (pfn, alias) = unsafe {
                let page = bindings::vmalloc_to_page(addr);
                (bindings::page_to_pfn(page), bindings::page_address(page))
            };
            pr_info!("page {}: {:p} -> pfn {:#x}, direct map {:p}\n", i, addr, pfn, alias);
        }
        // ANCHOR_END: walk
        Ok(VmallocPages { buf })
    }
}

impl Drop for VmallocPages {
    fn drop(&mut self) {
        // SAFETY: `buf` came from vmalloc() and is freed exactly once.
        unsafe { bindings::vfree(self.buf) };
    }
}
