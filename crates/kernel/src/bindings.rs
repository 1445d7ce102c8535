//! `kernel::bindings`: the C functions, types and constants Rust code can call, as bindgen exposes them
//! from Debian's Linux 6.12.117 **plus the book's kernel patch** (`listings/kernel/`), which adds the
//! allocator entry points bindgen cannot see because they are macros or `static inline` functions
//! (`kmalloc`, `vmalloc`, `__get_free_pages`, `kmem_cache_create`, `mempool_alloc`, ...).
//!
//! Nothing else: a name the patched kernel's bindings lack does not exist here either, and every
//! signature is bindgen's (`--ctypes-prefix ffi`, so `unsigned long` is `usize`). The bodies call the
//! simulator; pointers are host pointers into the simulated RAM (a `*mut page` is the page's
//! simulated `vmemmap` address, which prints as the kernel's and is never dereferenced).
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, missing_docs)]
#![allow(clippy::missing_safety_doc)]

use crate::__sim::{to_host, to_kaddr, with_machine};
use crate::ffi::{c_uint, c_ulong, c_void};
use kmem_sim::{Gfp, Machine, Pfn};

pub type gfp_t = c_uint;
pub type slab_flags_t = c_uint;
pub type phys_addr_t = u64;
pub type dma_addr_t = u64;
pub type size_t = usize;

/// `struct page` (opaque).
#[repr(C)]
pub struct page {
    _unused: [u8; 0],
}

/// `struct module` (opaque).
#[repr(C)]
pub struct module {
    _unused: [u8; 0],
}

pub const PAGE_SIZE: usize = 4096;
pub const PAGE_SHIFT: u32 = 12;

pub const GFP_ATOMIC: gfp_t = Gfp::GFP_ATOMIC.0;
pub const GFP_KERNEL: gfp_t = Gfp::GFP_KERNEL.0;
pub const GFP_KERNEL_ACCOUNT: gfp_t = Gfp::GFP_KERNEL_ACCOUNT.0;
pub const GFP_NOWAIT: gfp_t = Gfp::GFP_NOWAIT.0;
pub const __GFP_ZERO: gfp_t = Gfp::__GFP_ZERO.0;
pub const __GFP_HIGHMEM: gfp_t = Gfp::__GFP_HIGHMEM.0;
pub const __GFP_NOWARN: gfp_t = Gfp::__GFP_NOWARN.0;

fn gfp(flags: gfp_t) -> Gfp {
    Gfp(flags)
}

fn page_ptr(m: &Machine, pfn: Option<Pfn>) -> *mut page {
    match pfn {
        Some(pfn) => m.page_struct_addr(pfn) as usize as *mut page,
        None => core::ptr::null_mut(),
    }
}

fn pfn_of(m: &Machine, page: *const page) -> Option<Pfn> {
    m.pfn_of_page_struct(page as usize as u64)
}

// ---- The page allocator (include/linux/gfp.h, mm/page_alloc.c) -------------------------------------

/// `alloc_pages()` (Rust helper in rust/helpers/page.c).
pub unsafe extern "C" fn alloc_pages(gfp_mask: gfp_t, order: c_uint) -> *mut page {
    with_machine(|m| {
        let pfn = m.alloc_pages(gfp(gfp_mask), order);
        page_ptr(m, pfn)
    })
}

pub unsafe extern "C" fn __free_pages(page: *mut page, order: c_uint) {
    with_machine(|m| {
        if let Some(pfn) = pfn_of(m, page) {
            m.__free_pages(pfn, order);
        }
    })
}

pub unsafe extern "C" fn get_free_pages_noprof(gfp_mask: gfp_t, order: c_uint) -> c_ulong {
    with_machine(|m| {
        let addr = m.__get_free_pages(gfp(gfp_mask), order);
        to_host(m, addr) as c_ulong
    })
}

pub unsafe extern "C" fn get_zeroed_page_noprof(gfp_mask: gfp_t) -> c_ulong {
    with_machine(|m| {
        let addr = m.get_zeroed_page(gfp(gfp_mask));
        to_host(m, addr) as c_ulong
    })
}

pub unsafe extern "C" fn free_pages(addr: c_ulong, order: c_uint) {
    with_machine(|m| {
        let kaddr = to_kaddr(m, addr as *const c_void);
        m.free_pages(kaddr, order)
    })
}

/// `kmap_local_page()` (Rust helper): x86_64 has no highmem, so this is `page_address()`; on the
/// simulated 32-bit machine a highmem page gets a temporary mapping.
pub unsafe extern "C" fn kmap_local_page(page: *mut page) -> *mut c_void {
    with_machine(|m| match pfn_of(m, page) {
        Some(pfn) => {
            let addr = m.page_address(pfn);
            to_host(m, addr)
        }
        None => core::ptr::null_mut(),
    })
}

/// `kunmap_local()` (Rust helper).
pub unsafe extern "C" fn kunmap_local(addr: *const c_void) {
    let _ = addr;
}

pub unsafe extern "C" fn slow_virt_to_phys(address: *mut c_void) -> phys_addr_t {
    with_machine(|m| {
        let kaddr = to_kaddr(m, address);
        m.virt_to_phys(kaddr)
    })
}
