// SPDX-License-Identifier: GPL-2.0

//! Conformance: `mempool_alloc_noprof(NULL, GFP_KERNEL)`: the first field read,
//! `pool->pool_data`, faults at 0x18.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfNullMempool,
    name: "conf_null_mempool",
    author: "kmem-book",
    description: "conformance: mempool_alloc(NULL)",
    license: "GPL",
}

struct ConfNullMempool;

impl kernel::Module for ConfNullMempool {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a deliberate misuse, to show what the kernel does with it; process context.
        unsafe {
            pr_info!("mempool_alloc(NULL, GFP_KERNEL)\n");
            let _ = bindings::mempool_alloc_noprof(core::ptr::null_mut(), bindings::GFP_KERNEL);
            pr_info!("not reached\n");
        }
        Ok(ConfNullMempool)
    }
}
