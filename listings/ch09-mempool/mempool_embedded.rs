// SPDX-License-Identifier: GPL-2.0

//! Pools inside the driver's own structure, the way `bioset_init()` (`block/bio.c`) sets up a `struct
//! bio_set`: two `mempool_t`s embedded in one zeroed allocation, one over a slab cache of the driver's
//! (`mempool_init_slab_pool()`), one over kmalloc (`mempool_init_kmalloc_pool()`). `mempool_exit()` is
//! safe on a zeroed pool, frees only the reserve and the `elements` array, and runs before the cache
//! the reserve came from is destroyed, as in `bioset_exit()`.

use core::ffi::c_void;
use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: MempoolEmbedded,
    name: "mempool_embedded",
    author: "kmem-book",
    description: "mempool_init()/mempool_exit() on pools embedded in a structure, as struct bio_set does",
    license: "GPL",
}

// ANCHOR: set
const POOL_SIZE: i32 = 2; // bioset_init()'s pool_size; the block layer's fs_bio_set uses BIO_POOL_SIZE, 2
const REQ_SIZE: u32 = 200;
const BUF_SIZE: usize = 256;

/// The driver's counterpart of `struct bio_set`: the pools live in it, not behind pointers.
struct ReqSet {
    req_slab: *mut bindings::kmem_cache,
    req_pool: bindings::mempool_t,
    buf_pool: bindings::mempool_t,
}
// ANCHOR_END: set

struct MempoolEmbedded {
    set: KBox<ReqSet>,
    req: *mut c_void,
    buf: *mut c_void,
}

// SAFETY: the set and its elements are only used by init and exit, which never run concurrently.
unsafe impl Send for MempoolEmbedded {}
// SAFETY: as above.
unsafe impl Sync for MempoolEmbedded {}

fn report(what: &str, pool: &bindings::mempool_t) {
    pr_info!(
        "{what}: min_nr {}, curr_nr {}, elements {}\n",
        pool.min_nr,
        pool.curr_nr,
        if pool.elements.is_null() { "NULL" } else { "allocated" }
    );
}

impl kernel::Module for MempoolEmbedded {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: init
        let empty = ReqSet {
            req_slab: core::ptr::null_mut(),
            req_pool: bindings::mempool_t::default(),
            buf_pool: bindings::mempool_t::default(),
        };
        let mut set = KBox::new(empty, GFP_KERNEL)?;
        // SAFETY: a live KBox allocation.
        let size = unsafe { bindings::ksize((&*set as *const ReqSet).cast()) };
        pr_info!("struct ReqSet: {} bytes, ksize {size}\n", core::mem::size_of::<ReqSet>());
        // SAFETY: a zeroed pool: curr_nr is 0 and kfree(NULL) does nothing (bioset_exit()'s error path).
        unsafe { bindings::mempool_exit(&mut set.req_pool) };
        report("mempool_exit() on the zeroed req_pool", &set.req_pool);

        // SAFETY: all-zero is a valid `struct kmem_cache_args` (no options); process context.
        set.req_slab = unsafe {
            let mut args: bindings::kmem_cache_args = core::mem::zeroed();
            bindings::__kmem_cache_create_args(c_str!("kmem_book_req").as_char_ptr(), REQ_SIZE, &mut args, 0)
        };
        if set.req_slab.is_null() {
            return Err(ENOMEM);
        }
        // mempool_init_slab_pool(&set.req_pool, POOL_SIZE, set.req_slab), as bioset_init() does:
        // SAFETY: the pool is in the box, which stays put until exit; the cache outlives the pool.
        let r = unsafe {
            bindings::mempool_init_noprof(
                &mut set.req_pool,
                POOL_SIZE,
                Some(bindings::mempool_alloc_slab),
                Some(bindings::mempool_free_slab),
                set.req_slab.cast(),
            )
        };
        // mempool_init_kmalloc_pool(&set.buf_pool, POOL_SIZE, BUF_SIZE): pool_data is the size.
        // SAFETY: as above; mempool_kmalloc() reads pool_data as a size, not as a pointer.
        let r = r | unsafe {
            bindings::mempool_init_noprof(
                &mut set.buf_pool,
                POOL_SIZE,
                Some(bindings::mempool_kmalloc),
                Some(bindings::mempool_kfree),
                BUF_SIZE as *mut c_void,
            )
        };
        if r != 0 {
            // SAFETY: both pools are initialised or zeroed; nothing else came from the cache.
            unsafe {
                bindings::mempool_exit(&mut set.buf_pool);
                bindings::mempool_exit(&mut set.req_pool);
                bindings::kmem_cache_destroy(set.req_slab);
            }
            return Err(ENOMEM);
        }
        report("req_pool", &set.req_pool);
        report("buf_pool", &set.buf_pool);
        // ANCHOR_END: init

        // ANCHOR: where
        // SAFETY: the elements arrays and their first entries are live slab objects.
        unsafe {
            pr_info!("req_pool.elements:");
            bindings::kmem_dump_obj(set.req_pool.elements.cast());
            pr_info!("req_pool.elements[0]:");
            bindings::kmem_dump_obj(*set.req_pool.elements);
            pr_info!("buf_pool.elements[0]:");
            bindings::kmem_dump_obj(*set.buf_pool.elements);
        }
        // SAFETY: live pools; GFP_NOIO may sleep, which module init allows.
        let (req, buf) = unsafe {
            (
                bindings::mempool_alloc_noprof(&mut set.req_pool, bindings::GFP_NOIO),
                bindings::mempool_alloc_noprof(&mut set.buf_pool, bindings::GFP_NOIO),
            )
        };
        pr_info!("mempool_alloc(GFP_NOIO): req {}, buf {}\n", !req.is_null(), !buf.is_null());
        report("req_pool", &set.req_pool);
        // ANCHOR_END: where
        Ok(MempoolEmbedded { set, req, buf })
    }
}

impl Drop for MempoolEmbedded {
    fn drop(&mut self) {
        // ANCHOR: exit
        let set = &mut *self.set;
        // SAFETY: the elements came from these pools; pools before the cache, as bioset_exit() does.
        unsafe {
            bindings::mempool_free(self.req, &mut set.req_pool);
            bindings::mempool_free(self.buf, &mut set.buf_pool);
            bindings::mempool_exit(&mut set.req_pool);
            bindings::mempool_exit(&mut set.buf_pool);
        }
        report("mempool_exit(req_pool)", &set.req_pool);
        report("mempool_exit(buf_pool)", &set.buf_pool);
        // SAFETY: mempool_exit() gave every element back to the cache.
        unsafe { bindings::kmem_cache_destroy(set.req_slab) };
        pr_info!("kmem_book_req destroyed; the KBox with the pools is freed next\n");
        // ANCHOR_END: exit
    }
}
