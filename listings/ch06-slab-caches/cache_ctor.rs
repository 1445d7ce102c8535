// SPDX-License-Identifier: GPL-2.0

//! A constructor runs once per object when SLUB sets up a new slab, not on every allocation: the
//! module counts the calls and shows that an object keeps its state across free and allocation.

use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: CacheCtor,
    name: "cache_ctor",
    author: "kmem-book",
    description: "A slab cache constructor and when it runs",
    license: "GPL",
}

// ANCHOR: ctor
/// The objects of the cache: the constructor sets `magic`; the module counts allocations in `uses`.
#[repr(C)]
struct Conn {
    magic: u32,
    uses: u32,
    data: [u8; 248],
}

const CONN_MAGIC: u32 = 0x6b6d656d;

/// How many times the constructor ran.
static CTOR_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn conn_ctor(obj: *mut c_void) {
    let conn = obj.cast::<Conn>();
    // SAFETY: SLUB passes a whole, unused object of this cache.
    unsafe {
        (*conn).magic = CONN_MAGIC;
        (*conn).uses = 0;
    }
    CTOR_CALLS.fetch_add(1, Ordering::Relaxed);
}
// ANCHOR_END: ctor

struct CacheCtor {
    cache: *mut bindings::kmem_cache,
    objs: KVec<*mut Conn>,
}

// SAFETY: the cache and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheCtor {}
// SAFETY: as above.
unsafe impl Sync for CacheCtor {}

impl CacheCtor {
    fn alloc(&mut self) -> Result<*mut Conn> {
        // SAFETY: the cache is valid; process context may sleep.
        let conn =
            unsafe { bindings::kmem_cache_alloc(self.cache, bindings::GFP_KERNEL) }.cast::<Conn>();
        if conn.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `conn` is a constructed object we now own.
        unsafe { (*conn).uses += 1 };
        Ok(conn)
    }
}

impl kernel::Module for CacheCtor {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let size = core::mem::size_of::<Conn>() as u32;
        // ANCHOR: create
        // SAFETY: process context; static name; `conn_ctor` initialises one object of `size` bytes.
        let cache = unsafe {
            bindings::kmem_cache_create(
                c_str!("kmem_book_conn").as_char_ptr(),
                size,
                0,
                0,
                Some(conn_ctor),
            )
        };
        // ANCHOR_END: create
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let mut this = CacheCtor {
            cache,
            objs: KVec::new(),
        };
        // ANCHOR: use
        let first = this.alloc()?;
        let per_slab = CTOR_CALLS.load(Ordering::Relaxed);
        // SAFETY: `first` is ours.
        let (magic, uses) = unsafe { ((*first).magic, (*first).uses) };
        pr_info!(
            "1st alloc {:p}: magic {:#x}, uses {}, ctor calls so far {}\n",
            first,
            magic,
            uses,
            per_slab
        );
        // SAFETY: `first` came from this cache; freed once.
        unsafe { bindings::kmem_cache_free(cache, first.cast()) };
        let again = this.alloc()?;
        // SAFETY: `again` is ours.
        let uses = unsafe { (*again).uses };
        let calls = CTOR_CALLS.load(Ordering::Relaxed);
        pr_info!(
            "free + alloc {:p}: uses {} (not re-constructed), ctor calls {}\n",
            again,
            uses,
            calls
        );
        this.objs.push(again, GFP_KERNEL)?;
        // Fill the first slab and take one object more: SLUB sets up a second slab.
        for _ in 0..per_slab {
            let conn = this.alloc()?;
            this.objs.push(conn, GFP_KERNEL)?;
        }
        let calls = CTOR_CALLS.load(Ordering::Relaxed);
        pr_info!(
            "{} objects allocated: ctor calls {}\n",
            this.objs.len(),
            calls
        );
        // ANCHOR_END: use
        Ok(this)
    }
}

impl Drop for CacheCtor {
    fn drop(&mut self) {
        for &conn in self.objs.iter() {
            // SAFETY: every object came from this cache and is freed once.
            unsafe { bindings::kmem_cache_free(self.cache, conn.cast()) };
        }
        // SAFETY: the cache is empty; destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
        pr_info!(
            "ctor calls in total: {}\n",
            CTOR_CALLS.load(Ordering::Relaxed)
        );
    }
}
