// SPDX-License-Identifier: GPL-2.0

//! What creation flags do to a cache: the same 40-byte object in caches created with no flag,
//! `SLAB_HWCACHE_ALIGN`, the debug flags `SLAB_RED_ZONE`, `SLAB_POISON` and `SLAB_STORE_USER`, and
//! `SLAB_CACHE_DMA` (whose slabs come from `ZONE_DMA`, the first 16 MiB).

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheFlags,
    name: "cache_flags",
    author: "kmem-book",
    description: "SLAB_HWCACHE_ALIGN, SLAB_RED_ZONE, SLAB_POISON, SLAB_STORE_USER, SLAB_CACHE_DMA",
    license: "GPL",
}

const OBJ_SIZE: u32 = 40;

// ANCHOR: caches
/// One cache per flag, each holding two objects while the module is loaded.
const CACHES: [(&CStr, bindings::slab_flags_t); 6] = [
    (c_str!("kmem_book_plain"), 0),
    (c_str!("kmem_book_hwalign"), bindings::SLAB_HWCACHE_ALIGN),
    (c_str!("kmem_book_redzone"), bindings::SLAB_RED_ZONE),
    (c_str!("kmem_book_poison"), bindings::SLAB_POISON),
    (c_str!("kmem_book_user"), bindings::SLAB_STORE_USER),
    (c_str!("kmem_book_dma"), bindings::SLAB_CACHE_DMA),
];
// ANCHOR_END: caches

struct CacheFlags {
    caches: [*mut bindings::kmem_cache; 6],
    objs: [[*mut c_void; 2]; 6],
}

// SAFETY: the caches and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheFlags {}
// SAFETY: as above.
unsafe impl Sync for CacheFlags {}

impl kernel::Module for CacheFlags {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = CacheFlags {
            caches: [core::ptr::null_mut(); 6],
            objs: [[core::ptr::null_mut(); 2]; 6],
        };
        // ANCHOR: create
        for (i, (name, flags)) in CACHES.iter().enumerate() {
            // SAFETY: process context; static NUL-terminated name; no constructor.
            let s = unsafe {
                bindings::kmem_cache_create(name.as_char_ptr(), OBJ_SIZE, 0, *flags, None)
            };
            if s.is_null() {
                return Err(ENOMEM);
            }
            this.caches[i] = s;
            for slot in this.objs[i].iter_mut() {
                // SAFETY: `s` is a valid cache; process context may sleep.
                *slot = unsafe { bindings::kmem_cache_alloc(s, bindings::GFP_KERNEL) };
                if slot.is_null() {
                    return Err(ENOMEM);
                }
            }
            let [a, b] = this.objs[i];
            // SAFETY: `s` is a valid cache.
            let size = unsafe { bindings::kmem_cache_size(s) };
            pr_info!(
                "{:<18} kmem_cache_size {}, objects at {:p} and {:p} ({} bytes apart)\n",
                name.to_str().unwrap_or("?"),
                size,
                a,
                b,
                b as usize - a as usize
            );
        }
        // ANCHOR_END: create
        Ok(this)
    }
}

impl Drop for CacheFlags {
    fn drop(&mut self) {
        for (s, objs) in self.caches.iter().zip(self.objs.iter()) {
            for &obj in objs.iter().filter(|o| !o.is_null()) {
                // SAFETY: `obj` came from `s` and is freed once.
                unsafe { bindings::kmem_cache_free(*s, obj) };
            }
            // SAFETY: the cache is empty (NULL is ignored); destroyed once.
            unsafe { bindings::kmem_cache_destroy(*s) };
        }
    }
}
