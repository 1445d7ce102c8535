//! Kernel page allocation and management (rust/kernel/page.rs): [`Page`], one order-0 page.

use crate::alloc::{AllocError, Flags};
use crate::bindings;
use crate::error::code::EINVAL;
use crate::error::Result;
use core::ptr::{self, NonNull};

/// A bitwise shift for the page size.
pub const PAGE_SHIFT: usize = bindings::PAGE_SHIFT as usize;

/// The number of bytes in a page.
pub const PAGE_SIZE: usize = bindings::PAGE_SIZE;

/// A bitmask that gives the page containing a given address.
pub const PAGE_MASK: usize = !(PAGE_SIZE - 1);

/// A pointer to a page that owns the page allocation.
///
/// # Invariants
///
/// The pointer is valid, and has ownership over the page.
pub struct Page {
    page: NonNull<bindings::page>,
}

// SAFETY: pages are not tied to a thread.
unsafe impl Send for Page {}
// SAFETY: `&Page` only allows copying in and out under the caller's synchronisation.
unsafe impl Sync for Page {}

impl Page {
    /// Allocates one page (`alloc_pages(flags, 0)`); it may be a highmem page.
    pub fn alloc_page(flags: Flags) -> Result<Self, AllocError> {
        // SAFETY: any flags value is acceptable to `alloc_pages`.
        let page = unsafe { bindings::alloc_pages(flags.as_raw(), 0) };
        let page = NonNull::new(page).ok_or(AllocError)?;
        // INVARIANT: `alloc_pages` returned a page we now own.
        Ok(Self { page })
    }

    /// The raw `struct page` pointer.
    pub fn as_ptr(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// Maps the page with `kmap_local_page` for the duration of `f`.
    fn with_page_mapped<T>(&self, f: impl FnOnce(*mut u8) -> T) -> T {
        // SAFETY: `self.as_ptr()` is a valid page by the type invariant.
        let mapped_addr = unsafe { bindings::kmap_local_page(self.as_ptr()) };
        let res = f(mapped_addr.cast());
        // SAFETY: `mapped_addr` came from `kmap_local_page` just above, in the same context.
        unsafe { bindings::kunmap_local(mapped_addr) };
        res
    }

    /// Runs `f` with a pointer to `off` in the mapped page if `off..off+len` lies within the page,
    /// or fails with `EINVAL`.
    fn with_pointer_into_page<T>(
        &self,
        off: usize,
        len: usize,
        f: impl FnOnce(*mut u8) -> Result<T>,
    ) -> Result<T> {
        let in_bounds = off <= PAGE_SIZE && len <= PAGE_SIZE && off + len <= PAGE_SIZE;
        if !in_bounds {
            return Err(EINVAL);
        }
        self.with_page_mapped(move |page_addr| {
            // SAFETY: `off` is within the mapped page.
            f(unsafe { page_addr.add(off) })
        })
    }

    /// Copies `len` bytes from the page at `offset` to `dst`.
    ///
    /// # Safety
    ///
    /// `dst` is valid for `len` bytes of writes.
    pub unsafe fn read_raw(&self, dst: *mut u8, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, move |src| {
            // SAFETY: `src` is valid for `len` bytes (checked), `dst` by the caller.
            unsafe { ptr::copy_nonoverlapping(src, dst, len) };
            Ok(())
        })
    }

    /// Copies `len` bytes from `src` into the page at `offset`.
    ///
    /// # Safety
    ///
    /// `src` is valid for `len` bytes of reads.
    pub unsafe fn write_raw(&self, src: *const u8, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, move |dst| {
            // SAFETY: `dst` is valid for `len` bytes (checked), `src` by the caller.
            unsafe { ptr::copy_nonoverlapping(src, dst, len) };
            Ok(())
        })
    }

    /// Zeroes `len` bytes of the page at `offset`.
    ///
    /// # Safety
    ///
    /// No other user reads or writes those bytes concurrently.
    pub unsafe fn fill_zero_raw(&self, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, move |dst| {
            // SAFETY: `dst` is valid for `len` bytes (checked).
            unsafe { ptr::write_bytes(dst, 0u8, len) };
            Ok(())
        })
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: we own the order-0 page by the type invariant.
        unsafe { bindings::__free_pages(self.page.as_ptr(), 0) };
    }
}
