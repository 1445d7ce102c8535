// SPDX-License-Identifier: GPL-2.0

//! `KVBox`: `kvrealloc()` first tries `krealloc()` (for more than a page: without warnings and
//! without retrying hard), and falls back to vmalloc only when that fails. Above
//! `KMALLOC_MAX_SIZE` (4 MiB, an order-10 block) kmalloc always fails, so the size decides.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: KvboxChoice,
    name: "kvbox_choice",
    author: "kmem-book",
    description: "KVBox: kmalloc or vmalloc, by size",
    license: "GPL",
}

struct KvboxChoice {
    small: KVBox<[u8; 1024]>,
    medium: KVBox<[u8; 64 << 10]>,
    large: KVBox<[u8; 8 << 20]>,
}

// ANCHOR: report
fn report<T>(what: &str, p: *const T) {
    // SAFETY: `p` is a live kvmalloc'ed allocation; these only look at the address.
    let vm = unsafe { bindings::is_vmalloc_addr(p.cast()) };
    let from = if vm { "vmalloc" } else { "kmalloc" };
    pr_info!("{:>6}: {:8} bytes at {:p}, {}\n", what, core::mem::size_of::<T>(), p, from);
}
// ANCHOR_END: report

impl kernel::Module for KvboxChoice {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: alloc
        // SAFETY (all three): `__GFP_ZERO` zeroed the memory; all zeroes is a valid byte array.
        let small = unsafe { KVBox::<[u8; 1024]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        let medium = unsafe { KVBox::<[u8; 64 << 10]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        let large = unsafe { KVBox::<[u8; 8 << 20]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        report("small", &*small);
        report("medium", &*medium);
        report("large", &*large);
        // ANCHOR_END: alloc
        Ok(KvboxChoice { small, medium, large })
    }
}

impl Drop for KvboxChoice {
    fn drop(&mut self) {
        let total = self.small.len() + self.medium.len() + self.large.len();
        pr_info!("freeing {} bytes: kvrealloc(p, 0) for each box\n", total);
    }
}
