// SPDX-License-Identifier: GPL-2.0

//! Conformance: `free_pages()` of a vmalloc address. Without CONFIG_DEBUG_VM nothing checks the address:
//! `__free_pages(virt_to_page(addr))` reads the flags of the `struct page` that arithmetic names, beyond the
//! memory map, and the task oopses (`PGD 0 P4D 0`, RIP in `__free_pages`).

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfFreePagesVmalloc,
    name: "conf_free_pages_vmalloc",
    author: "kmem-book",
    description: "conformance: free_pages() of a vmalloc address",
    license: "GPL",
}

struct ConfFreePagesVmalloc;

impl kernel::Module for ConfFreePagesVmalloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            // vrealloc(NULL, size) is vmalloc(size) in the stock helpers.
            let v = bindings::vrealloc(core::ptr::null(), 4096, bindings::GFP_KERNEL);
            pr_info!("vmalloc(4096) = {:p}; free_pages() of it\n", v);
            bindings::free_pages(v as usize as _, 0);
            pr_info!("not reached\n");
        }
        Ok(ConfFreePagesVmalloc)
    }
}
