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
use crate::ffi::{c_int, c_uint, c_ulong, c_void};
use kmem_sim::{Gfp, Machine, Pfn};

pub type gfp_t = c_uint;
pub type slab_flags_t = c_uint;
pub type phys_addr_t = u64;
/// `resource_size_t` (`include/linux/types.h`): a physical address or size of a resource.
pub type resource_size_t = phys_addr_t;
pub type dma_addr_t = u64;
pub type size_t = usize;

/// `struct page`: opaque, with the x86_64 kernel's size (64 bytes) and alignment, so that `page.add(i)` is
/// the `i`-th following page as in C.
#[repr(C, align(8))]
pub struct page {
    _opaque: [u8; 64],
}

/// An opaque C type: module code only passes pointers to it (bindgen's `_unused: [u8; 0]` form).
macro_rules! opaque {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[repr(C)]
        pub struct $name {
            _unused: [u8; 0],
        }
    };
}

opaque!(
    /// `struct module` (opaque).
    module
);

pub const PAGE_SIZE: usize = 4096;
pub const PAGE_SHIFT: u32 = 12;

pub const GFP_ATOMIC: gfp_t = Gfp::GFP_ATOMIC.0;
pub const GFP_KERNEL: gfp_t = Gfp::GFP_KERNEL.0;
pub const GFP_KERNEL_ACCOUNT: gfp_t = Gfp::GFP_KERNEL_ACCOUNT.0;
pub const GFP_NOWAIT: gfp_t = Gfp::GFP_NOWAIT.0;
pub const __GFP_ZERO: gfp_t = Gfp::__GFP_ZERO.0;
pub const __GFP_HIGHMEM: gfp_t = Gfp::__GFP_HIGHMEM.0;
pub const __GFP_NOWARN: gfp_t = Gfp::__GFP_NOWARN.0;

// The book's patch adds the rest of the GFP flags as `RUST_CONST_HELPER_*` constants.
pub const __GFP_DMA: gfp_t = Gfp::__GFP_DMA.0;
pub const __GFP_DMA32: gfp_t = Gfp::__GFP_DMA32.0;
pub const __GFP_MOVABLE: gfp_t = Gfp::__GFP_MOVABLE.0;
pub const __GFP_RECLAIMABLE: gfp_t = Gfp::__GFP_RECLAIMABLE.0;
pub const __GFP_HIGH: gfp_t = Gfp::__GFP_HIGH.0;
pub const __GFP_IO: gfp_t = Gfp::__GFP_IO.0;
pub const __GFP_FS: gfp_t = Gfp::__GFP_FS.0;
pub const __GFP_DIRECT_RECLAIM: gfp_t = Gfp::__GFP_DIRECT_RECLAIM.0;
pub const __GFP_KSWAPD_RECLAIM: gfp_t = Gfp::__GFP_KSWAPD_RECLAIM.0;
pub const __GFP_RECLAIM: gfp_t = Gfp::__GFP_RECLAIM.0;
pub const __GFP_RETRY_MAYFAIL: gfp_t = Gfp::__GFP_RETRY_MAYFAIL.0;
pub const __GFP_NOFAIL: gfp_t = Gfp::__GFP_NOFAIL.0;
pub const __GFP_NORETRY: gfp_t = Gfp::__GFP_NORETRY.0;
pub const __GFP_MEMALLOC: gfp_t = Gfp::__GFP_MEMALLOC.0;
pub const __GFP_COMP: gfp_t = Gfp::__GFP_COMP.0;
pub const __GFP_NOMEMALLOC: gfp_t = Gfp::__GFP_NOMEMALLOC.0;
pub const __GFP_HARDWALL: gfp_t = Gfp::__GFP_HARDWALL.0;
pub const __GFP_THISNODE: gfp_t = Gfp::__GFP_THISNODE.0;
pub const __GFP_ACCOUNT: gfp_t = Gfp::__GFP_ACCOUNT.0;
pub const GFP_NOIO: gfp_t = Gfp::GFP_NOIO.0;
pub const GFP_NOFS: gfp_t = Gfp::GFP_NOFS.0;
pub const GFP_USER: gfp_t = Gfp::GFP_USER.0;
pub const GFP_DMA: gfp_t = Gfp::GFP_DMA.0;
pub const GFP_DMA32: gfp_t = Gfp::GFP_DMA32.0;
pub const GFP_HIGHUSER: gfp_t = Gfp::GFP_HIGHUSER.0;
pub const GFP_HIGHUSER_MOVABLE: gfp_t = Gfp::GFP_HIGHUSER_MOVABLE.0;

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
    helper("rust_helper_alloc_pages", |m| {
        let pfn = m.alloc_pages(gfp(gfp_mask), order);
        page_ptr(m, pfn)
    })
}

pub unsafe extern "C" fn __free_pages(page: *mut page, order: c_uint) {
    with_machine(|m| match pfn_of(m, page) {
        Some(pfn) => m.__free_pages(pfn, order),
        None => m.bad_page_pointer(page as usize as u64, "__free_pages"),
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
    helper("rust_helper_kmap_local_page", |m| match pfn_of(m, page) {
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

/// Calls `f` as the C helper `name` of the kernel (a `rust_helper_*` function), with its frame on the
/// simulated stack. A helper is a one-line wrapper that the book's build turns into a tail call
/// (`jmp __kmalloc_noprof`, see listings/kernel/symbols/vmlinux.txt), so in reports its frame gives way to
/// the allocator's: the allocators record the helper's *caller* — the module's Rust function, or
/// `ReallocFunc::call` for the `kernel::alloc` types — as a real 6.12 kernel shows in `/proc/vmallocinfo` and
/// SLUB's `Allocated in` lines.
fn helper<R>(name: &'static str, f: impl FnOnce(&mut Machine) -> R) -> R {
    let indirect = crate::__sim::take_indirect();
    with_machine(|m| {
        if indirect {
            m.push_indirect_frame(name, None);
        } else {
            m.push_kframe(name);
        }
        let depth = m.call_stack().len();
        let r = f(m);
        m.truncate_stack(depth - 1);
        r
    })
}

// ---- The page allocator through the patch's helpers (rust/helpers/kmem_book.c) ---------------------

pub unsafe extern "C" fn __get_free_pages(gfp_mask: gfp_t, order: c_uint) -> c_ulong {
    helper("rust_helper___get_free_pages", |m| {
        let addr = m.__get_free_pages(gfp(gfp_mask), order);
        to_host(m, addr) as c_ulong
    })
}

pub unsafe extern "C" fn __get_free_page(gfp_mask: gfp_t) -> c_ulong {
    helper("rust_helper___get_free_page", |m| {
        let addr = m.__get_free_pages(gfp(gfp_mask), 0);
        to_host(m, addr) as c_ulong
    })
}

pub unsafe extern "C" fn get_zeroed_page(gfp_mask: gfp_t) -> c_ulong {
    helper("rust_helper_get_zeroed_page", |m| {
        let addr = m.get_zeroed_page(gfp(gfp_mask));
        to_host(m, addr) as c_ulong
    })
}

pub unsafe extern "C" fn alloc_page(gfp_mask: gfp_t) -> *mut page {
    helper("rust_helper_alloc_page", |m| {
        let pfn = m.alloc_pages(gfp(gfp_mask), 0);
        page_ptr(m, pfn)
    })
}

pub unsafe extern "C" fn free_page(addr: c_ulong) {
    helper("rust_helper_free_page", |m| {
        let kaddr = to_kaddr(m, addr as *const c_void);
        m.free_pages(kaddr, 0)
    })
}

pub unsafe extern "C" fn __free_page(page: *mut page) {
    helper("rust_helper___free_page", |m| match pfn_of(m, page) {
        Some(pfn) => m.__free_pages(pfn, 0),
        None => m.bad_page_pointer(page as usize as u64, "__free_pages"),
    })
}

pub unsafe extern "C" fn page_address(page: *const page) -> *mut c_void {
    helper("rust_helper_page_address", |m| match pfn_of(m, page) {
        Some(pfn) => {
            let addr = m.page_address(pfn);
            to_host(m, addr)
        }
        None => core::ptr::null_mut(),
    })
}

pub unsafe extern "C" fn virt_to_page(addr: *const c_void) -> *mut page {
    helper("rust_helper_virt_to_page", |m| {
        let kaddr = to_kaddr(m, addr);
        let pfn = m.virt_to_page(kaddr);
        page_ptr(m, pfn)
    })
}

pub unsafe extern "C" fn virt_to_phys(address: *mut c_void) -> phys_addr_t {
    helper("rust_helper_virt_to_phys", |m| {
        let kaddr = to_kaddr(m, address);
        m.virt_to_phys(kaddr)
    })
}

pub unsafe extern "C" fn phys_to_virt(address: phys_addr_t) -> *mut c_void {
    helper("rust_helper_phys_to_virt", |m| {
        let kaddr = m.phys_to_virt(address);
        to_host(m, kaddr)
    })
}

pub unsafe extern "C" fn page_to_pfn(page: *const page) -> c_ulong {
    // page_to_pfn() is arithmetic, for any pointer.
    helper("rust_helper_page_to_pfn", |m| {
        pfn_of(m, page).unwrap_or_else(|| m.page_to_pfn_arith(page as usize as u64)).0 as c_ulong
    })
}

pub unsafe extern "C" fn pfn_to_page(pfn: c_ulong) -> *mut page {
    helper("rust_helper_pfn_to_page", |m| page_ptr(m, Some(Pfn(pfn as u64))))
}

pub unsafe extern "C" fn virt_addr_valid(addr: *const c_void) -> bool {
    helper("rust_helper_virt_addr_valid", |m| {
        let kaddr = to_kaddr(m, addr);
        m.virt_addr_valid(kaddr)
    })
}

// ---- kmalloc and friends (include/linux/slab.h, mm/slab_common.c, mm/slub.c) ----------------------

pub unsafe extern "C" fn __kmalloc_noprof(size: usize, flags: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let p = m.kmalloc(size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kmalloc(size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kmalloc", |m| {
        let p = m.kmalloc(size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kzalloc(size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kzalloc", |m| {
        let p = m.kzalloc(size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kcalloc(n: usize, size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kcalloc", |m| {
        let p = m.kcalloc(n as u64, size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kmalloc_array(n: usize, size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kmalloc_array", |m| {
        let p = m.kmalloc_array(n as u64, size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn krealloc_noprof(objp: *const c_void, new_size: usize, flags: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let old = to_kaddr(m, objp);
        let p = m.krealloc(old, new_size as u64, gfp(flags));
        to_host(m, p)
    })
}

/// `krealloc()` (Rust helper in rust/helpers/slab.c): what `KBox`/`KVec` allocate and free with.
pub unsafe extern "C" fn krealloc(objp: *const c_void, new_size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_krealloc", |m| {
        let old = to_kaddr(m, objp);
        let p = m.krealloc(old, new_size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kfree(objp: *const c_void) {
    with_machine(|m| {
        let p = to_kaddr(m, objp);
        m.kfree(p)
    })
}

pub unsafe extern "C" fn ksize(objp: *const c_void) -> usize {
    with_machine(|m| {
        let p = to_kaddr(m, objp);
        m.ksize(p) as usize
    })
}

pub unsafe extern "C" fn kmalloc_size_roundup(size: usize) -> usize {
    with_machine(|m| m.kmalloc_size_roundup(size as u64) as usize)
}

// ---- Slab caches (mm/slab_common.c, mm/slub.c) -------------------------------------------------------

opaque!(
    /// `struct kmem_cache` (opaque).
    kmem_cache
);

/// `struct kmem_cache_args` (6.12: the optional arguments of `__kmem_cache_create_args()`).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct kmem_cache_args {
    pub align: c_uint,
    pub useroffset: c_uint,
    pub usersize: c_uint,
    pub freeptr_offset: c_uint,
    pub use_freeptr_offset: bool,
    pub ctor: Option<unsafe extern "C" fn(arg1: *mut c_void)>,
}

pub type _slab_flag_bits = c_uint;
pub use kmem_sim::slab_common::bindings::*;

// The other constants of the stock allocation bindings, with bindgen's types and values (crates/kernel/build.rs).
include!(concat!(env!("OUT_DIR"), "/stock_consts.rs"));

pub const SLAB_CONSISTENCY_CHECKS: slab_flags_t = kmem_sim::slab_common::SLAB_CONSISTENCY_CHECKS;
pub const SLAB_RED_ZONE: slab_flags_t = kmem_sim::slab_common::SLAB_RED_ZONE;
pub const SLAB_POISON: slab_flags_t = kmem_sim::slab_common::SLAB_POISON;
pub const SLAB_KMALLOC: slab_flags_t = kmem_sim::slab_common::SLAB_KMALLOC;
pub const SLAB_HWCACHE_ALIGN: slab_flags_t = kmem_sim::slab_common::SLAB_HWCACHE_ALIGN;
pub const SLAB_CACHE_DMA: slab_flags_t = kmem_sim::slab_common::SLAB_CACHE_DMA;
pub const SLAB_CACHE_DMA32: slab_flags_t = kmem_sim::slab_common::SLAB_CACHE_DMA32;
pub const SLAB_STORE_USER: slab_flags_t = kmem_sim::slab_common::SLAB_STORE_USER;
pub const SLAB_PANIC: slab_flags_t = kmem_sim::slab_common::SLAB_PANIC;
pub const SLAB_TYPESAFE_BY_RCU: slab_flags_t = kmem_sim::slab_common::SLAB_TYPESAFE_BY_RCU;
pub const SLAB_NO_MERGE: slab_flags_t = kmem_sim::slab_common::SLAB_NO_MERGE;
pub const SLAB_ACCOUNT: slab_flags_t = kmem_sim::slab_common::SLAB_ACCOUNT;
pub const SLAB_RECLAIM_ACCOUNT: slab_flags_t = kmem_sim::slab_common::SLAB_RECLAIM_ACCOUNT;
pub const SLAB_TRACE: slab_flags_t = 1 << _slab_flag_bits__SLAB_TRACE;
pub const SLAB_NOLEAKTRACE: slab_flags_t = 1 << _slab_flag_bits__SLAB_NOLEAKTRACE;
pub const SLAB_NO_USER_FLAGS: slab_flags_t = 1 << _slab_flag_bits__SLAB_NO_USER_FLAGS;

type Ctor = unsafe extern "C" fn(*mut c_void);

thread_local! {
    /// Constructors passed to `kmem_cache_create`, indexed by the simulator's `CtorId`.
    static CTORS: core::cell::RefCell<std::vec::Vec<Ctor>> = const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

fn ctor_id(ctor: Option<Ctor>) -> Option<kmem_sim::slab_common::CtorId> {
    let ctor = ctor?;
    CTORS.with(|c| {
        let mut c = c.borrow_mut();
        let idx = match c.iter().position(|&f| core::ptr::fn_addr_eq(f, ctor)) {
            Some(i) => i,
            None => {
                c.push(ctor);
                c.len() - 1
            }
        };
        let id = kmem_sim::slab_common::CtorId(idx as u32);
        // The constructor's name, for the cache's `ctor` attribute in sysfs (looked up on the simulator's
        // stack: reading the executable's symbol table needs more than a module task's 16 KiB).
        with_machine(|m| {
            let path =
                m.current_module().and_then(|module| crate::__sim::task::symbolize_module_fn(&module, ctor as usize));
            if let Some(path) = path {
                m.kmem_cache_ctor_symbol(id, &path);
            }
        });
        Some(id)
    })
}

/// Runs the constructors the simulator queued for the objects of new slabs, outside the machine (they
/// are module code), before the allocated object is handed out, as SLUB does when it sets up a slab.
fn run_pending_ctors() {
    let pending = with_machine(|m| {
        m.take_pending_ctors().into_iter().map(|(id, obj)| (id, to_host(m, obj))).collect::<std::vec::Vec<_>>()
    });
    for (id, obj) in pending {
        let ctor = CTORS.with(|c| c.borrow().get(id.0 as usize).copied());
        if let Some(ctor) = ctor {
            // SAFETY: the constructor was given to kmem_cache_create for this cache's objects.
            unsafe { ctor(obj) };
        }
    }
}

thread_local! {
    /// The `struct kmem_cache *` handed to module code, by pointer value: the host address of the
    /// cache's simulated `struct kmem_cache` object, so it prints as the kernel's and an alias gets
    /// the same pointer as the cache it was merged into.
    static CACHE_PTRS: core::cell::RefCell<std::collections::HashMap<usize, kmem_sim::slab_common::CacheId>> =
        core::cell::RefCell::new(std::collections::HashMap::new());
}

/// A `struct kmem_cache *` for a cache without a simulated `struct kmem_cache` object: a host cell.
struct CacheHandle(#[allow(dead_code)] kmem_sim::slab_common::CacheId);

fn cache_ptr(m: &Machine, id: Option<kmem_sim::slab_common::CacheId>) -> *mut kmem_cache {
    let Some(id) = id else {
        return core::ptr::null_mut();
    };
    let kaddr = m.kmem_cache_addr(id);
    let ptr: *mut kmem_cache = if kaddr != 0 {
        to_host(m, kaddr).cast()
    } else {
        std::boxed::Box::into_raw(std::boxed::Box::new(CacheHandle(id))).cast()
    };
    CACHE_PTRS.with(|c| c.borrow_mut().insert(ptr as usize, id));
    ptr
}

fn cache_id(s: *const kmem_cache) -> Option<kmem_sim::slab_common::CacheId> {
    if s.is_null() {
        return None;
    }
    CACHE_PTRS.with(|c| c.borrow().get(&(s as usize)).copied())
}

fn c_string(name: *const crate::ffi::c_char) -> std::string::String {
    if name.is_null() {
        return std::string::String::new();
    }
    // SAFETY: the caller passes a NUL-terminated C string, as the C API requires.
    unsafe { core::ffi::CStr::from_ptr(name.cast()) }.to_string_lossy().into_owned()
}

pub unsafe extern "C" fn __kmem_cache_create_args(
    name: *const crate::ffi::c_char,
    object_size: c_uint,
    args: *mut kmem_cache_args,
    flags: slab_flags_t,
) -> *mut kmem_cache {
    let name = c_string(name);
    // SAFETY: the caller passes a valid `struct kmem_cache_args` (NULL oopses in the real kernel).
    let a = unsafe { args.as_ref() }.copied().unwrap_or_default();
    let mut sim_args = kmem_sim::slab_common::KmemCacheArgs {
        align: a.align,
        useroffset: a.useroffset,
        usersize: a.usersize,
        freeptr_offset: a.freeptr_offset,
        use_freeptr_offset: a.use_freeptr_offset,
        ctor: ctor_id(a.ctor),
    };
    with_machine(|m| {
        let id = m.__kmem_cache_create_args(&name, object_size, &mut sim_args, flags);
        cache_ptr(m, id)
    })
}

/// `kmem_cache_create()` (the patch's helper over the 6.12 macro): the classic five arguments.
pub unsafe extern "C" fn kmem_cache_create(
    name: *const crate::ffi::c_char,
    size: c_uint,
    align: c_uint,
    flags: slab_flags_t,
    ctor: Option<unsafe extern "C" fn(arg1: *mut c_void)>,
) -> *mut kmem_cache {
    let name = c_string(name);
    let ctor = ctor_id(ctor);
    helper("rust_helper_kmem_cache_create", |m| {
        let id = m.kmem_cache_create(&name, size, align, flags, ctor);
        cache_ptr(m, id)
    })
}

fn cache_alloc(helper_name: Option<&'static str>, s: *mut kmem_cache, flags: gfp_t, zero: bool) -> *mut c_void {
    let Some(id) = cache_id(s) else {
        with_machine(|m| {
            let a = to_kaddr(m, s.cast());
            m.kmem_cache_alloc_bad_cache(a)
        });
        return core::ptr::null_mut();
    };
    // The patch's helpers tail-call (see `helper`).
    let obj = with_machine(|m| {
        if let Some(h) = helper_name {
            m.push_kframe(h);
        }
        let depth = m.call_stack().len();
        let obj = if zero { m.kmem_cache_zalloc(id, gfp(flags)) } else { m.kmem_cache_alloc(id, gfp(flags)) };
        m.truncate_stack(depth - helper_name.is_some() as usize);
        obj
    });
    run_pending_ctors();
    with_machine(|m| to_host(m, obj))
}

pub unsafe extern "C" fn kmem_cache_alloc_noprof(s: *mut kmem_cache, flags: gfp_t) -> *mut c_void {
    cache_alloc(None, s, flags, false)
}

pub unsafe extern "C" fn kmem_cache_alloc(cachep: *mut kmem_cache, flags: gfp_t) -> *mut c_void {
    cache_alloc(Some("rust_helper_kmem_cache_alloc"), cachep, flags, false)
}

pub unsafe extern "C" fn kmem_cache_zalloc(cachep: *mut kmem_cache, flags: gfp_t) -> *mut c_void {
    cache_alloc(Some("rust_helper_kmem_cache_zalloc"), cachep, flags, true)
}

pub unsafe extern "C" fn kmem_cache_free(s: *mut kmem_cache, objp: *mut c_void) {
    let Some(id) = cache_id(s) else {
        with_machine(|m| {
            let (c, x) = (to_kaddr(m, s.cast()), to_kaddr(m, objp));
            m.kmem_cache_free_bad_cache(c, x)
        });
        return;
    };
    with_machine(|m| {
        let p = to_kaddr(m, objp);
        m.kmem_cache_free(id, p)
    })
}

pub unsafe extern "C" fn kmem_cache_destroy(s: *mut kmem_cache) {
    let id = cache_id(s);
    with_machine(|m| m.kmem_cache_destroy(id))
}

pub unsafe extern "C" fn kmem_cache_shrink(cachep: *mut kmem_cache) -> crate::ffi::c_int {
    let Some(id) = cache_id(cachep) else { return 0 };
    with_machine(|m| m.kmem_cache_shrink(id))
}

pub unsafe extern "C" fn kmem_cache_size(s: *mut kmem_cache) -> c_uint {
    let Some(id) = cache_id(s) else { return 0 };
    with_machine(|m| m.kmem_cache_size(id))
}

// ---- vmalloc (mm/vmalloc.c, include/linux/vmalloc.h) -------------------------------------------------

pub unsafe extern "C" fn vmalloc(size: c_ulong) -> *mut c_void {
    helper("rust_helper_vmalloc", |m| {
        let p = m.vmalloc(size as u64);
        to_host(m, p)
    })
}

pub unsafe extern "C" fn vzalloc(size: c_ulong) -> *mut c_void {
    helper("rust_helper_vzalloc", |m| {
        let p = m.vzalloc(size as u64);
        to_host(m, p)
    })
}

pub unsafe extern "C" fn vmalloc_user(size: c_ulong) -> *mut c_void {
    helper("rust_helper_vmalloc_user", |m| {
        let p = m.vmalloc_user(size as u64);
        to_host(m, p)
    })
}

pub unsafe extern "C" fn vmalloc_32(size: c_ulong) -> *mut c_void {
    helper("rust_helper_vmalloc_32", |m| {
        let p = m.vmalloc_32(size as u64);
        to_host(m, p)
    })
}

pub unsafe extern "C" fn __vmalloc(size: c_ulong, gfp_mask: gfp_t) -> *mut c_void {
    helper("rust_helper___vmalloc", |m| {
        let p = m.__vmalloc(size as u64, gfp(gfp_mask));
        to_host(m, p)
    })
}

/// `vrealloc()` (Rust helper in rust/helpers/vmalloc.c): what `VBox`/`VVec` allocate and free with.
pub unsafe extern "C" fn vrealloc(p: *const c_void, size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_vrealloc", |m| {
        let old = to_kaddr(m, p);
        let q = m.vrealloc(old, size as u64, gfp(flags));
        to_host(m, q)
    })
}

// ---------------------------------------------------------------- per-CPU memory (mm/percpu.c)

pub type bool_ = bool;

/// `nr_cpu_ids` (kernel/smp.c): the number of possible CPU ids. Set from the machine whose module code runs
/// (see [`crate::__sim::percpu_statics`]).
pub static mut nr_cpu_ids: c_uint = 1;

/// `__per_cpu_offset[]` (arch/x86/kernel/setup_percpu.c, `NR_CPUS` = 8 entries): what `per_cpu_ptr(ptr,
/// cpu)` adds to a `__percpu` pointer. The simulator's values are host distances (a constant bias plus
/// `cpu * pcpu_unit_size`), the kernel's are addresses: the sum is the CPU's copy in both, the numbers
/// themselves differ (see [`crate::__sim::percpu_statics`]).
pub static mut __per_cpu_offset: [c_ulong; 8usize] = [0; 8];

// ---- The kernel's address-space bases and memory size (arch/x86/include/asm/page_64.h, mm.h) ----------

/// `page_offset_base` (arch/x86/mm/kaslr.c): `PAGE_OFFSET`, the start of the direct map; `__pa(x)` is
/// `x - page_offset_base` and `__va(p)` is `p + page_offset_base` for direct-map addresses. The simulator's
/// value is the host address of physical address 0, so that the arithmetic gives the kernel's physical
/// addresses and pointers; printed, it shows as the kernel's value (see [`crate::__sim::kernel_statics`]).
pub static mut page_offset_base: c_ulong = 0;

/// `vmalloc_base` (arch/x86/mm/kaslr.c): `VMALLOC_START`. The simulator's value is the host address where
/// the vmalloc area begins; printed, it shows as the kernel's.
pub static mut vmalloc_base: c_ulong = 0;

/// `vmemmap_base` (arch/x86/mm/kaslr.c): the `struct page` array; `pfn_to_page(pfn)` is
/// `vmemmap_base + pfn * sizeof(struct page)`. `struct page` pointers are the kernel's values, so this is too.
pub static mut vmemmap_base: c_ulong = 0;

/// `_debug_pagealloc_enabled_early` (mm/debug_page_alloc.c): the command line's `debug_pagealloc=`, what
/// `debug_pagealloc_enabled()` reads; set from the machine whose module code runs.
pub static mut _debug_pagealloc_enabled_early: bool_ = false;

/// `movable_zone` (mm/mm_init.c `find_usable_zone_for_movable()`): the highest zone but `ZONE_MOVABLE` with
/// any frame, set from the machine whose module code runs.
pub static mut movable_zone: c_int = 0;

/// `high_memory` (mm/memory.c): the direct-map address just past the directly mapped RAM.
pub static mut high_memory: *mut c_void = core::ptr::null_mut();

/// `atomic64_t` (include/linux/types.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct atomic64_t {
    pub counter: i64,
}

/// `atomic_long_t` (include/linux/atomic/atomic-long.h, 64-bit).
pub type atomic_long_t = atomic64_t;

/// `_totalram_pages` (mm/page_alloc.c), what `totalram_pages()` reads: the pages the buddy allocator
/// manages.
pub static mut _totalram_pages: atomic_long_t = atomic64_t { counter: 0 };

pub unsafe extern "C" fn pcpu_alloc_noprof(size: usize, align: usize, reserved: bool_, gfp_mask: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let p = m.pcpu_alloc(size as u64, align as u64, reserved, gfp(gfp_mask));
        crate::__sim::percpu_to_host(m, p)
    })
}

pub unsafe extern "C" fn free_percpu(__pdata: *mut c_void) {
    with_machine(|m| match crate::__sim::percpu_to_kernel(m, __pdata) {
        Some(p) => m.free_percpu(p),
        // A pointer that is no __percpu pointer into simulated memory (a kmalloc pointer, garbage).
        None if !__pdata.is_null() => m.free_percpu_unknown(),
        None => {}
    })
}

pub unsafe extern "C" fn vfree(addr: *const c_void) {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.vfree(a)
    })
}

pub unsafe extern "C" fn vmalloc_to_page(addr: *const c_void) -> *mut page {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        let pfn = m.vmalloc_to_page(a);
        page_ptr(m, pfn)
    })
}

pub unsafe extern "C" fn vmalloc_to_pfn(addr: *const c_void) -> c_ulong {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.vmalloc_to_pfn(a).unwrap_or(0) as c_ulong
    })
}

pub unsafe extern "C" fn is_vmalloc_addr(x: *const c_void) -> bool {
    with_machine(|m| {
        let a = to_kaddr(m, x);
        m.is_vmalloc_addr(a)
    })
}

// ---- kvmalloc (mm/util.c) ------------------------------------------------------------------------------

pub unsafe extern "C" fn kvmalloc(size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kvmalloc", |m| {
        let p = m.kvmalloc(size as u64, gfp(flags));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn kvzalloc(size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kvzalloc", |m| {
        let p = m.kvzalloc(size as u64, gfp(flags));
        to_host(m, p)
    })
}

/// `kvrealloc()` (Rust helper in rust/helpers/slab.c): what `KVBox`/`KVVec` allocate and free with.
pub unsafe extern "C" fn kvrealloc(p: *const c_void, size: usize, flags: gfp_t) -> *mut c_void {
    helper("rust_helper_kvrealloc", |m| {
        let old = to_kaddr(m, p);
        let q = m.kvrealloc(old, size as u64, gfp(flags));
        to_host(m, q)
    })
}

pub unsafe extern "C" fn kvfree(addr: *const c_void) {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.kvfree(a)
    })
}

// ---- Memory pools (mm/mempool.c, include/linux/mempool.h) ------------------------------------------------

use kmem_sim::mempool::{MempoolAllocator, MempoolCall, MempoolPtr, MempoolStep};

/// `spinlock_t` as bindgen gives it (the lock word of a kernel without lock debugging).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct spinlock {
    pub _bindgen_opaque_blob: u32,
}
pub type spinlock_t = spinlock;

/// `struct list_head`.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct list_head {
    pub next: *mut list_head,
    pub prev: *mut list_head,
}

