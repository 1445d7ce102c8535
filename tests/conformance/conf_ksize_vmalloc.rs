// SPDX-License-Identifier: GPL-2.0

//! Conformance: `ksize()` of a vmalloc address: `__ksize()`'s `virt_to_folio()`
//! reads a struct page beyond the memory map and faults there.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKsizeVmalloc,
    name: "conf_ksize_vmalloc",
    author: "kmem-book",
    description: "conformance: ksize() of a vmalloc address",
    license: "GPL",
}

struct ConfKsizeVmalloc;

impl kernel::Module for ConfKsizeVmalloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            // vrealloc(NULL, size) is vmalloc(size) in the stock helpers.
            let v = bindings::vrealloc(core::ptr::null(), 4096, bindings::GFP_KERNEL);
            pr_info!("ksize() of a vmalloc address\n");
            let _ = bindings::ksize(v);
            pr_info!("not reached\n");
        }
        Ok(ConfKsizeVmalloc)
    }
}
