// SPDX-License-Identifier: GPL-2.0

//! Conformance: a mempool created with the stock `mempool_create_node_noprof()` over kmalloc
//! (`mempool_kmalloc`/`mempool_kfree`, the element size as pool data): elements allocated past the reserve
//! (the allocator first, the reserve only when it fails), one taken from the reserve with
//! `mempool_alloc_preallocated()`, all given back, the pool destroyed.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfMempool,
    name: "conf_mempool",
    author: "kmem-book",
    description: "conformance: mempool_create_node(), mempool_alloc(), mempool_alloc_preallocated()",
    license: "GPL",
}

/// `NUMA_NO_NODE` (include/linux/numa.h).
const NUMA_NO_NODE: i32 = -1;
const MIN_NR: i32 = 4;
const ELEMENT: usize = 300;
const N: usize = 6;

struct ConfMempool {
    pool: *mut bindings::mempool_t,
    elements: [*mut c_void; N + 1],
}

// SAFETY: the pool and its elements are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfMempool {}
// SAFETY: as above.
unsafe impl Sync for ConfMempool {}

impl kernel::Module for ConfMempool {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; the pool data is the element size, as mempool_kmalloc() takes it.
        let pool = unsafe {
            bindings::mempool_create_node_noprof(
                MIN_NR,
                Some(bindings::mempool_kmalloc),
                Some(bindings::mempool_kfree),
                ELEMENT as *mut c_void,
                bindings::GFP_KERNEL,
                NUMA_NO_NODE,
            )
        };
        if pool.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a live pool; only init and exit use it.
        let (min_nr, curr_nr) = unsafe { ((*pool).min_nr, (*pool).curr_nr) };
        pr_info!("mempool of {ELEMENT}-byte elements created: min_nr {min_nr}, curr_nr {curr_nr}\n");
        let mut this = ConfMempool { pool, elements: [core::ptr::null_mut(); N + 1] };
        for i in 0..N {
            // SAFETY: a live pool; GFP_KERNEL may sleep, which module init allows.
            let e = unsafe { bindings::mempool_alloc_noprof(pool, bindings::GFP_KERNEL) };
            if e.is_null() {
                return Err(ENOMEM);
            }
            this.elements[i] = e;
            // SAFETY: a live kmalloc object.
            pr_info!("element {i}: ksize {}\n", unsafe { bindings::ksize(e) });
        }
        // SAFETY: a live pool; it takes an element from the reserve, or NULL when it is empty.
        let e = unsafe { bindings::mempool_alloc_preallocated(pool) };
        pr_info!(
            "mempool_alloc_preallocated(): {}, curr_nr {}\n",
            if e.is_null() { "NULL" } else { "a reserved element" },
            // SAFETY: as above.
            unsafe { (*pool).curr_nr }
        );
        this.elements[N] = e;
        Ok(this)
    }
}

impl Drop for ConfMempool {
    fn drop(&mut self) {
        for &e in &self.elements {
            if !e.is_null() {
                // SAFETY: each came from this pool and is given back once.
                unsafe { bindings::mempool_free(e, self.pool) };
            }
        }
        // SAFETY: every element is back; the pool is destroyed once.
        unsafe { bindings::mempool_destroy(self.pool) };
        pr_info!("mempool destroyed\n");
    }
}
