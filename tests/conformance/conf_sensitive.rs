// SPDX-License-Identifier: GPL-2.0

//! Conformance: freeing secrets: `kfree_sensitive()` of slab and large kmalloc objects (it clears `ksize()`
//! bytes before freeing), `kvfree_sensitive()` of a kvmalloc buffer from slab and from vmalloc, and both of
//! NULL.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfSensitive,
    name: "conf_sensitive",
    author: "kmem-book",
    description: "conformance: kfree_sensitive(), kvfree_sensitive()",
    license: "GPL",
}

/// `NUMA_NO_NODE` (include/linux/numa.h).
const NUMA_NO_NODE: i32 = -1;
const KV_SIZES: [usize; 2] = [256, 5 << 20];

struct ConfSensitive {
    kmalloced: [*mut c_void; 2],
    kvmalloced: [*mut c_void; KV_SIZES.len()],
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfSensitive {}
// SAFETY: as above.
unsafe impl Sync for ConfSensitive {}

/// Fills `len` bytes at `p` with a secret and says how many bytes of it read back.
///
/// # Safety
///
/// `p` must be valid for writing `len` bytes.
unsafe fn fill_secret(p: *mut c_void, len: usize) -> usize {
    // SAFETY: the caller's contract.
    let b = unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    b.fill(0xc5);
    b.iter().filter(|&&x| x == 0xc5).count()
}

impl kernel::Module for ConfSensitive {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfSensitive { kmalloced: [core::ptr::null_mut(); 2], kvmalloced: [core::ptr::null_mut(); 2] };
        for (i, size) in [40usize, 20000].into_iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let p = unsafe { bindings::__kmalloc_noprof(size, bindings::GFP_KERNEL) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.kmalloced[i] = p;
            // SAFETY: a live object of ksize(p) bytes.
            let n = unsafe { fill_secret(p, bindings::ksize(p)) };
            pr_info!("kmalloc({size}): secret of {n} bytes (ksize) at {p:p}\n");
        }
        for (i, &size) in KV_SIZES.iter().enumerate() {
            // SAFETY: as above; no buckets.
            let p = unsafe {
                bindings::__kvmalloc_node_noprof(size, core::ptr::null_mut(), bindings::GFP_KERNEL, NUMA_NO_NODE)
            };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.kvmalloced[i] = p;
            // SAFETY: a live buffer of `size` bytes.
            let n = unsafe { fill_secret(p, size) };
            pr_info!("kvmalloc({size}): secret of {n} bytes at {p:p}\n");
        }
        // SAFETY: both accept NULL.
        unsafe {
            bindings::kfree_sensitive(core::ptr::null());
            bindings::kvfree_sensitive(core::ptr::null(), 0);
        }
        pr_info!("kfree_sensitive(NULL), kvfree_sensitive(NULL, 0): done\n");
        Ok(this)
    }
}

impl Drop for ConfSensitive {
    fn drop(&mut self) {
        for &p in &self.kmalloced {
            // SAFETY: each is NULL or a live kmalloc object, freed once.
            unsafe { bindings::kfree_sensitive(p) };
        }
        for (&p, &size) in self.kvmalloced.iter().zip(KV_SIZES.iter()) {
            // SAFETY: each is NULL or a live kvmalloc buffer of `size` bytes, freed once.
            unsafe { bindings::kvfree_sensitive(p, size) };
        }
        pr_info!("secrets cleared and freed\n");
    }
}
