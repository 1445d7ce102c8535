// SPDX-License-Identifier: GPL-2.0

//! `kernel::page::Page`: one page from the page allocator (`alloc_pages(gfp, 0)`), owned and freed on
//! drop, read and written through a temporary mapping (`kmap_local_page()`) with bounds checks.

use kernel::bindings;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

module! {
    type: PageRw,
    name: "page_rw",
    author: "kmem-book",
    description: "kernel::page::Page: alloc_page, write_raw, read_raw",
    license: "GPL",
}

struct PageRw {
    page: Page,
}

impl kernel::Module for PageRw {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
        // SAFETY: `page.as_ptr()` is a valid `struct page`; these only compute numbers.
        let (pfn, addr) = unsafe { (bindings::page_to_pfn(page.as_ptr()), bindings::page_address(page.as_ptr())) };
        pr_info!("Page: struct page at {:p}, pfn {:#x}, mapped at {:p}\n", page.as_ptr(), pfn, addr);
        // ANCHOR_END: alloc

        // ANCHOR: rw
        let msg = b"hello from kmem-book";
        // SAFETY: `msg` is valid for reading `msg.len()` bytes.
        unsafe { page.write_raw(msg.as_ptr(), 100, msg.len())? };
        let mut back = [0u8; 20];
        // SAFETY: `back` is valid for writing `back.len()` bytes.
        unsafe { page.read_raw(back.as_mut_ptr(), 100, back.len())? };
        let text = core::str::from_utf8(&back).unwrap_or("?");
        pr_info!("read_raw(offset 100, {} bytes): \"{}\"\n", back.len(), text);
        // ANCHOR_END: rw

        // ANCHOR: bounds
        // SAFETY: as above; the range runs past the end of the page, which read_raw refuses.
        let r = unsafe { page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 10, back.len()) };
        match r {
            Ok(()) => pr_info!("read_raw(offset {}, {} bytes): ok\n", PAGE_SIZE - 10, back.len()),
            Err(e) => pr_info!("read_raw(offset {}, {} bytes): error {}\n", PAGE_SIZE - 10, back.len(), e.to_errno()),
        }
        // ANCHOR_END: bounds
        Ok(PageRw { page })
    }
}

impl Drop for PageRw {
    fn drop(&mut self) {
        // `Page`'s own Drop then calls __free_pages(page, 0).
        pr_info!("freeing the page at {:p}\n", self.page.as_ptr());
    }
}
