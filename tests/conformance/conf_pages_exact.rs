// SPDX-License-Identifier: GPL-2.0

//! Conformance: `alloc_pages_exact_noprof()`: a buffer of a number of pages that is not a power of two, the
//! tail of its block given back at once, zeroed, written end to end, and freed with `free_pages_exact()`.

use core::ffi::c_void;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfPagesExact,
    name: "conf_pages_exact",
    author: "kmem-book",
    description: "conformance: alloc_pages_exact(), free_pages_exact()",
    license: "GPL",
}

const SIZES: [usize; 3] = [3 * bindings::PAGE_SIZE, 5 * bindings::PAGE_SIZE + 100, 9 * bindings::PAGE_SIZE];

struct ConfPagesExact {
    bufs: [*mut c_void; SIZES.len()],
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfPagesExact {}
// SAFETY: as above.
unsafe impl Sync for ConfPagesExact {}

impl kernel::Module for ConfPagesExact {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfPagesExact { bufs: [core::ptr::null_mut(); SIZES.len()] };
        for (i, &size) in SIZES.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let p = unsafe { bindings::alloc_pages_exact_noprof(size, bindings::GFP_KERNEL | bindings::__GFP_ZERO) };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.bufs[i] = p;
            // SAFETY: `p` holds `size` bytes.
            let (zero, sum) = unsafe {
                let b = core::slice::from_raw_parts_mut(p.cast::<u8>(), size);
                let zero = b.iter().all(|&x| x == 0);
                b.iter_mut().enumerate().for_each(|(k, x)| *x = k as u8);
                (zero, b.iter().map(|&x| u64::from(x)).sum::<u64>())
            };
            let pages = size.div_ceil(bindings::PAGE_SIZE);
            let page_aligned = p as usize % bindings::PAGE_SIZE == 0;
            pr_info!(
                "alloc_pages_exact({size}): {pages} pages at {p:p}, page aligned: {page_aligned}, zero: {zero}, sum {sum}\n"
            );
        }
        Ok(this)
    }
}

impl Drop for ConfPagesExact {
    fn drop(&mut self) {
        for (&p, &size) in self.bufs.iter().zip(SIZES.iter()) {
            if !p.is_null() {
                // SAFETY: each came from alloc_pages_exact with this size and is freed once.
                unsafe { bindings::free_pages_exact(p, size) };
            }
        }
        pr_info!("freed\n");
    }
}
