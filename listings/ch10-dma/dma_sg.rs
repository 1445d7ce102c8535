// SPDX-License-Identifier: GPL-2.0

//! Scatter-gather DMA: three buffers in one `sg_table` mapped with `dma_map_sg()` (one device address per
//! entry: nothing merges them without an IOMMU), handed back and forth with the sync calls and unmapped;
//! the same table with `dma_map_sgtable()`; one segment longer than the device's 64 KiB limit, which
//! `CONFIG_DMA_API_DEBUG_SG` reports; and the two non-coherent allocators, `dma_alloc_noncoherent()` and
//! `dma_alloc_noncontiguous()`.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DmaSg,
    name: "dma_sg",
    author: "kmem-book",
    description: "dma_map_sg(), dma_map_sgtable(), the DMA-API segment check, dma_alloc_noncoherent()",
    license: "GPL",
}

// ANCHOR: inline
// The inline functions of include/linux/scatterlist.h and dma-mapping.h, as they expand on the book's kernel.

/// `sg_set_page(sg, page, len, offset)`: keeps the chain and end bits of `page_link`.
unsafe fn sg_set_page(sg: *mut bindings::scatterlist, page: *mut bindings::page, len: u32, offset: u32) {
    // SAFETY: `sg` is an entry of an initialised table.
    unsafe {
        (*sg).page_link = ((*sg).page_link & 0x3) | page as usize as kernel::ffi::c_ulong;
        (*sg).offset = offset;
        (*sg).length = len;
    }
}

/// `sg_set_buf(sg, buf, len)`: the buffer's page and its offset in it (direct-map memory only).
unsafe fn sg_set_buf(sg: *mut bindings::scatterlist, buf: *const c_void, len: u32) {
    // SAFETY: `buf` is kmalloc or page-allocator memory.
    unsafe {
        let page = bindings::virt_to_page(buf);
        sg_set_page(sg, page, len, (buf as usize & (bindings::PAGE_SIZE - 1)) as u32);
    }
}

/// `sg_phys(sg)`.
unsafe fn sg_phys(sg: *const bindings::scatterlist) -> u64 {
    // SAFETY: `sg` is an entry set with sg_set_page().
    unsafe {
        let page = ((*sg).page_link & !0x3) as *mut bindings::page;
        bindings::virt_to_phys(bindings::page_address(page)) + (*sg).offset as u64
    }
}

/// `dma_map_sg(dev, sg, nents, dir)`, `dma_unmap_sg()`: the `_attrs` calls with no attributes.
unsafe fn dma_map_sg(dev: *mut bindings::device, sg: *mut bindings::scatterlist, nents: i32, dir: u32) -> u32 {
    // SAFETY: `dev` is registered, `sg` has `nents` entries.
    unsafe { bindings::dma_map_sg_attrs(dev, sg, nents, dir, 0) }
}

unsafe fn dma_unmap_sg(dev: *mut bindings::device, sg: *mut bindings::scatterlist, nents: i32, dir: u32) {
    // SAFETY: as dma_map_sg(), with the nents it was given.
    unsafe { bindings::dma_unmap_sg_attrs(dev, sg, nents, dir, 0) }
}
// ANCHOR_END: inline

// ANCHOR: module
struct DmaSg {
    pdev: *mut bindings::platform_device,
    sgt: bindings::sg_table,
    bufs: [*mut c_void; 2],
    pages: [(*mut bindings::page, u32); 2],
}

// SAFETY: the device, the table and the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for DmaSg {}
// SAFETY: as above.
unsafe impl Sync for DmaSg {}

