// SPDX-License-Identifier: GPL-2.0

//! The vmalloc variants: `vmalloc_32()` takes its pages from `ZONE_DMA32` (below 4 GiB), `vzalloc()`
//! returns zeroed memory, `vmalloc_user()` zeroed memory that may be mapped to user space
//! (`VM_USERMAP`, shown as `user` in /proc/vmallocinfo).

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: VmallocVariants,
    name: "vmalloc_variants",
    author: "kmem-book",
    description: "vmalloc_32(), vzalloc() and vmalloc_user()",
    license: "GPL",
}

const SIZE: usize = 3 * 4096;
/// The first page frame above 4 GiB: everything below it is ZONE_DMA or ZONE_DMA32.
const PFN_4G: usize = 1 << (32 - bindings::PAGE_SHIFT);

struct VmallocVariants {
    bufs: [*mut c_void; 3],
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for VmallocVariants {}
// SAFETY: as above.
unsafe impl Sync for VmallocVariants {}

/// Counts the non-zero bytes of `len` bytes at `p`.
///
/// # Safety
/// `p` must point to `len` readable bytes.
unsafe fn nonzero(p: *const c_void, len: usize) -> usize {
    // SAFETY: the caller guarantees `len` readable bytes at `p`.
    let bytes = unsafe { core::slice::from_raw_parts(p as *const u8, len) };
    bytes.iter().filter(|&&b| b != 0).count()
}

impl kernel::Module for VmallocVariants {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        // SAFETY: module init runs in process context, where the vmalloc family may sleep.
        let bufs = unsafe {
            [bindings::vmalloc_32(SIZE as _), bindings::vzalloc(SIZE as _), bindings::vmalloc_user(SIZE as _)]
        };
        // ANCHOR_END: alloc
        let this = VmallocVariants { bufs };
        if bufs.iter().any(|b| b.is_null()) {
            return Err(ENOMEM);
        }
        // ANCHOR: inspect
        for (name, buf) in ["vmalloc_32", "vzalloc", "vmalloc_user"].iter().zip(bufs) {
            let mut below_4g = 0;
            for i in 0..SIZE / bindings::PAGE_SIZE {
                // SAFETY: the address lies inside the area; this only reads page tables.
                let pfn = unsafe { bindings::vmalloc_to_pfn(buf.wrapping_byte_add(i * bindings::PAGE_SIZE)) };
                below_4g += usize::from(pfn < PFN_4G);
            }
            let pages = SIZE / bindings::PAGE_SIZE;
            pr_info!("{}({}) = {:p}: {} of {} pages below 4 GiB\n", name, SIZE, buf, below_4g, pages);
        }
        // vmalloc_32() does not zero (its bytes are whatever the pages held); the other two do.
        for (name, buf) in [("vzalloc", bufs[1]), ("vmalloc_user", bufs[2])] {
            // SAFETY: the area has SIZE mapped bytes.
            let nz = unsafe { nonzero(buf, SIZE) };
            pr_info!("{}: {} of {} bytes non-zero\n", name, nz, SIZE);
        }
        // ANCHOR_END: inspect
        Ok(this)
    }
}

impl Drop for VmallocVariants {
    fn drop(&mut self) {
        for buf in self.bufs {
            // SAFETY: each buffer came from the vmalloc family and is freed once (vfree(NULL) is a no-op).
            unsafe { bindings::vfree(buf) };
        }
    }
}
