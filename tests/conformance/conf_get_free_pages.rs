// SPDX-License-Identifier: GPL-2.0

//! Conformance: `get_free_pages_noprof()`: page blocks by their direct-map address, zeroed with `__GFP_ZERO`,
//! a pattern in the last byte of the block, given back with `free_pages()`; an order above `MAX_PAGE_ORDER`
//! fails.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: ConfGetFreePages,
    name: "conf_get_free_pages",
    author: "kmem-book",
    description: "conformance: get_free_pages(), free_pages()",
    license: "GPL",
}

const ORDERS: [u32; 3] = [0, 1, 4];

struct ConfGetFreePages {
    addrs: [usize; ORDERS.len()],
}

impl kernel::Module for ConfGetFreePages {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut this = ConfGetFreePages { addrs: [0; ORDERS.len()] };
        for (i, &order) in ORDERS.iter().enumerate() {
            // SAFETY: GFP_KERNEL may sleep, which module init allows.
            let addr = unsafe { bindings::get_free_pages_noprof(bindings::GFP_KERNEL | bindings::__GFP_ZERO, order) };
            if addr == 0 {
                return Err(ENOMEM);
            }
            this.addrs[i] = addr;
            let len = bindings::PAGE_SIZE << order;
            // SAFETY: `addr` maps `len` bytes of a live block.
            let (zero, last) = unsafe {
                let p = addr as *mut u8;
                let zero = core::slice::from_raw_parts(p, len).iter().all(|&b| b == 0);
                *p.add(len - 1) = 0x77;
                (zero, *p.add(len - 1))
            };
            pr_info!(
                "get_free_pages(order {order}): {len} bytes at {:p}, zero: {zero}, last byte {last:#x}\n",
                addr as *const u8
            );
        }
        let order = bindings::MAX_PAGE_ORDER + 1;
        // SAFETY: as above; __GFP_NOWARN: the failure is expected.
        let addr = unsafe { bindings::get_free_pages_noprof(bindings::GFP_KERNEL | bindings::__GFP_NOWARN, order) };
        pr_info!("get_free_pages(order {order}): {}\n", if addr == 0 { "0" } else { "a block" });
        if addr != 0 {
            // SAFETY: a live block of this order.
            unsafe { bindings::free_pages(addr, order) };
        }
        Ok(this)
    }
}

impl Drop for ConfGetFreePages {
    fn drop(&mut self) {
        for (&addr, &order) in self.addrs.iter().zip(ORDERS.iter()) {
            if addr != 0 {
                // SAFETY: each block came from get_free_pages with this order and is freed once.
                unsafe { bindings::free_pages(addr, order) };
            }
        }
        pr_info!("freed\n");
    }
}
