// SPDX-License-Identifier: GPL-2.0

//! Page fragments, the network stack's allocator: a `struct page_frag_cache` carves pieces of any size
//! out of a 32 KiB block from its end downwards, counting the references it hands out in `pagecnt_bias`
//! instead of in the page. When the block is used up, it is reused whole if every fragment came back,
//! and replaced by a new block if one is still out.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: PageFrag,
    name: "page_frag",
    author: "kmem-book",
    description: "page_frag_alloc(), page_frag_free(), page_frag_cache_drain()",
    license: "GPL",
}

// ANCHOR: inline
/// `page_frag_alloc(nc, fragsz, gfp)` and `page_frag_alloc_align(nc, fragsz, gfp, align)`: inline in
/// include/linux/gfp.h over the exported `__page_frag_alloc_align()` (`~0` or `-align` as the mask).
unsafe fn page_frag_alloc(nc: *mut bindings::page_frag_cache, fragsz: u32) -> *mut c_void {
    // SAFETY: `nc` is the module's cache.
    unsafe { bindings::__page_frag_alloc_align(nc, fragsz, bindings::GFP_KERNEL, !0) }
}

unsafe fn page_frag_alloc_align(nc: *mut bindings::page_frag_cache, fragsz: u32, align: u32) -> *mut c_void {
    // SAFETY: as above.
    unsafe { bindings::__page_frag_alloc_align(nc, fragsz, bindings::GFP_KERNEL, align.wrapping_neg()) }
}
// ANCHOR_END: inline

// ANCHOR: module
struct PageFrag {
    nc: KBox<bindings::page_frag_cache>,
    held: [*mut c_void; 6],
}

// SAFETY: the cache and the fragments are only used by init and exit, which never run concurrently.
unsafe impl Send for PageFrag {}
// SAFETY: as above.
unsafe impl Sync for PageFrag {}

impl kernel::Module for PageFrag {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = PageFrag { nc: KBox::new(Default::default(), GFP_KERNEL)?, held: [core::ptr::null_mut(); 6] };
        let nc: *mut bindings::page_frag_cache = &mut *this.nc;
        // Where a fragment lies in the cache's current block.
        let off = |p: *mut c_void| {
            // SAFETY: `nc` is the module's cache.
            p as usize - unsafe { (*nc).va } as usize
        };

        // SAFETY (the calls below): process context; `nc` is the module's cache; each fragment is freed once.
        unsafe {
            // Four 8 KiB fragments: the first call takes a block.
            let mut f = [core::ptr::null_mut(); 4];
            for x in f.iter_mut() {
                *x = page_frag_alloc(nc, 8192);
                if x.is_null() {
                    return Err(ENOMEM);
                }
            }
            let first_block = (*nc).va;
            pr_info!(
                "block of {} bytes; fragments at offsets {} {} {} {}; pagecnt_bias {}\n",
                (*nc).size,
                off(f[0]),
                off(f[1]),
                off(f[2]),
                off(f[3]),
                (*nc).pagecnt_bias
            );
            // All four come back, then the block is used up again: the same block, from its end.
            for x in f {
                bindings::page_frag_free(x);
            }
            let again = page_frag_alloc(nc, 8192);
            pr_info!("all four freed: the next is the first again: {}\n", again == f[0]);
            this.held[0] = again;
            for i in 1..4 {
                this.held[i] = page_frag_alloc(nc, 8192);
            }
            // One more while those four are out: a new block.
            this.held[4] = page_frag_alloc(nc, 8192);
            if this.held.iter().take(5).any(|p| p.is_null()) {
                return Err(ENOMEM);
            }
            pr_info!(
                "four still out: a new block: {}, the fragment at offset {}\n",
                (*nc).va != first_block,
                off(this.held[4])
            );
            // Aligned: the highest 64-byte boundary below the previous fragment.
            this.held[5] = page_frag_alloc_align(nc, 100, 64);
            if this.held[5].is_null() {
                return Err(ENOMEM);
            }
            pr_info!("page_frag_alloc_align(100, 64): offset {}\n", off(this.held[5]));
            // More than a block holds.
            let big = page_frag_alloc(nc, 40000);
            pr_info!("page_frag_alloc(40000) = {:p}\n", big);
        }
        Ok(this)
    }
}

impl Drop for PageFrag {
    fn drop(&mut self) {
        // SAFETY: every held fragment came from the cache and is freed once; then the cache lets its block go.
        unsafe {
            for p in self.held {
                if !p.is_null() {
                    bindings::page_frag_free(p);
                }
            }
            bindings::page_frag_cache_drain(&mut *self.nc);
        }
    }
}
// ANCHOR_END: module
