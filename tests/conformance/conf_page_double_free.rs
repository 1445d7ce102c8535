// SPDX-License-Identifier: GPL-2.0

//! Conformance: an order-0 page freed twice, then allocated again. The book's kernel has no page checks
//! (no CONFIG_DEBUG_VM, `init_on_alloc` or `init_on_free`): the second `__free_pages()` drops the count to -1
//! and prints nothing, and the next allocation from the same CPU's list gets the page back, its count reset.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfPageDoubleFree,
    name: "conf_page_double_free",
    author: "kmem-book",
    description: "conformance: __free_pages() twice of an order-0 page",
    license: "GPL",
}

struct ConfPageDoubleFree;

impl kernel::Module for ConfPageDoubleFree {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            let p = bindings::alloc_pages(bindings::GFP_KERNEL, 0);
            if p.is_null() {
                return Err(ENOMEM);
            }
            bindings::__free_pages(p, 0);
            bindings::__free_pages(p, 0);
            pr_info!("the same page freed twice\n");
            let q = bindings::alloc_pages(bindings::GFP_KERNEL, 0);
            pr_info!("the next alloc_pages(GFP_KERNEL, 0) gets it back: {}\n", p == q);
            if !q.is_null() {
                bindings::__free_pages(q, 0);
            }
        }
        Ok(ConfPageDoubleFree)
    }
}
