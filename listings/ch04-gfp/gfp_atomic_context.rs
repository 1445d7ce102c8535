// SPDX-License-Identifier: GPL-2.0

//! Allocating while a spinlock is held: `GFP_ATOMIC` never sleeps and is fine; `GFP_KERNEL` may sleep,
//! and with `CONFIG_DEBUG_ATOMIC_SLEEP` the kernel reports "sleeping function called from invalid
//! context" the moment it is asked (whether or not the allocation would actually have slept).

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::SpinLock;

module! {
    type: GfpAtomicContext,
    name: "gfp_atomic_context",
    author: "kmem-book",
    description: "GFP_ATOMIC and GFP_KERNEL under a spinlock",
    license: "GPL",
}

struct GfpAtomicContext {
    lock: Pin<KBox<SpinLock<u32>>>,
}

impl kernel::Module for GfpAtomicContext {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: lock
        // The lock itself lives in a kmalloc'ed box: allocated with GFP_KERNEL, before any lock is held.
        let lock = KBox::pin_init(kernel::new_spinlock!(0u32, "gfp_atomic_context"), GFP_KERNEL)?;
        // ANCHOR_END: lock

        // ANCHOR: atomic
        {
            let mut guard = lock.lock(); // spin_lock(): preemption is now disabled
            *guard += 1;
            // SAFETY: GFP_ATOMIC never sleeps, so it may be used with a spinlock held.
            let p: *mut c_void = unsafe { bindings::kmalloc(64, bindings::GFP_ATOMIC) };
            pr_info!("under the lock: kmalloc(64, GFP_ATOMIC) = {:p}\n", p);
            // SAFETY: `p` came from kmalloc() (or is NULL, which kfree() ignores).
            unsafe { bindings::kfree(p) };
            // The guard is dropped at the end of the block: spin_unlock(), preemption enabled again.
        }
        // ANCHOR_END: atomic

        // ANCHOR: kernel
        {
            let mut guard = lock.lock();
            *guard += 1;
            // SAFETY: the pointer is checked and freed; the bug shown here is sleeping in atomic
            // context, which the kernel reports (and which could deadlock if reclaim really slept).
            let p: *mut c_void = unsafe { bindings::kmalloc(64, bindings::GFP_KERNEL) };
            pr_info!("under the lock: kmalloc(64, GFP_KERNEL) = {:p}\n", p);
            // SAFETY: as above.
            unsafe { bindings::kfree(p) };
        }
        // ANCHOR_END: kernel
        Ok(GfpAtomicContext { lock })
    }
}

impl Drop for GfpAtomicContext {
    fn drop(&mut self) {
        pr_info!("the lock was taken {} times\n", *self.lock.lock());
    }
}
