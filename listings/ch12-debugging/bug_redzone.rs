// SPDX-License-Identifier: GPL-2.0

//! An off-by-one write on a cache created with the debug flags (what `slab_debug=FZPU` turns on):
//! the module writes one byte past its 40-byte object, and SLUB finds the overwritten right red zone
//! when the object is freed.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugRedzone,
    name: "bug_redzone",
    author: "kmem-book",
    description: "A one-byte overflow caught by SLAB_RED_ZONE",
    license: "GPL",
}

// ANCHOR: flags
/// `slab_debug=FZPU` for one cache: F consistency checks, Z red zones, P poisoning, U alloc/free owners.
const DEBUG_FLAGS: bindings::slab_flags_t = bindings::SLAB_CONSISTENCY_CHECKS
    | bindings::SLAB_RED_ZONE
    | bindings::SLAB_POISON
    | bindings::SLAB_STORE_USER;
// ANCHOR_END: flags

struct BugRedzone {
    cache: *mut bindings::kmem_cache,
}

// SAFETY: the cache is only used by init and exit, which never run concurrently.
unsafe impl Send for BugRedzone {}
// SAFETY: as above.
unsafe impl Sync for BugRedzone {}

impl kernel::Module for BugRedzone {
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
        pr_info!("object at {:p}, writing 40 + 1 bytes\n", obj);
        // ANCHOR: bug
        // SAFETY: NOT SAFE -- the bug this listing shows: bytes 0..=40 of a 40-byte object. The 41st
        // byte lands in the red zone SLUB keeps after the object.
        unsafe { core::ptr::write_bytes(obj, b'x', 41) };
        // SAFETY: the object came from this cache and is freed once.
        unsafe { bindings::kmem_cache_free(cache, obj.cast()) };
        // ANCHOR_END: bug
        pr_info!("kmem_cache_free() returned\n");
        Ok(BugRedzone { cache })
    }
}

impl Drop for BugRedzone {
    fn drop(&mut self) {
        // SAFETY: a valid cache, destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
    }
}
