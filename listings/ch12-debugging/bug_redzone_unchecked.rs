// SPDX-License-Identifier: GPL-2.0

//! The classic `SLAB_RED_ZONE | SLAB_POISON` recipe WITHOUT `SLAB_CONSISTENCY_CHECKS`: SLUB writes
//! the red zones and the poison, but nothing compares them with what they must hold. The one-byte
//! overflow and the write after free both pass without a report, and the next free and the next
//! allocation repaint the bytes, so the evidence is gone too.

use kernel::bindings;
use kernel::c_str;
use kernel::prelude::*;

module! {
    type: BugRedzoneUnchecked,
    name: "bug_redzone_unchecked",
    author: "kmem-book",
    description: "Red zones and poison without consistency checks detect nothing",
    license: "GPL",
}

// ANCHOR: flags
/// `slab_debug=ZP` for one cache: Z red zones, P poisoning -- and no F.
const ZP: bindings::slab_flags_t = bindings::SLAB_RED_ZONE | bindings::SLAB_POISON;
// ANCHOR_END: flags

struct BugRedzoneUnchecked {
    cache: *mut bindings::kmem_cache,
}

// SAFETY: the cache is only used by init and exit, which never run concurrently.
unsafe impl Send for BugRedzoneUnchecked {}
// SAFETY: as above.
unsafe impl Sync for BugRedzoneUnchecked {}

/// Byte `i` of the 40-byte object at `obj`, or of its slot just past it (the right red zone).
///
/// # Safety
///
/// `obj` is an object of the listing's cache; `i` lies within its slot.
unsafe fn byte(obj: *const u8, i: usize) -> u8 {
    // SAFETY: as the caller guarantees; the slot stays mapped while the slab exists.
    unsafe { obj.add(i).read_volatile() }
}

impl kernel::Module for BugRedzoneUnchecked {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: process context; static name; no constructor.
        let cache = unsafe { bindings::kmem_cache_create(c_str!("kmem_book_zp").as_char_ptr(), 40, 0, ZP, None) };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        let this = BugRedzoneUnchecked { cache };
        // SAFETY: a valid cache; process context may sleep.
        let a = unsafe { bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL) }.cast::<u8>();
        if a.is_null() {
            return Err(ENOMEM);
        }
        // ANCHOR: bugs
        // SAFETY: byte 40 is the first byte of the right red zone of `a`'s slot.
        pr_info!("allocated {:p}: byte 8 {:#04x}, red zone {:#04x}\n", a, unsafe { byte(a, 8) }, unsafe {
            byte(a, 40)
        });
        // SAFETY: NOT SAFE -- bug 1: bytes 0..=40 of a 40-byte object; the 41st lands in the red zone.
        unsafe { core::ptr::write_bytes(a, b'x', 41) };
        // SAFETY: as above.
        pr_info!("wrote 41 bytes: red zone {:#04x}\n", unsafe { byte(a, 40) });
        // SAFETY: `a` came from this cache; freed once.
        unsafe { bindings::kmem_cache_free(cache, a.cast()) };
        // SAFETY: NOT SAFE -- reads of the freed slot, to show what the free left there.
        pr_info!("freed it: byte 8 {:#04x}, red zone {:#04x}\n", unsafe { byte(a, 8) }, unsafe { byte(a, 40) });
        // SAFETY: NOT SAFE -- bug 2: a write into `a` after freeing it, 8 bytes in.
        unsafe { core::ptr::copy_nonoverlapping(b"UAF!".as_ptr(), a.add(8), 4) };
        // SAFETY: a valid cache; process context may sleep.
        let b = unsafe { bindings::kmem_cache_alloc(cache, bindings::GFP_KERNEL) }.cast::<u8>();
        if b.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `b` is an object of this cache.
        pr_info!(
            "allocated {:p} (same object: {}): byte 8 {:#04x}, red zone {:#04x}\n",
            b,
            a == b,
            unsafe { byte(b, 8) },
            unsafe { byte(b, 40) }
        );
        // ANCHOR_END: bugs
        // SAFETY: `b` came from this cache; freed once.
        unsafe { bindings::kmem_cache_free(cache, b.cast()) };
        pr_info!("no report\n");
        Ok(this)
    }
}

impl Drop for BugRedzoneUnchecked {
    fn drop(&mut self) {
        // SAFETY: a valid cache, destroyed once.
        unsafe { bindings::kmem_cache_destroy(self.cache) };
    }
}
