// SPDX-License-Identifier: GPL-2.0

//! Conformance: growing buffers across allocators: `kvrealloc()` from a slab object to a vmalloc area, and
//! `vrealloc()` of a vmalloc area, the contents kept at each step (the helpers and the `_noprof` functions).

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKvrealloc,
    name: "conf_kvrealloc",
    author: "kmem-book",
    description: "conformance: kvrealloc() and vrealloc()",
    license: "GPL",
}

const TAG: &[u8; 16] = b"kvrealloc kept.\0";

struct ConfKvrealloc {
    kv: *mut c_void,
    v: *mut c_void,
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfKvrealloc {}
// SAFETY: as above.
unsafe impl Sync for ConfKvrealloc {}

/// Whether the buffer at `p` still starts with `TAG`.
///
/// # Safety
///
/// `p` must be valid for reading 16 bytes.
unsafe fn kept(p: *const c_void) -> bool {
    // SAFETY: the caller's contract.
    let head = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), 16) };
    head == TAG
}

impl kernel::Module for ConfKvrealloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfKvrealloc { kv: core::ptr::null_mut(), v: core::ptr::null_mut() };
        // SAFETY (this block): every pointer passed is NULL or a live buffer of at least 16 bytes from the
        // same family; on failure the old buffer is kept in `this` and freed by Drop.
        unsafe {
            for (step, size) in [64usize, 3000, 5 << 20, 6 << 20].into_iter().enumerate() {
                let new = if step % 2 == 0 {
                    bindings::kvrealloc(this.kv, size, bindings::GFP_KERNEL)
                } else {
                    bindings::kvrealloc_noprof(this.kv, size, bindings::GFP_KERNEL)
                };
                if new.is_null() {
                    return Err(ENOMEM);
                }
                if step == 0 {
                    core::ptr::copy_nonoverlapping(TAG.as_ptr(), new.cast::<u8>(), 16);
                }
                this.kv = new;
                pr_info!("kvrealloc(p, {size}): at {new:p}, contents kept: {}\n", kept(new));
            }
            for size in [10000usize, 100_000, 2000] {
                let new = bindings::vrealloc(this.v, size, bindings::GFP_KERNEL);
                if new.is_null() {
                    return Err(ENOMEM);
                }
                if this.v.is_null() {
                    core::ptr::copy_nonoverlapping(TAG.as_ptr(), new.cast::<u8>(), 16);
                }
                let how = if new == this.v { "in place" } else { "new area" };
                this.v = new;
                pr_info!("vrealloc(p, {size}): {how}, at {new:p}, contents kept: {}\n", kept(new));
            }
        }
        Ok(this)
    }
}

impl Drop for ConfKvrealloc {
    fn drop(&mut self) {
        // SAFETY: each is NULL or a live buffer of its family, freed once.
        unsafe {
            bindings::kvfree(self.kv);
            bindings::kvfree(self.v);
        }
        pr_info!("freed\n");
    }
}
