// SPDX-License-Identifier: GPL-2.0

//! Allocating from Rust under a spinlock: a `KVec` inside a `SpinLock` grows with `GFP_ATOMIC`,
//! which never sleeps. (`GFP_KERNEL` there is the "sleeping function called from invalid context"
//! bug of chapter 4.)

use kernel::prelude::*;
use kernel::sync::SpinLock;

module! {
    type: KvecAtomic,
    name: "kvec_atomic",
    author: "kmem-book",
    description: "KVec::push(GFP_ATOMIC) with a spinlock held",
    license: "GPL",
}

struct KvecAtomic {
    log: Pin<KBox<SpinLock<KVec<u64>>>>,
}

impl kernel::Module for KvecAtomic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: atomic
        // The lock and the (still empty) vector: allocated with GFP_KERNEL, no lock held yet.
        let log = KBox::pin_init(kernel::new_spinlock!(KVec::new(), "kvec_atomic"), GFP_KERNEL)?;
        for i in 0..5u64 {
            let mut v = log.lock(); // spin_lock(): preemption disabled, sleeping forbidden
            v.push(i * i, GFP_ATOMIC)?; // krealloc(..., GFP_ATOMIC) never sleeps
        } // spin_unlock()
        let v = log.lock();
        pr_info!("{} entries under the lock, capacity {}: {:?}\n", v.len(), v.capacity(), &v[..]);
        drop(v);
        // ANCHOR_END: atomic
        Ok(KvecAtomic { log })
    }
}

impl Drop for KvecAtomic {
    fn drop(&mut self) {
        pr_info!("{} entries freed\n", self.log.lock().len());
    }
}
