// SPDX-License-Identifier: GPL-2.0

//! Slab merging: a second cache whose objects fit an existing compatible cache becomes an alias of
//! it; `kmem_cache_create()` returns the existing `struct kmem_cache`. A cache with a constructor
//! is never merged.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheMerge,
    name: "cache_merge",
    author: "kmem-book",
    description: "Two compatible caches share one kmem_cache",
    license: "GPL",
}

struct CacheMerge {
    caches: [*mut bindings::kmem_cache; 3],
}

// SAFETY: the caches are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheMerge {}
// SAFETY: as above.
unsafe impl Sync for CacheMerge {}

unsafe extern "C" fn nop_ctor(_obj: *mut c_void) {}

impl kernel::Module for CacheMerge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: create
        // SAFETY: process context; static names.
        let (a, b, c) = unsafe {
            (
                bindings::kmem_cache_create(
                    c_str!("kmem_book_merge_a").as_char_ptr(),
                    200,
                    0,
                    0,
                    None,
                ),
                // 196 bytes round up to the same 200-byte slots: compatible.
                bindings::kmem_cache_create(
                    c_str!("kmem_book_merge_b").as_char_ptr(),
                    196,
                    0,
                    0,
                    None,
                ),
                // Same size, but a constructor: never merged.
                bindings::kmem_cache_create(
                    c_str!("kmem_book_merge_c").as_char_ptr(),
                    200,
                    0,
                    0,
                    Some(nop_ctor),
                ),
            )
        };
        // ANCHOR_END: create
        let this = CacheMerge { caches: [a, b, c] };
        if a.is_null() || b.is_null() || c.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR: compare
        pr_info!("kmem_book_merge_a = {:p}\n", a);
        pr_info!("kmem_book_merge_b = {:p} (same cache: {})\n", b, a == b);
        pr_info!("kmem_book_merge_c = {:p} (same cache: {})\n", c, a == c);
        // SAFETY: all three are valid caches.
        let sizes = unsafe { [a, b, c].map(|s| bindings::kmem_cache_size(s)) };
        pr_info!(
            "kmem_cache_size: a {}, b {}, c {}\n",
            sizes[0],
            sizes[1],
            sizes[2]
        );
        // ANCHOR_END: compare
        Ok(this)
    }
}

impl Drop for CacheMerge {
    fn drop(&mut self) {
        // ANCHOR: destroy
        for &s in self.caches.iter() {
            // SAFETY: each kmem_cache_create() is matched by one kmem_cache_destroy(): an alias drops
            // its reference, the last reference shuts the cache down.
            unsafe { bindings::kmem_cache_destroy(s) };
        }
        // ANCHOR_END: destroy
    }
}
