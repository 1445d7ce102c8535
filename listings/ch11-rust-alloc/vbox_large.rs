// SPDX-License-Identifier: GPL-2.0

//! `VBox`: a value on the vmalloc heap, here a 1 MiB array. The allocation goes through
//! `vrealloc()`, which `/proc/vmallocinfo` names as the caller. `Vmalloc` refuses alignments above
//! `PAGE_SIZE`; `Kmalloc` (`KBox`) honours them.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: VboxLarge,
    name: "vbox_large",
    author: "kmem-book",
    description: "VBox of a 1 MiB array; Vmalloc's alignment limit",
    license: "GPL",
}

const LEN: usize = 1 << 20;

// ANCHOR: aligned
/// A type that must start on an 8 KiB boundary.
#[repr(C, align(8192))]
struct Aligned([u8; 8192]);
// ANCHOR_END: aligned

struct VboxLarge {
    table: VBox<[u8; LEN]>,
}

impl kernel::Module for VboxLarge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: vbox
        // Never build a 1 MiB value on the (16 KiB) kernel stack: allocate it uninitialised and
        // let the allocator zero it.
        let table = VBox::<[u8; LEN]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?;
        // SAFETY: `__GFP_ZERO` zeroed the memory, and all zeroes is a valid `[u8; LEN]`.
        let mut table = unsafe { table.assume_init() };
        table[LEN - 1] = 0xaa;
        let p: *const [u8; LEN] = &*table;
        // SAFETY: `p` is the box's live allocation.
        let vm = unsafe { bindings::is_vmalloc_addr(p.cast()) };
        pr_info!("VBox<[u8; {}]> at {:p}, is_vmalloc_addr {}, last byte {:#x}\n", LEN, p, vm, table[LEN - 1]);
        // ANCHOR_END: vbox

        // ANCHOR: align
        match VBox::<Aligned>::new_uninit(GFP_KERNEL) {
            Ok(_) => pr_info!("VBox<Aligned>: allocated\n"),
            Err(_) => pr_info!("VBox<Aligned>: AllocError\n"),
        }
        let k = KBox::<Aligned>::new_uninit(GFP_KERNEL)?;
        let kp: *const _ = &*k;
        pr_info!("KBox<Aligned> at {:p}, {} bytes past an 8 KiB boundary\n", kp, kp as usize % 8192);
        // ANCHOR_END: align
        Ok(VboxLarge { table })
    }
}

impl Drop for VboxLarge {
    fn drop(&mut self) {
        let p: *const [u8; LEN] = &*self.table;
        pr_info!("freeing the VBox at {:p}\n", p);
    }
}
