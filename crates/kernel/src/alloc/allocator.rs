//! Allocator support (rust/kernel/alloc/allocator.rs).
//!
//! Documentation for the kernel's memory allocators can be found in the "Memory Allocation Guide"
//! linked below. For more information see the kernel's `Documentation/core-api/memory-allocation.rst`.
//!
//! As in 6.12, every allocator goes through one C "realloc" function: `krealloc`, `vrealloc` or
//! `kvrealloc` — which is why `/proc/vmallocinfo` names `vrealloc_noprof` as the caller of a `VBox`.

use super::Flags;
use core::alloc::Layout;
use core::ptr;
use core::ptr::NonNull;

use crate::alloc::{AllocError, Allocator};
use crate::bindings;
use crate::pr_warn;
use crate::__LOG_PREFIX;

/// Physically contiguous memory from `kmalloc` (through `krealloc`).
pub struct Kmalloc;

/// Virtually contiguous memory from `vmalloc` (through `vrealloc`): single pages mapped one after
/// the other in the vmalloc area, for large buffers that need not be physically contiguous.
pub struct Vmalloc;

/// `kvmalloc` (through `kvrealloc`): kmalloc when that succeeds cheaply, vmalloc otherwise — for sizes
/// only known at run time.
pub struct KVmalloc;

// ANCHOR: realloc_func
/// A wrapper around the C realloc functions: `krealloc`, `vrealloc`, `kvrealloc`.
struct ReallocFunc(unsafe extern "C" fn(*const crate::ffi::c_void, usize, u32) -> *mut crate::ffi::c_void);

impl ReallocFunc {
    const KREALLOC: Self = Self(bindings::krealloc);
    const VREALLOC: Self = Self(bindings::vrealloc);
    const KVREALLOC: Self = Self(bindings::kvrealloc);
    // ANCHOR_END: realloc_func

    /// # Safety
    ///
    /// As for [`Allocator::realloc`].
    unsafe fn call(
        &self,
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // Simulator: this is a real (kernel-crate) function in the kernel, which the allocators record
        // as their caller (the C helper tail-calls); it is a frame of the simulated stack for the call.
        let _frame = crate::__sim::Frame::enter_rust(
            crate::__sim::symbols::realloc_func_call(),
            crate::__sim::symbols::REALLOC_FUNC_CALL_PATH,
        );
        let size = layout.size();
        let ptr = match ptr {
            Some(ptr) => {
                if old_layout.size() == 0 {
                    ptr::null()
                } else {
                    ptr.as_ptr()
                }
            }
            None => ptr::null(),
        };

        // ANCHOR: call
        // SAFETY: `ptr` is NULL or was allocated by this allocator with `old_layout`; the C function
        // handles both.
        crate::__sim::call_through_pointer();
        let raw_ptr = unsafe { self.0(ptr.cast(), size, flags.as_raw()).cast() };

        let ptr = if size == 0 {
            crate::alloc::dangling_from_layout(layout)
        } else {
            NonNull::new(raw_ptr).ok_or(AllocError)?
        };
        // ANCHOR_END: call

        Ok(NonNull::slice_from_raw_parts(ptr, size))
    }
}

impl Kmalloc {
    /// The layout to ask `kmalloc` for so that `layout`'s alignment holds: its size padded to a multiple
    /// of the alignment (kmalloc aligns power-of-two sizes naturally).
    pub fn aligned_layout(layout: Layout) -> Layout {
        layout.pad_to_align()
    }
}

// SAFETY: `ReallocFunc::call` hands out memory that stays valid until it is freed through it.
unsafe impl Allocator for Kmalloc {
    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let layout = Kmalloc::aligned_layout(layout);

        // SAFETY: the caller's guarantees are `ReallocFunc::call`'s.
        unsafe { ReallocFunc::KREALLOC.call(ptr, layout, old_layout, flags) }
    }
}

// SAFETY: as for `Kmalloc`.
// ANCHOR: vmalloc
unsafe impl Allocator for Vmalloc {
    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if layout.align() > bindings::PAGE_SIZE {
            pr_warn!("Vmalloc does not support alignments larger than PAGE_SIZE yet.\n");
            return Err(AllocError);
        }

        // SAFETY: the caller's guarantees are `ReallocFunc::call`'s.
        unsafe { ReallocFunc::VREALLOC.call(ptr, layout, old_layout, flags) }
    }
}
// ANCHOR_END: vmalloc

// SAFETY: as for `Kmalloc`.
unsafe impl Allocator for KVmalloc {
    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // The result may come from kmalloc: pad as for `Kmalloc`.
        let layout = Kmalloc::aligned_layout(layout);

        if layout.align() > bindings::PAGE_SIZE {
            pr_warn!("KVmalloc does not support alignments larger than PAGE_SIZE yet.\n");
            return Err(AllocError);
        }

        // SAFETY: the caller's guarantees are `ReallocFunc::call`'s.
        unsafe { ReallocFunc::KVREALLOC.call(ptr, layout, old_layout, flags) }
    }
}
