// SPDX-License-Identifier: GPL-2.0

//! Double frees on a cache with the debug flags: the consistency checks refuse the second
//! `kmem_cache_free()` -- "Object already free" while the slab has other objects in use, a count
//! mismatch when the object was the slab's last one.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugDoubleFree,
    name: "bug_double_free",
    author: "kmem-book",
    description: "A double free caught by SLAB_CONSISTENCY_CHECKS",
    license: "GPL",
}

/// `slab_debug=FZPU` for one cache.
const DEBUG_FLAGS: bindings::slab_flags_t = bindings::SLAB_CONSISTENCY_CHECKS
    | bindings::SLAB_RED_ZONE
    | bindings::SLAB_POISON
    | bindings::SLAB_STORE_USER;

struct BugDoubleFree {
    cache: *mut bindings::kmem_cache,
}

// SAFETY: the cache is only used by init and exit, which never run concurrently.
unsafe impl Send for BugDoubleFree {}
// SAFETY: as above.
unsafe impl Sync for BugDoubleFree {}

impl kernel::Module for BugDoubleFree {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; static name; no constructor.
        let cache = unsafe {
            bindings::kmem_cache_create(
                c_str!("kmem_book_dbg").as_char_ptr(),
                40,
                0,
                DEBUG_FLAGS,
                None,
            )
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a valid cache; process context may sleep.
        let (a, b) = unsafe {
            (
                bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL),
                bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL),
            )
        };
        if a.is_null() || b.is_null() {
            // SAFETY: what was allocated goes back once; then the empty cache is destroyed once.
            unsafe {
                for obj in [a, b].into_iter().filter(|o| !o.is_null()) {
                    bindings::kmem_cache_free(cache, obj);
                }
                bindings::kmem_cache_destroy(cache);
            }
            return Err(ENOMEM);
        }
        // ANCHOR: bug
        pr_info!(
            "freeing {:p} twice while {:p} is in use
",
            a,
            b
        );
        // SAFETY: the first free of each object is correct; the second is the bug this listing shows.
        unsafe {
            bindings::kmem_cache_free(cache, a);
            bindings::kmem_cache_free(cache, a);
        }
        pr_info!(
            "freeing {:p}, the slab's last object, twice
",
            b
        );
        // SAFETY: as above.
        unsafe {
            bindings::kmem_cache_free(cache, b);
            bindings::kmem_cache_free(cache, b);
        }
        // ANCHOR_END: bug
        Ok(BugDoubleFree { cache })
    }
}

impl Drop for BugDoubleFree {
    fn drop(&mut self) {
        // SAFETY: a valid cache, destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
    }
}