impl Default for list_head {
    fn default() -> Self {
        list_head { next: core::ptr::null_mut(), prev: core::ptr::null_mut() }
    }
}

/// `struct wait_queue_head` (`wait_queue_head_t`).
#[repr(C)]
#[derive(Debug, Default, Copy, Clone)]
pub struct wait_queue_head {
    pub lock: spinlock_t,
    pub head: list_head,
}
pub type wait_queue_head_t = wait_queue_head;

/// `struct mempool_s` (`mempool_t`) with bindgen's fields, so that a module can embed one
/// (`mempool_init()`) and read it as the kernel's: the façade writes `min_nr`, `curr_nr`, `elements`,
/// `pool_data`, `alloc` and `free` after each pool operation from the simulator's state (the lock and the
/// wait queue are the simulator's).
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct mempool_s {
    pub lock: spinlock_t,
    pub min_nr: crate::ffi::c_int,
    pub curr_nr: crate::ffi::c_int,
    pub elements: *mut *mut c_void,
    pub pool_data: *mut c_void,
    pub alloc: mempool_alloc_t,
    pub free: mempool_free_t,
    pub wait: wait_queue_head_t,
}

impl Default for mempool_s {
    fn default() -> Self {
        mempool_s {
            lock: spinlock::default(),
            min_nr: 0,
            curr_nr: 0,
            elements: core::ptr::null_mut(),
            pool_data: core::ptr::null_mut(),
            alloc: None,
            free: None,
            wait: wait_queue_head::default(),
        }
    }
}

// bindgen's layout of 6.12.117 on x86_64 (rust/bindings/bindings_generated.rs).
const _: () = assert!(core::mem::size_of::<mempool_s>() == 72);
const _: () = assert!(core::mem::offset_of!(mempool_s, wait) == 48);
pub type mempool_t = mempool_s;
pub type mempool_alloc_t = Option<unsafe extern "C" fn(gfp_mask: gfp_t, pool_data: *mut c_void) -> *mut c_void>;
pub type mempool_free_t = Option<unsafe extern "C" fn(element: *mut c_void, pool_data: *mut c_void)>;

type AllocFn = unsafe extern "C" fn(gfp_t, *mut c_void) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void, *mut c_void);

