// SPDX-License-Identifier: GPL-2.0

//! Freeing an object to the wrong cache: `kmem_cache_free(b, obj)` with an object of cache `a`.
//! With consistency checks on `b` (or CONFIG_SLAB_FREELIST_HARDENED), `cache_from_obj()` looks up
//! the object's real cache, warns, and frees the object there.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugWrongCache,
    name: "bug_wrong_cache",
    author: "kmem-book",
    description: "kmem_cache_free() to the wrong cache",
    license: "GPL",
}

struct BugWrongCache {
    a: *mut bindings::kmem_cache,
    b: *mut bindings::kmem_cache,
}

// SAFETY: the caches are only used by init and exit, which never run concurrently.
unsafe impl Send for BugWrongCache {}
// SAFETY: as above.
unsafe impl Sync for BugWrongCache {}

impl kernel::Module for BugWrongCache {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: bug
        // SAFETY: process context; static names; no constructors.
        let (a, b) = unsafe {
            (
                // SLAB_NO_MERGE: on a kernel without `slab_nomerge` two plain 40-byte caches would be
                // one cache (consistency checks alone do not prevent merging).
                bindings::kmem_cache_create(
                    c_str!("kmem_book_a").as_char_ptr(),
                    40,
                    0,
                    bindings::SLAB_NO_MERGE,
                    None,
                ),
                bindings::kmem_cache_create(
                    c_str!("kmem_book_b").as_char_ptr(),
                    40,
                    0,
                    bindings::SLAB_CONSISTENCY_CHECKS | bindings::SLAB_NO_MERGE,
                    None,
                ),
            )
        };
        let this = BugWrongCache { a, b };
        if a.is_null() || b.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a valid cache; process context may sleep.
        let obj = unsafe { bindings::kmem_cache_alloc(a, bindings::GFP_KERNEL) };
        if obj.is_null() {
            return Err(ENOMEM);
        }
        pr_info!(
            "object {:p} from kmem_book_a, freeing it to kmem_book_b\n",
            obj
        );
        // SAFETY: NOT SAFE -- the bug this listing shows: `obj` belongs to `a`.
        unsafe { bindings::kmem_cache_free(b, obj) };
        // ANCHOR_END: bug
        Ok(this)
    }
}

impl Drop for BugWrongCache {
    fn drop(&mut self) {
        // SAFETY: valid caches (or NULL, ignored), each destroyed once.
        unsafe {
            bindings::kmem_cache_destroy(self.a);
            bindings::kmem_cache_destroy(self.b);
        }
    }
}
