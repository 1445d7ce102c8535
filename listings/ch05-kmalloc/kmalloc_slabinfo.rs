// SPDX-License-Identifier: GPL-2.0

//! Objects held by a module show up in `/proc/slabinfo`: 100 objects of 192 bytes (kmalloc-192) and 20
//! of 1000 bytes (kmalloc-1k) are kept while the module is loaded.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocSlabinfo,
    name: "kmalloc_slabinfo",
    author: "kmem-book",
    description: "kmalloc objects held while /proc/slabinfo is read",
    license: "GPL",
}

const SMALL: usize = 100;
const LARGE: usize = 20;

struct KmallocSlabinfo {
    small: [*mut c_void; SMALL],
    large: [*mut c_void; LARGE],
}

// SAFETY: the objects are only used by init and exit, which never run concurrently.
unsafe impl Send for KmallocSlabinfo {}
// SAFETY: as above.
unsafe impl Sync for KmallocSlabinfo {}

impl kernel::Module for KmallocSlabinfo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = KmallocSlabinfo { small: [core::ptr::null_mut(); SMALL], large: [core::ptr::null_mut(); LARGE] };
        // ANCHOR: alloc
        for p in this.small.iter_mut() {
            // SAFETY: process context; NULL is checked below (and kfree(NULL) is a no-op).
            *p = unsafe { bindings::kmalloc(192, bindings::GFP_KERNEL) };
        }
        for p in this.large.iter_mut() {
            // SAFETY: as above.
            *p = unsafe { bindings::kmalloc(1000, bindings::GFP_KERNEL) };
        }
        // ANCHOR_END: alloc
        if Iterator::chain(this.small.iter(), this.large.iter()).any(|p| p.is_null()) {
            return Err(ENOMEM); // Drop frees what was allocated
        }
        pr_info!("holding {} x kmalloc(192) and {} x kmalloc(1000)\n", SMALL, LARGE);
        pr_info!("first kmalloc(192) at {:p}, first kmalloc(1000) at {:p}\n", this.small[0], this.large[0]);
        Ok(this)
    }
}

impl Drop for KmallocSlabinfo {
    fn drop(&mut self) {
        for &p in Iterator::chain(self.small.iter(), self.large.iter()) {
            // SAFETY: each pointer came from kmalloc() (or is NULL) and is freed once.
            unsafe { bindings::kfree(p) };
        }
        pr_info!("freed {} objects\n", SMALL + LARGE);
    }
}
