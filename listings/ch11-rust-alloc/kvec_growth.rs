// SPDX-License-Identifier: GPL-2.0

//! `KVec` growth: every time `push()` finds the buffer full, the capacity doubles and the buffer is
//! `krealloc()`ed. `krealloc()` keeps the object when its kmalloc cache's object size (`ksize()`) is
//! already big enough, and otherwise moves the contents to a bigger kmalloc object.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: KvecGrowth,
    name: "kvec_growth",
    author: "kmem-book",
    description: "KVec::push(): capacity doubling through krealloc()",
    license: "GPL",
}

struct KvecGrowth {
    v: KVec<u32>,
}

impl kernel::Module for KvecGrowth {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: grow
        let mut v = KVec::<u32>::new(); // no allocation yet: capacity 0
        pr_info!("new: len {}, capacity {}\n", v.len(), v.capacity());
        let mut cap = v.capacity();
        for i in 0..200u32 {
            v.push(i, GFP_KERNEL)?;
            if v.capacity() != cap {
                cap = v.capacity();
                let buf = v.as_ptr();
                // SAFETY: `buf` is the vector's live kmalloc buffer.
                let ks = unsafe { bindings::ksize(buf.cast()) };
                pr_info!(
                    "len {:3}: capacity {:3} ({:4} bytes) at {:p}, ksize {:4}\n",
                    v.len(),
                    cap,
                    cap * core::mem::size_of::<u32>(),
                    buf,
                    ks
                );
            }
        }
        // ANCHOR_END: grow
        // ANCHOR: reserve
        // Knowing the size up front: one allocation instead of nine.
        let w = KVec::<u32>::with_capacity(200, GFP_KERNEL)?;
        // SAFETY: `w`'s buffer is a live kmalloc object.
        let ks = unsafe { bindings::ksize(w.as_ptr().cast()) };
        pr_info!("with_capacity(200): capacity {} at {:p}, ksize {}\n", w.capacity(), w.as_ptr(), ks);
        // ANCHOR_END: reserve
        let sum: u32 = v.iter().sum();
        pr_info!("sum of {} elements: {}\n", v.len(), sum);
        Ok(KvecGrowth { v })
    }
}

impl Drop for KvecGrowth {
    fn drop(&mut self) {
        pr_info!("freeing {} elements (capacity {})\n", self.v.len(), self.v.capacity());
    }
}
