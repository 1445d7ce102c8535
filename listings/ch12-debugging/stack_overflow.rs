// SPDX-License-Identifier: GPL-2.0

//! A 24 KiB array on a 16 KiB kernel stack. With `CONFIG_VMAP_STACK` the task's stack is a vmalloc
//! area with an unmapped page below it: the function moves its stack pointer below the stack, its
//! first push there faults, the page fault cannot even be delivered on that stack, and the CPU raises
//! a double fault, which the kernel cannot survive.

use kernel::prelude::*;

module! {
    type: StackOverflow,
    name: "stack_overflow",
    author: "kmem-book",
    description: "A 24 KiB local variable on the 16 KiB kernel stack",
    license: "GPL",
}

// ANCHOR: big
/// Sums a 24 KiB scratch table built on the stack.
#[inline(never)]
fn checksum(seed: u8) -> u32 {
    let mut table = [0u8; 24 * 1024];
    for (i, b) in table.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    core::hint::black_box(&mut table);
    table.iter().map(|&b| u32::from(b)).sum()
}
// ANCHOR_END: big

struct StackOverflow;

impl kernel::Module for StackOverflow {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("calling checksum() with a 24 KiB table on the stack\n");
        let sum = checksum(7);
        pr_info!("checksum {}: not reached\n", sum);
        Ok(StackOverflow)
    }
}
