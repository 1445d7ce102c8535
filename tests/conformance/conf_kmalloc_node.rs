// SPDX-License-Identifier: GPL-2.0

//! Conformance: `__kmalloc_node_noprof()` on node 0 and on `NUMA_NO_NODE`, zeroed with `__GFP_ZERO`, small and
//! large (the page allocator's path for a node), and `__kmalloc_large_node_noprof()`.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKmallocNode,
    name: "conf_kmalloc_node",
    author: "kmem-book",
    description: "conformance: kmalloc_node() on node 0 and on any node, zeroed",
    license: "GPL",
}

/// `NUMA_NO_NODE` (include/linux/numa.h).
const NUMA_NO_NODE: i32 = -1;

struct ConfKmallocNode {
    objs: [*mut c_void; 5],
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKmallocNode {}
// SAFETY: as above.
unsafe impl Sync for ConfKmallocNode {}

/// How many of the first `len` bytes at `p` are zero.
///
/// # Safety
///
/// `p` must be valid for reading `len` bytes.
unsafe fn zeroes(p: *const c_void, len: usize) -> usize {
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) }.iter().filter(|&&b| b == 0).count()
}

impl kernel::Module for ConfKmallocNode {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfKmallocNode { objs: [core::ptr::null_mut(); 5] };
        let gfp = bindings::GFP_KERNEL | bindings::__GFP_ZERO;
        let asks = [(64usize, 0), (64, NUMA_NO_NODE), (2000, 0), (20000, 0), (20000, NUMA_NO_NODE)];
        for (i, &(size, node)) in asks.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows; no buckets (the kmalloc caches).
            let p = unsafe { bindings::__kmalloc_node_noprof(size, core::ptr::null_mut(), gfp, node) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.objs[i] = p;
            // SAFETY: `p` is a live object of `size` bytes.
            let (z, usable) = unsafe { (zeroes(p, size), bindings::ksize(p)) };
            pr_info!("kmalloc_node({size}, node {node}): ksize {usable}, {z} of {size} bytes zero, at {p:p}\n");
        }
        // SAFETY: as above; the object is freed right away.
        unsafe {
            let p = bindings::__kmalloc_large_node_noprof(5 * bindings::PAGE_SIZE, gfp, 0);
            if p.is_null() {
                return Err(ENOMEM);
            }
            pr_info!("kmalloc_large_node(5 pages, node 0): ksize {}\n", bindings::ksize(p));
            bindings::kfree(p);
        }
        Ok(this)
    }
}

impl Drop for ConfKmallocNode {
    fn drop(&mut self) {
        for &p in &self.objs {
            // SAFETY: each came from kmalloc_node and is freed once.
            unsafe { bindings::kfree(p) };
        }
        pr_info!("freed\n");
    }
}
