// SPDX-License-Identifier: GPL-2.0

//! The same bugs on a cache WITHOUT debug flags: the one-byte overflow and the use-after-free write
//! pass silently; the double free of the object at the head of the free list hits the
//! CONFIG_SLAB_FREELIST_HARDENED check `BUG_ON(object == fp)` and kills `insmod`.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugNoDebug,
    name: "bug_no_debug",
    author: "kmem-book",
    description: "Slab bugs without SLUB debugging",
    license: "GPL",
}

struct BugNoDebug {
    cache: *mut bindings::kmem_cache,
}

// SAFETY: the cache is only used by init and exit, which never run concurrently.
unsafe impl Send for BugNoDebug {}
// SAFETY: as above.
unsafe impl Sync for BugNoDebug {}

impl kernel::Module for BugNoDebug {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; static name; no constructor; no debug flags.
        let cache = unsafe {
            bindings::kmem_cache_create(c_str!("kmem_book_nodbg").as_char_ptr(), 40, 0, 0, None)
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let this = BugNoDebug { cache };
        // SAFETY: a valid cache; process context may sleep.
        let (a, b) = unsafe {
            (
                bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL).cast::<u8>(),
                bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL).cast::<u8>(),
            )
        };
        if a.is_null() || b.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR: bugs
        // SAFETY: NOT SAFE -- bug 1: one byte past `a`, which is the first byte of `b`.
        unsafe { core::ptr::write_bytes(a, b'x', 41) };
        // SAFETY: `b` came from this cache; freed once.
        unsafe { bindings::kmem_cache_free(cache, b.cast()) };
        // SAFETY: NOT SAFE -- bug 2: a write into `b` after freeing it (offset 0; the free pointer
        // is in the middle of the object, at offset 16).
        unsafe { core::ptr::copy_nonoverlapping(b"UAF!".as_ptr(), b, 4) };
        pr_info!("overflowed {:p}, wrote into freed {:p}: no report\n", a, b);
        // SAFETY: `a` came from this cache; the first free is correct.
        unsafe { bindings::kmem_cache_free(cache, a.cast()) };
        pr_info!("freeing {:p} again\n", a);
        // SAFETY: NOT SAFE -- bug 3: `a` is now the head of the free list; freeing it again.
        unsafe { bindings::kmem_cache_free(cache, a.cast()) };
        // ANCHOR_END: bugs
        pr_info!("not reached\n");
        Ok(this)
    }
}

impl Drop for BugNoDebug {
    fn drop(&mut self) {
        // SAFETY: a valid cache, destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
    }
}
