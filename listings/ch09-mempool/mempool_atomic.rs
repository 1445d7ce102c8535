// SPDX-License-Identifier: GPL-2.0

//! GFP_ATOMIC cannot wait for an element: with kmalloc failing (failslab, see the chapter) and the
//! reserve of two elements used up, the third `mempool_alloc(pool, GFP_ATOMIC)` returns NULL.
//! After one `mempool_free` the next one succeeds again.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: MempoolAtomic,
    name: "mempool_atomic",
    author: "kmem-book",
    description: "mempool_alloc(GFP_ATOMIC) returns NULL when the reserve is empty",
    license: "GPL",
}

// ANCHOR: module
struct MempoolAtomic {
    pool: *mut bindings::mempool_t,
    held: [*mut c_void; 2],
}

// SAFETY: the pool and the elements are only used by init and exit, which never run concurrently.
unsafe impl Send for MempoolAtomic {}
// SAFETY: as above.
unsafe impl Sync for MempoolAtomic {}

impl kernel::Module for MempoolAtomic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; the pool preallocates 2 elements with GFP_KERNEL.
        let pool = unsafe { bindings::mempool_create_kmalloc_pool(2, 512) };
        if pool.is_null() {
            return Err(ENOMEM);
        }
        let mut e = [core::ptr::null_mut(); 3];
        for (i, p) in e.iter_mut().enumerate() {
            // SAFETY: `pool` is valid; GFP_ATOMIC never sleeps.
            *p = unsafe { bindings::mempool_alloc(pool, bindings::GFP_ATOMIC) };
            pr_info!("mempool_alloc #{} (GFP_ATOMIC) = {:p}\n", i, *p);
        }
        // SAFETY: e[0] came from this pool; it refills the empty reserve.
        unsafe { bindings::mempool_free(e[0], pool) };
        pr_info!("mempool_free({:p})\n", e[0]);
        // SAFETY: as above.
        let again = unsafe { bindings::mempool_alloc(pool, bindings::GFP_ATOMIC) };
        pr_info!("mempool_alloc (GFP_ATOMIC) = {:p}\n", again);
        Ok(MempoolAtomic { pool, held: [again, e[1]] })
    }
}

impl Drop for MempoolAtomic {
    fn drop(&mut self) {
        for e in self.held {
            // SAFETY: the elements came from this pool (mempool_free ignores NULL).
            unsafe { bindings::mempool_free(e, self.pool) };
        }
        // SAFETY: every element is back; the pool is destroyed once.
        unsafe { bindings::mempool_destroy(self.pool) };
    }
}
// ANCHOR_END: module
