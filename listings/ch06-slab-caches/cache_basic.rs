// SPDX-License-Identifier: GPL-2.0

//! A slab cache's life: `kmem_cache_create()` (the classic five arguments, through the book's helper)
//! and `__kmem_cache_create_args()` (6.12's form, with a zeroed `struct kmem_cache_args`),
//! `kmem_cache_alloc()`, `kmem_cache_zalloc()`, `kmem_cache_size()`, `kmem_cache_free()` and
//! `kmem_cache_destroy()`.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheBasic,
    name: "cache_basic",
    author: "kmem-book",
    description: "kmem_cache_create(), kmem_cache_alloc()/zalloc()/free(), kmem_cache_destroy()",
    license: "GPL",
}

/// The objects this module keeps in its caches.
#[repr(C)]
struct Record {
    id: u64,
    name: [u8; 40],
}

struct CacheBasic {
    classic: *mut bindings::kmem_cache,
    args: *mut bindings::kmem_cache,
    objs: [*mut c_void; 3],
}

// SAFETY: the caches and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheBasic {}
// SAFETY: as above.
unsafe impl Sync for CacheBasic {}

impl kernel::Module for CacheBasic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: create
        let size = core::mem::size_of::<Record>() as u32;
        // SAFETY: process context; the name is a static NUL-terminated string; no constructor.
        let classic = unsafe {
            bindings::kmem_cache_create(c_str!("kmem_book_record").as_char_ptr(), size, 0, 0, None)
        };
        // 6.12's entry point: the optional arguments live in a struct, which must exist (zeroed = none).
        let mut args = bindings::kmem_cache_args::default();
        // SAFETY: as above; `args` outlives the call.
        let with_args = unsafe {
            bindings::__kmem_cache_create_args(
                c_str!("kmem_book_args").as_char_ptr(),
                size,
                &mut args,
                0,
            )
        };
        // ANCHOR_END: create
        let mut this = CacheBasic {
            classic,
            args: with_args,
            objs: [core::ptr::null_mut(); 3],
        };
        if classic.is_null() || with_args.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR: alloc
        // SAFETY: both caches are valid; process context may sleep.
        unsafe {
            pr_info!(
                "kmem_cache_size(kmem_book_record) = {}\n",
                bindings::kmem_cache_size(classic)
            );
            this.objs[0] = bindings::kmem_cache_alloc(classic, bindings::GFP_KERNEL);
            this.objs[1] = bindings::kmem_cache_alloc(classic, bindings::GFP_KERNEL);
            this.objs[2] = bindings::kmem_cache_zalloc(with_args, bindings::GFP_KERNEL);
        }
        if this.objs.iter().any(|p| p.is_null()) {
            return Err(ENOMEM);
        }
        pr_info!(
            "kmem_cache_alloc(kmem_book_record) = {:p}, then {:p}\n",
            this.objs[0],
            this.objs[1]
        );
        // SAFETY: the object is `size` bytes that we own.
        let zeroed =
            unsafe { core::slice::from_raw_parts(this.objs[2] as *const u8, size as usize) };
        let nonzero = zeroed.iter().filter(|&&b| b != 0).count();
        pr_info!(
            "kmem_cache_zalloc(kmem_book_args) = {:p}, {} of {} bytes non-zero\n",
            this.objs[2],
            nonzero,
            size
        );
        // ANCHOR_END: alloc
        Ok(this)
    }
}

impl Drop for CacheBasic {
    fn drop(&mut self) {
        // ANCHOR: free
        let caches = [self.classic, self.classic, self.args];
        for (&cache, &obj) in caches
            .iter()
            .zip(self.objs.iter())
            .filter(|(_, o)| !o.is_null())
        {
            // SAFETY: each object goes back to the cache it came from, once.
            unsafe { bindings::kmem_cache_free(cache, obj) };
        }
        // SAFETY: both caches are now empty; each is destroyed once (NULL is ignored).
        unsafe {
            bindings::kmem_cache_destroy(self.classic);
            bindings::kmem_cache_destroy(self.args);
        }
        // ANCHOR_END: free
        pr_info!("both caches destroyed\n");
    }
}
