// SPDX-License-Identifier: GPL-2.0

//! vmalloc() in atomic context: it may sleep (it allocates its descriptors and pages with
//! `GFP_KERNEL` and maps them with page-table allocations), so calling it with a spinlock held is a
//! bug, which `CONFIG_DEBUG_ATOMIC_SLEEP` reports as "sleeping function called from invalid context".

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;
use kernel::sync::SpinLock;

module! {
    type: VmallocAtomic,
    name: "vmalloc_atomic",
    author: "kmem-book",
    description: "vmalloc() with a spinlock held",
    license: "GPL",
}

struct VmallocAtomic {
    lock: Pin<KBox<SpinLock<*mut c_void>>>,
}

// SAFETY: the pointer in the lock is only used by init and exit, which never run concurrently.
unsafe impl Send for VmallocAtomic {}
// SAFETY: as above.
unsafe impl Sync for VmallocAtomic {}

impl kernel::Module for VmallocAtomic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let lock = KBox::pin_init(kernel::new_spinlock!(core::ptr::null_mut(), "vmalloc_atomic"), GFP_KERNEL)?;
        // ANCHOR: bug
        {
            // spin_lock(): preemption is disabled until the guard drops.
            let mut guard = lock.lock();
            // SAFETY: the result is checked and freed in exit; calling vmalloc() here is the bug this
            // listing shows: it may sleep, and a spinlock is held.
            *guard = unsafe { bindings::vmalloc(8192) };
            pr_info!("under the lock: vmalloc(8192) = {:p}\n", *guard);
            // spin_unlock() when the guard drops
        }
        // ANCHOR_END: bug
        Ok(VmallocAtomic { lock })
    }
}

impl Drop for VmallocAtomic {
    fn drop(&mut self) {
        let p = *self.lock.lock();
        // SAFETY: `p` came from vmalloc() (or is NULL); vfree() runs without the lock held.
        unsafe { bindings::vfree(p) };
    }
}
