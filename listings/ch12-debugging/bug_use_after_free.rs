// SPDX-License-Identifier: GPL-2.0

//! A use-after-free write on a cache with the debug flags: the freed object was filled with the
//! poison byte 0x6b; the module writes into it after `kmem_cache_free()`, and the next allocation
//! from the cache finds the poison overwritten.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugUseAfterFree,
    name: "bug_use_after_free",
    author: "kmem-book",
    description: "A write after free caught by SLAB_POISON",
    license: "GPL",
}

/// `slab_debug=FZPU` for one cache.
const DEBUG_FLAGS: bindings::slab_flags_t = bindings::SLAB_CONSISTENCY_CHECKS
    | bindings::SLAB_RED_ZONE
    | bindings::SLAB_POISON
    | bindings::SLAB_STORE_USER;

struct BugUseAfterFree {
    cache: *mut bindings::kmem_cache,
    obj: *mut u8,
}

// SAFETY: the cache and object are only used by init and exit, which never run concurrently.
unsafe impl Send for BugUseAfterFree {}
// SAFETY: as above.
unsafe impl Sync for BugUseAfterFree {}

impl kernel::Module for BugUseAfterFree {
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
        let obj = unsafe { bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL) }.cast::<u8>();
        if obj.is_null() {
            // SAFETY: the empty cache is destroyed once.
            unsafe { bindings::kmem_cache_destroy(cache) };
            return Err(ENOMEM);
        }
        // ANCHOR: bug
        // SAFETY: the object came from this cache and is freed once.
        unsafe { bindings::kmem_cache_free(cache, obj.cast()) };
        // SAFETY: NOT SAFE -- the bug this listing shows: a stale pointer writes 4 bytes at offset 8 of
        // the freed object.
        unsafe { core::ptr::copy_nonoverlapping(b"UAF!".as_ptr(), obj.add(8), 4) };
        pr_info!("wrote into {:p} after freeing it\n", obj);
        // SAFETY: a valid cache; process context may sleep.
        let next = unsafe { bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL) }.cast::<u8>();
        // ANCHOR_END: bug
        pr_info!("the next kmem_cache_alloc() returned {:p}\n", next);
        Ok(BugUseAfterFree { cache, obj: next })
    }
}

impl Drop for BugUseAfterFree {
    fn drop(&mut self) {
        if !self.obj.is_null() {
            // SAFETY: the object came from this cache and is freed once.
            unsafe { bindings::kmem_cache_free(self.cache, self.obj.cast()) };
        }
        // SAFETY: a valid cache, destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
    }
}
