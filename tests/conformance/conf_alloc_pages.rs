// SPDX-License-Identifier: GPL-2.0

//! Conformance: the buddy allocator through the stock API: `kernel::page::Page` (one page, written and read
//! back), and blocks of 2^order pages from the `alloc_pages()` helper, `alloc_pages_noprof()` and
//! `__alloc_pages_noprof()`, each mapped with `kmap_local_page()`, filled, checked and given back with
//! `__free_pages()`.

use kernel::bindings;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

module! {
    type: ConfAllocPages,
    name: "conf_alloc_pages",
    author: "kmem-book",
    description: "conformance: Page, alloc_pages(), kmap_local_page(), __free_pages()",
    license: "GPL",
}

struct ConfAllocPages {
    page: Page,
    blocks: [(*mut bindings::page, u32); 3],
}

// SAFETY: the pages are only used by init and exit, which never run concurrently.
unsafe impl Send for ConfAllocPages {}
// SAFETY: as above.
unsafe impl Sync for ConfAllocPages {}

impl kernel::Module for ConfAllocPages {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        let msg = b"one page";
        // SAFETY: `msg` is valid for reading its length.
        unsafe { page.write_raw(msg.as_ptr(), PAGE_SIZE - msg.len(), msg.len())? };
        let mut back = [0u8; 8];
        // SAFETY: `back` is valid for writing its length.
        unsafe { page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 8, 8)? };
        pr_info!("Page: read back \"{}\"\n", core::str::from_utf8(&back).unwrap_or("?"));
        // SAFETY: reading past the page is refused, not done.
        let past = unsafe { page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 4, 8) };
        pr_info!("Page: read past the end: {}\n", if past.is_err() { "refused" } else { "done" });

        let mut this = ConfAllocPages { page, blocks: [(core::ptr::null_mut(), 0); 3] };
        for (i, order) in [0u32, 2, 3].into_iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let p = unsafe {
                match i {
                    0 => bindings::alloc_pages(bindings::GFP_KERNEL, order),
                    1 => bindings::alloc_pages_noprof(bindings::GFP_KERNEL, order),
                    _ => bindings::__alloc_pages_noprof(bindings::GFP_KERNEL, order, 0, core::ptr::null_mut()),
                }
            };
            if p.is_null() {
                return Err(ENOMEM);
            }
            this.blocks[i] = (p, order);
            // SAFETY: `p` is the first page of a live block; its mapping is released before the next one.
            let ok = unsafe {
                let va = bindings::kmap_local_page(p).cast::<u8>();
                core::ptr::write_bytes(va, 0x5a, PAGE_SIZE);
                let ok = (0..PAGE_SIZE).all(|k| *va.add(k) == 0x5a);
                bindings::kunmap_local(va.cast());
                ok
            };
            pr_info!("order-{order} block: first page mapped, filled and checked: {ok}\n");
        }
        Ok(this)
    }
}

impl Drop for ConfAllocPages {
    fn drop(&mut self) {
        for &(p, order) in &self.blocks {
            if !p.is_null() {
                // SAFETY: each block came from the page allocator with this order and is freed once.
                unsafe { bindings::__free_pages(p, order) };
            }
        }
        pr_info!("freed the blocks; the Page (struct page at {:p}) frees itself\n", self.page.as_ptr());
    }
}
