// SPDX-License-Identifier: GPL-2.0

//! Conformance: a mempool embedded in the module's own memory (`mempool_init_noprof()` on a `mempool_t` in a
//! `KBox`) over a slab cache (`mempool_alloc_slab`/`mempool_free_slab`): its reserve (`curr_nr`) as elements are
//! taken and given back, `mempool_resize()`, and `mempool_exit()` before the cache is destroyed.

use core::ffi::c_void;
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: ConfMempoolEmbedded,
    name: "conf_mempool_embedded",
    author: "kmem-book",
    description: "conformance: mempool_init() in a KBox over a slab cache, mempool_resize(), mempool_exit()",
    license: "GPL",
}

const MIN_NR: i32 = 3;

struct ConfMempoolEmbedded {
    cache: *mut bindings::kmem_cache,
    pool: KBox<bindings::mempool_t>,
    elements: [*mut c_void; 2],
}

// SAFETY: the cache, the pool and its elements are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfMempoolEmbedded {}
// SAFETY: as above.
unsafe impl Sync for ConfMempoolEmbedded {}

impl ConfMempoolEmbedded {
    fn report(&self, what: &str) {
        pr_info!("{what}: min_nr {}, curr_nr {}\n", self.pool.min_nr, self.pool.curr_nr);
    }
}

impl kernel::Module for ConfMempoolEmbedded {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: all-zero is a valid `struct kmem_cache_args` (no options); process context.
        let cache = unsafe {
            let mut args: bindings::kmem_cache_args = core::mem::zeroed();
            bindings::__kmem_cache_create_args(c_str!("conf_pool_cache").as_char_ptr(), 120, &mut args, 0)
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let pool = match KBox::new(bindings::mempool_t::default(), GFP_KERNEL) {
            Ok(pool) => pool,
            Err(e) => {
                // SAFETY: the cache is empty.
                unsafe { bindings::kmem_cache_destroy(cache) };
                return Err(e.into());
            }
        };
        // SAFETY: a live KBox allocation.
        let size = unsafe { bindings::ksize((&*pool as *const bindings::mempool_t).cast()) };
        pr_info!("mempool_t of {} bytes in a KBox (ksize {size})\n", core::mem::size_of::<bindings::mempool_t>());
        let mut this = ConfMempoolEmbedded { cache, pool, elements: [core::ptr::null_mut(); 2] };
        // SAFETY: the pool lives in the box, which stays put until exit; the cache outlives the pool.
        let r = unsafe {
            bindings::mempool_init_noprof(
                &mut *this.pool,
                MIN_NR,
                Some(bindings::mempool_alloc_slab),
                Some(bindings::mempool_free_slab),
                cache.cast(),
            )
        };
        if r != 0 {
            // SAFETY: nothing was allocated from the cache.
            unsafe { bindings::kmem_cache_destroy(cache) };
            return Err(ENOMEM);
        }
        let pool: *mut bindings::mempool_t = &mut *this.pool;
        this.report("mempool_init");
        // SAFETY: a live pool; GFP_KERNEL may sleep, which module init allows.
        this.elements[0] = unsafe { bindings::mempool_alloc_noprof(pool, bindings::GFP_KERNEL) };
        this.report("mempool_alloc (from the cache)");
        // SAFETY: as above.
        this.elements[1] = unsafe { bindings::mempool_alloc_preallocated(pool) };
        this.report("mempool_alloc_preallocated (from the reserve)");
        // SAFETY: a live pool.
        let r = unsafe { bindings::mempool_resize(pool, 5) };
        this.report(if r == 0 { "mempool_resize(5)" } else { "mempool_resize(5) failed" });
        // SAFETY: the element came from this pool; the reserve is short, so it refills it.
        unsafe { bindings::mempool_free(this.elements[1], pool) };
        this.elements[1] = core::ptr::null_mut();
        this.report("mempool_free");
        // SAFETY: a live element of the cache.
        pr_info!("element: ksize {}\n", unsafe { bindings::ksize(this.elements[0]) });
        Ok(this)
    }
}

impl Drop for ConfMempoolEmbedded {
    fn drop(&mut self) {
        let pool: *mut bindings::mempool_t = &mut *self.pool;
        for &e in &self.elements {
            if !e.is_null() {
                // SAFETY: each came from this pool and is given back once.
                unsafe { bindings::mempool_free(e, pool) };
            }
        }
        self.report("all elements back");
        // SAFETY: the pool was initialised and is torn down once; its memory is the box's.
        unsafe { bindings::mempool_exit(pool) };
        self.report("mempool_exit");
        // SAFETY: mempool_exit() gave every element back to the cache.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
        pr_info!("cache destroyed\n");
    }
}
