// SPDX-License-Identifier: GPL-2.0

//! Conformance: a slab cache of its own through the stock `__kmem_cache_create_args()` with an alignment and a
//! constructor, objects from `kmem_cache_alloc_noprof()` and `kmem_cache_alloc_node_noprof()`, what
//! `kmem_cache_size()` and `ksize()` say of them, and the cache destroyed empty.

use core::ffi::c_void;
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: ConfKmemCache,
    name: "conf_kmem_cache",
    author: "kmem-book",
    description: "conformance: __kmem_cache_create_args(), kmem_cache_alloc(), a constructor",
    license: "GPL",
}

const OBJECT_SIZE: u32 = 200;
const N: usize = 4;

struct ConfKmemCache {
    cache: *mut bindings::kmem_cache,
    objs: [*mut c_void; N],
}

// SAFETY: the cache and its objects are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKmemCache {}
// SAFETY: as above.
unsafe impl Sync for ConfKmemCache {}

/// The constructor: every new object starts as a run of 0x3c.
unsafe extern "C" fn ctor(obj: *mut c_void) {
    // SAFETY: SLUB passes an object of OBJECT_SIZE bytes.
    unsafe { core::ptr::write_bytes(obj.cast::<u8>(), 0x3c, OBJECT_SIZE as usize) };
}

impl kernel::Module for ConfKmemCache {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: all-zero is a valid `struct kmem_cache_args` (no options).
        let mut args: bindings::kmem_cache_args = unsafe { core::mem::zeroed() };
        args.align = 64;
        args.ctor = Some(ctor);
        // SAFETY: a NUL-terminated name; `args` outlives the call; process context.
        let cache = unsafe {
            bindings::__kmem_cache_create_args(c_str!("conf_cache").as_char_ptr(), OBJECT_SIZE, &mut args, 0)
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a live cache.
        pr_info!("cache conf_cache: kmem_cache_size {}\n", unsafe { bindings::kmem_cache_size(cache) });
        let mut this = ConfKmemCache { cache, objs: [core::ptr::null_mut(); N] };
        for i in 0..N {
            // SAFETY: a live cache; GFP_KERNEL may sleep, which module init allows.
            let p = unsafe {
                if i % 2 == 0 {
                    bindings::kmem_cache_alloc_noprof(cache, bindings::GFP_KERNEL)
                } else {
                    bindings::kmem_cache_alloc_node_noprof(cache, bindings::GFP_KERNEL, 0)
                }
            };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.objs[i] = p;
            // SAFETY: a live object of OBJECT_SIZE bytes.
            let (first, last, usable) = unsafe {
                let b = p.cast::<u8>();
                (*b, *b.add(OBJECT_SIZE as usize - 1), bindings::ksize(p))
            };
            let aligned = p as usize % 64 == 0;
            pr_info!("object {i}: ksize {usable}, 64-byte aligned: {aligned}, bytes {first:#x}..{last:#x}\n");
        }
        Ok(this)
    }
}

impl Drop for ConfKmemCache {
    fn drop(&mut self) {
        for &p in &self.objs {
            if !p.is_null() {
                // SAFETY: each object came from this cache and is freed once.
                unsafe { bindings::kmem_cache_free(self.cache, p) };
            }
        }
        // SAFETY: the cache is empty now and destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
        pr_info!("cache destroyed\n");
    }
}
