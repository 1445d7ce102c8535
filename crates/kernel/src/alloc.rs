//! Extensions to the [`alloc`](https://doc.rust-lang.org/alloc/) crate (rust/kernel/alloc.rs):
//! [`Flags`], the [`Allocator`] trait and its kernel allocators, [`KBox`]/[`VBox`]/[`KVBox`] and
//! [`KVec`]/[`VVec`]/[`KVVec`].

pub mod allocator;
pub mod kbox;
pub mod kvec;

pub use self::kbox::{Box, KBox, KVBox, VBox};
pub use self::kvec::{IntoIter, KVVec, KVec, VVec, Vec};

use core::alloc::Layout;
use core::ptr::NonNull;

/// Indicates an allocation error.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct AllocError;

/// Flags to be used when allocating memory.
///
/// They can be combined with the operators `|`, `&`, and `!`.
///
/// Values can be used from the [`flags`] module.
#[derive(Clone, Copy, PartialEq)]
pub struct Flags(u32);

impl Flags {
    /// Get the raw representation of this flag.
    pub(crate) fn as_raw(self) -> u32 {
        self.0
    }

    /// Check whether `flags` is contained in `self`.
    pub fn contains(self, flags: Flags) -> bool {
        (self & flags) == flags
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self::Output {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self::Output {
        Self(self.0 & rhs.0)
    }
}

impl core::ops::Not for Flags {
    type Output = Self;
    fn not(self) -> Self::Output {
        Self(!self.0)
    }
}

/// Allocation flags.
///
/// These are meant to be used in functions that can allocate memory.
pub mod flags {
    use super::Flags;
    use crate::bindings;

    /// Zeroes out the allocated memory.
    pub const __GFP_ZERO: Flags = Flags(bindings::__GFP_ZERO);
    /// Allow the allocation to be in high memory.
    pub const __GFP_HIGHMEM: Flags = Flags(bindings::__GFP_HIGHMEM);
    /// Users can not sleep and need the allocation to succeed.
    pub const GFP_ATOMIC: Flags = Flags(bindings::GFP_ATOMIC);
    /// Typical for kernel-internal allocations. The caller requires ZONE_NORMAL or a lower zone for
    /// direct access but can direct reclaim.
    pub const GFP_KERNEL: Flags = Flags(bindings::GFP_KERNEL);
    /// The same as [`GFP_KERNEL`], except the allocation is accounted to kmemcg.
    pub const GFP_KERNEL_ACCOUNT: Flags = Flags(bindings::GFP_KERNEL_ACCOUNT);
    /// For kernel allocations that should not stall for direct reclaim, start physical IO or use any
    /// filesystem callback. It is very likely to fail to allocate memory, even for very small
    /// allocations.
    pub const GFP_NOWAIT: Flags = Flags(bindings::GFP_NOWAIT);
    /// Suppresses allocation failure reports.
    pub const __GFP_NOWARN: Flags = Flags(bindings::__GFP_NOWARN);
}

/// The kernel's [`Allocator`] trait.
///
/// An implementation of [`Allocator`] can allocate, re-allocate and free memory buffers described by
/// [`Layout`].
///
/// # Safety
///
/// A memory allocation returned from an allocator must remain valid until it is explicitly freed.
pub unsafe trait Allocator {
    /// Allocate memory based on `layout` and `flags`.
    fn alloc(layout: Layout, flags: Flags) -> Result<NonNull<[u8]>, AllocError> {
        // Simulator: a generic method, instantiated in the module that calls it.
        let _frame = crate::__sim::Frame::enter_instantiated(format!(
            "<{} as kernel::alloc::Allocator>::alloc",
            core::any::type_name::<Self>()
        ));
        // SAFETY: Passing `None` to `realloc` is valid by its safety requirements and asks for a new
        // memory allocation.
        unsafe { Self::realloc(None, layout, Layout::new::<()>(), flags) }
    }

    /// Re-allocate an existing memory allocation to satisfy the requested `layout`.
    ///
    /// # Safety
    ///
    /// If `ptr` is `Some`, it must point to an allocation made by this allocator whose layout is
    /// `old_layout`.
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError>;

    /// Free an existing memory allocation.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an existing and valid memory allocation created by this allocator, with
    /// the given `layout`.
    unsafe fn free(ptr: NonNull<u8>, layout: Layout) {
        // Simulator: a generic method, instantiated in the module that calls it.
        let _frame = crate::__sim::Frame::enter_instantiated(format!(
            "<{} as kernel::alloc::Allocator>::free",
            core::any::type_name::<Self>()
        ));
        // SAFETY: The caller guarantees that `ptr` points to an existing and valid memory
        // allocation; a zero-sized `layout` asks `realloc` to free it.
        let _ = unsafe { Self::realloc(Some(ptr), Layout::new::<()>(), layout, Flags(0)) };
    }
}

/// Returns a properly aligned dangling pointer from the given `layout`.
pub(crate) fn dangling_from_layout(layout: Layout) -> NonNull<u8> {
    let ptr = layout.align() as *mut u8;
    // SAFETY: `layout.align()` (and hence `ptr`) is guaranteed to be non-zero.
    unsafe { NonNull::new_unchecked(ptr) }
}