thread_local! {
    /// The module's `alloc_fn`/`free_fn` pairs given to `mempool_create`, indexed by the simulator's
    /// `MempoolAllocator::Custom` ids (the simulator never calls module code; the façade does).
    static MEMPOOL_FNS: core::cell::RefCell<std::vec::Vec<(AllocFn, FreeFn)>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

/// Which allocator a `mempool_create(min_nr, alloc_fn, free_fn, pool_data)` names: the kernel's own
/// helpers are run by the simulator, anything else is module code the façade runs.
fn mempool_allocator(
    m: &Machine,
    alloc_fn: AllocFn,
    free_fn: FreeFn,
    pool_data: *mut c_void,
) -> (MempoolAllocator, u64) {
    let builtin = |a: AllocFn, f: FreeFn| core::ptr::fn_addr_eq(alloc_fn, a) && core::ptr::fn_addr_eq(free_fn, f);
    if builtin(mempool_kmalloc, mempool_kfree) {
        return (MempoolAllocator::Kmalloc, pool_data as usize as u64);
    }
    if builtin(mempool_alloc_pages, mempool_free_pages) {
        return (MempoolAllocator::Pages, pool_data as usize as u64);
    }
    if builtin(mempool_alloc_slab, mempool_free_slab) {
        if let Some(id) = cache_id(pool_data.cast()) {
            return (MempoolAllocator::Slab(id), id.0 as u64);
        }
    }
    let _ = m;
    let idx = MEMPOOL_FNS.with(|t| {
        let mut t = t.borrow_mut();
        match t.iter().position(|&(a, f)| core::ptr::fn_addr_eq(a, alloc_fn) && core::ptr::fn_addr_eq(f, free_fn)) {
            Some(i) => i,
            None => {
                t.push((alloc_fn, free_fn));
                t.len() - 1
            }
        }
    }) as u64;
    (MempoolAllocator::Custom { alloc_fn: idx, free_fn: idx }, pool_data as usize as u64)
}

/// Whether a pool's elements are module pointers (custom allocator: kept as host pointers) or the
/// simulator's kernel addresses.
fn mempool_is_custom(m: &Machine, pool: MempoolPtr) -> bool {
    matches!(m.mempool(pool).map(|p| p.allocator), Some(MempoolAllocator::Custom { .. }))
}

fn mempool_element_to_host(m: &Machine, pool: MempoolPtr, e: u64) -> *mut c_void {
    if mempool_is_custom(m, pool) {
        e as usize as *mut c_void
    } else {
        to_host(m, e)
    }
}

fn mempool_element_to_sim(m: &Machine, pool: MempoolPtr, e: *mut c_void) -> u64 {
    if mempool_is_custom(m, pool) {
        e as usize as u64
    } else {
        to_kaddr(m, e)
    }
}

/// Drives a pool operation to its end. The module's functions run here, outside the machine: the
/// simulator asks for them with `MempoolStep::Call` and continues with their result.
fn mempool_drive(name: Option<&'static str>, start: impl FnOnce(&mut Machine) -> MempoolStep) -> u64 {
    let mut step = with_machine(|m| {
        if let Some(h) = name {
            m.push_kframe(h);
        }
        start(m)
    });
    let r = loop {
        match step {
            MempoolStep::Done(v) => break v,
            MempoolStep::Call(call, cont) => {
                let r = match call {
                    MempoolCall::Alloc { alloc_fn, gfp, pool_data, .. } => {
                        let f = MEMPOOL_FNS.with(|t| t.borrow()[alloc_fn as usize].0);
                        // SAFETY: `f` is the module's `mempool_alloc_t`, called as mm/mempool.c does.
                        unsafe { f(gfp.0, pool_data as usize as *mut c_void) as usize as u64 }
                    }
                    MempoolCall::Free { free_fn, element, pool_data, .. } => {
                        let f = MEMPOOL_FNS.with(|t| t.borrow()[free_fn as usize].1);
                        // SAFETY: `f` is the module's `mempool_free_t`, given an element of its pool.
                        unsafe { f(element as usize as *mut c_void, pool_data as usize as *mut c_void) };
                        0
                    }
                    // No façade events exist.
                    MempoolCall::Event { .. } => 0,
                };
                step = with_machine(|m| m.mempool_resume(cont, r));
            }
            MempoolStep::Stuck { pool, waited_ns } => panic!(
                "mempool_alloc on {:#x} would sleep forever (waited {} ms): nothing frees an element",
                pool.0,
                waited_ns / 1_000_000
            ),
        }
    };
    if name.is_some() {
        with_machine(|m| m.pop_frame());
    }
    r
}

/// `funcs`: the `alloc`, `free` and `pool_data` of the new `struct mempool_s`; `gfp_mask` fills the reserve
/// (`GFP_KERNEL` for every `mempool_create*()` but `mempool_create_node()`).
fn mempool_create_with(
    helper_name: Option<&'static str>,
    min_nr: i32,
    funcs: (AllocFn, FreeFn, *mut c_void),
    gfp_mask: Gfp,
    alloc: impl FnOnce(&Machine) -> (MempoolAllocator, u64),
) -> *mut mempool_t {
    let (allocator, data) = with_machine(|m| alloc(m));
    let pool = mempool_drive(helper_name, |m| m.mempool_create_start(min_nr, allocator, data, gfp_mask));
    let pool: *mut mempool_t = with_machine(|m| to_host(m, pool).cast());
    mempool_sync(pool, Some(funcs));
    pool
}

fn mempool_ptr(pool: *mut mempool_t) -> MempoolPtr {
    with_machine(|m| MempoolPtr(to_kaddr(m, pool.cast())))
}

/// Writes the simulator's state of the pool at `pool` into its `struct mempool_s` (what mm/mempool.c keeps
/// there): `min_nr`, `curr_nr` and `elements`, and with `funcs` the allocator it was set up with. A pool the
/// simulator no longer has (after `mempool_exit()`) has no reserve and no `elements` array. Only on the x86_64
/// machine, whose `struct mempool_s` this is (the 32-bit one is smaller).
fn mempool_sync(pool: *mut mempool_t, funcs: Option<(AllocFn, FreeFn, *mut c_void)>) {
    if pool.is_null() {
        return;
    }
    let state = with_machine(|m| {
        if m.config().arch != kmem_sim::machine::Arch::X86_64 {
            return None;
        }
        Some(m.mempool(MempoolPtr(to_kaddr(m, pool.cast()))).map(|p| {
            let e = if p.elements_addr == 0 { core::ptr::null_mut() } else { to_host(m, p.elements_addr).cast() };
            (p.min_nr, p.curr_nr, e)
        }))
    });
    let Some(state) = state else { return };
    // SAFETY: `pool` is a live `struct mempool_s` (embedded by the module, or allocated by mempool_create()).
    let s = unsafe { &mut *pool };
    match state {
        Some((min_nr, curr_nr, elements)) => (s.min_nr, s.curr_nr, s.elements) = (min_nr, curr_nr, elements),
        None => (s.curr_nr, s.elements) = (0, core::ptr::null_mut()),
    }
    if let Some((a, f, data)) = funcs {
        (s.alloc, s.free, s.pool_data) = (Some(a), Some(f), data);
    }
}

/// `mempool_create()` (the patch's helper over the 6.12 macro).
pub unsafe extern "C" fn mempool_create(
    min_nr: crate::ffi::c_int,
    alloc_fn: mempool_alloc_t,
    free_fn: mempool_free_t,
    pool_data: *mut c_void,
) -> *mut mempool_t {
    let (Some(a), Some(f)) = (alloc_fn, free_fn) else {
        // The kernel would call through NULL when filling the reserve.
        return core::ptr::null_mut();
    };
    mempool_create_with(Some("rust_helper_mempool_create"), min_nr, (a, f, pool_data), Gfp::GFP_KERNEL, |m| {
        mempool_allocator(m, a, f, pool_data)
    })
}

pub unsafe extern "C" fn mempool_create_kmalloc_pool(min_nr: crate::ffi::c_int, size: usize) -> *mut mempool_t {
    let funcs: (AllocFn, FreeFn, _) = (mempool_kmalloc, mempool_kfree, size as *mut c_void);
    mempool_create_with(Some("rust_helper_mempool_create_kmalloc_pool"), min_nr, funcs, Gfp::GFP_KERNEL, |_| {
        (MempoolAllocator::Kmalloc, size as u64)
    })
}

pub unsafe extern "C" fn mempool_create_slab_pool(min_nr: crate::ffi::c_int, kc: *mut kmem_cache) -> *mut mempool_t {
    let Some(id) = cache_id(kc) else {
        return core::ptr::null_mut();
    };
    let funcs: (AllocFn, FreeFn, _) = (mempool_alloc_slab, mempool_free_slab, kc.cast());
    mempool_create_with(Some("rust_helper_mempool_create_slab_pool"), min_nr, funcs, Gfp::GFP_KERNEL, |_| {
        (MempoolAllocator::Slab(id), id.0 as u64)
    })
}

pub unsafe extern "C" fn mempool_create_page_pool(
    min_nr: crate::ffi::c_int,
    order: crate::ffi::c_int,
) -> *mut mempool_t {
    let funcs: (AllocFn, FreeFn, _) = (mempool_alloc_pages, mempool_free_pages, order as usize as *mut c_void);
    mempool_create_with(Some("rust_helper_mempool_create_page_pool"), min_nr, funcs, Gfp::GFP_KERNEL, |_| {
        (MempoolAllocator::Pages, order as u64)
    })
}

/// `mempool_alloc()` (the patch's helper over the 6.12 macro).
pub unsafe extern "C" fn mempool_alloc(pool: *mut mempool_t, gfp_mask: gfp_t) -> *mut c_void {
    let p = mempool_ptr(pool);
    let e = mempool_drive(Some("rust_helper_mempool_alloc"), |m| m.mempool_alloc_start(p, gfp(gfp_mask)));
    mempool_sync(pool, None);
    with_machine(|m| mempool_element_to_host(m, p, e))
}

pub unsafe extern "C" fn mempool_free(element: *mut c_void, pool: *mut mempool_t) {
    let p = mempool_ptr(pool);
    let e = with_machine(|m| mempool_element_to_sim(m, p, element));
    mempool_drive(None, |m| m.mempool_free_start(e, p));
    mempool_sync(pool, None);
}

pub unsafe extern "C" fn mempool_resize(pool: *mut mempool_t, new_min_nr: crate::ffi::c_int) -> crate::ffi::c_int {
    let p = mempool_ptr(pool);
    let r = mempool_drive(None, |m| m.mempool_resize_start(p, new_min_nr)) as i64 as crate::ffi::c_int;
    mempool_sync(pool, None);
    r
}

pub unsafe extern "C" fn mempool_destroy(pool: *mut mempool_t) {
    if pool.is_null() {
        return;
    }
    let p = mempool_ptr(pool);
    mempool_drive(None, |m| m.mempool_exit_start(p, true));
}

/// The kernel's element helpers. Passed to `mempool_create` they select the simulator's built-in
/// allocators; called directly they do what mm/mempool.c does.
pub unsafe extern "C" fn mempool_kmalloc(gfp_mask: gfp_t, pool_data: *mut c_void) -> *mut c_void {
    with_machine(|m| {
        let p = m.kmalloc(pool_data as usize as u64, gfp(gfp_mask));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn mempool_kfree(element: *mut c_void, pool_data: *mut c_void) {
    let _ = pool_data;
    with_machine(|m| {
        let p = to_kaddr(m, element);
        m.kfree(p)
    })
}

pub unsafe extern "C" fn mempool_alloc_slab(gfp_mask: gfp_t, pool_data: *mut c_void) -> *mut c_void {
    // SAFETY: `pool_data` is the `struct kmem_cache *` of a slab pool.
    unsafe { kmem_cache_alloc_noprof(pool_data.cast(), gfp_mask) }
}

pub unsafe extern "C" fn mempool_free_slab(element: *mut c_void, pool_data: *mut c_void) {
    // SAFETY: `element` came from `mempool_alloc_slab` on this cache.
    unsafe { kmem_cache_free(pool_data.cast(), element) }
}

pub unsafe extern "C" fn mempool_alloc_pages(gfp_mask: gfp_t, pool_data: *mut c_void) -> *mut c_void {
    // SAFETY: `pool_data` is the order.
    unsafe { alloc_pages(gfp_mask, pool_data as usize as c_uint).cast() }
}

pub unsafe extern "C" fn mempool_free_pages(element: *mut c_void, pool_data: *mut c_void) {
    // SAFETY: `element` is the `struct page *` of an order-`pool_data` block.
    unsafe { __free_pages(element.cast(), pool_data as usize as c_uint) }
}

// ---- Devices and DMA (include/linux/dma-mapping.h, mm/dmapool.c, drivers/base/platform.c) ----------------

use kmem_sim::device::DeviceId;
use kmem_sim::dmapool::DmaPoolPtr;

opaque!(
    /// `struct device` (opaque here: modules only take its address).
    device
);

opaque!(
    /// `struct resource` (opaque).
    resource
);

opaque!(
    /// `struct dma_pool` (opaque).
    dma_pool
);

/// `struct platform_device`: the leading fields of 6.12's (the rest is not used by the listings).
#[repr(C)]
pub struct platform_device {
    pub name: *const crate::ffi::c_char,
    pub id: crate::ffi::c_int,
    pub id_auto: bool,
    pub dev: device,
}

thread_local! {
    /// The `struct platform_device` objects handed out, by address.
    static PDEVS: core::cell::RefCell<std::collections::HashMap<usize, (DeviceId, std::ffi::CString)>> =
        core::cell::RefCell::new(std::collections::HashMap::new());
}

fn device_id(dev: *const device) -> Option<DeviceId> {
    if dev.is_null() {
        return None;
    }
    let pdev = dev as usize - core::mem::offset_of!(platform_device, dev);
    PDEVS.with(|p| p.borrow().get(&pdev).map(|(id, _)| *id))
}

/// `platform_device_register_simple()` (the patch's helper over the inline function): registers the device
/// and, as `device_add()` → `bus_probe_device()` does, probes it with the first matching driver.
pub unsafe extern "C" fn platform_device_register_simple(
    name: *const crate::ffi::c_char,
    id: crate::ffi::c_int,
    res: *const resource,
    num: c_uint,
) -> *mut platform_device {
    let _ = (res, num);
    let n = c_string(name);
    let dev = with_machine(|m| m.platform_device_register_simple(&n, id));
    let cname = std::ffi::CString::new(n).unwrap_or_default();
    let pdev = std::boxed::Box::into_raw(std::boxed::Box::new(platform_device {
        name: cname.as_ptr().cast(),
        id,
        id_auto: false,
        dev: device { _unused: [] },
    }));
    PDEVS.with(|p| p.borrow_mut().insert(pdev as usize, (dev, cname)));
    if let Some(drv) = with_machine(|m| m.device_attach_driver(dev)) {
        driver_probe_device(
            dev,
            drv,
            &[
                "platform_device_add",
                "device_add",
                "bus_probe_device",
                "__device_attach",
                "bus_for_each_drv",
                "__device_attach_driver",
            ],
        );
    }
    pdev
}

/// `platform_device_unregister()`: `device_del()` unbinds the driver (its remove, then the device's managed
/// resources), releases what is left managed on the device, and the device is gone.
pub unsafe extern "C" fn platform_device_unregister(pdev: *mut platform_device) {
    let Some(dev) = PDEVS.with(|p| p.borrow().get(&(pdev as usize)).map(|(id, _)| *id)) else {
        return;
    };
    device_release_driver(
        dev,
        &["platform_device_del", "device_del", "bus_remove_device", "device_release_driver_internal"],
    );
    let depth = with_machine(|m| {
        let depth = m.call_stack().len();
        m.push_kframe("platform_device_del");
        m.push_kframe("device_del");
        m.devres_release_all_begin(dev);
        depth
    });
    devres_release_all(dev);
    with_machine(|m| {
        m.truncate_stack(depth);
        m.platform_device_unregister(dev)
    });
    PDEVS.with(|p| p.borrow_mut().remove(&(pdev as usize)));
    // SAFETY: `pdev` came from `Box::into_raw` in platform_device_register_simple.
    drop(unsafe { std::boxed::Box::from_raw(pdev) });
}

// ---- Platform drivers (drivers/base/platform.c, dd.c, include/linux/device/driver.h) -------------------------

/// `struct pm_message`.
#[repr(C)]
#[derive(Default, Copy, Clone)]
pub struct pm_message {
    pub event: crate::ffi::c_int,
}
pub type pm_message_t = pm_message;

opaque!(
    /// `struct bus_type` (opaque here).
    bus_type
);
opaque!(
    /// `struct of_device_id` (opaque here: the book's machines have no device tree).
    of_device_id
);
opaque!(
    /// `struct acpi_device_id` (opaque here).
    acpi_device_id
);
opaque!(
    /// `struct attribute_group` (opaque here).
    attribute_group
);
opaque!(
    /// `struct dev_pm_ops` (opaque here).
    dev_pm_ops
);
opaque!(
    /// `struct driver_private` (opaque: the driver core's own).
    driver_private
);
pub type kernel_ulong_t = c_ulong;
/// `struct platform_device_id`.
#[repr(C)]
#[derive(Default, Copy, Clone)]
pub struct platform_device_id {
    pub name: [crate::ffi::c_char; 20usize],
    pub driver_data: kernel_ulong_t,
}

pub const probe_type_PROBE_DEFAULT_STRATEGY: probe_type = 0;
pub const probe_type_PROBE_PREFER_ASYNCHRONOUS: probe_type = 1;
pub const probe_type_PROBE_FORCE_SYNCHRONOUS: probe_type = 2;
pub type probe_type = c_uint;

/// `struct device_driver`, field for field as bindgen emits it.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct device_driver {
    pub name: *const crate::ffi::c_char,
    pub bus: *const bus_type,
    pub owner: *mut module,
    pub mod_name: *const crate::ffi::c_char,
    pub suppress_bind_attrs: bool_,
    pub probe_type: probe_type,
    pub of_match_table: *const of_device_id,
    pub acpi_match_table: *const acpi_device_id,
    pub probe: ::core::option::Option<unsafe extern "C" fn(dev: *mut device) -> crate::ffi::c_int>,
    pub sync_state: ::core::option::Option<unsafe extern "C" fn(dev: *mut device)>,
    pub remove: ::core::option::Option<unsafe extern "C" fn(dev: *mut device) -> crate::ffi::c_int>,
    pub shutdown: ::core::option::Option<unsafe extern "C" fn(dev: *mut device)>,
    pub suspend:
        ::core::option::Option<unsafe extern "C" fn(dev: *mut device, state: pm_message_t) -> crate::ffi::c_int>,
    pub resume: ::core::option::Option<unsafe extern "C" fn(dev: *mut device) -> crate::ffi::c_int>,
    pub groups: *mut *const attribute_group,
    pub dev_groups: *mut *const attribute_group,
    pub pm: *const dev_pm_ops,
    pub coredump: ::core::option::Option<unsafe extern "C" fn(dev: *mut device)>,
    pub p: *mut driver_private,
}
impl Default for device_driver {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        // SAFETY: every field is a pointer, an `Option` of a function pointer, an integer or a bool, for all
        // of which zero is a valid value (bindgen's own `Default`).
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}

/// The `remove`/`remove_new` union of `struct platform_driver`.
#[repr(C)]
#[derive(Copy, Clone)]
pub union platform_driver__bindgen_ty_1 {
    pub remove: ::core::option::Option<unsafe extern "C" fn(arg1: *mut platform_device)>,
    pub remove_new: ::core::option::Option<unsafe extern "C" fn(arg1: *mut platform_device)>,
}
impl Default for platform_driver__bindgen_ty_1 {
    fn default() -> Self {
        platform_driver__bindgen_ty_1 { remove: None }
    }
}

/// `struct platform_driver`, field for field as bindgen emits it.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct platform_driver {
    pub probe: ::core::option::Option<unsafe extern "C" fn(arg1: *mut platform_device) -> crate::ffi::c_int>,
    pub __bindgen_anon_1: platform_driver__bindgen_ty_1,
    pub shutdown: ::core::option::Option<unsafe extern "C" fn(arg1: *mut platform_device)>,
    pub suspend: ::core::option::Option<
        unsafe extern "C" fn(arg1: *mut platform_device, state: pm_message_t) -> crate::ffi::c_int,
    >,
    pub resume: ::core::option::Option<unsafe extern "C" fn(arg1: *mut platform_device) -> crate::ffi::c_int>,
    pub driver: device_driver,
    pub id_table: *const platform_device_id,
    pub prevent_deferred_probe: bool_,
    pub driver_managed_dma: bool_,
}
impl Default for platform_driver {
    fn default() -> Self {
        let mut s = ::core::mem::MaybeUninit::<Self>::uninit();
        // SAFETY: as for `device_driver`: all-zero is a valid value of every field.
        unsafe {
            ::core::ptr::write_bytes(s.as_mut_ptr(), 0, 1);
            s.assume_init()
        }
    }
}

thread_local! {
    /// The registered `struct platform_driver`s, by address, with the simulator's handle.
    static PDRVS: core::cell::RefCell<std::collections::HashMap<usize, kmem_sim::device::DriverId>> =
        core::cell::RefCell::new(std::collections::HashMap::new());
}

/// The `struct platform_device` module code has for a simulated device.
fn pdev_of(dev: DeviceId) -> *mut platform_device {
    PDEVS.with(|p| p.borrow().iter().find(|(_, (id, _))| *id == dev).map(|(&a, _)| a)).unwrap_or(0)
        as *mut platform_device
}

/// The `struct platform_driver` of a simulated driver.
fn pdrv_of(drv: kmem_sim::device::DriverId) -> *mut platform_driver {
    PDRVS.with(|p| p.borrow().iter().find(|(_, id)| **id == drv).map(|(&a, _)| a)).unwrap_or(0) as *mut platform_driver
}

/// `driver_probe_device()` → `really_probe()` → `platform_probe()` → the driver's probe (module code), under
/// the kernel frames `path` of the caller; a failed probe's managed resources are released.
fn driver_probe_device(dev: DeviceId, drv: kmem_sim::device::DriverId, path: &[&'static str]) {
    let pdrv = pdrv_of(drv);
    let pdev = pdev_of(dev);
    let (depth, ok) = with_machine(|m| {
        let depth = m.call_stack().len();
        for f in path.iter().chain(&["driver_probe_device", "__driver_probe_device", "really_probe"]) {
            m.push_kframe(f);
        }
        (depth, m.really_probe_begin(dev, drv).is_ok())
    });
    if ok {
        with_machine(|m| m.push_kframe("platform_probe"));
        // SAFETY: `pdrv` is the registered driver (it outlives its registration, as the C API requires).
        let probe = unsafe { (*pdrv).probe };
        // SAFETY: the driver's probe, called with its matching device as platform_probe() does.
        let ret = probe.map_or(0, |f| unsafe { f(pdev) });
        let failed = with_machine(|m| {
            m.pop_frame();
            m.really_probe_end(dev, drv, ret)
        });
        if failed {
            devres_release_all(dev);
            with_machine(|m| m.device_unbind_end(dev));
        }
    }
    with_machine(|m| m.truncate_stack(depth));
}

/// `__device_release_driver()`: the driver's remove (module code), then `device_unbind_cleanup()`: the
/// device's managed resources released newest first and `dev->driver` cleared.
fn device_release_driver(dev: DeviceId, path: &[&'static str]) {
    let Some(drv) = with_machine(|m| m.device_release_driver_begin(dev)) else {
        return;
    };
    let pdrv = pdrv_of(drv);
    let pdev = pdev_of(dev);
    let depth = with_machine(|m| {
        let depth = m.call_stack().len();
        for f in path.iter().chain(&["__device_release_driver", "device_remove", "platform_remove"]) {
            m.push_kframe(f);
        }
        depth
    });
    // SAFETY: `pdrv` is the registered driver; reading the `remove` member of its union (both are the same
    // function pointer type).
    let remove = unsafe { (*pdrv).__bindgen_anon_1.remove };
    if let Some(f) = remove {
        // SAFETY: the driver's remove, called for a device it is bound to, as platform_remove() does.
        unsafe { f(pdev) };
    }
    with_machine(|m| {
        m.truncate_stack(depth);
        for f in path.iter().chain(&["__device_release_driver", "device_unbind_cleanup", "devres_release_all"]) {
            m.push_kframe(f);
        }
        m.devres_release_all_begin(dev);
    });
    devres_release_all(dev);
    with_machine(|m| {
        m.device_unbind_end(dev);
        m.truncate_stack(depth);
    });
}

/// `release_nodes()` to the end: the kernel's releases run in the simulator, the module's actions here.
fn devres_release_all(dev: DeviceId) {
    loop {
        match with_machine(|m| m.devres_release_next(dev)) {
            kmem_sim::devres::DevresNext::Done => break,
            kmem_sim::devres::DevresNext::Action { action, data, node } => {
                run_devres_action(action, data);
                with_machine(|m| m.devres_free_node(node));
            }
            kmem_sim::devres::DevresNext::Release { release, res, node } => {
                run_devres_release(dev, release, res);
                with_machine(|m| m.devres_free_node(node));
            }
        }
    }
}

/// `devres_open_group(dev, id, gfp)`: a group of the resources added after it; returns its id (the group's
/// address for a NULL `id`) or NULL.
pub unsafe extern "C" fn devres_open_group(dev: *mut device, id: *mut c_void, gfp: gfp_t) -> *mut c_void {
    let d = device_id(dev);
    with_machine(|m| {
        let k = if id.is_null() { 0 } else { to_kaddr(m, id) };
        let r = m.devres_open_group(d, k, Gfp(gfp));
        if r == 0 {
            core::ptr::null_mut()
        } else {
            to_host(m, r)
        }
    })
}

/// The group id module code passes, as the simulator's (0 for NULL: the newest open group).
fn group_id(m: &Machine, id: *mut c_void) -> u64 {
    if id.is_null() {
        0
    } else {
        to_kaddr(m, id)
    }
}

/// `devres_close_group(dev, id)`.
pub unsafe extern "C" fn devres_close_group(dev: *mut device, id: *mut c_void) {
    let d = device_id(dev);
    with_machine(|m| {
        let k = group_id(m, id);
        m.devres_close_group(d, k)
    })
}

/// `devres_remove_group(dev, id)`: the group's markers go, its resources stay.
pub unsafe extern "C" fn devres_remove_group(dev: *mut device, id: *mut c_void) {
    let d = device_id(dev);
    with_machine(|m| {
        let k = group_id(m, id);
        m.devres_remove_group(d, k)
    })
}

/// `devres_release_group(dev, id)`: releases the group's resources (the module's actions run here) and
/// returns how many there were.
pub unsafe extern "C" fn devres_release_group(dev: *mut device, id: *mut c_void) -> crate::ffi::c_int {
    let d = device_id(dev);
    let (n, depth) = with_machine(|m| {
        let depth = m.call_stack().len();
        let k = group_id(m, id);
        let n = m.devres_release_group_begin(d, k);
        m.push_kframe("devres_release_group");
        (n, depth)
    });
    if let Some(d) = d {
        devres_release_all(d);
    }
    with_machine(|m| m.truncate_stack(depth));
    n
}

/// `__platform_driver_register(drv, owner)`: registers the driver and probes the devices it matches.
pub unsafe extern "C" fn __platform_driver_register(
    drv: *mut platform_driver,
    owner: *mut module,
) -> crate::ffi::c_int {
    let _ = owner;
    // SAFETY: the caller passes a valid driver whose `driver.name` is a C string.
    let name = c_string(unsafe { (*drv).driver.name });
    let id = match with_machine(|m| m.platform_driver_register(&name)) {
        Ok(id) => id,
        Err(e) => return e,
    };
    PDRVS.with(|p| p.borrow_mut().insert(drv as usize, id));
    for dev in with_machine(|m| m.driver_attach_devices(id)) {
        driver_probe_device(
            dev,
            id,
            &[
                "__platform_driver_register",
                "driver_register",
                "bus_add_driver",
                "driver_attach",
                "bus_for_each_dev",
                "__driver_attach",
            ],
        );
    }
    0
}

/// `platform_driver_unregister(drv)`: unbinds its devices (the last bound first), then the driver is gone.
pub unsafe extern "C" fn platform_driver_unregister(drv: *mut platform_driver) {
    let Some(id) = PDRVS.with(|p| p.borrow().get(&(drv as usize)).copied()) else {
        return;
    };
    for dev in with_machine(|m| m.driver_detach_devices(id)) {
        device_release_driver(
            dev,
            &[
                "platform_driver_unregister",
                "driver_unregister",
                "bus_remove_driver",
                "driver_detach",
                "device_release_driver_internal",
            ],
        );
    }
    with_machine(|m| m.platform_driver_unregister(id));
    PDRVS.with(|p| p.borrow_mut().remove(&(drv as usize)));
}

// ---- Managed device resources (drivers/base/devres.c, include/linux/device/devres.h) ---------------------

type DevresAction = unsafe extern "C" fn(arg1: *mut c_void);

thread_local! {
    /// The module's `devm_add_action()` functions, by the id the simulator keeps.
    static DEVRES_ACTIONS: core::cell::RefCell<std::vec::Vec<DevresAction>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

/// The simulator's id of an action function (the same function, the same id).
fn devres_action_id(f: DevresAction) -> u64 {
    DEVRES_ACTIONS.with(|t| {
        let mut t = t.borrow_mut();
        let i = t.iter().position(|&g| core::ptr::fn_addr_eq(g, f)).unwrap_or_else(|| {
            t.push(f);
            t.len() - 1
        });
        i as u64
    })
}

fn run_devres_action(action: u64, data: u64) {
    let f = DEVRES_ACTIONS.with(|t| t.borrow().get(action as usize).copied());
    if let Some(f) = f {
        // SAFETY: the module's action, called with the data it was added with, as devm_action_release() does.
        unsafe { f(data as usize as *mut c_void) };
    }
}

pub unsafe extern "C" fn devm_kmalloc(dev: *mut device, size: usize, gfp: gfp_t) -> *mut c_void {
    let d = device_id(dev);
    with_machine(|m| {
        let p = m.devm_kmalloc(d, size as u64, Gfp(gfp));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn devm_kfree(dev: *mut device, p: *const c_void) {
    let d = device_id(dev);
    with_machine(|m| {
        let a = to_kaddr(m, p);
        m.devm_kfree(d, a)
    })
}

pub unsafe extern "C" fn __devm_add_action(
    dev: *mut device,
    action: ::core::option::Option<unsafe extern "C" fn(arg1: *mut c_void)>,
    data: *mut c_void,
    name: *const crate::ffi::c_char,
) -> crate::ffi::c_int {
    let d = device_id(dev);
    let n = c_string(name);
    // A NULL action would oops when released; the kernel does not check it here either.
    let a = action.map_or(u64::MAX, devres_action_id);
    with_machine(|m| m.devm_add_action(d, a, data as usize as u64, &n))
}

pub unsafe extern "C" fn devm_remove_action(
    dev: *mut device,
    action: ::core::option::Option<unsafe extern "C" fn(arg1: *mut c_void)>,
    data: *mut c_void,
) {
    let d = device_id(dev);
    let a = action.map_or(u64::MAX, devres_action_id);
    with_machine(|m| m.devm_remove_action(d, a, data as usize as u64))
}

pub unsafe extern "C" fn devm_release_action(
    dev: *mut device,
    action: ::core::option::Option<unsafe extern "C" fn(arg1: *mut c_void)>,
    data: *mut c_void,
) {
    let d = device_id(dev);
    let a = action.map_or(u64::MAX, devres_action_id);
    if let kmem_sim::devres::DevresNext::Action { action, data, node } =
        with_machine(|m| m.devm_release_action(d, a, data as usize as u64))
    {
        run_devres_action(action, data);
        with_machine(|m| m.devres_free_node(node));
    }
}

pub unsafe extern "C" fn devm_get_free_pages(dev: *mut device, gfp_mask: gfp_t, order: c_uint) -> c_ulong {
    let d = device_id(dev);
    with_machine(|m| {
        let a = m.devm_get_free_pages(d, Gfp(gfp_mask), order);
        to_host(m, a) as c_ulong
    })
}

pub unsafe extern "C" fn devm_free_pages(dev: *mut device, addr: c_ulong) {
    let d = device_id(dev);
    with_machine(|m| {
        let a = to_kaddr(m, addr as *const c_void);
        m.devm_free_pages(d, a)
    })
}

pub unsafe extern "C" fn dmam_alloc_attrs(
    dev: *mut device,
    size: usize,
    dma_handle: *mut dma_addr_t,
    gfp: gfp_t,
    attrs: c_ulong,
) -> *mut c_void {
    let d = device_id(dev);
    with_machine(|m| {
        let a = m.dmam_alloc_attrs(d, size as u64, Gfp(gfp), attrs as u64);
        dma_alloc_result(m, a, dma_handle)
    })
}

pub unsafe extern "C" fn dmam_free_coherent(dev: *mut device, size: usize, vaddr: *mut c_void, dma_handle: dma_addr_t) {
    let d = device_id(dev);
    with_machine(|m| {
        let a = to_kaddr(m, vaddr);
        m.dmam_free_coherent(d, size as u64, a, dma_handle)
    })
}

pub unsafe extern "C" fn dmam_pool_create(
    name: *const crate::ffi::c_char,
    dev: *mut device,
    size: usize,
    align: usize,
    allocation: usize,
) -> *mut dma_pool {
    let n = c_string(name);
    let d = device_id(dev);
    with_machine(|m| match m.dmam_pool_create(&n, d, size as u64, align as u64, allocation as u64) {
        Ok(p) => to_host(m, p.0).cast(),
        Err(_) => core::ptr::null_mut(),
    })
}

pub unsafe extern "C" fn dmam_pool_destroy(pool: *mut dma_pool) {
    let p = dma_pool_ptr(pool);
    with_machine(|m| m.dmam_pool_destroy(p))
}

pub unsafe extern "C" fn dma_set_mask_and_coherent(dev: *mut device, mask: u64) -> crate::ffi::c_int {
    let Some(d) = device_id(dev) else { return -5 };
    helper("rust_helper_dma_set_mask_and_coherent", |m| match m.dma_set_mask_and_coherent(d, mask) {
        Ok(()) => 0,
        Err(e) => e.errno(),
    })
}

pub unsafe extern "C" fn dma_alloc_coherent(
    dev: *mut device,
    size: usize,
    dma_handle: *mut dma_addr_t,
    gfp: gfp_t,
) -> *mut c_void {
    let d = device_id(dev);
    helper("rust_helper_dma_alloc_coherent", |m| {
        let a = m.dma_alloc_coherent(d, size as u64, Gfp(gfp));
        dma_alloc_result(m, a, dma_handle)
    })
}

/// A DMA allocation's CPU address for the module, its device address stored in `*dma_handle`.
fn dma_alloc_result(m: &Machine, a: Option<kmem_sim::dma::DmaAlloc>, dma_handle: *mut dma_addr_t) -> *mut c_void {
    match a {
        Some(a) => {
            if !dma_handle.is_null() {
                // SAFETY: the caller passes a valid `dma_addr_t *`.
                unsafe { *dma_handle = a.dma_handle };
            }
            to_host(m, a.cpu_addr)
        }
        None => core::ptr::null_mut(),
    }
}

pub unsafe extern "C" fn dma_free_coherent(
    dev: *mut device,
    size: usize,
    cpu_addr: *mut c_void,
    dma_handle: dma_addr_t,
) {
    let d = device_id(dev);
    helper("rust_helper_dma_free_coherent", |m| {
        let a = to_kaddr(m, cpu_addr);
        m.dma_free_coherent(d, size as u64, a, dma_handle)
    })
}

fn dma_pool_ptr(pool: *mut dma_pool) -> Option<DmaPoolPtr> {
    if pool.is_null() {
        return None;
    }
    Some(with_machine(|m| DmaPoolPtr(to_kaddr(m, pool.cast()))))
}

pub unsafe extern "C" fn dma_pool_create(
    name: *const crate::ffi::c_char,
    dev: *mut device,
    size: usize,
    align: usize,
    allocation: usize,
) -> *mut dma_pool {
    let n = c_string(name);
    let d = device_id(dev);
    with_machine(|m| match m.dma_pool_create(&n, d, size as u64, align as u64, allocation as u64) {
        Ok(p) => to_host(m, p.0).cast(),
        Err(_) => core::ptr::null_mut(),
    })
}

fn dma_pool_alloc_with(
    helper_name: Option<&'static str>,
    pool: *mut dma_pool,
    mem_flags: gfp_t,
    handle: *mut dma_addr_t,
    zero: bool,
) -> *mut c_void {
    // A NULL pool goes to the simulator too: the kernel takes its lock (and faults).
    let p = dma_pool_ptr(pool).unwrap_or(DmaPoolPtr(0));
    with_machine(|m| {
        if let Some(h) = helper_name {
            m.push_kframe(h);
        }
        let a = if zero { m.dma_pool_zalloc(p, Gfp(mem_flags)) } else { m.dma_pool_alloc(p, Gfp(mem_flags)) };
        if helper_name.is_some() {
            m.pop_frame();
        }
        match a {
            Some(a) => {
                if !handle.is_null() {
                    // SAFETY: the caller passes a valid `dma_addr_t *`.
                    unsafe { *handle = a.dma_handle };
                }
                to_host(m, a.cpu_addr)
            }
            None => core::ptr::null_mut(),
        }
    })
}

pub unsafe extern "C" fn dma_pool_alloc(pool: *mut dma_pool, mem_flags: gfp_t, handle: *mut dma_addr_t) -> *mut c_void {
    dma_pool_alloc_with(None, pool, mem_flags, handle, false)
}

/// `dma_pool_zalloc()` (the patch's helper over the inline function).
pub unsafe extern "C" fn dma_pool_zalloc(
    pool: *mut dma_pool,
    mem_flags: gfp_t,
    handle: *mut dma_addr_t,
) -> *mut c_void {
    dma_pool_alloc_with(Some("rust_helper_dma_pool_zalloc"), pool, mem_flags, handle, true)
}

pub unsafe extern "C" fn dma_pool_free(pool: *mut dma_pool, vaddr: *mut c_void, dma: dma_addr_t) {
    let Some(p) = dma_pool_ptr(pool) else { return };
    with_machine(|m| {
        let v = to_kaddr(m, vaddr);
        m.dma_pool_free(p, v, dma)
    })
}

pub unsafe extern "C" fn dma_pool_destroy(pool: *mut dma_pool) {
    let p = dma_pool_ptr(pool);
    with_machine(|m| m.dma_pool_destroy(p))
}

// ---- The rest of the stock allocation API (listings/kernel/stock-bindings.txt) -------------------------------
//
// Functions a module built against the stock 6.12.117 bindings calls directly (no book patch): the `_noprof`
// entry points the allocation macros of slab.h, gfp.h and mempool.h expand to, and the exported functions
// beside them. Each is the simulator's implementation of the kernel function of that name.

/// `struct kmem_buckets` (opaque; `kmem_buckets_create()` makes them). NULL means the kmalloc caches.
pub type kmem_buckets = [*mut kmem_cache; 14usize];

opaque!(
    /// `struct nodemask_t` (opaque: the book's machines have one node).
    nodemask_t
);

opaque!(
    /// `struct list_lru` (opaque: memcg-aware reclaim lists, not modelled; NULL or not, the object is the same).
    list_lru
);

/// `__kmalloc_node_noprof(size, b, flags, node)`: what `kmalloc_node()` expands to.
///
/// Context: as `kmalloc()`. Returns the object, `ZERO_SIZE_PTR` for 0 bytes, or NULL.
pub unsafe extern "C" fn __kmalloc_node_noprof(
    size: usize,
    b: *mut kmem_buckets,
    flags: gfp_t,
    node: crate::ffi::c_int,
) -> *mut c_void {
    with_machine(|m| {
        let b = if b.is_null() { 0 } else { to_kaddr(m, b.cast()) };
        let p = m.kmalloc_node_buckets(size as u64, b, gfp(flags), node, "__kmalloc_node_noprof");
        to_host(m, p)
    })
}

/// `__kmalloc_cache_noprof(s, flags, size)`: what `kmalloc()` of a constant size compiles to in C — an object
/// of the kmalloc cache `s` for a request of `size` bytes.
///
/// Context: as `kmalloc()`. Returns the object or NULL.
pub unsafe extern "C" fn __kmalloc_cache_noprof(s: *mut kmem_cache, flags: gfp_t, size: usize) -> *mut c_void {
    kmalloc_cache(s, flags, size, "__kmalloc_cache_noprof")
}

/// `__kmalloc_cache_node_noprof(s, flags, node, size)`: `__kmalloc_cache_noprof()` on a preferred node (the
/// book's machines have one).
///
/// Context: as `kmalloc()`. Returns the object or NULL.
pub unsafe extern "C" fn __kmalloc_cache_node_noprof(
    s: *mut kmem_cache,
    gfpflags: gfp_t,
    node: crate::ffi::c_int,
    size: usize,
) -> *mut c_void {
    let _ = node;
    kmalloc_cache(s, gfpflags, size, "__kmalloc_cache_node_noprof")
}

fn kmalloc_cache(s: *mut kmem_cache, flags: gfp_t, size: usize, entry: &'static str) -> *mut c_void {
    let Some(id) = cache_id(s) else {
        with_machine(|m| {
            let a = to_kaddr(m, s.cast());
            m.kmalloc_cache_bad_cache(a, entry)
        });
        return core::ptr::null_mut();
    };
    with_machine(|m| {
        let p = m.kmalloc_cache_entry(id, gfp(flags), size as u64, entry);
        to_host(m, p)
    })
}

/// `page_is_ram(pfn)`: 1 if the page frame lies wholly inside System RAM (the e820 table's usable ranges).
///
/// Context: any.
pub unsafe extern "C" fn page_is_ram(pfn: c_ulong) -> crate::ffi::c_int {
    with_machine(|m| crate::ffi::c_int::from(m.page_is_ram(pfn as u64)))
}

/// `is_free_buddy_page(page)`: whether the page is free in the buddy allocator.
///
/// Context: any.
pub unsafe extern "C" fn is_free_buddy_page(page: *const page) -> bool_ {
    with_machine(|m| pfn_of(m, page).is_some_and(|p| m.is_free_buddy_page(p)))
}

/// `kmem_buckets_create(name, flags, useroffset, usersize, ctor)`: a private set of kmalloc caches named
/// `<name>-<size>`, for `kmem_buckets_alloc()` (`__kmalloc_node_noprof(size, b, flags, node)`). 6.12 has
/// no function that destroys them.
///
/// Context: process context, may sleep. Returns the buckets or NULL.
pub unsafe extern "C" fn kmem_buckets_create(
    name: *const crate::ffi::c_char,
    flags: slab_flags_t,
    useroffset: c_uint,
    usersize: c_uint,
    ctor: Option<unsafe extern "C" fn(arg1: *mut c_void)>,
) -> *mut kmem_buckets {
    let name = c_string(name);
    let ctor = ctor_id(ctor);
    with_machine(|m| {
        let b = m.kmem_buckets_create(&name, flags, useroffset, usersize, ctor);
        to_host(m, b).cast()
    })
}

/// `__kmalloc_node_track_caller_noprof(size, b, flags, node, caller)`: `kmalloc_node_track_caller()`, which
/// records `caller` instead of its own return address (in SLUB's tracking, under `slab_debug=U`).
///
/// Context: as `kmalloc()`. Returns the object, `ZERO_SIZE_PTR` for 0 bytes, or NULL.
pub unsafe extern "C" fn __kmalloc_node_track_caller_noprof(
    size: usize,
    b: *mut kmem_buckets,
    flags: gfp_t,
    node: crate::ffi::c_int,
    caller: c_ulong,
) -> *mut c_void {
    let _ = caller;
    with_machine(|m| {
        let b = if b.is_null() { 0 } else { to_kaddr(m, b.cast()) };
        let p = m.kmalloc_node_buckets(size as u64, b, gfp(flags), node, "__kmalloc_node_track_caller_noprof");
        to_host(m, p)
    })
}

/// `__kmalloc_large_noprof(size, flags)`: compound pages of `get_order(size)`, whatever the size.
///
/// Context: as `kmalloc()`. Returns the pages' direct-map address or NULL.
pub unsafe extern "C" fn __kmalloc_large_noprof(size: usize, flags: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let p = m.kmalloc_large_entry(size as u64, gfp(flags), "__kmalloc_large_noprof");
        to_host(m, p)
    })
}

/// `__kmalloc_large_node_noprof(size, flags, node)`: as `__kmalloc_large_noprof()` (one node).
///
/// Context: as `kmalloc()`. Returns the pages' direct-map address or NULL.
pub unsafe extern "C" fn __kmalloc_large_node_noprof(
    size: usize,
    flags: gfp_t,
    node: crate::ffi::c_int,
) -> *mut c_void {
    let _ = node;
    with_machine(|m| {
        let p = m.kmalloc_large_entry(size as u64, gfp(flags), "__kmalloc_large_node_noprof");
        to_host(m, p)
    })
}

/// `__kvmalloc_node_noprof(size, b, flags, node)`: what `kvmalloc()`/`kvmalloc_node()` expand to.
///
/// Context: process context when the vmalloc fallback can run (`GFP_KERNEL`). Returns the memory or NULL.
pub unsafe extern "C" fn __kvmalloc_node_noprof(
    size: usize,
    b: *mut kmem_buckets,
    flags: gfp_t,
    node: crate::ffi::c_int,
) -> *mut c_void {
    let _ = b;
    with_machine(|m| {
        let p = m.kvmalloc_node(size as u64, gfp(flags), node);
        to_host(m, p)
    })
}

/// `kvrealloc_noprof(p, size, flags)`: what `kvrealloc()` expands to.
///
/// Context: as `kvmalloc()`. Returns the new memory or NULL (then `p` is untouched).
pub unsafe extern "C" fn kvrealloc_noprof(p: *const c_void, size: usize, flags: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let old = to_kaddr(m, p);
        let q = m.kvrealloc(old, size as u64, gfp(flags));
        to_host(m, q)
    })
}

/// `kfree_sensitive(objp)`: the object zeroed (its whole `ksize()`), then freed.
///
/// Context: any.
pub unsafe extern "C" fn kfree_sensitive(objp: *const c_void) {
    with_machine(|m| {
        let a = to_kaddr(m, objp);
        m.kfree_sensitive(a)
    })
}

/// `kvfree_sensitive(addr, len)`: `len` bytes zeroed, then `kvfree()`.
///
/// Context: process context if `addr` may be vmalloc memory.
pub unsafe extern "C" fn kvfree_sensitive(addr: *const c_void, len: usize) {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.kvfree_sensitive(a, len as u64)
    })
}

/// `kmem_cache_alloc_node_noprof(s, flags, node)`: `kmem_cache_alloc_node()` (one node: the same object as
/// `kmem_cache_alloc()`).
///
/// Context: as `kmem_cache_alloc()`. Returns the object or NULL.
pub unsafe extern "C" fn kmem_cache_alloc_node_noprof(
    s: *mut kmem_cache,
    flags: gfp_t,
    node: crate::ffi::c_int,
) -> *mut c_void {
    let _ = node;
    cache_alloc(None, s, flags, false)
}

/// `kmem_cache_alloc_lru_noprof(s, lru, flags)`: `kmem_cache_alloc_lru()`; the list_lru only matters to memcg
/// accounting, which the simulator does not model.
///
/// Context: as `kmem_cache_alloc()`. Returns the object or NULL.
pub unsafe extern "C" fn kmem_cache_alloc_lru_noprof(
    s: *mut kmem_cache,
    lru: *mut list_lru,
    flags: gfp_t,
) -> *mut c_void {
    let _ = lru;
    cache_alloc(None, s, flags, false)
}

/// `alloc_pages_noprof(gfp, order)`: what `alloc_pages()` expands to.
///
/// Context: as `alloc_pages()`. Returns the first page's `struct page` or NULL.
pub unsafe extern "C" fn alloc_pages_noprof(gfp_mask: gfp_t, order: c_uint) -> *mut page {
    with_machine(|m| {
        let pfn = m.alloc_pages(gfp(gfp_mask), order);
        page_ptr(m, pfn)
    })
}

/// `__alloc_pages_noprof(gfp, order, preferred_nid, nodemask)`: the page allocator's entry point (one node).
///
/// Context: as `alloc_pages()`. Returns the first page's `struct page` or NULL.
pub unsafe extern "C" fn __alloc_pages_noprof(
    gfp_mask: gfp_t,
    order: c_uint,
    preferred_nid: crate::ffi::c_int,
    nodemask: *mut nodemask_t,
) -> *mut page {
    let _ = nodemask;
    with_machine(|m| {
        let pfn = m.alloc_pages_nid(gfp(gfp_mask), order, preferred_nid);
        page_ptr(m, pfn)
    })
}

/// `alloc_pages_exact_noprof(size, gfp)`: `size` bytes of whole pages, the tail beyond them freed.
///
/// Context: as `alloc_pages()`. Returns the direct-map address or NULL.
pub unsafe extern "C" fn alloc_pages_exact_noprof(size: usize, gfp_mask: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let p = m.alloc_pages_exact(size as u64, gfp(gfp_mask));
        to_host(m, p)
    })
}

