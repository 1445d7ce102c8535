// SPDX-License-Identifier: GPL-2.0

//! A lookup that found nothing returns NULL, and the caller reads a field of the structure anyway:
//! the read is at address 0x10, the field's offset, in the first page, which is never mapped. The
//! kernel calls it a NULL pointer dereference.

use kernel::prelude::*;

module! {
    type: FaultNullDeref,
    name: "fault_null_deref",
    author: "kmem-book",
    description: "A NULL pointer dereference",
    license: "GPL",
}

// ANCHOR: lookup
/// A C-layout record: `len` is at offset 0x10.
#[repr(C)]
struct Record {
    key: u64,
    next: u64,
    len: u64,
}

/// Finds the record for `key` in an empty table: NULL.
#[inline(never)]
fn lookup(key: u64) -> *const Record {
    core::hint::black_box(key);
    core::ptr::null()
}
// ANCHOR_END: lookup

struct FaultNullDeref;

impl kernel::Module for FaultNullDeref {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: deref
        let r = lookup(42);
        pr_info!("lookup(42) = {:p}; reading its len at offset {:#x}\n", r, core::mem::offset_of!(Record, len));
        // SAFETY: NOT SAFE -- `r` is NULL; the read is at 0x10.
        let len = unsafe { core::ptr::read_volatile(r.cast::<u8>().wrapping_add(16).cast::<u64>()) };
        // ANCHOR_END: deref
        pr_info!("len {}: not reached\n", len);
        Ok(FaultNullDeref)
    }
}
