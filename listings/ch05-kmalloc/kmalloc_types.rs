// SPDX-License-Identifier: GPL-2.0

//! The finer print of `kmalloc()`: the GFP flags pick one of four rows of kmalloc caches
//! (`kmalloc_type()`), power-of-two sizes come naturally aligned, and with `init_on_alloc=1` on the
//! command line every object arrives zeroed.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocTypes,
    name: "kmalloc_types",
    author: "kmem-book",
    description: "kmalloc_type(), kmalloc alignment, init_on_alloc",
    license: "GPL",
}

const NR: usize = 12;

struct KmallocTypes {
    objs: [*mut c_void; NR],
}

// SAFETY: the objects are only used by init and exit, which never run concurrently.
unsafe impl Send for KmallocTypes {}
// SAFETY: as above.
unsafe impl Sync for KmallocTypes {}

impl KmallocTypes {
    fn kmalloc(&mut self, size: usize, flags: bindings::gfp_t) -> Result<*mut c_void> {
        // SAFETY: process context.
        let p = unsafe { bindings::kmalloc(size, flags) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        let slot = self.objs.iter_mut().find(|o| o.is_null()).ok_or(ENOMEM)?;
        *slot = p;
        Ok(p)
    }
}

impl kernel::Module for KmallocTypes {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = KmallocTypes { objs: [core::ptr::null_mut(); NR] };
        // ANCHOR: types
        let account = bindings::GFP_KERNEL | bindings::__GFP_ACCOUNT; // GFP_KERNEL_ACCOUNT
        for (name, flags) in [
            ("GFP_KERNEL", bindings::GFP_KERNEL),
            ("GFP_KERNEL | __GFP_RECLAIMABLE", bindings::GFP_KERNEL | bindings::__GFP_RECLAIMABLE),
            ("GFP_KERNEL_ACCOUNT", account),
            ("GFP_KERNEL | GFP_DMA", bindings::GFP_KERNEL | bindings::GFP_DMA),
            ("GFP_KERNEL_ACCOUNT | __GFP_RECLAIMABLE", account | bindings::__GFP_RECLAIMABLE),
            ("GFP_KERNEL_ACCOUNT | GFP_DMA", account | bindings::GFP_DMA),
        ] {
            let p = this.kmalloc(100, flags)?;
            pr_info!("kmalloc(100, {}):", name);
            // SAFETY: `p` is a slab object.
            unsafe { bindings::kmem_dump_obj(p) };
        }
        // ANCHOR_END: types
        // ANCHOR: align
        for size in [8usize, 64, 256, 1000, 2048] {
            let p = this.kmalloc(size, bindings::GFP_KERNEL)?;
            // SAFETY: `p` is a kmalloc object.
            let usable = unsafe { bindings::ksize(p) };
            pr_info!(
                "kmalloc({}): {} usable bytes, address a multiple of {}: {}\n",
                size,
                usable,
                usable,
                p as usize % usable == 0
            );
        }
        // ANCHOR_END: align
        // ANCHOR: init
        let p = this.kmalloc(64, bindings::GFP_KERNEL)?;
        // SAFETY: `p` is 64 bytes of this module's.
        let zero = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), 64) }.iter().all(|&b| b == 0);
        pr_info!("kmalloc(64, GFP_KERNEL) reads as zeroes: {}\n", zero);
        // ANCHOR_END: init
        Ok(this)
    }
}

impl Drop for KmallocTypes {
    fn drop(&mut self) {
        for &o in &self.objs {
            // SAFETY: each object is NULL or this module's, freed once.
            unsafe { bindings::kfree(o) };
        }
    }
}
