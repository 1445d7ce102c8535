// SPDX-License-Identifier: GPL-2.0

//! `ioremap()`: device memory — here the register block where a PC's HPET sits, 0xfed00000 — mapped into the
//! vmalloc area as an `ioremap` area that records the physical address; a request that is not page aligned
//! keeps its offset. A page of RAM the kernel is using is refused with a warning. Nothing reads the
//! registers: the listing runs on the simulator too, which has no device there.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: IoremapArea,
    name: "ioremap_area",
    author: "kmem-book",
    description: "ioremap() of device memory, and of RAM",
    license: "GPL",
}

/// The HPET's register block on a PC (its main counter is at offset 0xf0).
const HPET_BASE: u64 = 0xfed0_0000;

struct IoremapArea {
    regs: *mut kernel::ffi::c_void,
}

// SAFETY: the pointer is only used by init and exit, which never run concurrently.
unsafe impl Send for IoremapArea {}
// SAFETY: as above.
unsafe impl Sync for IoremapArea {}

impl kernel::Module for IoremapArea {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: device
        // SAFETY: process context; the range is not RAM.
        let regs = unsafe { bindings::ioremap(HPET_BASE + 0xf0, 8) };
        if regs.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("ioremap({:#x}, 8) = {:p}, {:#x} into its page\n", HPET_BASE + 0xf0, regs, regs as usize & 0xfff);
        // ANCHOR_END: device
        // ANCHOR: ram
        // SAFETY: process context.
        let page = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, 0) };
        if !page.is_null() {
            // SAFETY: `page` is this module's.
            let phys = unsafe { bindings::page_to_pfn(page) } << bindings::PAGE_SHIFT;
            // SAFETY: process context; ioremap() checks the range itself.
            let p = unsafe { bindings::ioremap(phys as u64, bindings::PAGE_SIZE as _) };
            pr_info!("ioremap() of a page of RAM this module allocated: {:p}\n", p);
            // SAFETY: the page is this module's, and no mapping of it was made.
            unsafe { bindings::__free_pages(page, 0) };
        }
        // ANCHOR_END: ram
        Ok(IoremapArea { regs })
    }
}

impl Drop for IoremapArea {
    fn drop(&mut self) {
        // SAFETY: `regs` is the mapping init made, unmapped once.
        unsafe { bindings::iounmap(self.regs) };
        pr_info!("iounmap() done\n");
    }
}
