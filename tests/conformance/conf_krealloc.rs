// SPDX-License-Identifier: GPL-2.0

//! Conformance: `krealloc()` growing one buffer: in place while the new size fits the object's size class
//! (`ksize()`), moved to a larger class (and then to the page allocator) when it does not, its contents kept;
//! `krealloc(NULL, …)` is kmalloc, and `krealloc(p, 0)` frees and returns `ZERO_SIZE_PTR`.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKrealloc,
    name: "conf_krealloc",
    author: "kmem-book",
    description: "conformance: krealloc() in place, moved, from NULL and to 0",
    license: "GPL",
}

/// `ZERO_SIZE_PTR` (include/linux/slab.h).
const ZERO_SIZE_PTR: usize = 16;

struct ConfKrealloc {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKrealloc {}
// SAFETY: as above.
unsafe impl Sync for ConfKrealloc {}

impl kernel::Module for ConfKrealloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: krealloc(NULL, …) allocates; GFP_KERNEL may sleep, which module init allows.
        let mut buf = unsafe { bindings::krealloc(core::ptr::null(), 20, bindings::GFP_KERNEL) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `buf` holds 20 bytes.
        unsafe { core::ptr::copy_nonoverlapping(b"kmem-book conformance".as_ptr(), buf.cast::<u8>(), 20) };
        // SAFETY: a live object.
        pr_info!("krealloc(NULL, 20): ksize {}\n", unsafe { bindings::ksize(buf) });
        for size in [24usize, 32, 33, 200, 1024, 5000, 9000, 40000] {
            // SAFETY: `buf` is a live kmalloc object; on failure it is left alone.
            let new = unsafe { bindings::krealloc(buf, size, bindings::GFP_KERNEL) };
            if new.is_null() {
                // SAFETY: still ours.
                unsafe { bindings::kfree(buf) };
                return Err(ENOMEM);
            }
            let how = if new == buf { "in place" } else { "moved" };
            buf = new;
            let mut head = [0u8; 20];
            // SAFETY: the first 20 bytes were copied over.
            unsafe { core::ptr::copy_nonoverlapping(buf.cast::<u8>(), head.as_mut_ptr(), 20) };
            pr_info!(
                "krealloc(p, {size}): {how}, ksize {}, \"{}\"\n",
                // SAFETY: a live object.
                unsafe { bindings::ksize(buf) },
                core::str::from_utf8(&head).unwrap_or("?")
            );
        }
        // SAFETY: a live object of 40000 bytes; shrinking keeps it.
        let new = unsafe { bindings::krealloc(buf, 100, bindings::GFP_KERNEL) };
        if !new.is_null() {
            pr_info!("krealloc(p, 100): {}\n", if new == buf { "in place" } else { "moved" });
            buf = new;
        }
        // SAFETY: `tmp` is a live object; krealloc to 0 frees it.
        unsafe {
            let tmp = bindings::__kmalloc_noprof(64, bindings::GFP_KERNEL);
            let z = bindings::krealloc(tmp, 0, bindings::GFP_KERNEL);
            pr_info!("krealloc(p, 0) = ZERO_SIZE_PTR: {}\n", z as usize == ZERO_SIZE_PTR);
        }
        Ok(ConfKrealloc { buf })
    }
}

impl Drop for ConfKrealloc {
    fn drop(&mut self) {
        // SAFETY: `buf` came from krealloc and is freed once.
        unsafe { bindings::kfree(self.buf) };
        pr_info!("freed\n");
    }
}
