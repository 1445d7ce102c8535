// SPDX-License-Identifier: GPL-2.0

//! Conformance: `__kvmalloc_node_noprof()`: kmalloc for what slab or the page allocator can give, vmalloc
//! when kmalloc cannot (beyond `KMALLOC_MAX_SIZE`), where each landed, zeroed, and `kvfree()` for all.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKvmalloc,
    name: "conf_kvmalloc",
    author: "kmem-book",
    description: "conformance: kvmalloc() from slab, from pages, from vmalloc",
    license: "GPL",
}

/// `NUMA_NO_NODE` (include/linux/numa.h).
const NUMA_NO_NODE: i32 = -1;
const SIZES: [usize; 4] = [512, 3 * 4096, 1 << 20, 5 << 20];

struct ConfKvmalloc {
    bufs: [*mut c_void; SIZES.len()],
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKvmalloc {}
// SAFETY: as above.
unsafe impl Sync for ConfKvmalloc {}

impl kernel::Module for ConfKvmalloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfKvmalloc { bufs: [core::ptr::null_mut(); SIZES.len()] };
        let gfp = bindings::GFP_KERNEL | bindings::__GFP_ZERO;
        for (i, &size) in SIZES.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows; no buckets.
            let p = unsafe { bindings::__kvmalloc_node_noprof(size, core::ptr::null_mut(), gfp, NUMA_NO_NODE) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.bufs[i] = p;
            // SAFETY: `p` holds `size` bytes.
            let zero = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), size) }.iter().all(|&b| b == 0);
            pr_info!("kvmalloc({size}): at {p:p}, zero: {zero}\n");
        }
        Ok(this)
    }
}

impl Drop for ConfKvmalloc {
    fn drop(&mut self) {
        for &p in &self.bufs {
            // SAFETY: each came from kvmalloc and is freed once (kvfree(NULL) is a no-op).
            unsafe { bindings::kvfree(p) };
        }
        pr_info!("freed\n");
    }
}
