// SPDX-License-Identifier: GPL-2.0

//! `vm_map_ram()`: small mappings are carved out of a per-CPU vmap block one after the other (a request is
//! rounded up to a power of two of pages, and what `vm_unmap_ram()` gives back is not reused), a mapping
//! of more than `BITS_PER_LONG` pages gets an area of its own; `/proc/vmallocinfo` shows the block and the
//! large area as `vm_map_ram` lines without a caller.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: VmMapRam,
    name: "vm_map_ram",
    author: "kmem-book",
    description: "vm_map_ram() inside a vmap block and beyond it",
    license: "GPL",
}

/// One page more than a vmap block serves (`VMAP_MAX_ALLOC` is `BITS_PER_LONG` pages).
const NR: usize = 65;

struct VmMapRam {
    pages: [*mut bindings::page; NR],
    /// The mappings still in place: (address, page count).
    maps: [(*mut kernel::ffi::c_void, u32); 4],
}

// SAFETY: the pointers are only used by init and exit, which never run concurrently.
unsafe impl Send for VmMapRam {}
// SAFETY: as above.
unsafe impl Sync for VmMapRam {}

impl VmMapRam {
    /// `vm_map_ram()` of `count` pages from `pages[first]` on.
    fn map(&mut self, first: usize, count: u32) -> Result<*mut kernel::ffi::c_void> {
        // SAFETY: pages[first..first + count] are pages of this module.
        let a = unsafe { bindings::vm_map_ram(self.pages.as_mut_ptr().add(first), count, bindings::NUMA_NO_NODE) };
        if a.is_null() {
            return Err(ENOMEM);
        }
        Ok(a)
    }
}

impl kernel::Module for VmMapRam {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = VmMapRam { pages: [core::ptr::null_mut(); NR], maps: [(core::ptr::null_mut(), 0); 4] };
        for p in this.pages.iter_mut() {
            // SAFETY: process context.
            *p = unsafe { bindings::alloc_pages(bindings::GFP_KERNEL, 0) };
            if p.is_null() {
                return Err(ENOMEM); // `this` is dropped: what was allocated is freed.
            }
        }
        // ANCHOR: block
        let a = this.map(0, 1)?;
        this.maps[0] = (a, 1);
        let b = this.map(1, 3)?; // three pages: order 2, four slots of the block
        let c = this.map(4, 1)?;
        this.maps[1] = (c, 1);
        let block = a as usize & !(4096 * 1024 - 1);
        pr_info!(
            "1 page at block + {:#x}, 3 pages at block + {:#x}, 1 page at block + {:#x}\n",
            a as usize - block,
            b as usize - block,
            c as usize - block
        );
        // SAFETY: `b` maps 3 pages, made by the call above.
        unsafe { bindings::vm_unmap_ram(b, 3) };
        let d = this.map(1, 1)?;
        this.maps[2] = (d, 1);
        pr_info!("after vm_unmap_ram() of the 3 pages, 1 page at block + {:#x}\n", d as usize - block);
        // ANCHOR_END: block
        // ANCHOR: large
        let e = this.map(0, NR as u32)?;
        this.maps[3] = (e, NR as u32);
        // SAFETY: `e` maps NR pages; byte 0 of its last page is pages[NR - 1]'s.
        let byte = unsafe {
            *e.cast::<u8>().add((NR - 1) * bindings::PAGE_SIZE) = b'Z';
            let direct = bindings::page_address(this.pages[NR - 1]);
            *direct.cast::<u8>()
        };
        pr_info!(
            "{} pages at {:p}, not in a block; its last page reads {:?} through the direct map\n",
            NR,
            e,
            byte as char
        );
        // ANCHOR_END: large
        Ok(this)
    }
}

impl Drop for VmMapRam {
    fn drop(&mut self) {
        // SAFETY: each mapping is this module's, unmapped once with its count; each page is NULL or this
        // module's, freed once after its mappings are gone.
        unsafe {
            for &(a, n) in &self.maps {
                if !a.is_null() {
                    bindings::vm_unmap_ram(a, n);
                }
            }
            bindings::vm_unmap_aliases();
            for &p in &self.pages {
                if !p.is_null() {
                    bindings::__free_pages(p, 0);
                }
            }
        }
        pr_info!("mappings removed, vm_unmap_aliases(), pages freed\n");
    }
}
