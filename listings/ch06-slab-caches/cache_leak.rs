// SPDX-License-Identifier: GPL-2.0

//! Destroying a cache that still has objects: the module "forgets" one of its three objects, and
//! `kmem_cache_destroy()` reports the leak and leaves the cache's slabs allocated.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheLeak,
    name: "cache_leak",
    author: "kmem-book",
    description: "kmem_cache_destroy() on a cache that still has an object",
    license: "GPL",
}

struct CacheLeak {
    cache: *mut bindings::kmem_cache,
    objs: [*mut c_void; 3],
}

// SAFETY: the cache and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheLeak {}
// SAFETY: as above.
unsafe impl Sync for CacheLeak {}

impl kernel::Module for CacheLeak {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; static name; no constructor.
        let cache = unsafe {
            bindings::kmem_cache_create(c_str!("kmem_book_leak").as_char_ptr(), 64, 0, 0, None)
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let mut this = CacheLeak {
            cache,
            objs: [core::ptr::null_mut(); 3],
        };
        for slot in this.objs.iter_mut() {
            // SAFETY: the cache is valid; process context may sleep.
            *slot = unsafe { bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL) };
            if slot.is_null() {
                return Err(ENOMEM);
            }
        }
        pr_info!(
            "objects {:p} {:p} {:p}\n",
            this.objs[0],
            this.objs[1],
            this.objs[2]
        );
        Ok(this)
    }
}

impl Drop for CacheLeak {
    fn drop(&mut self) {
        // ANCHOR: leak
        // The bug: the last object is never freed.
        for &obj in self.objs[..2].iter().filter(|o| !o.is_null()) {
            // SAFETY: each object came from this cache and is freed once.
            unsafe { bindings::kmem_cache_free(self.cache, obj) };
        }
        // SAFETY: a valid cache, destroyed once -- but not empty.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
        // ANCHOR_END: leak
    }
}
