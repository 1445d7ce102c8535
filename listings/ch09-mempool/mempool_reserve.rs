// SPDX-License-Identifier: GPL-2.0

//! A kmalloc mempool keeps serving while kmalloc fails: run on a machine where failslab fails every
//! `kmalloc-512` allocation that cannot reclaim (see the chapter). Four elements come from the reserve,
//! the fifth from kmalloc on the retry with the caller's full GFP_KERNEL mask; `mempool_free` refills
//! the reserve, so GFP_ATOMIC allocations are served from it again.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: MempoolReserve,
    name: "mempool_reserve",
    author: "kmem-book",
    description: "A kmalloc mempool serving from its reserve while kmalloc fails",
    license: "GPL",
}

// ANCHOR: module
const MIN_NR: usize = 4;
const SIZE: usize = 512;

struct MempoolReserve {
    pool: *mut bindings::mempool_t,
    held: [*mut c_void; MIN_NR],
}

// SAFETY: the pool and the elements are only used by init and exit, which never run concurrently.
unsafe impl Send for MempoolReserve {}
// SAFETY: as above.
unsafe impl Sync for MempoolReserve {}

impl kernel::Module for MempoolReserve {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; the pool preallocates MIN_NR elements with GFP_KERNEL.
        let pool = unsafe { bindings::mempool_create_kmalloc_pool(MIN_NR as i32, SIZE) };
        if pool.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("pool {:p}: {} elements of {} bytes in reserve\n", pool, MIN_NR, SIZE);

        // SAFETY: kmalloc may be called in any context with GFP_ATOMIC.
        let p = unsafe { bindings::kmalloc(SIZE, bindings::GFP_ATOMIC) };
        pr_info!("kmalloc({}, GFP_ATOMIC) = {:p}\n", SIZE, p);

        let mut got = [core::ptr::null_mut(); MIN_NR + 1];
        for (i, e) in got.iter_mut().enumerate() {
            // SAFETY: `pool` is valid; GFP_KERNEL may sleep in module init.
            *e = unsafe { bindings::mempool_alloc(pool, bindings::GFP_KERNEL) };
            pr_info!("mempool_alloc #{} (GFP_KERNEL) = {:p}\n", i, *e);
        }
        for e in got {
            // SAFETY: every element came from this pool and is freed once.
            unsafe { bindings::mempool_free(e, pool) };
        }
        pr_info!("freed all {} elements\n", MIN_NR + 1);

        let mut held = [core::ptr::null_mut(); MIN_NR];
        for (i, e) in held.iter_mut().enumerate() {
            // SAFETY: `pool` is valid; GFP_ATOMIC never sleeps.
            *e = unsafe { bindings::mempool_alloc(pool, bindings::GFP_ATOMIC) };
            pr_info!("mempool_alloc #{} (GFP_ATOMIC) = {:p}\n", i, *e);
        }
        Ok(MempoolReserve { pool, held })
    }
}

impl Drop for MempoolReserve {
    fn drop(&mut self) {
        for e in self.held {
            // SAFETY: the elements came from this pool (mempool_free ignores NULL).
            unsafe { bindings::mempool_free(e, self.pool) };
        }
        // SAFETY: every element is back; the pool is destroyed once.
        unsafe { bindings::mempool_destroy(self.pool) };
        pr_info!("pool destroyed\n");
    }
}
// ANCHOR_END: module
