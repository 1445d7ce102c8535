// SPDX-License-Identifier: GPL-2.0

//! Conformance: the slab path of kmalloc through the stock `__kmalloc_noprof()`: one object per size,
//! the size class `ksize()` and `kmalloc_size_roundup()` report for it, and a pattern read back.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKmallocSmall,
    name: "conf_kmalloc_small",
    author: "kmem-book",
    description: "conformance: __kmalloc_noprof() size classes, ksize(), kmalloc_size_roundup()",
    license: "GPL",
}

const SIZES: [usize; 8] = [1, 8, 24, 96, 100, 192, 1000, 4096];

struct ConfKmallocSmall {
    objs: [*mut c_void; SIZES.len()],
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKmallocSmall {}
// SAFETY: as above.
unsafe impl Sync for ConfKmallocSmall {}

impl kernel::Module for ConfKmallocSmall {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfKmallocSmall { objs: [core::ptr::null_mut(); SIZES.len()] };
        for (i, &size) in SIZES.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let p = unsafe { bindings::__kmalloc_noprof(size, bindings::GFP_KERNEL) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.objs[i] = p;
            // SAFETY: `p` is a live object of at least `size` bytes.
            let (usable, round, back) = unsafe {
                core::ptr::write_bytes(p.cast::<u8>(), 0xa5, size);
                let last = *p.cast::<u8>().add(size - 1);
                (bindings::ksize(p), bindings::kmalloc_size_roundup(size), last)
            };
            pr_info!("kmalloc({size}): ksize {usable}, roundup {round}, last byte {back:#x}, at {p:p}\n");
        }
        Ok(this)
    }
}

impl Drop for ConfKmallocSmall {
    fn drop(&mut self) {
        for &p in &self.objs {
            // SAFETY: each came from kmalloc and is freed once (kfree(NULL) is a no-op).
            unsafe { bindings::kfree(p) };
        }
        pr_info!("freed {} objects\n", self.objs.len());
    }
}
