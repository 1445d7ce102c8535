// SPDX-License-Identifier: GPL-2.0

//! A cache in `/sys/kernel/slab`: two caches of the same 48-byte record, one plain and one with the debug
//! flags `SLAB_CONSISTENCY_CHECKS`, `SLAB_RED_ZONE`, `SLAB_POISON` and `SLAB_STORE_USER`, three objects
//! from each, held while the module is loaded, so that each cache's sysfs directory has something to count.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheSysfs,
    name: "cache_sysfs",
    author: "kmem-book",
    description: "A cache's /sys/kernel/slab directory, without and with debug flags",
    license: "GPL",
}

/// The objects this module keeps in its caches.
#[repr(C)]
struct Record {
    id: u64,
    name: [u8; 40],
}

const OBJECTS: usize = 3;
const NAMES: [&str; 2] = ["kmem_book_sysfs", "kmem_book_sysfs_debug"];

struct CacheSysfs {
    caches: [*mut bindings::kmem_cache; 2],
    objs: [[*mut c_void; OBJECTS]; 2],
}

// SAFETY: the caches and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheSysfs {}
// SAFETY: as above.
unsafe impl Sync for CacheSysfs {}

impl kernel::Module for CacheSysfs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: create
        let size = core::mem::size_of::<Record>() as u32;
        let debug = bindings::SLAB_CONSISTENCY_CHECKS
            | bindings::SLAB_RED_ZONE
            | bindings::SLAB_POISON
            | bindings::SLAB_STORE_USER;
        // SAFETY: process context; static NUL-terminated names; no constructor.
        let caches = unsafe {
            [
                bindings::kmem_cache_create(c_str!("kmem_book_sysfs").as_char_ptr(), size, 0, 0, None),
                bindings::kmem_cache_create(c_str!("kmem_book_sysfs_debug").as_char_ptr(), size, 0, debug, None),
            ]
        };
        // ANCHOR_END: create
        let mut this = CacheSysfs { caches, objs: [[core::ptr::null_mut(); OBJECTS]; 2] };
        if caches.iter().any(|c| c.is_null()) {
            return Err(ENOMEM);
        }
        // ANCHOR: alloc
        for ((cache, objs), name) in this.caches.iter().zip(this.objs.iter_mut()).zip(NAMES) {
            for obj in objs.iter_mut() {
                // SAFETY: the cache is valid; process context may sleep.
                *obj = unsafe { bindings::kmem_cache_alloc(*cache, bindings::GFP_KERNEL) };
                if obj.is_null() {
                    return Err(ENOMEM);
                }
            }
            pr_info!("{}: {} objects, the first at {:p}\n", name, OBJECTS, objs[0]);
        }
        // ANCHOR_END: alloc
        Ok(this)
    }
}

impl Drop for CacheSysfs {
    fn drop(&mut self) {
        for (&cache, objs) in self.caches.iter().zip(self.objs.iter()) {
            for &obj in objs.iter().filter(|o| !o.is_null()) {
                // SAFETY: each object goes back to the cache it came from, once.
                unsafe { bindings::kmem_cache_free(cache, obj) };
            }
            // SAFETY: the cache is empty now and destroyed once (NULL is ignored).
            unsafe { bindings::kmem_cache_destroy(cache) };
        }
        pr_info!("both caches destroyed\n");
    }
}
