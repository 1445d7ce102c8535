// SPDX-License-Identifier: GPL-2.0

//! Conformance: kmalloc beyond the largest slab cache goes to the page allocator (`__kmalloc_large_noprof()`
//! and `__kmalloc_noprof()` above `KMALLOC_MAX_CACHE_SIZE`), `ksize()` of such an object is its page block,
//! and a request beyond `KMALLOC_MAX_SIZE` fails.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKmallocLarge,
    name: "conf_kmalloc_large",
    author: "kmem-book",
    description: "conformance: large kmalloc, its ksize(), and the KMALLOC_MAX_SIZE limit",
    license: "GPL",
}

struct ConfKmallocLarge {
    objs: [*mut c_void; 3],
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKmallocLarge {}
// SAFETY: as above.
unsafe impl Sync for ConfKmallocLarge {}

impl kernel::Module for ConfKmallocLarge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!(
            "KMALLOC_MAX_CACHE_SIZE {}, KMALLOC_MAX_SIZE {}\n",
            bindings::KMALLOC_MAX_CACHE_SIZE,
            bindings::KMALLOC_MAX_SIZE
        );
        let mut this = ConfKmallocLarge { objs: [core::ptr::null_mut(); 3] };
        let sizes = [bindings::KMALLOC_MAX_CACHE_SIZE as usize, 8193, 100_000];
        for (i, &size) in sizes.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let p = unsafe { bindings::__kmalloc_noprof(size, bindings::GFP_KERNEL) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.objs[i] = p;
            // SAFETY: `p` is a live object.
            pr_info!("kmalloc({size}): ksize {} at {p:p}\n", unsafe { bindings::ksize(p) });
        }
        // SAFETY: as above; the object is freed right away.
        unsafe {
            let p = bindings::__kmalloc_large_noprof(3 * bindings::PAGE_SIZE, bindings::GFP_KERNEL);
            if p.is_null() {
                return Err(ENOMEM);
            }
            pr_info!("__kmalloc_large(3 pages): ksize {}\n", bindings::ksize(p));
            bindings::kfree(p);
        }
        let too_big = bindings::KMALLOC_MAX_SIZE as usize + 1;
        // SAFETY: as above; __GFP_NOWARN: the failure is expected.
        let p = unsafe { bindings::__kmalloc_noprof(too_big, bindings::GFP_KERNEL | bindings::__GFP_NOWARN) };
        pr_info!("kmalloc({too_big}): {}\n", if p.is_null() { "NULL" } else { "an object" });
        // SAFETY: NULL or an object from kmalloc.
        unsafe { bindings::kfree(p) };
        Ok(this)
    }
}

impl Drop for ConfKmallocLarge {
    fn drop(&mut self) {
        for &p in &self.objs {
            // SAFETY: each came from kmalloc and is freed once.
            unsafe { bindings::kfree(p) };
        }
        pr_info!("freed\n");
    }
}
