// SPDX-License-Identifier: GPL-2.0

//! Conformance: `kmem_cache_alloc_noprof(NULL, GFP_KERNEL)`, what an unchecked
//! `kmem_cache_create()` failure leads to: the allocation path's first read of the cache, `s->object_size`,
//! faults at 0x1c.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfNullCache,
    name: "conf_null_cache",
    author: "kmem-book",
    description: "conformance: kmem_cache_alloc(NULL)",
    license: "GPL",
}

struct ConfNullCache;

impl kernel::Module for ConfNullCache {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            pr_info!("kmem_cache_alloc(NULL, GFP_KERNEL)\n");
            let _ = bindings::kmem_cache_alloc_noprof(core::ptr::null_mut(), bindings::GFP_KERNEL);
            pr_info!("not reached\n");
        }
        Ok(ConfNullCache)
    }
}
