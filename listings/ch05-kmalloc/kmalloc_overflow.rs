// SPDX-License-Identifier: GPL-2.0

//! Array sizes that overflow. `kmalloc_array()` and `kcalloc()` check the product (`check_mul_overflow()`)
//! and return NULL without a word; the saturating helpers of `include/linux/overflow.h` (`size_mul()`,
//! `struct_size()`) turn an overflow into `SIZE_MAX`, which kmalloc cannot serve: the page allocator warns
//! once about the order and returns NULL. A plain multiplication wraps around and allocates a buffer far
//! too small for the array — the bug the checked forms exist to prevent.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: KmallocOverflow,
    name: "kmalloc_overflow",
    author: "kmem-book",
    description: "kmalloc_array(), size_mul() and struct_size() on an overflowing array size",
    license: "GPL",
}

struct KmallocOverflow;

// ANCHOR: helpers
/// `size_mul()` (include/linux/overflow.h): the product, or SIZE_MAX on overflow.
fn size_mul(a: usize, b: usize) -> usize {
    a.saturating_mul(b)
}

/// `size_add()`: the sum, or SIZE_MAX on overflow (SIZE_MAX stays SIZE_MAX).
fn size_add(a: usize, b: usize) -> usize {
    a.saturating_add(b)
}
// ANCHOR_END: helpers

const N: usize = (1 << 60) + 1; // elements: N * 16 is 2^64 + 16
const ELEM: usize = 16;
const HEADER: usize = 8; // struct { u64 count; u8 items[][16]; }

impl kernel::Module for KmallocOverflow {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: overflow
        // SAFETY (the calls below): process context; every result is checked and freed.
        unsafe {
            let p = bindings::kmalloc_array(N, ELEM, bindings::GFP_KERNEL);
            pr_info!("kmalloc_array(2^60 + 1, 16) = {:p}\n", p);
            let p = bindings::kcalloc(N, ELEM, bindings::GFP_KERNEL);
            pr_info!("kcalloc(2^60 + 1, 16) = {:p}\n", p);

            let bytes = size_mul(N, ELEM);
            pr_info!("size_mul(2^60 + 1, 16) = {:#x}\n", bytes);
            let p = bindings::kmalloc(bytes, bindings::GFP_KERNEL);
            pr_info!("kmalloc(size_mul(...)) = {:p}\n", p);

            let bytes = size_add(HEADER, size_mul(N, ELEM)); // struct_size(s, items, N)
            let p = bindings::kmalloc(bytes, bindings::GFP_KERNEL);
            pr_info!("kmalloc(struct_size(...)) = {:p}\n", p);

            let bytes = N.wrapping_mul(ELEM); // what `n * size` computes in C
            let p = bindings::kmalloc(bytes, bindings::GFP_KERNEL);
            pr_info!("kmalloc(n * size) = kmalloc({}): {}, ksize {}\n", bytes, !p.is_null(), bindings::ksize(p));
            bindings::kfree(p);
        }
        // ANCHOR_END: overflow
        Ok(KmallocOverflow)
    }
}
