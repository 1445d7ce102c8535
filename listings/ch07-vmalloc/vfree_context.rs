// SPDX-License-Identifier: GPL-2.0

//! `vfree()` with a spinlock held. `vfree()` may sleep (it unmaps the area, may purge lazily freed
//! ranges and frees the pages), so under a spinlock it is a "sleeping function called from invalid
//! context" bug, reported by `might_sleep()` before the area is freed anyway. The fix a driver uses:
//! take the pointer out of the shared state under the lock, and `vfree()` it after the unlock.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: VfreeContext,
    name: "vfree_context",
    author: "kmem-book",
    description: "vfree() with a spinlock held, and after it",
    license: "GPL",
}

struct VfreeContext;

/// Whether `p` is still backed by a page in the kernel's page tables.
fn mapped(p: *mut c_void) -> bool {
    // SAFETY: vmalloc_to_page() only walks the page tables; any address may be asked about.
    !unsafe { bindings::vmalloc_to_page(p) }.is_null()
}

impl kernel::Module for VfreeContext {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // The driver's shared state: a buffer pointer that other paths reach under the lock.
        let state = KBox::pin_init(kernel::new_spinlock!(core::ptr::null_mut(), "vfree_context"), GFP_KERNEL)?;
        // SAFETY: process context; the results are checked.
        let (a, b) = unsafe { (bindings::vmalloc(8192), bindings::vmalloc(8192)) };
        if a.is_null() || b.is_null() {
            // SAFETY: vfree() ignores NULL; process context, no lock held.
            unsafe {
                bindings::vfree(a);
                bindings::vfree(b);
            }
            return Err(ENOMEM);
        }
        *state.lock() = a;
        pr_info!("a = {:p}, b = {:p}: mapped {}, {}\n", a, b, mapped(a), mapped(b));

        // ANCHOR: bug
        {
            // spin_lock(): preemption is off until the guard drops.
            let mut buf = state.lock();
            // SAFETY: `a` came from vmalloc() and is freed once; calling vfree() here is the bug this
            // listing shows: it may sleep, and a spinlock is held.
            unsafe { bindings::vfree(*buf) };
            *buf = b;
            pr_info!("vfree(a) under the lock: a mapped {}\n", mapped(a));
        }
        // ANCHOR_END: bug

        // ANCHOR: fix
        // Detach the buffer under the lock; free it once the lock is dropped.
        let old = core::mem::replace(&mut *state.lock(), core::ptr::null_mut());
        // SAFETY: `old` is `b`, from vmalloc(), no longer reachable through the state; no lock is held.
        unsafe { bindings::vfree(old) };
        pr_info!("vfree(b) after the unlock: b mapped {}\n", mapped(b));
        // ANCHOR_END: fix
        Ok(VfreeContext)
    }
}
