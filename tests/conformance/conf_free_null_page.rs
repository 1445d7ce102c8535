// SPDX-License-Identifier: GPL-2.0

//! Conformance: `__free_pages(NULL, 0)`, what an unchecked `alloc_pages()` failure leads to: the first read of
//! the page, its flags, is a NULL pointer dereference in `__free_pages`.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfFreeNullPage,
    name: "conf_free_null_page",
    author: "kmem-book",
    description: "conformance: __free_pages(NULL, 0)",
    license: "GPL",
}

struct ConfFreeNullPage;

impl kernel::Module for ConfFreeNullPage {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("__free_pages(NULL, 0)\n");
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe { bindings::__free_pages(core::ptr::null_mut(), 0) };
        pr_info!("not reached\n");
        Ok(ConfFreeNullPage)
    }
}
