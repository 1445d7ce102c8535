// SPDX-License-Identifier: GPL-2.0

//! Conformance: `kfree(ERR_PTR(-ENOMEM))`, an error pointer freed as if it were memory: it is no
//! `ZERO_OR_NULL_PTR()`, so `virt_to_folio()` computes a `struct page` in the vmemmap's range but beyond the
//! memory map, and reading it faults (`PMD 0`).

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKfreeErrPtr,
    name: "conf_kfree_err_ptr",
    author: "kmem-book",
    description: "conformance: kfree(ERR_PTR(-ENOMEM))",
    license: "GPL",
}

struct ConfKfreeErrPtr;

impl kernel::Module for ConfKfreeErrPtr {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("kfree(ERR_PTR(-ENOMEM))\n");
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe { bindings::kfree((-12isize) as usize as *const core::ffi::c_void) };
        pr_info!("not reached\n");
        Ok(ConfKfreeErrPtr)
    }
}