/// `free_pages_exact(virt, size)`: frees what `alloc_pages_exact()` returned.
///
/// Context: any.
pub unsafe extern "C" fn free_pages_exact(virt: *mut c_void, size: usize) {
    with_machine(|m| {
        let a = to_kaddr(m, virt);
        m.free_pages_exact(a, size as u64)
    })
}

/// `nr_free_buffer_pages()`: free pages above the high watermarks of the zones below highmem.
///
/// Context: any.
pub unsafe extern "C" fn nr_free_buffer_pages() -> c_ulong {
    with_machine(|m| m.nr_free_buffer_pages() as c_ulong)
}

/// `mempool_create_node_noprof(min_nr, alloc_fn, free_fn, pool_data, gfp_mask, nid)`: what
/// `mempool_create()` and `mempool_create_node()` expand to.
///
/// Context: process context when `gfp_mask` may sleep. Returns the pool or NULL.
pub unsafe extern "C" fn mempool_create_node_noprof(
    min_nr: crate::ffi::c_int,
    alloc_fn: mempool_alloc_t,
    free_fn: mempool_free_t,
    pool_data: *mut c_void,
    gfp_mask: gfp_t,
    node_id: crate::ffi::c_int,
) -> *mut mempool_t {
    let _ = node_id;
    let (Some(a), Some(f)) = (alloc_fn, free_fn) else {
        // The kernel would call through NULL when filling the reserve.
        return core::ptr::null_mut();
    };
    mempool_create_with(None, min_nr, (a, f, pool_data), gfp(gfp_mask), |m| mempool_allocator(m, a, f, pool_data))
}

