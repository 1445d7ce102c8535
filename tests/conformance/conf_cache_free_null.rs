// SPDX-License-Identifier: GPL-2.0

//! Conformance: `kmem_cache_free(NULL, object)` of a kmalloc object. With CONFIG_SLAB_FREELIST_HARDENED,
//! `cache_from_obj()` finds the object's cache and would warn `Wrong slab cache`, but formatting the given
//! cache's name reads `s->name` at 0x60 of NULL first: an oops in `kmem_cache_free`.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfCacheFreeNull,
    name: "conf_cache_free_null",
    author: "kmem-book",
    description: "conformance: kmem_cache_free(NULL, object)",
    license: "GPL",
}

struct ConfCacheFreeNull;

impl kernel::Module for ConfCacheFreeNull {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            let k = bindings::__kmalloc_noprof(64, bindings::GFP_KERNEL);
            pr_info!("kmem_cache_free(NULL, kmalloc(64))\n");
            bindings::kmem_cache_free(core::ptr::null_mut(), k);
            pr_info!("not reached\n");
        }
        Ok(ConfCacheFreeNull)
    }
}
