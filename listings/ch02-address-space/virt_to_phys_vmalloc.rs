// SPDX-License-Identifier: GPL-2.0

//! Why `virt_to_phys()` is wrong for vmalloc memory: it is plain arithmetic on direct-map addresses.
//! For a vmalloc address the right way is `vmalloc_to_page()` (or `vmalloc_to_pfn()`), page by page.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: VirtToPhysVmalloc,
    name: "virt_to_phys_vmalloc",
    author: "kmem-book",
    description: "virt_to_phys() of a vmalloc address versus vmalloc_to_pfn()",
    license: "GPL",
}

struct VirtToPhysVmalloc {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for VirtToPhysVmalloc {}
// SAFETY: as above.
unsafe impl Sync for VirtToPhysVmalloc {}

const PAGES: usize = 3;

impl kernel::Module for VirtToPhysVmalloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context.
        let buf = unsafe { bindings::vmalloc(PAGES * bindings::PAGE_SIZE) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR: compare
        for i in 0..PAGES {
            // SAFETY: `buf` spans PAGES pages.
            let addr = unsafe { buf.cast::<u8>().add(i * bindings::PAGE_SIZE) }.cast::<c_void>();
            // SAFETY: both only compute; neither dereferences `addr`.
            let (wrong, pfn) =
                unsafe { (bindings::virt_to_phys(addr), bindings::vmalloc_to_pfn(addr)) };
            pr_info!(
                "page {i} at {:p}: virt_to_phys() says {:#x}, vmalloc_to_pfn() says pfn {:#x} (phys {:#x})\n",
                addr,
                wrong,
                pfn,
                (pfn as u64) << bindings::PAGE_SHIFT
            );
        }
        // ANCHOR_END: compare
        Ok(VirtToPhysVmalloc { buf })
    }
}

impl Drop for VirtToPhysVmalloc {
    fn drop(&mut self) {
        // SAFETY: `buf` came from vmalloc() and is freed exactly once.
        unsafe { bindings::vfree(self.buf) };
    }
}