/// `mempool_alloc_noprof(pool, gfp_mask)`: what `mempool_alloc()` expands to.
///
/// Context: may sleep when `gfp_mask` allows it (and then never fails). Returns an element or NULL.
pub unsafe extern "C" fn mempool_alloc_noprof(pool: *mut mempool_t, gfp_mask: gfp_t) -> *mut c_void {
    let p = mempool_ptr(pool);
    let e = mempool_drive(None, |m| m.mempool_alloc_start(p, gfp(gfp_mask)));
    mempool_sync(pool, None);
    with_machine(|m| mempool_element_to_host(m, p, e))
}

/// `mempool_alloc_preallocated(pool)`: an element of the reserve only, never the allocator.
///
/// Context: any. Returns an element or NULL when the reserve is empty.
pub unsafe extern "C" fn mempool_alloc_preallocated(pool: *mut mempool_t) -> *mut c_void {
    let p = mempool_ptr(pool);
    let e = with_machine(|m| {
        let e = m.mempool_alloc_preallocated(p);
        mempool_element_to_host(m, p, e)
    });
    mempool_sync(pool, None);
    e
}

/// `mempool_init_noprof(pool, min_nr, alloc_fn, free_fn, pool_data)`: a pool in memory the caller owns
/// (`mempool_init()`).
///
/// Context: process context. Returns 0 or `-ENOMEM` (what was allocated is freed again).
pub unsafe extern "C" fn mempool_init_noprof(
    pool: *mut mempool_t,
    min_nr: crate::ffi::c_int,
    alloc_fn: mempool_alloc_t,
    free_fn: mempool_free_t,
    pool_data: *mut c_void,
) -> crate::ffi::c_int {
    let (Some(a), Some(f)) = (alloc_fn, free_fn) else {
        return crate::error::code::EINVAL.to_errno();
    };
    let (allocator, data) = with_machine(|m| mempool_allocator(m, a, f, pool_data));
    let addr = with_machine(|m| to_kaddr(m, pool.cast()));
    let r = mempool_drive(None, |m| m.mempool_init_start(addr, min_nr, allocator, data)) as i64 as crate::ffi::c_int;
    if r == 0 {
        mempool_sync(pool, Some((a, f, pool_data)));
    }
    r
}

/// `mempool_init_node(pool, min_nr, alloc_fn, free_fn, pool_data, gfp_mask, nid)`: `mempool_init()` with the
/// reserve allocated with `gfp_mask` (one node).
///
/// Context: process context when `gfp_mask` may sleep. Returns 0 or `-ENOMEM`.
pub unsafe extern "C" fn mempool_init_node(
    pool: *mut mempool_t,
    min_nr: crate::ffi::c_int,
    alloc_fn: mempool_alloc_t,
    free_fn: mempool_free_t,
    pool_data: *mut c_void,
    gfp_mask: gfp_t,
    nid: crate::ffi::c_int,
) -> crate::ffi::c_int {
    let _ = (gfp_mask, nid);
    // SAFETY: the same contract as mempool_init_noprof().
    unsafe { mempool_init_noprof(pool, min_nr, alloc_fn, free_fn, pool_data) }
}

/// `mempool_exit(pool)`: frees the reserve of a pool set up with `mempool_init()` (not the pool itself).
///
/// Context: process context.
pub unsafe extern "C" fn mempool_exit(pool: *mut mempool_t) {
    let p = mempool_ptr(pool);
    mempool_drive(None, |m| m.mempool_exit_start(p, false));
    mempool_sync(pool, None);
}

/// `dma_set_mask(dev, mask)`: the streaming DMA mask.
///
/// Context: process context. Returns 0 or `-EIO` when the platform cannot address that mask.
pub unsafe extern "C" fn dma_set_mask(dev: *mut device, mask: u64) -> crate::ffi::c_int {
    let Some(d) = device_id(dev) else { return -5 };
    with_machine(|m| match m.dma_set_mask(d, mask) {
        Ok(()) => 0,
        Err(e) => e.errno(),
    })
}

/// `dma_set_coherent_mask(dev, mask)`: the mask coherent allocations must fit.
///
/// Context: process context. Returns 0 or `-EIO`.
pub unsafe extern "C" fn dma_set_coherent_mask(dev: *mut device, mask: u64) -> crate::ffi::c_int {
    let Some(d) = device_id(dev) else { return -5 };
    with_machine(|m| match m.dma_set_coherent_mask(d, mask) {
        Ok(()) => 0,
        Err(e) => e.errno(),
    })
}

/// `dma_alloc_attrs(dev, size, dma_handle, flag, attrs)`: what `dma_alloc_coherent()` is an inline over.
///
/// Context: process context for a `gfp` that may sleep. Returns the CPU address (and the device address in
/// `*dma_handle`) or NULL.
pub unsafe extern "C" fn dma_alloc_attrs(
    dev: *mut device,
    size: usize,
    dma_handle: *mut dma_addr_t,
    flag: gfp_t,
    attrs: c_ulong,
) -> *mut c_void {
    let d = device_id(dev);
    with_machine(|m| {
        let a = m.dma_alloc_attrs(d, size as u64, Gfp(flag), attrs as u64);
        dma_alloc_result(m, a, dma_handle)
    })
}

/// `dma_free_attrs(dev, size, cpu_addr, dma_handle, attrs)`: frees a `dma_alloc_attrs()` buffer.
///
/// Context: process context (not with interrupts disabled: the kernel WARNs).
pub unsafe extern "C" fn dma_free_attrs(
    dev: *mut device,
    size: usize,
    cpu_addr: *mut c_void,
    dma_handle: dma_addr_t,
    attrs: c_ulong,
) {
    let _ = attrs;
    let d = device_id(dev);
    with_machine(|m| {
        let a = to_kaddr(m, cpu_addr);
        m.dma_free_coherent(d, size as u64, a, dma_handle)
    })
}

/// `kmem_cache_alloc_bulk_noprof(s, flags, size, p)`: `size` objects of `s` into `p[0..size]`.
///
/// Context: as `kmem_cache_alloc()`. Returns `size`, or 0 when one failed (then none is allocated).
pub unsafe extern "C" fn kmem_cache_alloc_bulk_noprof(
    s: *mut kmem_cache,
    flags: gfp_t,
    size: usize,
    p: *mut *mut c_void,
) -> crate::ffi::c_int {
    let Some(id) = cache_id(s) else { return 0 };
    let objs = with_machine(|m| m.kmem_cache_alloc_bulk(id, gfp(flags), size));
    run_pending_ctors();
    with_machine(|m| {
        for (i, &x) in objs.iter().enumerate() {
            // SAFETY: the caller passes an array of `size` pointers.
            unsafe { *p.add(i) = to_host(m, x) };
        }
    });
    objs.len() as crate::ffi::c_int
}

