// SPDX-License-Identifier: GPL-2.0

//! `KBox`: one value on the kmalloc heap. `KBox::new()` goes through `krealloc()`, so the box is a
//! kmalloc object whose `ksize()` is its kmalloc cache's object size; a zero-sized value allocates
//! nothing; a failed allocation is an `AllocError`, which `?` turns into `ENOMEM`.

use kernel::bindings;
use kernel::prelude::*;

module! {
    type: KboxBasic,
    name: "kbox_basic",
    author: "kmem-book",
    description: "KBox::new(), ksize() of the box, zero-sized boxes",
    license: "GPL",
}

// ANCHOR: types
/// 24 bytes: a `KBox<Record>` is a kmalloc(24) object.
struct Record {
    id: u64,
    sum: u64,
    flags: u32,
}

/// No bytes at all.
struct Marker;
// ANCHOR_END: types

struct KboxBasic {
    record: KBox<Record>,
    _marker: KBox<Marker>,
}

impl kernel::Module for KboxBasic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: new
        // `?` converts an `AllocError` into `ENOMEM`, the error `init` (and insmod) returns.
        let record = KBox::new(Record { id: 1, sum: 0, flags: 0x5 }, GFP_KERNEL)?;
        let ptr: *const Record = &*record;
        // SAFETY: `ptr` is the start of a live kmalloc object (the box's allocation).
        let ks = unsafe { bindings::ksize(ptr.cast()) };
        pr_info!("KBox<Record>: {} bytes at {:p}, ksize {}\n", core::mem::size_of::<Record>(), ptr, ks);
        pr_info!("record {}: sum {}, flags {:#x}\n", record.id, record.sum, record.flags);
        // ANCHOR_END: new

        // ANCHOR: zst
        let marker = KBox::new(Marker, GFP_KERNEL)?;
        let mptr: *const Marker = &*marker;
        pr_info!("KBox<Marker>: {} bytes at {:p}\n", core::mem::size_of::<Marker>(), mptr);
        // ANCHOR_END: zst
        Ok(KboxBasic { record, _marker: marker })
    }
}

impl Drop for KboxBasic {
    fn drop(&mut self) {
        // The boxes are freed after this, when the fields are dropped: kfree() through krealloc(p, 0).
        pr_info!("dropping record {}\n", self.record.id);
    }
}
