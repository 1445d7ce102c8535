// SPDX-License-Identifier: GPL-2.0

//! `kfree_rcu()`: an object handed to it stays allocated through a grace period and beyond — the kernel
//! frees such objects in per-CPU batches, up to five seconds later — until `kvfree_rcu_barrier()` waits
//! for them; `kmem_cache_destroy()` waits for them itself. The cache is a debug cache (`SLAB_POISON`), so
//! that SLUB hands out and takes back its objects through the slab's own free list on every CPU, and the
//! object an allocation gets says whether the one before it was freed.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: CacheKfreeRcu,
    name: "cache_kfree_rcu",
    author: "kmem-book",
    description: "kfree_rcu() of kmem_cache objects, kvfree_rcu_barrier(), kmem_cache_destroy()",
    license: "GPL",
}

/// An object that readers may still see for a grace period after it is unlinked: it embeds its
/// `rcu_head` (`struct callback_head` in the bindings).
#[repr(C)]
struct Conn {
    id: u64,
    rcu: bindings::callback_head,
}

/// `kfree_rcu(obj, rcu)`: the C macro passes the object and its `rcu_head`.
///
/// # Safety
///
/// `obj` is an allocated `Conn` that nothing uses after a grace period.
unsafe fn kfree_rcu(obj: *mut Conn) {
    // SAFETY: the caller's guarantee; the rcu_head lives inside the object.
    unsafe { bindings::kvfree_call_rcu(core::ptr::addr_of_mut!((*obj).rcu), obj.cast()) };
}

struct CacheKfreeRcu {
    cache: *mut bindings::kmem_cache,
    objs: [*mut Conn; 3],
}

// SAFETY: the cache and objects are only used by init and exit, which never run concurrently.
unsafe impl Send for CacheKfreeRcu {}
// SAFETY: as above.
unsafe impl Sync for CacheKfreeRcu {}

impl kernel::Module for CacheKfreeRcu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Whatever the boot queued is freed first: no batch of this CPU is then due while the module runs.
        // SAFETY: process context.
        unsafe { bindings::kvfree_rcu_barrier() };
        let size = core::mem::size_of::<Conn>() as u32;
        // SAFETY: process context; a static name; no constructor.
        let cache = unsafe {
            bindings::kmem_cache_create(c_str!("kfree_rcu_demo").as_char_ptr(), size, 0, bindings::SLAB_POISON, None)
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let mut this = CacheKfreeRcu { cache, objs: [core::ptr::null_mut(); 3] };
        let alloc = |c| -> Result<*mut Conn> {
            // SAFETY: `c` is this module's cache; process context.
            let p = unsafe { bindings::kmem_cache_alloc(c, bindings::GFP_KERNEL) }.cast::<Conn>();
            if p.is_null() {
                return Err(ENOMEM);
            }
            Ok(p)
        };
        // ANCHOR: rcu
        let a = alloc(cache)?;
        // SAFETY: `a` is a Conn of this module; nothing uses it afterwards.
        unsafe { kfree_rcu(a) };
        this.objs[0] = alloc(cache)?;
        pr_info!("after kfree_rcu(a): the next object is a + {:#x}\n", this.objs[0] as usize - a as usize);
        // SAFETY: process context.
        unsafe { bindings::synchronize_rcu() };
        this.objs[1] = alloc(cache)?;
        pr_info!("after synchronize_rcu(): the next object is a + {:#x}\n", this.objs[1] as usize - a as usize);
        // SAFETY: process context.
        unsafe { bindings::kvfree_rcu_barrier() };
        this.objs[2] = alloc(cache)?;
        pr_info!("after kvfree_rcu_barrier(): the next object is a + {:#x}\n", this.objs[2] as usize - a as usize);
        // ANCHOR_END: rcu
        Ok(this)
    }
}

impl Drop for CacheKfreeRcu {
    fn drop(&mut self) {
        // ANCHOR: destroy
        for &o in &self.objs {
            if !o.is_null() {
                // SAFETY: each object is this module's, handed over once.
                unsafe { kfree_rcu(o) };
            }
        }
        // kmem_cache_destroy() calls kvfree_rcu_barrier() before it looks for objects left in the cache.
        // SAFETY: the cache is this module's; its objects are all handed to kfree_rcu().
        unsafe { bindings::kmem_cache_destroy(self.cache) };
        // ANCHOR_END: destroy
        pr_info!("kmem_cache_destroy() with three objects in kfree_rcu()'s batches\n");
    }
}