/// `kmem_cache_free_bulk(s, size, p)`: frees `p[0..size]` to `s`.
///
/// Context: any.
pub unsafe extern "C" fn kmem_cache_free_bulk(s: *mut kmem_cache, size: usize, p: *mut *mut c_void) {
    let Some(id) = cache_id(s) else { return };
    with_machine(|m| {
        let objs: std::vec::Vec<u64> = (0..size)
            // SAFETY: the caller passes an array of `size` pointers.
            .map(|i| to_kaddr(m, unsafe { *p.add(i) }))
            .collect();
        m.kmem_cache_free_bulk(id, &objs)
    })
}

/// `kmemdup_noprof(src, len, gfp)`: what `kmemdup()` expands to: a kmalloc'ed copy of `len` bytes.
///
/// Context: as `kmalloc()`. Returns the copy or NULL.
pub unsafe extern "C" fn kmemdup_noprof(src: *const c_void, len: usize, gfp_flags: gfp_t) -> *mut c_void {
    with_machine(|m| {
        let p = match crate::__sim::to_kaddr_opt(m, src as usize) {
            // Simulated memory (an allocation of the module's).
            Some(k) if !crate::__sim::is_special(k) => m.kmemdup(k, len as u64, gfp(gfp_flags)),
            // The module's own memory (a static, its stack).
            _ => {
                // SAFETY: the caller passes `len` readable bytes at `src`.
                let bytes = unsafe { core::slice::from_raw_parts(src.cast::<u8>(), len) };
                m.kmemdup_bytes(bytes, gfp(gfp_flags))
            }
        };
        to_host(m, p)
    })
}

/// `kstrdup(s, gfp)`: a kmalloc'ed copy of the NUL-terminated string `s` (NULL for NULL).
///
/// Context: as `kmalloc()`. Returns the copy or NULL.
pub unsafe extern "C" fn kstrdup(s: *const crate::ffi::c_char, gfp_flags: gfp_t) -> *mut crate::ffi::c_char {
    if s.is_null() {
        return core::ptr::null_mut();
    }
    let text = c_string(s);
    with_machine(|m| {
        let p = m.kstrdup(&text, gfp(gfp_flags));
        to_host(m, p).cast()
    })
}

// ---- vmap (mm/vmalloc.c): pages the caller owns, mapped contiguously in the vmalloc area ------------------

/// A page-table entry's protection bits (`pgprotval_t` is an `unsigned long`).
pub type pgprotval_t = c_ulong;

/// `pgprot_t` (`struct pgprot`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct pgprot {
    pub pgprot: pgprotval_t,
}
pub type pgprot_t = pgprot;

/// The x86 page-table entry bits (`arch/x86/include/asm/pgtable_types.h`) a module needs to spell
/// `PAGE_KERNEL`, which is a macro the bindings do not have.
pub const _PAGE_BIT_PRESENT: u32 = 0;
pub const _PAGE_BIT_RW: u32 = 1;
pub const _PAGE_BIT_ACCESSED: u32 = 5;
pub const _PAGE_BIT_DIRTY: u32 = 6;
pub const _PAGE_BIT_GLOBAL: u32 = 8;
pub const _PAGE_BIT_NX: u32 = 63;

/// `NUMA_NO_NODE` (`include/linux/numa.h`): no preferred node.
pub const NUMA_NO_NODE: i32 = -1;

/// `VM_MAP` (`include/linux/vmalloc.h`): the area maps pages its caller owns.
pub const VM_MAP: u32 = kmem_sim::vmalloc::VM_MAP as u32;

/// `vmap(pages, count, flags, prot)`: maps `count` pages the caller owns at consecutive addresses of the
/// vmalloc area (the pages stay the caller's: `vunmap()` does not free them unless `VM_MAP_PUT_PAGES`).
///
/// Context: process context, may sleep. Returns the address or NULL.
pub unsafe extern "C" fn vmap(pages: *mut *mut page, count: c_uint, flags: c_ulong, prot: pgprot_t) -> *mut c_void {
    with_machine(|m| {
        let mut pfns = std::vec::Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: the caller passes an array of `count` page pointers.
            let p = unsafe { *pages.add(i) };
            match pfn_of(m, p) {
                Some(pfn) => pfns.push(pfn),
                // Not a `struct page`: the kernel would map whatever that pointer's pfn computes to.
                None => return core::ptr::null_mut(),
            }
        }
        let a = m.vmap(&pfns, flags as u64, kmem_sim::vmalloc::PgProt(prot.pgprot as u64));
        to_host(m, a)
    })
}

/// `vunmap(addr)`: removes a `vmap()` mapping (lazily, as `vfree()` does); the pages are not freed.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn vunmap(addr: *const c_void) {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.vunmap(a)
    })
}

/// `vm_map_ram(pages, count, node)`: maps `count` pages at consecutive addresses of the vmalloc area — up to
/// `BITS_PER_LONG` pages inside a per-CPU vmap block, more in an area of their own (no `vm_struct`, no
/// guard page). Unmap with `vm_unmap_ram()` and the same count.
///
/// Context: process context, may sleep. Returns the address or NULL.
pub unsafe extern "C" fn vm_map_ram(pages: *mut *mut page, count: c_uint, node: c_int) -> *mut c_void {
    with_machine(|m| {
        let mut pfns = std::vec::Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: the caller passes an array of `count` page pointers.
            let p = unsafe { *pages.add(i) };
            match pfn_of(m, p) {
                Some(pfn) => pfns.push(pfn),
                // Not a `struct page`: the kernel would map whatever that pointer's pfn computes to.
                None => return core::ptr::null_mut(),
            }
        }
        let a = m.vm_map_ram(&pfns, node);
        to_host(m, a)
    })
}

/// `vm_unmap_ram(mem, count)`: removes a `vm_map_ram()` mapping of `count` pages (the count it was made
/// with). A block's pages are not reused until the whole block is free or dirty.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn vm_unmap_ram(mem: *const c_void, count: c_uint) {
    with_machine(|m| {
        let a = to_kaddr(m, mem);
        m.vm_unmap_ram(a, count)
    })
}

/// `vm_unmap_aliases()`: frees the vmap blocks whose pages are all unmapped and purges the lazily freed
/// vmalloc areas now.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn vm_unmap_aliases() {
    with_machine(|m| m.vm_unmap_aliases())
}

/// `ioremap(phys_addr, size)`: maps `size` bytes of device memory at `phys_addr` uncached
/// (`_PAGE_CACHE_MODE_UC_MINUS`) into the vmalloc area; the result keeps `phys_addr`'s offset into its page.
/// System RAM in use is refused (`ioremap on RAM at ...`, a warning). The simulator has no devices behind
/// the mapping: accessing it faults.
///
/// Context: process context, may sleep. Returns the address or NULL.
pub unsafe extern "C" fn ioremap(offset: resource_size_t, size: c_ulong) -> *mut c_void {
    with_machine(|m| {
        let a = m.ioremap(offset, size as u64);
        to_host(m, a)
    })
}

/// `ioremap_wc(phys_addr, size)`: as `ioremap()`, write-combining.
///
/// Context: process context, may sleep. Returns the address or NULL.
pub unsafe extern "C" fn ioremap_wc(offset: resource_size_t, size: c_ulong) -> *mut c_void {
    with_machine(|m| {
        let a = m.ioremap_wc(offset, size as u64);
        to_host(m, a)
    })
}

/// `ioremap_cache(phys_addr, size)`: as `ioremap()`, write-back.
///
/// Context: process context, may sleep. Returns the address or NULL.
pub unsafe extern "C" fn ioremap_cache(offset: resource_size_t, size: c_ulong) -> *mut c_void {
    with_machine(|m| {
        let a = m.ioremap_cache(offset, size as u64);
        to_host(m, a)
    })
}

/// `iounmap(addr)`: removes an `ioremap()` mapping.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn iounmap(addr: *mut c_void) {
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.iounmap(a)
    })
}

/// `struct callback_head` (`include/linux/types.h`; `struct rcu_head` is a macro for it): what
/// `call_rcu()` and `kfree_rcu()` link through, embedded in the object.
#[repr(C)]
#[derive(Debug, Copy, Clone)]
pub struct callback_head {
    pub next: *mut callback_head,
    pub func: ::core::option::Option<unsafe extern "C" fn(head: *mut callback_head)>,
}

impl Default for callback_head {
    fn default() -> Self {
        callback_head { next: core::ptr::null_mut(), func: None }
    }
}

/// `rcu_callback_t`.
pub type rcu_callback_t = ::core::option::Option<unsafe extern "C" fn(head: *mut callback_head)>;

/// `kvfree_call_rcu(head, ptr)`: what `kfree_rcu(ptr, rhf)` and `kvfree_rcu()` expand to — frees `ptr`
/// (kmalloc, kmem_cache or vmalloc memory) after an RCU grace period, in a per-CPU batch drained up to
/// `KFREE_DRAIN_JIFFIES` (5 s) later. `head` is the object's `rcu_head`, or NULL for the head-less
/// `kvfree_rcu_mightsleep(ptr)`, which may sleep.
///
/// Context: any (NULL `head`: process context).
pub unsafe extern "C" fn kvfree_call_rcu(head: *mut callback_head, ptr: *mut c_void) {
    with_machine(|m| {
        let h = if head.is_null() { 0 } else { to_kaddr(m, head.cast()) };
        let p = to_kaddr(m, ptr);
        m.kvfree_call_rcu(h, p)
    })
}

/// `kvfree_rcu_barrier()`: waits until every object queued by `kvfree_call_rcu()` so far is freed.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn kvfree_rcu_barrier() {
    with_machine(|m| m.kvfree_rcu_barrier())
}

/// `synchronize_rcu()`: waits for an RCU grace period.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn synchronize_rcu() {
    with_machine(|m| m.synchronize_rcu())
}

/// `synchronize_rcu_expedited()`: waits for an RCU grace period (the simulator has one kind).
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn synchronize_rcu_expedited() {
    with_machine(|m| m.synchronize_rcu())
}

/// `rcu_barrier()`: waits for the RCU callbacks queued so far (not for `kfree_rcu()`'s batches).
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn rcu_barrier() {
    with_machine(|m| m.rcu_barrier())
}

/// `msleep(msecs)`: sleeps; the simulated clock moves on and the kernel's workers that are due run.
///
/// Context: process context, may sleep.
pub unsafe extern "C" fn msleep(msecs: c_uint) {
    with_machine(|m| m.msleep(u64::from(msecs)))
}

/// `kmem_dump_obj(object)`: continues the current line with the slab the object is in, its start, the
/// pointer's offset into it and the object size (and, with SLAB_STORE_USER, where it was allocated).
pub unsafe extern "C" fn kmem_dump_obj(object: *mut c_void) -> bool_ {
    with_machine(|m| {
        let a = to_kaddr(m, object);
        m.kmem_dump_obj(a)
    })
}

// ---- Streaming DMA (kernel/dma/mapping.c, kernel/dma/debug.c, include/linux/dma-direction.h) -------------

pub type dma_data_direction = c_uint;
pub const dma_data_direction_DMA_BIDIRECTIONAL: dma_data_direction = 0;
pub const dma_data_direction_DMA_TO_DEVICE: dma_data_direction = 1;
pub const dma_data_direction_DMA_FROM_DEVICE: dma_data_direction = 2;
pub const dma_data_direction_DMA_NONE: dma_data_direction = 3;

/// `dma_map_page_attrs()`: what the inline `dma_map_single_attrs()` and `dma_map_page()` call.
pub unsafe extern "C" fn dma_map_page_attrs(
    dev: *mut device,
    page: *mut page,
    offset: usize,
    size: usize,
    dir: dma_data_direction,
    attrs: c_ulong,
) -> dma_addr_t {
    let d = device_id(dev);
    with_machine(|m| {
        // page_to_phys() is arithmetic: a pointer that is no struct page names some physical address too.
        let pfn = pfn_of(m, page).unwrap_or_else(|| m.page_to_pfn_arith(page as usize as u64));
        m.dma_map_page_attrs(d, pfn, offset as u64, size as u64, dir, attrs as u64)
    })
}

pub unsafe extern "C" fn dma_unmap_page_attrs(
    dev: *mut device,
    addr: dma_addr_t,
    size: usize,
    dir: dma_data_direction,
    attrs: c_ulong,
) {
    let d = device_id(dev);
    with_machine(|m| m.dma_unmap_page_attrs(d, addr, size as u64, dir, attrs as u64))
}

pub unsafe extern "C" fn __dma_sync_single_for_cpu(
    dev: *mut device,
    addr: dma_addr_t,
    size: usize,
    dir: dma_data_direction,
) {
    let d = device_id(dev);
    with_machine(|m| m.dma_sync_single(d, addr, size as u64, dir, true))
}

pub unsafe extern "C" fn __dma_sync_single_for_device(
    dev: *mut device,
    addr: dma_addr_t,
    size: usize,
    dir: dma_data_direction,
) {
    let d = device_id(dev);
    with_machine(|m| m.dma_sync_single(d, addr, size as u64, dir, false))
}

/// `debug_dma_map_single()`: the inline `dma_map_single_attrs()` calls it before mapping.
pub unsafe extern "C" fn debug_dma_map_single(dev: *mut device, addr: *const c_void, len: c_ulong) {
    let d = device_id(dev);
    with_machine(|m| {
        let a = to_kaddr(m, addr);
        m.debug_dma_map_single(d, a, len as u64)
    })
}

/// `debug_dma_mapping_error()`: the inline `dma_mapping_error()` calls it.
pub unsafe extern "C" fn debug_dma_mapping_error(dev: *mut device, dma_addr: dma_addr_t) {
    let d = device_id(dev);
    with_machine(|m| m.debug_dma_mapping_error(d, dma_addr))
}

// ---- Scatterlists and scatter-gather DMA (lib/scatterlist.c, kernel/dma/mapping.c) ------------------------

/// `struct scatterlist` (x86_64, `CONFIG_NEED_SG_DMA_LENGTH`).
#[repr(C)]
#[derive(Default, Copy, Clone)]
pub struct scatterlist {
    pub page_link: c_ulong,
    pub offset: c_uint,
    pub length: c_uint,
    pub dma_address: dma_addr_t,
    pub dma_length: c_uint,
}

/// `struct sg_table`.
#[repr(C)]
#[derive(Copy, Clone)]
pub struct sg_table {
    pub sgl: *mut scatterlist,
    pub nents: c_uint,
    pub orig_nents: c_uint,
}

impl Default for sg_table {
    fn default() -> Self {
        Self { sgl: core::ptr::null_mut(), nents: 0, orig_nents: 0 }
    }
}

use kmem_sim::scatterlist::{Scatterlist, SgStep, SgTable};

fn sg_value(e: &scatterlist) -> Scatterlist {
    Scatterlist {
        page_link: e.page_link as u64,
        offset: e.offset,
        length: e.length,
        dma_address: e.dma_address,
        dma_length: e.dma_length,
    }
}

/// `sg_next()` over the module's memory: the list may lie in simulated memory (`sg_alloc_table()`) or on
/// the module's stack; a chain entry holds the next array's kernel address.
///
/// # Safety
/// `sg` points to a valid scatterlist entry.
unsafe fn sg_next_ptr(m: &Machine, sg: *mut scatterlist) -> *mut scatterlist {
    // SAFETY: the caller's entry; the one after it exists unless it is the last.
    let cur = sg_value(unsafe { &*sg });
    match kmem_sim::scatterlist::sg_next_step(&cur, || sg_value(unsafe { &*sg.add(1) })) {
        SgStep::End => core::ptr::null_mut(),
        SgStep::Next => unsafe { sg.add(1) },
        SgStep::Chain(p) => to_host(m, p).cast(),
    }
}

/// The entries `for_each_sg(sg, s, nents, i)` visits, with where each lies (fewer if the list ends first).
///
/// # Safety
/// `sg` is NULL or a valid scatterlist.
unsafe fn sg_collect(m: &Machine, sg: *mut scatterlist, nents: c_int) -> Vec<(*mut scatterlist, Scatterlist)> {
    let mut v = Vec::new();
    let mut p = sg;
    while !p.is_null() && (v.len() as i64) < i64::from(nents) {
        // SAFETY: `p` is an entry of the caller's list.
        v.push((p, sg_value(unsafe { &*p })));
        p = unsafe { sg_next_ptr(m, p) };
    }
    v
}

/// Writes back what the simulator set in the entries (`dma_address`, `dma_length`).
///
/// # Safety
/// The pointers come from [`sg_collect`].
unsafe fn sg_store(ents: &[(*mut scatterlist, Scatterlist)], vals: &[Scatterlist]) {
    for ((p, _), v) in ents.iter().zip(vals) {
        // SAFETY: an entry of the caller's list.
        unsafe {
            (**p).dma_address = v.dma_address;
            (**p).dma_length = v.dma_length;
        }
    }
}

/// A `struct sg_table` as the simulator's, its `sgl` as the kernel address.
///
/// # Safety
/// `t` points to a valid `struct sg_table`.
unsafe fn sg_table_value(m: &Machine, t: *const sg_table) -> SgTable {
    // SAFETY: the caller's table.
    let t = unsafe { &*t };
    SgTable { sgl: to_kaddr(m, t.sgl.cast()), nents: t.nents, orig_nents: t.orig_nents }
}

