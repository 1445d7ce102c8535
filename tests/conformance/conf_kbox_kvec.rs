// SPDX-License-Identifier: GPL-2.0

//! Conformance: the Rust allocation types over kmalloc: `KBox` of small and page-sized values, and a
//! `KVec` growing by push (`krealloc()` behind it), its capacity at each step, its contents summed.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfKboxKvec,
    name: "conf_kbox_kvec",
    author: "kmem-book",
    description: "conformance: KBox and KVec growth",
    license: "GPL",
}

struct ConfKboxKvec {
    small: KBox<u64>,
    page: KBox<[u8; 4096]>,
    v: KVec<u32>,
}

impl kernel::Module for ConfKboxKvec {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let small = KBox::new(0x1234_5678_9abc_def0u64, GFP_KERNEL)?;
        // SAFETY: a live KBox allocation.
        let ks = unsafe { bindings::ksize((&*small as *const u64).cast()) };
        pr_info!("KBox<u64> = {:#x}: ksize {ks}, at {:p}\n", *small, &*small);
        // SAFETY: __GFP_ZERO makes every byte 0, a valid [u8; 4096].
        let page = unsafe { KBox::<[u8; 4096]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        // SAFETY: as above.
        let kp = unsafe { bindings::ksize(page.as_ptr().cast()) };
        pr_info!("KBox<[u8; 4096]>: ksize {kp}, zero: {}\n", page.iter().all(|&b| b == 0));

        let mut v = KVec::new();
        let mut cap = v.capacity();
        pr_info!("KVec::new(): len {}, capacity {cap}\n", v.len());
        for i in 0..1000u32 {
            v.push(i, GFP_KERNEL)?;
            if v.capacity() != cap {
                cap = v.capacity();
                // SAFETY: the vector's buffer is a live kmalloc object.
                let k = unsafe { bindings::ksize(v.as_ptr().cast()) };
                pr_info!("push #{}: capacity {cap}, ksize {k}\n", v.len());
            }
        }
        let sum: u64 = v.iter().map(|&x| u64::from(x)).sum();
        pr_info!("KVec: len {}, sum {sum}\n", v.len());
        Ok(ConfKboxKvec { small, page, v })
    }
}

impl Drop for ConfKboxKvec {
    fn drop(&mut self) {
        pr_info!("dropping KBox {:#x}, KBox of {} bytes, KVec of {}\n", *self.small, self.page.len(), self.v.len());
    }
}