impl kernel::Module for DmaSg {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        use bindings::{
            dma_data_direction_DMA_BIDIRECTIONAL as BIDI, dma_data_direction_DMA_FROM_DEVICE as FROM_DEV,
            dma_data_direction_DMA_TO_DEVICE as TO_DEV, GFP_KERNEL,
        };
        // SAFETY: a name and an id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-sg").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        let mut this = DmaSg {
            pdev,
            sgt: bindings::sg_table::default(),
            bufs: [core::ptr::null_mut(); 2],
            pages: [(core::ptr::null_mut(), 0); 2],
        };

        // SAFETY (the calls below): process context; `dev` is registered; every entry is set before it is
        // mapped, and each buffer stays allocated until exit.
        unsafe {
            // A table of three entries: its array is one kmalloc() object of 3 * 32 bytes.
            kernel::error::to_result(bindings::sg_alloc_table(&mut this.sgt, 3, GFP_KERNEL))?;
            let sgl = this.sgt.sgl;
            pr_info!(
                "sg_alloc_table(3): orig_nents {}, ksize(sgl) = {}\n",
                this.sgt.orig_nents,
                bindings::ksize(sgl.cast())
            );
            this.bufs = [bindings::kmalloc(512, GFP_KERNEL), bindings::kmalloc(1000, GFP_KERNEL)];
            this.pages[0] = (bindings::alloc_pages(GFP_KERNEL, 1), 1);
            if this.bufs.iter().any(|b| b.is_null()) || this.pages[0].0.is_null() {
                return Err(ENOMEM);
            }
            sg_set_buf(sgl, this.bufs[0], 512);
            let s1 = bindings::sg_next(sgl);
            sg_set_buf(s1, this.bufs[1], 1000);
            let s2 = bindings::sg_next(s1);
            sg_set_page(s2, this.pages[0].0, 8192, 0);
            pr_info!("sg_nents() = {}\n", bindings::sg_nents(sgl));

            let n = dma_map_sg(dev, sgl, 3, TO_DEV);
            pr_info!("dma_map_sg(3 entries, DMA_TO_DEVICE) = {}\n", n);
            let mut s = sgl;
            for i in 0..n {
                pr_info!(
                    "  entry {}: dma {:#x} len {}, dma == sg_phys(): {}\n",
                    i,
                    (*s).dma_address,
                    (*s).dma_length,
                    (*s).dma_address == sg_phys(s)
                );
                s = bindings::sg_next(s);
            }
            // The CPU filled the buffers before mapping; after a change it hands them over again:
            bindings::__dma_sync_sg_for_device(dev, sgl, 3, TO_DEV);
            dma_unmap_sg(dev, sgl, 3, TO_DEV);

            // The same table the sg_table way: nents is what was mapped, orig_nents what the table holds.
            let r = bindings::dma_map_sgtable(dev, &mut this.sgt, FROM_DEV, 0);
            pr_info!(
                "dma_map_sgtable(DMA_FROM_DEVICE) = {}: nents {}, orig_nents {}\n",
                r,
                this.sgt.nents,
                this.sgt.orig_nents
            );
            // ... the device writes into the buffers; before the CPU reads them:
            bindings::__dma_sync_sg_for_cpu(dev, sgl, this.sgt.orig_nents as i32, FROM_DEV);
            // dma_unmap_sgtable(): the orig_nents entries.
            dma_unmap_sg(dev, sgl, this.sgt.orig_nents as i32, FROM_DEV);

            // One 128 KiB segment, on the stack: the device's limit is dma_get_max_seg_size() = 64 KiB.
            this.pages[1] = (bindings::alloc_pages(GFP_KERNEL, 5), 5);
            if this.pages[1].0.is_null() {
                return Err(ENOMEM);
            }
            let mut one = bindings::scatterlist::default();
            bindings::sg_init_one(&mut one, bindings::page_address(this.pages[1].0), 128 * 1024);
            let n = dma_map_sg(dev, &mut one, 1, TO_DEV);
            pr_info!("dma_map_sg(one 131072-byte segment) = {}\n", n);
            dma_unmap_sg(dev, &mut one, 1, TO_DEV);

            // Non-coherent memory: pages the driver owns, handed over with the sync calls.
            let mut handle: bindings::dma_addr_t = 0;
            let page = bindings::dma_alloc_pages(dev, 8192, &mut handle, FROM_DEV, GFP_KERNEL);
            if page.is_null() {
                return Err(ENOMEM);
            }
            // dma_alloc_noncoherent() is page_address() of dma_alloc_pages().
            let vaddr = bindings::page_address(page);
            pr_info!(
                "dma_alloc_noncoherent(8192): dma {:#x}, virt_to_phys {:#x}, vmalloc {}\n",
                handle,
                bindings::virt_to_phys(vaddr),
                bindings::is_vmalloc_addr(vaddr)
            );
            bindings::__dma_sync_single_for_cpu(dev, handle, 8192, FROM_DEV);
            // dma_free_noncoherent(): dma_free_pages() of virt_to_page(vaddr).
            bindings::dma_free_pages(dev, 8192, bindings::virt_to_page(vaddr), handle, FROM_DEV);

            // dma_alloc_noncontiguous(): without an IOMMU, one contiguous block in a one-entry table.
            let t = bindings::dma_alloc_noncontiguous(dev, 16384, BIDI, GFP_KERNEL, 0);
            if t.is_null() {
                return Err(ENOMEM);
            }
            let v = bindings::dma_vmap_noncontiguous(dev, 16384, t);
            pr_info!(
                "dma_alloc_noncontiguous(16384): nents {}, length {}, vmap {:p} vmalloc {}\n",
                (*t).nents,
                (*(*t).sgl).length,
                v,
                bindings::is_vmalloc_addr(v)
            );
            bindings::dma_vunmap_noncontiguous(dev, v);
            bindings::dma_free_noncontiguous(dev, 16384, t, BIDI);
        }
        Ok(this)
    }
}

impl Drop for DmaSg {
    fn drop(&mut self) {
        // SAFETY: allocated by init and no longer mapped; NULL entries were never allocated.
        unsafe {
            bindings::sg_free_table(&mut self.sgt);
            for b in self.bufs {
                bindings::kfree(b);
            }
            for (p, order) in self.pages {
                if !p.is_null() {
                    bindings::__free_pages(p, order);
                }
            }
            bindings::platform_device_unregister(self.pdev);
        }
    }
}
// ANCHOR_END: module