/// Stores a simulator table into the module's `struct sg_table`, `sgl` as the pointer module code uses.
///
/// # Safety
/// `t` points to a valid `struct sg_table`.
unsafe fn sg_table_store(m: &Machine, t: *mut sg_table, v: &SgTable) {
    let sgl = if v.sgl == 0 { core::ptr::null_mut() } else { to_host(m, v.sgl).cast() };
    // SAFETY: the caller's table.
    unsafe { *t = sg_table { sgl, nents: v.nents, orig_nents: v.orig_nents } };
}

/// `sg_init_table(sgl, nents)`: zeroes the entries and marks the last as the end.
pub unsafe extern "C" fn sg_init_table(sgl: *mut scatterlist, nents: c_uint) {
    let mut v = vec![Scatterlist::default(); nents as usize];
    kmem_sim::scatterlist::sg_init_table(&mut v);
    for (i, e) in v.iter().enumerate() {
        // SAFETY: the caller's array of `nents` entries.
        unsafe {
            *sgl.add(i) = scatterlist {
                page_link: e.page_link as c_ulong,
                offset: e.offset,
                length: e.length,
                dma_address: e.dma_address,
                dma_length: e.dma_length,
            }
        };
    }
}

/// `sg_init_one(sg, buf, buflen)`: a one-entry table describing `buf` (`sg_set_buf()`: its page and the
/// offset in it).
pub unsafe extern "C" fn sg_init_one(sg: *mut scatterlist, buf: *const c_void, buflen: c_uint) {
    // SAFETY: one entry.
    unsafe { sg_init_table(sg, 1) };
    with_machine(|m| {
        let k = to_kaddr(m, buf);
        let page = page_ptr(m, m.virt_to_page(k)) as u64;
        // SAFETY: the entry just initialised.
        let e = unsafe { &mut *sg };
        e.page_link = ((e.page_link as u64 & kmem_sim::scatterlist::SG_PAGE_LINK_MASK) | page) as c_ulong;
        e.offset = (k & 0xfff) as c_uint;
        e.length = buflen;
    })
}

/// `sg_next(sg)`: the next entry, following a chain; NULL after the last.
pub unsafe extern "C" fn sg_next(sg: *mut scatterlist) -> *mut scatterlist {
    // SAFETY: the caller's entry.
    with_machine(|m| unsafe { sg_next_ptr(m, sg) })
}

/// `sg_nents(sg)`: the entries of the list, chains followed.
pub unsafe extern "C" fn sg_nents(sg: *mut scatterlist) -> c_int {
    // SAFETY: the caller's list.
    with_machine(|m| unsafe { sg_collect(m, sg, c_int::MAX) }.len() as c_int)
}

/// `sg_last(s, nents)`: the last of the first `nents` entries.
pub unsafe extern "C" fn sg_last(s: *mut scatterlist, nents: c_uint) -> *mut scatterlist {
    // SAFETY: the caller's list.
    with_machine(|m| unsafe { sg_collect(m, s, nents.min(c_int::MAX as c_uint) as c_int) })
        .last()
        .map(|(p, _)| *p)
        .unwrap_or(core::ptr::null_mut())
}

/// `sg_alloc_table(table, nents, gfp)`: the arrays from kmalloc (or pages, chained, above 128 entries).
pub unsafe extern "C" fn sg_alloc_table(table: *mut sg_table, nents: c_uint, gfp_mask: gfp_t) -> c_int {
    with_machine(|m| {
        let (ret, t) = m.sg_alloc_table(nents, gfp(gfp_mask));
        // SAFETY: the caller's table.
        unsafe { sg_table_store(m, table, &t) };
        ret
    })
}

/// `sg_free_table(table)`.
pub unsafe extern "C" fn sg_free_table(table: *mut sg_table) {
    with_machine(|m| {
        // SAFETY: the caller's table.
        let mut t = unsafe { sg_table_value(m, table) };
        m.sg_free_table(&mut t);
        // SAFETY: as above.
        unsafe { (*table).sgl = core::ptr::null_mut() };
    })
}

/// `dma_map_sg_attrs(dev, sg, nents, dir, attrs)`: the number of mapped entries, 0 on failure.
pub unsafe extern "C" fn dma_map_sg_attrs(
    dev: *mut device,
    sg: *mut scatterlist,
    nents: c_int,
    dir: dma_data_direction,
    attrs: c_ulong,
) -> c_uint {
    let d = device_id(dev);
    with_machine(|m| {
        // SAFETY: the caller's list.
        let ents = unsafe { sg_collect(m, sg, nents) };
        let mut vals: Vec<Scatterlist> = ents.iter().map(|(_, v)| *v).collect();
        let r = m.dma_map_sg_attrs(d, &mut vals, nents, dir, attrs as u64);
        // SAFETY: the same entries.
        unsafe { sg_store(&ents, &vals) };
        r
    })
}

/// `dma_map_sgtable(dev, sgt, dir, attrs)`: 0 (and `sgt->nents` set) or the negative errno.
pub unsafe extern "C" fn dma_map_sgtable(
    dev: *mut device,
    sgt: *mut sg_table,
    dir: dma_data_direction,
    attrs: c_ulong,
) -> c_int {
    let d = device_id(dev);
    with_machine(|m| {
        // SAFETY: the caller's table and its list.
        let t = unsafe { &mut *sgt };
        let ents = unsafe { sg_collect(m, t.sgl, t.orig_nents as c_int) };
        let mut vals: Vec<Scatterlist> = ents.iter().map(|(_, v)| *v).collect();
        let r = m.dma_map_sgtable(d, &mut vals, t.orig_nents, dir, attrs as u64);
        // SAFETY: the same entries.
        unsafe { sg_store(&ents, &vals) };
        match r {
            Ok(n) => {
                t.nents = n;
                0
            }
            Err(e) => e,
        }
    })
}

/// `dma_unmap_sg_attrs(dev, sg, nents, dir, attrs)`.
pub unsafe extern "C" fn dma_unmap_sg_attrs(
    dev: *mut device,
    sg: *mut scatterlist,
    nents: c_int,
    dir: dma_data_direction,
    attrs: c_ulong,
) {
    let d = device_id(dev);
    with_machine(|m| {
        // SAFETY: the caller's list.
        let vals: Vec<Scatterlist> = unsafe { sg_collect(m, sg, nents) }.into_iter().map(|(_, v)| v).collect();
        m.dma_unmap_sg_attrs(d, &vals, nents, dir, attrs as u64)
    })
}

/// `__dma_sync_sg_for_cpu()`: what the inline `dma_sync_sg_for_cpu()` calls.
pub unsafe extern "C" fn __dma_sync_sg_for_cpu(
    dev: *mut device,
    sg: *mut scatterlist,
    nelems: c_int,
    dir: dma_data_direction,
) {
    // SAFETY: the caller's list.
    unsafe { dma_sync_sg(dev, sg, nelems, dir, true) }
}

/// Both sg syncs: the entries as the simulator's.
///
/// # Safety
/// `sg` is NULL or a valid scatterlist.
unsafe fn dma_sync_sg(dev: *mut device, sg: *mut scatterlist, nelems: c_int, dir: dma_data_direction, to_cpu: bool) {
    let d = device_id(dev);
    with_machine(|m| {
        // SAFETY: the caller's list.
        let vals: Vec<Scatterlist> = unsafe { sg_collect(m, sg, nelems) }.into_iter().map(|(_, v)| v).collect();
        m.dma_sync_sg(d, &vals, nelems, dir, to_cpu)
    })
}

/// `__dma_sync_sg_for_device()`: what the inline `dma_sync_sg_for_device()` calls.
pub unsafe extern "C" fn __dma_sync_sg_for_device(
    dev: *mut device,
    sg: *mut scatterlist,
    nelems: c_int,
    dir: dma_data_direction,
) {
    // SAFETY: the caller's list.
    unsafe { dma_sync_sg(dev, sg, nelems, dir, false) }
}

/// `dma_alloc_pages(dev, size, &handle, dir, gfp)`: what the inline `dma_alloc_noncoherent()` calls.
pub unsafe extern "C" fn dma_alloc_pages(
    dev: *mut device,
    size: usize,
    dma_handle: *mut dma_addr_t,
    dir: dma_data_direction,
    gfp_: gfp_t,
) -> *mut page {
    let d = device_id(dev);
    with_machine(|m| match m.dma_alloc_pages(d, size as u64, dir, gfp(gfp_)) {
        Some((pfn, handle)) => {
            // SAFETY: the caller's handle.
            unsafe { *dma_handle = handle };
            page_ptr(m, Some(pfn))
        }
        None => core::ptr::null_mut(),
    })
}

/// `dma_free_pages(dev, size, page, handle, dir)`: what the inline `dma_free_noncoherent()` calls.
pub unsafe extern "C" fn dma_free_pages(
    dev: *mut device,
    size: usize,
    page: *mut page,
    dma_handle: dma_addr_t,
    dir: dma_data_direction,
) {
    let d = device_id(dev);
    with_machine(|m| {
        let pfn = pfn_of(m, page).unwrap_or_else(|| m.page_to_pfn_arith(page as usize as u64));
        m.dma_free_pages(d, size as u64, pfn, dma_handle, dir)
    })
}

/// `dma_alloc_noncontiguous(dev, size, dir, gfp, attrs)`: a kmalloc'ed one-entry `struct sg_table`.
pub unsafe extern "C" fn dma_alloc_noncontiguous(
    dev: *mut device,
    size: usize,
    dir: dma_data_direction,
    gfp_: gfp_t,
    attrs: c_ulong,
) -> *mut sg_table {
    let d = device_id(dev);
    with_machine(|m| match m.dma_alloc_noncontiguous(d, size as u64, dir, gfp(gfp_), attrs as u64) {
        Some((sgt, table)) => {
            let p: *mut sg_table = to_host(m, sgt).cast();
            // SAFETY: the table just allocated in simulated memory; its `sgl` becomes the module's pointer.
            unsafe { sg_table_store(m, p, &table) };
            p
        }
        None => core::ptr::null_mut(),
    })
}

/// `dma_free_noncontiguous(dev, size, sgt, dir)`.
pub unsafe extern "C" fn dma_free_noncontiguous(
    dev: *mut device,
    size: usize,
    sgt: *mut sg_table,
    dir: dma_data_direction,
) {
    let d = device_id(dev);
    with_machine(|m| {
        // SAFETY: the table dma_alloc_noncontiguous() returned.
        let table = unsafe { sg_table_value(m, sgt) };
        let k = to_kaddr(m, sgt.cast());
        m.dma_free_noncontiguous(d, size as u64, k, table, dir)
    })
}

/// `dma_vmap_noncontiguous(dev, size, sgt)`: without an IOMMU the table's one block is already contiguous,
/// so this is `page_address()` of its page — a direct-map address, no vmap.
pub unsafe extern "C" fn dma_vmap_noncontiguous(dev: *mut device, size: usize, sgt: *mut sg_table) -> *mut c_void {
    let _ = (dev, size);
    with_machine(|m| {
        // SAFETY: the table dma_alloc_noncontiguous() returned, and its first entry.
        let first = unsafe { sg_value(&*(*sgt).sgl) };
        let pfn = m.pfn_of_page_struct(first.page()).unwrap_or_else(|| m.page_to_pfn_arith(first.page()));
        let addr = m.page_address(pfn);
        to_host(m, addr)
    })
}

/// `dma_vunmap_noncontiguous(dev, vaddr)`: nothing to undo without an IOMMU.
pub unsafe extern "C" fn dma_vunmap_noncontiguous(dev: *mut device, vaddr: *mut c_void) {
    let _ = (dev, vaddr);
}

/// `dma_map_resource(dev, phys_addr, size, dir, attrs)`: a device address for another device's MMIO.
pub unsafe extern "C" fn dma_map_resource(
    dev: *mut device,
    phys_addr: phys_addr_t,
    size: usize,
    dir: dma_data_direction,
    attrs: c_ulong,
) -> dma_addr_t {
    let d = device_id(dev);
    with_machine(|m| m.dma_map_resource(d, phys_addr, size as u64, dir, attrs as u64))
}

/// `dma_unmap_resource(dev, addr, size, dir, attrs)`.
pub unsafe extern "C" fn dma_unmap_resource(
    dev: *mut device,
    addr: dma_addr_t,
    size: usize,
    dir: dma_data_direction,
    attrs: c_ulong,
) {
    let d = device_id(dev);
    with_machine(|m| m.dma_unmap_resource(d, addr, size as u64, dir, attrs as u64))
}

/// `dma_get_sgtable_attrs(dev, sgt, cpu_addr, dma_addr, size, attrs)`: a one-entry table describing a
/// coherent buffer.
pub unsafe extern "C" fn dma_get_sgtable_attrs(
    dev: *mut device,
    sgt: *mut sg_table,
    cpu_addr: *mut c_void,
    dma_addr: dma_addr_t,
    size: usize,
    attrs: c_ulong,
) -> c_int {
    let _ = (cpu_addr, attrs);
    let d = device_id(dev);
    with_machine(|m| {
        let (ret, t) = m.dma_get_sgtable_attrs(d, dma_addr, size as u64);
        if ret == 0 {
            // SAFETY: the caller's table.
            unsafe { sg_table_store(m, sgt, &t) };
        }
        ret
    })
}

// ---- Page fragments (mm/page_alloc.c, include/linux/gfp.h) ---------------------------------------------------

pub type __u16 = u16;

/// `struct page_frag_cache` (x86_64: `PAGE_SIZE < PAGE_FRAG_CACHE_MAX_SIZE`).
#[repr(C)]
#[derive(Copy, Clone)]
pub struct page_frag_cache {
    pub va: *mut c_void,
    pub offset: __u16,
    pub size: __u16,
    pub pagecnt_bias: c_uint,
    pub pfmemalloc: bool_,
}

impl Default for page_frag_cache {
    fn default() -> Self {
        Self { va: core::ptr::null_mut(), offset: 0, size: 0, pagecnt_bias: 0, pfmemalloc: false }
    }
}

/// The module's cache as the simulator's (its `va` as the kernel address).
///
/// # Safety
/// `nc` points to a valid `struct page_frag_cache`.
unsafe fn frag_cache_value(m: &Machine, nc: *const page_frag_cache) -> kmem_sim::page_alloc::PageFragCache {
    // SAFETY: the caller's cache.
    let c = unsafe { &*nc };
    kmem_sim::page_alloc::PageFragCache {
        va: if c.va.is_null() { 0 } else { to_kaddr(m, c.va) },
        offset: c.offset,
        size: c.size,
        pagecnt_bias: c.pagecnt_bias,
        pfmemalloc: c.pfmemalloc,
    }
}

/// Stores the simulator's cache into the module's.
///
/// # Safety
/// `nc` points to a valid `struct page_frag_cache`.
unsafe fn frag_cache_store(m: &Machine, nc: *mut page_frag_cache, v: &kmem_sim::page_alloc::PageFragCache) {
    let va = if v.va == 0 { core::ptr::null_mut() } else { to_host(m, v.va) };
    // SAFETY: the caller's cache.
    unsafe {
        *nc = page_frag_cache {
            va,
            offset: v.offset,
            size: v.size,
            pagecnt_bias: v.pagecnt_bias,
            pfmemalloc: v.pfmemalloc,
        }
    };
}

/// `__page_frag_alloc_align(nc, fragsz, gfp, align_mask)`: what the inline `page_frag_alloc()` and
/// `page_frag_alloc_align()` call.
pub unsafe extern "C" fn __page_frag_alloc_align(
    nc: *mut page_frag_cache,
    fragsz: c_uint,
    gfp_mask: gfp_t,
    align_mask: c_uint,
) -> *mut c_void {
    with_machine(|m| {
        // SAFETY: the caller's cache.
        let mut c = unsafe { frag_cache_value(m, nc) };
        let a = m.__page_frag_alloc_align(&mut c, fragsz, gfp(gfp_mask), align_mask);
        // SAFETY: as above.
        unsafe { frag_cache_store(m, nc, &c) };
        if a == 0 {
            core::ptr::null_mut()
        } else {
            to_host(m, a)
        }
    })
}

/// `page_frag_free(addr)`.
pub unsafe extern "C" fn page_frag_free(addr: *mut c_void) {
    with_machine(|m| {
        let k = to_kaddr(m, addr);
        m.page_frag_free(k)
    })
}

/// `page_frag_cache_drain(nc)`.
pub unsafe extern "C" fn page_frag_cache_drain(nc: *mut page_frag_cache) {
    with_machine(|m| {
        // SAFETY: the caller's cache.
        let mut c = unsafe { frag_cache_value(m, nc) };
        m.page_frag_cache_drain(&mut c);
        // SAFETY: as above.
        unsafe { frag_cache_store(m, nc, &c) };
    })
}

/// `__page_frag_cache_drain(page, count)`.
pub unsafe extern "C" fn __page_frag_cache_drain(page: *mut page, count: c_uint) {
    with_machine(|m| match pfn_of(m, page) {
        Some(pfn) => m.__page_frag_cache_drain(pfn, count),
        None => m.bad_page_pointer(page as usize as u64, "__page_frag_cache_drain"),
    })
}

// ---- The GFP scope API (include/linux/sched/mm.h, the patch's helpers) ------------------------------------

/// `memalloc_noio_save()`: every allocation of the current task drops `__GFP_IO | __GFP_FS` until the
/// matching restore.
pub unsafe extern "C" fn memalloc_noio_save() -> c_uint {
    helper("rust_helper_memalloc_noio_save", |m| m.memalloc_noio_save())
}

pub unsafe extern "C" fn memalloc_noio_restore(flags: c_uint) {
    helper("rust_helper_memalloc_noio_restore", |m| m.memalloc_noio_restore(flags))
}

/// `memalloc_nofs_save()`: every allocation of the current task drops `__GFP_FS` until the matching restore.
pub unsafe extern "C" fn memalloc_nofs_save() -> c_uint {
    helper("rust_helper_memalloc_nofs_save", |m| m.memalloc_nofs_save())
}

pub unsafe extern "C" fn memalloc_nofs_restore(flags: c_uint) {
    helper("rust_helper_memalloc_nofs_restore", |m| m.memalloc_nofs_restore(flags))
}

