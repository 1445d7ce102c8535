// SPDX-License-Identifier: GPL-2.0

//! An order above `MAX_PAGE_ORDER` (10) can never be satisfied: `__alloc_pages_noprof()` rejects it
//! with a one-time `WARN_ON_ONCE_GFP()` (silent with `__GFP_NOWARN`) and returns NULL.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: OrderTooBig,
    name: "order_too_big",
    author: "kmem-book",
    description: "alloc_pages() with order > MAX_PAGE_ORDER",
    license: "GPL",
}

struct OrderTooBig;

impl kernel::Module for OrderTooBig {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: order
        // SAFETY: process context; the results are only printed (both are NULL).
        let quiet = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL | bindings::__GFP_NOWARN, 11) };
        pr_info!("alloc_pages(GFP_KERNEL | __GFP_NOWARN, 11) = {:p}\n", quiet);
        // SAFETY: as above.
        let loud = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, 11) };
        pr_info!("alloc_pages(GFP_KERNEL, 11) = {:p}\n", loud);
        // ANCHOR_END: order
        Ok(OrderTooBig)
    }
}

impl Drop for OrderTooBig {
    fn drop(&mut self) {}
}
