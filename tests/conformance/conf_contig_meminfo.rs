// SPDX-License-Identifier: GPL-2.0

//! Conformance: `si_meminfo()` and `movable_zone`; `free_contig_range()` of a block made of single pages by
//! `split_page()`, and of a compound block given back with the wrong count (a WARN, nothing freed).

use core::mem::size_of;
use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfContigMeminfo,
    name: "conf_contig_meminfo",
    author: "kmem-book",
    description: "conformance: si_meminfo(), movable_zone, free_contig_range()",
    license: "GPL",
}

struct ConfContigMeminfo;

/// The pfn of a `struct page` pointer, from the kernel's own variables (`vmemmap_base`).
///
/// # Safety
///
/// `page` must be a `struct page` pointer the kernel gave.
unsafe fn pfn_of(page: *const bindings::page) -> usize {
    // SAFETY: a plain read of the kernel's variable.
    let base = unsafe { bindings::vmemmap_base };
    (page as usize - base) / size_of::<bindings::page>()
}

impl kernel::Module for ConfContigMeminfo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut info = bindings::sysinfo::default();
        // SAFETY: `info` is a writable sysinfo; si_meminfo() may be called in any context.
        unsafe { bindings::si_meminfo(&mut info) };
        // SAFETY: a plain read of the kernel's variable.
        let movable = unsafe { bindings::movable_zone };
        pr_info!(
            "si_meminfo: totalram {} sharedram {} bufferram {} totalhigh {} freehigh {} mem_unit {}; movable_zone {}\n",
            info.totalram,
            info.sharedram,
            info.bufferram,
            info.totalhigh,
            info.freehigh,
            info.mem_unit,
            movable
        );
        // SAFETY: process context; the block is checked, split into its 4 pages and all 4 given back.
        unsafe {
            let block = bindings::alloc_pages_noprof(bindings::GFP_KERNEL, 2);
            if block.is_null() {
                return Err(ENOMEM);
            }
            bindings::split_page(block, 2);
            bindings::free_contig_range(pfn_of(block) as _, 4);
        }
        pr_info!("free_contig_range() of a split order-2 block: done\n");
        // SAFETY: process context; the compound block is checked, given back with a wrong count (which frees
        // nothing), then freed whole.
        unsafe {
            let folio = bindings::alloc_pages_noprof(bindings::GFP_KERNEL | (1 << bindings::___GFP_COMP_BIT), 2);
            if folio.is_null() {
                return Err(ENOMEM);
            }
            bindings::free_contig_range(pfn_of(folio) as _, 2);
            pr_info!("free_contig_range(pfn, 2) of an order-2 folio returned; freeing it whole\n");
            bindings::__free_pages(folio, 2);
        }
        Ok(ConfContigMeminfo)
    }
}