// ---- More of the page allocator (mm/page_alloc.c, mm/swap.c): split pages, bulk allocation, folios -------

opaque!(
    /// `struct folio` (opaque here: a folio pointer is its head page's `struct page` pointer, the kernel's value).
    folio
);

pub unsafe extern "C" fn split_page(page: *mut page, order: c_uint) {
    with_machine(|m| match pfn_of(m, page) {
        Some(pfn) => m.split_page(pfn, order),
        None => m.bad_page_pointer(page as usize as u64, "split_page"),
    })
}

/// `__kernel_long_t` (include/uapi/asm-generic/posix_types.h).
pub type __kernel_long_t = crate::ffi::c_long;
/// `__kernel_ulong_t`.
pub type __kernel_ulong_t = c_ulong;

/// bindgen's flexible array member: a zero-length field at the end of a struct.
#[repr(C)]
#[derive(Default)]
pub struct __IncompleteArrayField<T>(::core::marker::PhantomData<T>, [T; 0]);
impl<T> __IncompleteArrayField<T> {
    /// The empty field.
    #[inline]
    pub const fn new() -> Self {
        __IncompleteArrayField(::core::marker::PhantomData, [])
    }
    /// Where the array starts.
    #[inline]
    pub fn as_ptr(&self) -> *const T {
        self as *const _ as *const T
    }
    /// Where the array starts.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self as *mut _ as *mut T
    }
    /// The first `len` elements.
    ///
    /// # Safety
    ///
    /// `len` elements must be there.
    #[inline]
    pub unsafe fn as_slice(&self, len: usize) -> &[T] {
        // SAFETY: the caller's.
        unsafe { ::core::slice::from_raw_parts(self.as_ptr(), len) }
    }
    /// The first `len` elements.
    ///
    /// # Safety
    ///
    /// `len` elements must be there.
    #[inline]
    pub unsafe fn as_mut_slice(&mut self, len: usize) -> &mut [T] {
        // SAFETY: the caller's.
        unsafe { ::core::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }
}
impl<T> ::core::fmt::Debug for __IncompleteArrayField<T> {
    fn fmt(&self, fmt: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
        fmt.write_str("__IncompleteArrayField")
    }
}

/// `struct sysinfo` (include/uapi/linux/sysinfo.h), as bindgen lays it out.
#[repr(C)]
#[derive(Default)]
pub struct sysinfo {
    pub uptime: __kernel_long_t,
    pub loads: [__kernel_ulong_t; 3usize],
    pub totalram: __kernel_ulong_t,
    pub freeram: __kernel_ulong_t,
    pub sharedram: __kernel_ulong_t,
    pub bufferram: __kernel_ulong_t,
    pub totalswap: __kernel_ulong_t,
    pub freeswap: __kernel_ulong_t,
    pub procs: __u16,
    pub pad: __u16,
    pub totalhigh: __kernel_ulong_t,
    pub freehigh: __kernel_ulong_t,
    pub mem_unit: u32,
    pub _f: __IncompleteArrayField<crate::ffi::c_char>,
}

/// `si_meminfo()` (mm/show_mem.c): the memory fields of `*val` — `totalram` (`totalram_pages()`), `freeram`
/// (`NR_FREE_PAGES`, without the per-CPU lists), `sharedram` and `bufferram` (0: no shmem, no block device),
/// `totalhigh`, `freehigh`, in pages, and `mem_unit` (`PAGE_SIZE`); the other fields are left as they were.
///
/// # Safety
///
/// `val` must point to a writable `struct sysinfo`. Context: any.
pub unsafe extern "C" fn si_meminfo(val: *mut sysinfo) {
    let i = with_machine(|m| m.si_meminfo());
    // SAFETY: the caller's: `val` is a writable sysinfo.
    unsafe {
        (*val).totalram = i.totalram as c_ulong;
        (*val).sharedram = i.sharedram as c_ulong;
        (*val).freeram = i.freeram as c_ulong;
        (*val).bufferram = i.bufferram as c_ulong;
        (*val).totalhigh = i.totalhigh as c_ulong;
        (*val).freehigh = i.freehigh as c_ulong;
        (*val).mem_unit = i.mem_unit;
    }
}

/// `free_contig_range()` (mm/page_alloc.c): gives back `nr_pages` pages from `pfn` allocated as one range — a
/// large folio whole (a WARN and nothing freed for another count), otherwise `__free_page()` of each page,
/// with a WARN counting those whose reference count was not 1.
///
/// # Safety
///
/// The pages must be the caller's. Context: process or atomic context.
pub unsafe extern "C" fn free_contig_range(pfn: c_ulong, nr_pages: c_ulong) {
    with_machine(|m| m.free_contig_range(pfn as u64, nr_pages as u64))
}

/// `alloc_pages_bulk_noprof()`: the array form (`page_list` NULL). A list (`page_list`) links the pages
/// through `page->lru`, memory the façade's `struct page` does not have: such a call gets no page.
pub unsafe extern "C" fn alloc_pages_bulk_noprof(
    gfp: gfp_t,
    preferred_nid: crate::ffi::c_int,
    nodemask: *mut nodemask_t,
    nr_pages: crate::ffi::c_int,
    page_list: *mut list_head,
    page_array: *mut *mut page,
) -> c_ulong {
    let _ = nodemask;
    if nr_pages <= 0 || page_array.is_null() || !page_list.is_null() {
        return 0;
    }
    // SAFETY: the caller passes an array of `nr_pages` page pointers.
    let slots = unsafe { core::slice::from_raw_parts_mut(page_array, nr_pages as usize) };
    with_machine(|m| {
        let mut array: std::vec::Vec<Option<Pfn>> = slots
            .iter()
            .map(|&p| if p.is_null() { None } else { Some(pfn_of(m, p).unwrap_or(Pfn(u64::MAX))) })
            .collect();
        let n = m.alloc_pages_bulk(Gfp(gfp), preferred_nid, &mut array);
        for (slot, pfn) in slots.iter_mut().zip(&array) {
            if slot.is_null() {
                *slot = page_ptr(m, *pfn);
            }
        }
        n as c_ulong
    })
}

pub unsafe extern "C" fn folio_alloc_noprof(gfp: gfp_t, order: c_uint) -> *mut folio {
    with_machine(|m| {
        let p = m.folio_alloc(Gfp(gfp), order, 0);
        page_ptr(m, p).cast()
    })
}

pub unsafe extern "C" fn __folio_alloc_noprof(
    gfp: gfp_t,
    order: c_uint,
    preferred_nid: crate::ffi::c_int,
    nodemask: *mut nodemask_t,
) -> *mut folio {
    let _ = nodemask;
    with_machine(|m| {
        let p = m.folio_alloc(Gfp(gfp), order, preferred_nid);
        page_ptr(m, p).cast()
    })
}

pub unsafe extern "C" fn __folio_put(folio: *mut folio) {
    with_machine(|m| match pfn_of(m, folio.cast()) {
        Some(pfn) => m.__folio_put(pfn),
        None => m.bad_page_pointer(folio as usize as u64, "__folio_put"),
    })
}

// ---- More managed allocations, kvmalloc pools, DMA queries ------------------------------------------------

/// The bytes of a C string (without its NUL), or None for NULL.
fn c_bytes<'a>(s: *const crate::ffi::c_char) -> Option<&'a [u8]> {
    if s.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated C string, as the C API requires.
    Some(unsafe { core::ffi::CStr::from_ptr(s.cast()) }.to_bytes())
}

pub unsafe extern "C" fn devm_kmemdup(dev: *mut device, src: *const c_void, len: usize, gfp: gfp_t) -> *mut c_void {
    let d = device_id(dev);
    // SAFETY: the caller passes `len` readable bytes at `src` (module or simulated memory).
    let bytes = if len == 0 { &[][..] } else { unsafe { core::slice::from_raw_parts(src.cast::<u8>(), len) } };
    let bytes = bytes.to_vec();
    with_machine(|m| {
        let p = m.devm_kmemdup(d, &bytes, Gfp(gfp));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn devm_kstrdup(
    dev: *mut device,
    s: *const crate::ffi::c_char,
    gfp: gfp_t,
) -> *mut crate::ffi::c_char {
    let d = device_id(dev);
    let bytes = c_bytes(s).map(<[u8]>::to_vec);
    with_machine(|m| {
        let p = m.devm_kstrdup(d, bytes.as_deref(), Gfp(gfp));
        to_host(m, p).cast()
    })
}

/// `devm_kstrdup_const()`: a string in the kernel's `.rodata` would be returned as it is; a module's string
/// never is one, so this is `devm_kstrdup()`.
pub unsafe extern "C" fn devm_kstrdup_const(
    dev: *mut device,
    s: *const crate::ffi::c_char,
    gfp: gfp_t,
) -> *const crate::ffi::c_char {
    // SAFETY: the same contract.
    unsafe { devm_kstrdup(dev, s, gfp) }
}

pub unsafe extern "C" fn devm_krealloc(dev: *mut device, ptr: *mut c_void, size: usize, gfp: gfp_t) -> *mut c_void {
    let d = device_id(dev);
    with_machine(|m| {
        let old = to_kaddr(m, ptr);
        let p = m.devm_krealloc(d, old, size as u64, Gfp(gfp));
        to_host(m, p)
    })
}

/// `mempool_kvmalloc(gfp, pool_data)`: the element allocator of `mempool_create_kvmalloc_pool()`:
/// `kvmalloc()` of `(size_t)pool_data` bytes.
pub unsafe extern "C" fn mempool_kvmalloc(gfp_mask: gfp_t, pool_data: *mut c_void) -> *mut c_void {
    with_machine(|m| {
        let p = m.kvmalloc(pool_data as usize as u64, gfp(gfp_mask));
        to_host(m, p)
    })
}

pub unsafe extern "C" fn mempool_kvfree(element: *mut c_void, pool_data: *mut c_void) {
    let _ = pool_data;
    with_machine(|m| {
        let a = to_kaddr(m, element);
        m.kvfree(a)
    })
}

pub unsafe extern "C" fn dma_get_required_mask(dev: *mut device) -> u64 {
    // dma_direct_get_required_mask() reads no field of the device on x86.
    let _ = dev;
    with_machine(|m| m.dma_direct_get_required_mask())
}

pub unsafe extern "C" fn dma_max_mapping_size(dev: *mut device) -> usize {
    let d = device_id(dev);
    with_machine(|m| m.dma_max_mapping_size(d) as usize)
}

pub unsafe extern "C" fn dma_opt_mapping_size(dev: *mut device) -> usize {
    let d = device_id(dev);
    with_machine(|m| m.dma_opt_mapping_size(d) as usize)
}

pub unsafe extern "C" fn dma_addressing_limited(dev: *mut device) -> bool_ {
    let d = device_id(dev);
    with_machine(|m| m.dma_addressing_limited(d))
}

pub unsafe extern "C" fn dma_can_mmap(dev: *mut device) -> bool_ {
    let d = device_id(dev);
    with_machine(|m| m.dma_can_mmap(d))
}

pub unsafe extern "C" fn __dma_need_sync(dev: *mut device, dma_addr: dma_addr_t) -> bool_ {
    let d = device_id(dev);
    with_machine(|m| m.__dma_need_sync(d, dma_addr))
}

pub unsafe extern "C" fn dma_get_merge_boundary(dev: *mut device) -> c_ulong {
    let d = device_id(dev);
    with_machine(|m| m.dma_get_merge_boundary(d) as c_ulong)
}

pub unsafe extern "C" fn dma_pci_p2pdma_supported(dev: *mut device) -> bool_ {
    let d = device_id(dev);
    with_machine(|m| m.dma_pci_p2pdma_supported(d))
}

// ---- The generic devres API (drivers/base/devres.c): a module's own release and match functions ----------

pub type dr_release_t = ::core::option::Option<unsafe extern "C" fn(dev: *mut device, res: *mut c_void)>;
pub type dr_match_t = ::core::option::Option<
    unsafe extern "C" fn(dev: *mut device, res: *mut c_void, match_data: *mut c_void) -> crate::ffi::c_int,
>;

type DrRelease = unsafe extern "C" fn(dev: *mut device, res: *mut c_void);

thread_local! {
    /// The module's `dr_release_t` functions, by the id the simulator keeps.
    static DEVRES_RELEASES: core::cell::RefCell<std::vec::Vec<DrRelease>> =
        const { core::cell::RefCell::new(std::vec::Vec::new()) };
}

fn devres_release_id(f: dr_release_t) -> u64 {
    let Some(f) = f else { return u64::MAX };
    DEVRES_RELEASES.with(|t| {
        let mut t = t.borrow_mut();
        let i = t.iter().position(|&g| core::ptr::fn_addr_eq(g, f)).unwrap_or_else(|| {
            t.push(f);
            t.len() - 1
        });
        i as u64
    })
}

/// `dr->node.release(dev, dr->data)` for a module's release function.
fn run_devres_release(dev: DeviceId, release: u64, res: u64) {
    let f = DEVRES_RELEASES.with(|t| t.borrow().get(release as usize).copied());
    let pdev = pdev_of(dev);
    let devp = if pdev.is_null() {
        core::ptr::null_mut()
    } else {
        // SAFETY: `pdev` is a live platform device of the façade.
        unsafe { core::ptr::addr_of_mut!((*pdev).dev) }
    };
    let resp = with_machine(|m| to_host(m, res));
    if let Some(f) = f {
        // SAFETY: the module's release function, called with its device and resource as release_nodes() does.
        unsafe { f(devp, resp) };
    }
}

/// `find_dr()`: the newest resource of `dev` released by `release` that `match_` accepts (all of them when it
/// is NULL), as a host pointer.
fn devres_find_host(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> *mut c_void {
    let Some(d) = device_id(dev) else { return core::ptr::null_mut() };
    let id = devres_release_id(release);
    let candidates =
        with_machine(|m| m.devres_candidates(d, id).into_iter().map(|r| to_host(m, r)).collect::<std::vec::Vec<_>>());
    for res in candidates {
        // SAFETY: the module's match function, called as find_dr() does.
        if match_.is_none_or(|f| unsafe { f(dev, res, match_data) } != 0) {
            return res;
        }
    }
    core::ptr::null_mut()
}

pub unsafe extern "C" fn __devres_alloc_node(
    release: dr_release_t,
    size: usize,
    gfp: gfp_t,
    nid: crate::ffi::c_int,
    name: *const crate::ffi::c_char,
) -> *mut c_void {
    let id = devres_release_id(release);
    let n = c_string(name);
    with_machine(|m| {
        let p = m.devres_alloc_node(id, size as u64, Gfp(gfp), nid, &n);
        to_host(m, p)
    })
}

pub unsafe extern "C" fn devres_add(dev: *mut device, res: *mut c_void) {
    let d = device_id(dev);
    with_machine(|m| {
        let r = to_kaddr(m, res);
        m.devres_add(d, r)
    })
}

pub unsafe extern "C" fn devres_free(res: *mut c_void) {
    with_machine(|m| {
        let r = to_kaddr(m, res);
        m.devres_free(r)
    })
}

pub unsafe extern "C" fn devres_find(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> *mut c_void {
    devres_find_host(dev, release, match_, match_data)
}

pub unsafe extern "C" fn devres_get(
    dev: *mut device,
    new_res: *mut c_void,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> *mut c_void {
    let d = device_id(dev);
    let new = with_machine(|m| to_kaddr(m, new_res));
    let release = with_machine(|m| m.devres_unlisted_release(new));
    let f = release.and_then(|id| DEVRES_RELEASES.with(|t| t.borrow().get(id as usize).copied()));
    let existing = devres_find_host(dev, f, match_, match_data);
    with_machine(|m| {
        let e = (!existing.is_null()).then(|| to_kaddr(m, existing));
        let r = m.devres_get(d, new, e);
        to_host(m, r)
    })
}

pub unsafe extern "C" fn devres_remove(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> *mut c_void {
    let d = device_id(dev);
    let res = devres_find_host(dev, release, match_, match_data);
    if res.is_null() {
        return res;
    }
    with_machine(|m| {
        let r = to_kaddr(m, res);
        let out = m.devres_remove(d, r);
        to_host(m, out)
    })
}

pub unsafe extern "C" fn devres_destroy(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> crate::ffi::c_int {
    // SAFETY: the same contract.
    let res = unsafe { devres_remove(dev, release, match_, match_data) };
    if res.is_null() {
        return -2;
    }
    // SAFETY: `res` came off the list just now.
    unsafe { devres_free(res) };
    0
}

pub unsafe extern "C" fn devres_release(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
) -> crate::ffi::c_int {
    // SAFETY: the same contract.
    let res = unsafe { devres_remove(dev, release, match_, match_data) };
    if res.is_null() {
        return -2;
    }
    if let Some(f) = release {
        // SAFETY: the module's release function, as devres_release() calls it.
        unsafe { f(dev, res) };
    }
    // SAFETY: `res` came off the list just now.
    unsafe { devres_free(res) };
    0
}

pub unsafe extern "C" fn devres_for_each_res(
    dev: *mut device,
    release: dr_release_t,
    match_: dr_match_t,
    match_data: *mut c_void,
    fn_: ::core::option::Option<unsafe extern "C" fn(arg1: *mut device, arg2: *mut c_void, arg3: *mut c_void)>,
    data: *mut c_void,
) {
    let Some(f) = fn_ else { return };
    let Some(d) = device_id(dev) else { return };
    let id = devres_release_id(release);
    let candidates =
        with_machine(|m| m.devres_candidates(d, id).into_iter().map(|r| to_host(m, r)).collect::<std::vec::Vec<_>>());
    for res in candidates {
        // SAFETY: the module's match and iteration functions, as devres_for_each_res() calls them.
        if match_.is_none_or(|g| unsafe { g(dev, res, match_data) } != 0) {
            unsafe { f(dev, res, data) };
        }
    }
}
