// SPDX-License-Identifier: GPL-2.0

//! One byte past a one-page `VVec`: the write lands in the guard page that follows every vmalloc
//! area, which has no page-table entry, and the CPU raises a page fault the kernel cannot fix up.
//! The oops kills `insmod`; the module never finishes loading.

use kernel::prelude::*;

module! {
    type: FaultGuardPage,
    name: "fault_guard_page",
    author: "kmem-book",
    description: "A write into a vmalloc guard page",
    license: "GPL",
}

struct FaultGuardPage;

impl kernel::Module for FaultGuardPage {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: overflow
        let mut buf = VVec::<u8>::with_capacity(4096, GFP_KERNEL)?;
        let p = buf.as_mut_ptr();
        pr_info!("VVec of {} bytes at {:p}; writing byte {}\n", buf.capacity(), p, buf.capacity());
        // SAFETY: NOT SAFE -- one byte past the allocation: the first byte of the guard page.
        unsafe { core::ptr::write_volatile(p.add(buf.capacity()), 0x5a) };
        // ANCHOR_END: overflow
        pr_info!("not reached\n");
        Ok(FaultGuardPage)
    }
}
