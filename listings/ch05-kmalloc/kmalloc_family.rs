// SPDX-License-Identifier: GPL-2.0

//! The kmalloc family at work: `kzalloc()`, `ksize()`, `krealloc()` growing inside the same object and
//! moving to a bigger cache, `kfree()`; `kmalloc(0)` returning `ZERO_SIZE_PTR`; a request above 8 KiB
//! served by the page allocator; and one above 4 MiB (`KMALLOC_MAX_SIZE`) refused with a warning.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocFamily,
    name: "kmalloc_family",
    author: "kmem-book",
    description: "kzalloc, ksize, krealloc, kfree, kmalloc(0) and large kmalloc",
    license: "GPL",
}

struct KmallocFamily;

impl kernel::Module for KmallocFamily {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: realloc
        // SAFETY: process context; every pointer is checked before use and freed once.
        unsafe {
            let p = bindings::kzalloc(100, bindings::GFP_KERNEL);
            if p.is_null() {
                return Err(ENOMEM);
            }
            let zeroes = core::slice::from_raw_parts(p as *const u8, 100).iter().all(|&b| b == 0);
            pr_info!("kzalloc(100) = {:p}, ksize = {}, all zero: {}\n", p, bindings::ksize(p), zeroes);

            // 120 bytes still fit in the 128-byte object: krealloc() returns the same pointer.
            let q = bindings::krealloc(p, 120, bindings::GFP_KERNEL);
            pr_info!("krealloc(p, 120) = {:p} (same object: {})\n", q, q == p);

            // 200 bytes do not: a new object from kmalloc-256, the old contents copied, the old one freed.
            let r = bindings::krealloc(q, 200, bindings::GFP_KERNEL);
            if r.is_null() {
                bindings::kfree(q);
                return Err(ENOMEM);
            }
            pr_info!("krealloc(p, 200) = {:p} (moved: {}), ksize = {}\n", r, r != q, bindings::ksize(r));
            bindings::kfree(r);
        }
        // ANCHOR_END: realloc

        // ANCHOR: zero
        // SAFETY: kmalloc(0) returns ZERO_SIZE_PTR, which must not be dereferenced; kfree() accepts it.
        unsafe {
            let z: *mut c_void = bindings::kmalloc(0, bindings::GFP_KERNEL);
            pr_info!("kmalloc(0) = {:p}\n", z);
            bindings::kfree(z);
        }
        // ANCHOR_END: zero

        // ANCHOR: large
        // SAFETY: process context; the pointer is checked and freed once.
        unsafe {
            let big = bindings::kmalloc(16384, bindings::GFP_KERNEL);
            if !big.is_null() {
                let page = bindings::virt_to_page(big);
                pr_info!(
                    "kmalloc(16384) = {:p}, ksize = {}, struct page {:p} (no slab: the page allocator)\n",
                    big,
                    bindings::ksize(big),
                    page
                );
                bindings::kfree(big);
            }
            let huge = bindings::kmalloc(5 << 20, bindings::GFP_KERNEL);
            pr_info!("kmalloc(5 MiB) = {:p}\n", huge);
        }
        // ANCHOR_END: large
        Ok(KmallocFamily)
    }
}

impl Drop for KmallocFamily {
    fn drop(&mut self) {}
}
