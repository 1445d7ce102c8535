// SPDX-License-Identifier: GPL-2.0

//! A read from a vmalloc area after `vfree()`. `vfree()` clears the area's page-table entries at
//! once (`free_unmap_vmap_area()`); only the TLB flush and the reuse of the address range wait for
//! the lazy purge. The listing reads the second page, which nothing touched before, so no stale TLB
//! entry can hide the bug: the page walk finds no PTE and the read faults.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: FaultUseAfterVfree,
    name: "fault_use_after_vfree",
    author: "kmem-book",
    description: "A read from a vmalloc area after vfree()",
    license: "GPL",
}

struct FaultUseAfterVfree;

impl kernel::Module for FaultUseAfterVfree {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: uaf
        // SAFETY: process context; two pages.
        let p = unsafe { bindings::vmalloc(2 * 4096) }.cast::<u8>();
        if p.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the first byte of the live area.
        unsafe { core::ptr::write_volatile(p, 1) };
        // SAFETY: `p` came from vmalloc() and is freed once.
        unsafe { bindings::vfree(p.cast()) };
        pr_info!("vfree({:p}) returned; reading {:p}\n", p, p.wrapping_add(4096));
        // SAFETY: NOT SAFE -- the area was freed: its PTEs are gone.
        let byte = unsafe { core::ptr::read_volatile(p.wrapping_add(4096)) };
        // ANCHOR_END: uaf
        pr_info!("read {:#x}: not reached\n", byte);
        Ok(FaultUseAfterVfree)
    }
}
