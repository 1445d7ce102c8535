// SPDX-License-Identifier: GPL-2.0

//! Three page-allocator helpers drivers use: `split_page()` (an order-2 block becomes four pages freed one
//! by one), `alloc_pages_bulk_noprof()` (sixteen order-0 pages into an array in one call, holes only), and
//! folios (`folio_alloc_noprof()`, a compound block seen through its head, given back with `__folio_put()`).

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: PagesSplitBulk,
    name: "pages_split_bulk",
    author: "kmem-book",
    description: "split_page(), alloc_pages_bulk() and folio_alloc()",
    license: "GPL",
}

struct PagesSplitBulk;

// ANCHOR: module
/// `page_to_pfn()` (a macro) with the kernel's own variable: `(page - vmemmap_base) / sizeof(struct page)`.
fn pfn(page: *mut bindings::page) -> usize {
    // SAFETY: reading a variable the kernel sets once at boot.
    let base = unsafe { bindings::vmemmap_base };
    (page as usize - base) / core::mem::size_of::<bindings::page>()
}

impl kernel::Module for PagesSplitBulk {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY (the calls below): process context; every page is freed once, at the order it has.
        unsafe {
            // An order-2 block without __GFP_COMP holds one reference, in its first page.
            let block = bindings::alloc_pages(bindings::GFP_KERNEL, 2);
            if block.is_null() {
                return Err(ENOMEM);
            }
            bindings::split_page(block, 2);
            let base = pfn(block);
            for i in (0..4).rev() {
                let p = block.add(i);
                pr_info!("split_page(block, 2): page {} is pfn base+{}, freed on its own\n", i, pfn(p) - base);
                bindings::__free_pages(p, 0);
            }

            // alloc_pages_bulk_array(gfp, nr, array) (inline): the preferred node is numa_mem_id(), node 0
            // on the book's machine; NUMA_NO_NODE would oops, as NODE_DATA(-1) is NULL.
            let mut pages = [core::ptr::null_mut::<bindings::page>(); 16];
            let n = bindings::alloc_pages_bulk_noprof(
                bindings::GFP_KERNEL,
                0,
                core::ptr::null_mut(),
                16,
                core::ptr::null_mut(),
                pages.as_mut_ptr(),
            );
            pr_info!("alloc_pages_bulk(GFP_KERNEL, 16, array) = {}\n", n);
            // Give back every other page and fill the holes again.
            for p in pages.iter_mut().step_by(2) {
                bindings::__free_pages(*p, 0);
                *p = core::ptr::null_mut();
            }
            let n = bindings::alloc_pages_bulk_noprof(
                bindings::GFP_KERNEL,
                0,
                core::ptr::null_mut(),
                16,
                core::ptr::null_mut(),
                pages.as_mut_ptr(),
            );
            let filled = pages.iter().filter(|p| !p.is_null()).count();
            pr_info!("again with 8 holes: {} populated, {} non-NULL entries\n", n, filled);
            for p in pages {
                bindings::__free_pages(p, 0);
            }

            let folio = bindings::folio_alloc_noprof(bindings::GFP_KERNEL, 3);
            if folio.is_null() {
                return Err(ENOMEM);
            }
            let head = folio.cast::<bindings::page>();
            pr_info!("folio_alloc(GFP_KERNEL, 3): head pfn aligned to 8: {}\n", pfn(head) % 8 == 0);
            // folio_put() (inline) drops the last reference, then calls __folio_put().
            bindings::__folio_put(folio);
        }
        Ok(PagesSplitBulk)
    }
}
// ANCHOR_END: module
