// SPDX-License-Identifier: GPL-2.0

//! The kmalloc helper family: `kcalloc()` (zeroed, with the multiplication checked for overflow) and
//! `kmalloc_array()`, `kmemdup()` and `kstrdup()` (copies in kmalloc memory), `kmem_cache_alloc_bulk()` and
//! `kmem_cache_free_bulk()` (many objects of one cache in one call), and `kfree_sensitive()`.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocHelpers,
    name: "kmalloc_helpers",
    author: "kmem-book",
    description: "kcalloc, kmalloc_array, kmemdup, kstrdup, bulk cache allocation, kfree_sensitive",
    license: "GPL",
}

struct KmallocHelpers;

const BULK: usize = 16;

impl kernel::Module for KmallocHelpers {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: calloc
        // SAFETY: process context; every pointer is checked and freed below.
        unsafe {
            let a = bindings::kcalloc(10, 24, bindings::GFP_KERNEL);
            if a.is_null() {
                return Err(ENOMEM);
            }
            let bytes = core::slice::from_raw_parts(a.cast::<u8>(), 240);
            pr_info!(
                "kcalloc(10, 24): {} bytes, all zero: {}, ksize {}\n",
                bytes.len(),
                bytes.iter().all(|&b| b == 0),
                bindings::ksize(a)
            );
            bindings::kfree(a);
            // n * size does not fit in a size_t: NULL, before any allocation.
            let huge = bindings::kmalloc_array(usize::MAX / 2, 4, bindings::GFP_KERNEL);
            pr_info!("kmalloc_array(SIZE_MAX / 2, 4): {}\n", if huge.is_null() { "NULL" } else { "memory?" });
        }
        // ANCHOR_END: calloc
        // ANCHOR: dup
        // SAFETY: process context; the copies are freed once.
        unsafe {
            let record: [u8; 12] = *b"kmem-book\0\0\0";
            let copy = bindings::kmemdup_noprof(record.as_ptr().cast(), record.len(), bindings::GFP_KERNEL);
            let name = bindings::kstrdup(c_str!("kmalloc_helpers").as_char_ptr(), bindings::GFP_KERNEL);
            if copy.is_null() || name.is_null() {
                bindings::kfree(copy);
                bindings::kfree(name.cast());
                return Err(ENOMEM);
            }
            let same = core::slice::from_raw_parts(copy.cast::<u8>(), 12) == record;
            let s = core::ffi::CStr::from_ptr(name.cast());
            pr_info!("kmemdup(12 bytes): copy equal: {}, ksize {}\n", same, bindings::ksize(copy));
            pr_info!("kstrdup({:?}): ksize {}\n", s, bindings::ksize(name.cast()));
            // kfree_sensitive() zeroes the whole object before it frees it (for keys and passwords).
            bindings::kfree_sensitive(copy);
            bindings::kfree(name.cast());
        }
        // ANCHOR_END: dup
        // ANCHOR: bulk
        // SAFETY: process context; the cache is destroyed after all its objects are freed.
        unsafe {
            let cache = bindings::kmem_cache_create(c_str!("kmem_book_bulk").as_char_ptr(), 64, 0, 0, None);
            if cache.is_null() {
                return Err(ENOMEM);
            }
            let mut objs = [core::ptr::null_mut::<c_void>(); BULK];
            let n = bindings::kmem_cache_alloc_bulk_noprof(cache, bindings::GFP_KERNEL, BULK, objs.as_mut_ptr());
            let distinct = (1..n as usize).all(|i| objs[i] != objs[i - 1]);
            pr_info!("kmem_cache_alloc_bulk(16): {} objects, all distinct: {}\n", n, distinct);
            bindings::kmem_cache_free_bulk(cache, n as usize, objs.as_mut_ptr());
            bindings::kmem_cache_destroy(cache);
        }
        // ANCHOR_END: bulk
        Ok(KmallocHelpers)
    }
}

impl Drop for KmallocHelpers {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
