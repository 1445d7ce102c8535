// SPDX-License-Identifier: GPL-2.0

//! A failed allocation in Rust: `KVec::with_capacity()` of 8 MiB asks `krealloc()` for an order-11
//! block, more than the page allocator's largest (order 10). `krealloc()` returns NULL (quietly,
//! because of `__GFP_NOWARN`), the allocator returns `AllocError`, and `?` makes `init` return
//! `ENOMEM`: insmod fails with "Cannot allocate memory".

use kernel::prelude::*;

module! {
    type: AllocEnomem,
    name: "alloc_enomem",
    author: "kmem-book",
    description: "AllocError becomes ENOMEM through ?",
    license: "GPL",
}

struct AllocEnomem {
    _buf: KVec<u8>,
}

impl kernel::Module for AllocEnomem {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: enomem
        pr_info!("asking kmalloc for 8 MiB\n");
        let buf = KVec::<u8>::with_capacity(8 << 20, GFP_KERNEL | __GFP_NOWARN)?;
        pr_info!("not reached: capacity {}\n", buf.capacity());
        // ANCHOR_END: enomem
        Ok(AllocEnomem { _buf: buf })
    }
}
