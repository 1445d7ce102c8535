// SPDX-License-Identifier: GPL-2.0

//! Conformance: addresses that add up. The x86_64 kernel's own bases, read as a stock module reads them
//! (`page_offset_base`, `vmemmap_base`, `vmalloc_base`, `high_memory`, `_totalram_pages`), and the arithmetic
//! of `__pa()`, `__va()`, `page_to_pfn()` and `pfn_to_page()` done by hand with them, checked against what the
//! allocators and `kmap_local_page()`/`vmalloc_to_page()` return. The bases are printed (they are addresses);
//! physical addresses and pfns too (the comparison masks them as it masks every pfn); every relation is
//! printed as `true` or `false`.

use core::mem::size_of;
use kernel::bindings;
use kernel::page::PAGE_SHIFT;
use kernel::prelude::*;

module! {
    type: ConfAddresses,
    name: "conf_addresses",
    author: "kmem-book",
    description: "conformance: __pa/__va/pfn_to_page by hand with page_offset_base and vmemmap_base",
    license: "GPL",
}

struct ConfAddresses {
    block: *mut bindings::page,
    vbuf: *mut core::ffi::c_void,
}

// SAFETY: the memory is only used by init and exit, which never run concurrently.
unsafe impl Send for ConfAddresses {}
// SAFETY: as above.
unsafe impl Sync for ConfAddresses {}

/// `page_to_pfn()` by hand: the index of `page` in the `vmemmap_base` array.
///
/// # Safety
/// Reads the kernel variable `vmemmap_base`.
unsafe fn pfn_by_hand(page: *const bindings::page) -> usize {
    // SAFETY: `vmemmap_base` is set once at boot and only read afterwards.
    let base = unsafe { bindings::vmemmap_base };
    (page as usize - base) / size_of::<bindings::page>()
}

impl kernel::Module for ConfAddresses {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the bases are set once at boot and only read afterwards.
        let (pob, vmb, vmm, high, ram) = unsafe {
            (
                bindings::page_offset_base,
                bindings::vmalloc_base,
                bindings::vmemmap_base,
                bindings::high_memory as usize,
                bindings::_totalram_pages.counter,
            )
        };
        pr_info!("page_offset_base {:#x}, vmalloc_base {:#x}, vmemmap_base {:#x}\n", pob, vmb, vmm);
        pr_info!("sizeof(struct page) = {}\n", size_of::<bindings::page>());
        pr_info!("high_memory - page_offset_base = {} KiB of directly mapped RAM\n", (high - pob) >> 10);
        pr_info!("totalram_pages() = {} pages ({} kB)\n", ram, ram * 4);

        // SAFETY: GFP_KERNEL may sleep, which module init allows.
        let block = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, 1) };
        if block.is_null() {
            return Err(ENOMEM);
        }
        let mut this = ConfAddresses { block, vbuf: core::ptr::null_mut() };
        // SAFETY: `block` is an order-1 block just allocated; its pages are mapped one at a time.
        unsafe {
            let pfn = pfn_by_hand(block);
            let va = bindings::kmap_local_page(block).cast::<u8>();
            let phys = va as usize - pob;
            pr_info!("order-1 block: pfn {:#x} (by hand from the struct page), phys {:#x} (by hand: va - page_offset_base)\n", pfn, phys);
            pr_info!("phys >> PAGE_SHIFT == pfn: {}\n", phys >> PAGE_SHIFT == pfn);
            let again = (vmm as *mut bindings::page).add(pfn);
            pr_info!("pfn_to_page() by hand (vmemmap_base + pfn) is the same struct page: {}\n", again == block);
            // __va() by hand: write through it, read through kmap_local_page().
            let by_hand = (pob + phys) as *mut u8;
            core::ptr::write_bytes(by_hand, 0xa5, 64);
            pr_info!("written through page_offset_base + phys, read through kmap_local_page(): {}\n", (0..64).all(|k| *va.add(k) == 0xa5));
            bindings::kunmap_local(va.cast());
            // The second page of the block: the next struct page, the next 4096 bytes of the direct map.
            let second = block.add(1);
            let va2 = bindings::kmap_local_page(second).cast::<u8>();
            pr_info!("second page (block.add(1)): pfn {:#x} by hand, = pfn + 1: {}, its address - page_offset_base = phys + 4096: {}\n",
                pfn_by_hand(second), pfn_by_hand(second) == pfn + 1, va2 as usize - pob == phys + 4096);
            bindings::kunmap_local(va2.cast());
        }

        // A vmalloc buffer: inside the vmalloc area, and each of its pages also in the direct map.
        // SAFETY: GFP_KERNEL may sleep; a NULL `p` makes vrealloc() allocate.
        let v = unsafe { bindings::vrealloc(core::ptr::null(), 8192, bindings::GFP_KERNEL) };
        if v.is_null() {
            return Err(ENOMEM);
        }
        this.vbuf = v;
        // SAFETY: `v` is an 8192-byte vmalloc buffer; its first page is reached through its direct-map alias.
        unsafe {
            pr_info!("vrealloc(NULL, 8192) >= vmalloc_base: {}\n", v as usize >= vmb);
            core::ptr::write_bytes(v.cast::<u8>(), 0x3c, 16);
            let page = bindings::vmalloc_to_page(v);
            let alias = (pob + (pfn_by_hand(page) << PAGE_SHIFT)) as *const u8;
            pr_info!("its first page by hand (page_offset_base + pfn << PAGE_SHIFT) holds what was written: {}\n",
                (0..16).all(|k| *alias.add(k) == 0x3c));
            pr_info!("the direct-map alias is below high_memory: {}\n", (alias as usize) < high);
        }
        Ok(this)
    }
}

impl Drop for ConfAddresses {
    fn drop(&mut self) {
        // SAFETY: both were allocated by init and are freed once.
        unsafe {
            bindings::__free_pages(self.block, 1);
            bindings::vrealloc(self.vbuf, 0, bindings::GFP_KERNEL);
        }
        pr_info!("freed\n");
    }
}
