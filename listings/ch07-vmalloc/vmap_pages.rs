// SPDX-License-Identifier: GPL-2.0

//! `vmap()`: four pages allocated one by one (nothing keeps them together in physical memory) mapped at consecutive
//! addresses of the vmalloc area, written through that mapping and read back through each page's own
//! direct-map address; `vunmap()` removes the mapping and leaves the pages to their owner.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: VmapPages,
    name: "vmap_pages",
    author: "kmem-book",
    description: "vmap() of four separately allocated pages, and vunmap()",
    license: "GPL",
}

const NR: usize = 4;

struct VmapPages {
    pages: [*mut bindings::page; NR],
    addr: *mut kernel::ffi::c_void,
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for VmapPages {}
// SAFETY: as above.
unsafe impl Sync for VmapPages {}

impl kernel::Module for VmapPages {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = VmapPages { pages: [core::ptr::null_mut(); NR], addr: core::ptr::null_mut() };
        // ANCHOR: vmap
        for p in this.pages.iter_mut() {
            // SAFETY: process context.
            *p = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, 0) };
            if p.is_null() {
                return Err(ENOMEM); // `this` is dropped: what was allocated is freed.
            }
        }
        // PAGE_KERNEL is a macro; the bindings have its bits.
        let page_kernel = bindings::pgprot_t {
            pgprot: (1 << bindings::_PAGE_BIT_PRESENT)
                | (1 << bindings::_PAGE_BIT_RW)
                | (1 << bindings::_PAGE_BIT_ACCESSED)
                | (1 << bindings::_PAGE_BIT_DIRTY)
                | (1 << bindings::_PAGE_BIT_GLOBAL)
                | (1 << bindings::_PAGE_BIT_NX),
        };
        // SAFETY: `pages` holds NR pages this module owns.
        this.addr = unsafe { bindings::vmap(this.pages.as_mut_ptr(), NR as u32, bindings::VM_MAP as _, page_kernel) };
        // ANCHOR_END: vmap
        if this.addr.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("vmap() of {} pages = {:p}\n", NR, this.addr);
        // ANCHOR: alias
        for (i, &p) in this.pages.iter().enumerate() {
            // SAFETY: the mapping covers NR pages; byte 0 of page i is at addr + i * PAGE_SIZE.
            unsafe { *this.addr.cast::<u8>().add(i * bindings::PAGE_SIZE) = b'A' + i as u8 };
            // SAFETY: `p` is a page of this module; kmap_local_page() gives its kernel address.
            let (direct, byte) = unsafe {
                let a = bindings::kmap_local_page(p);
                let b = *a.cast::<u8>();
                bindings::kunmap_local(a);
                (a, b)
            };
            pr_info!("page {}: direct map {:p}, reads {:?} written through the vmap\n", i, direct, byte as char);
        }
        // ANCHOR_END: alias
        Ok(this)
    }
}

impl Drop for VmapPages {
    fn drop(&mut self) {
        // SAFETY: `addr` is NULL or this module's mapping; each page is NULL or this module's, freed once.
        unsafe {
            if !self.addr.is_null() {
                bindings::vunmap(self.addr);
            }
            for &p in &self.pages {
                if !p.is_null() {
                    bindings::__free_pages(p, 0);
                }
            }
        }
        pr_info!("vunmap() and the pages freed\n");
    }
}
