// SPDX-License-Identifier: GPL-2.0

//! `kmem_buckets_create()`: a subsystem's own set of kmalloc caches (6.11's hardening against heap sprays:
//! what user space makes it allocate does not share slabs with the rest of the kernel).
//! `kmem_buckets_alloc()` takes objects from them by size class, whatever the GFP flags' kmalloc type.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocBuckets,
    name: "kmalloc_buckets",
    author: "kmem-book",
    description: "kmem_buckets_create() and kmem_buckets_alloc()",
    license: "GPL",
}

/// The header the buckets' user keeps in front of the data it copies from user space (as `msg_msg` does).
const HEADER: u32 = 48;

struct KmallocBuckets {
    objs: [*mut c_void; 3],
}

// SAFETY: the objects are only used by init and exit, which never run concurrently.
unsafe impl Send for KmallocBuckets {}
// SAFETY: as above.
unsafe impl Sync for KmallocBuckets {}

impl kernel::Module for KmallocBuckets {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: create
        // SAFETY: process context; a static name; only the bytes after the header may be copied to or from
        // user space (the usercopy region, clipped to each cache's size).
        let b =
            unsafe { bindings::kmem_buckets_create(c_str!("kmem_book_msg").as_char_ptr(), 0, HEADER, u32::MAX, None) };
        if b.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR_END: create
        let mut this = KmallocBuckets { objs: [core::ptr::null_mut(); 3] };
        // ANCHOR: alloc
        // kmem_buckets_alloc(b, size, flags) is a macro over __kmalloc_node_noprof(size, b, flags, node).
        for (slot, (size, flags)) in this.objs.iter_mut().zip([
            (100, bindings::GFP_KERNEL),
            (100, bindings::GFP_KERNEL | bindings::__GFP_ACCOUNT),
            (3000, bindings::GFP_KERNEL | bindings::__GFP_RECLAIMABLE),
        ]) {
            // SAFETY: `b` are this module's buckets; process context.
            *slot = unsafe { bindings::__kmalloc_node_noprof(size, b, flags, bindings::NUMA_NO_NODE) };
            if slot.is_null() {
                return Err(ENOMEM);
            }
            pr_info!("kmem_buckets_alloc({}, {:#x}):", size, flags);
            // SAFETY: `*slot` is a slab object.
            unsafe { bindings::kmem_dump_obj(*slot) };
        }
        // ANCHOR_END: alloc
        Ok(this)
    }
}

impl Drop for KmallocBuckets {
    fn drop(&mut self) {
        for &o in &self.objs {
            // SAFETY: each object is NULL or this module's, freed once; kfree() finds its cache.
            unsafe { bindings::kfree(o) };
        }
        pr_info!("objects freed; the buckets' caches stay (6.12 cannot destroy buckets)\n");
    }
}
