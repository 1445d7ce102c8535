//! [`Vec`], the kernel's growable array (rust/kernel/alloc/kvec.rs): `KVec` (kmalloc), `VVec` (vmalloc)
//! and `KVVec` (kvmalloc). Every method that may allocate takes [`Flags`] and can fail.

use super::{AllocError, Allocator, Flags};
use core::alloc::Layout;
use core::fmt;
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, MaybeUninit};
use core::ops::{Deref, DerefMut, Index, IndexMut};
use core::ptr::{self, NonNull};
use core::slice::SliceIndex;

/// A growable array whose buffer comes from the allocator `A`.
///
/// # Invariants
///
/// `ptr` is dangling (and `cap` is 0, or `usize::MAX` for zero-sized `T`) or points to a buffer of
/// `cap` elements allocated by `A`; the first `len` elements are initialised.
pub struct Vec<T, A: Allocator> {
    ptr: NonNull<T>,
    cap: usize,
    len: usize,
    _p: PhantomData<A>,
}

/// [`Vec`] on the [`Kmalloc`](super::allocator::Kmalloc) allocator.
pub type KVec<T> = Vec<T, super::allocator::Kmalloc>;
/// [`Vec`] on the [`Vmalloc`](super::allocator::Vmalloc) allocator.
pub type VVec<T> = Vec<T, super::allocator::Vmalloc>;
/// [`Vec`] on the [`KVmalloc`](super::allocator::KVmalloc) allocator.
pub type KVVec<T> = Vec<T, super::allocator::KVmalloc>;

// SAFETY: the vector owns its elements.
unsafe impl<T: Send, A: Allocator> Send for Vec<T, A> {}
// SAFETY: the vector owns its elements.
unsafe impl<T: Sync, A: Allocator> Sync for Vec<T, A> {}

/// Creates a [`KVec`] holding the given elements (allocated with `GFP_KERNEL`), like `vec!`.
#[macro_export]
macro_rules! kvec {
    () => ($crate::alloc::KVec::new());
    ($elem:expr; $n:expr) => ($crate::alloc::KVec::from_elem($elem, $n, $crate::alloc::flags::GFP_KERNEL));
    ($($x:expr),+ $(,)?) => (
        match $crate::alloc::KBox::new_uninit($crate::alloc::flags::GFP_KERNEL) {
            Ok(b) => Ok($crate::alloc::KVec::from($crate::alloc::KBox::write(b, [$($x),+]))),
            Err(e) => Err(e),
        }
    );
}

impl<T, A: Allocator> Vec<T, A> {
    const fn is_zst() -> bool {
        core::mem::size_of::<T>() == 0
    }

    /// An empty vector; nothing is allocated until an element is added.
    #[inline]
    pub const fn new() -> Self {
        Self {
            ptr: NonNull::dangling(),
            cap: if Self::is_zst() { usize::MAX } else { 0 },
            len: 0,
            _p: PhantomData,
        }
    }

    /// The number of elements the buffer can hold without reallocating.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Sets the length.
    ///
    /// # Safety
    ///
    /// `new_len <= capacity()`, and if it grows, the elements in between are initialised.
    pub unsafe fn set_len(&mut self, new_len: usize) {
        debug_assert!(new_len <= self.capacity());
        self.len = new_len;
    }

    /// The elements as a slice.
    pub fn as_slice(&self) -> &[T] {
        self
    }

    /// The elements as a mutable slice.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }

    /// A raw pointer to the buffer.
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// A raw pointer to the buffer.
    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }

    /// Whether the vector holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The unused part of the buffer.
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: the buffer holds `cap` elements; those past `len` are uninitialised by definition.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.as_mut_ptr().add(self.len).cast::<MaybeUninit<T>>(),
                self.cap - self.len,
            )
        }
    }

    /// Appends `v`, growing the buffer (with `flags`) if it is full.
    pub fn push(&mut self, v: T, flags: Flags) -> Result<(), AllocError> {
        self.reserve(1, flags)?;
        // SAFETY: `reserve` made room for one more element.
        unsafe {
            ptr::write(self.as_mut_ptr().add(self.len), v);
            self.set_len(self.len + 1);
        }
        Ok(())
    }

    /// An empty vector with room for `capacity` elements.
    pub fn with_capacity(capacity: usize, flags: Flags) -> Result<Self, AllocError> {
        let mut v = Vec::new();
        v.reserve(capacity, flags)?;
        Ok(v)
    }

    /// Rebuilds a vector from its raw parts.
    ///
    /// # Safety
    ///
    /// The parts must come from [`Vec::into_raw_parts`] of a vector with the same `T` and `A`.
    pub unsafe fn from_raw_parts(ptr: *mut T, length: usize, capacity: usize) -> Self {
        let cap = if Self::is_zst() { usize::MAX } else { capacity };
        Self {
            // SAFETY: by the safety requirements, `ptr` came from a vector, hence is not NULL.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            cap,
            len: length,
            _p: PhantomData,
        }
    }

    /// Decomposes the vector into (pointer, length, capacity) without freeing it.
    pub fn into_raw_parts(self) -> (*mut T, usize, usize) {
        let mut me = ManuallyDrop::new(self);
        let len = me.len();
        let cap = me.capacity();
        (me.as_mut_ptr(), len, cap)
    }

    fn layout_for(cap: usize) -> Result<Layout, AllocError> {
        Layout::array::<T>(cap).map_err(|_| AllocError)
    }

    /// Makes room for at least `additional` more elements: the capacity grows to the larger of twice
    /// the current capacity and what is needed, through the allocator's `realloc`.
    pub fn reserve(&mut self, additional: usize, flags: Flags) -> Result<(), AllocError> {
        if self.cap - self.len >= additional {
            return Ok(());
        }
        if Self::is_zst() {
            return Err(AllocError);
        }
        let needed = self.len.checked_add(additional).ok_or(AllocError)?;
        let new_cap = core::cmp::max(self.cap * 2, needed);
        let layout = Self::layout_for(new_cap)?;
        if layout.size() > isize::MAX as usize {
            return Err(AllocError);
        }
        let old = Self::layout_for(self.cap)?;
        // SAFETY: `self.ptr` is dangling with a zero-sized `old` layout, or was allocated by `A` with
        // `old`.
        let ptr = unsafe { A::realloc(Some(self.ptr.cast()), layout, old, flags)? };
        self.ptr = ptr.cast();
        self.cap = new_cap;
        Ok(())
    }
}

impl<T: Clone, A: Allocator> Vec<T, A> {
    /// Appends `n` clones of `value`.
    pub fn extend_with(&mut self, n: usize, value: T, flags: Flags) -> Result<(), AllocError> {
        if n == 0 {
            return Ok(());
        }
        self.reserve(n, flags)?;
        let spare = self.spare_capacity_mut();
        for slot in spare.iter_mut().take(n - 1) {
            slot.write(value.clone());
        }
        spare[n - 1].write(value);
        // SAFETY: `n` more elements were just initialised within the capacity.
        unsafe { self.set_len(self.len + n) };
        Ok(())
    }

    /// Appends clones of the elements of `other`.
    pub fn extend_from_slice(&mut self, other: &[T], flags: Flags) -> Result<(), AllocError> {
        self.reserve(other.len(), flags)?;
        for (slot, item) in self.spare_capacity_mut().iter_mut().zip(other) {
            slot.write(item.clone());
        }
        // SAFETY: `other.len()` more elements were just initialised within the capacity.
        unsafe { self.set_len(self.len + other.len()) };
        Ok(())
    }

    /// A vector of `n` clones of `value`.
    pub fn from_elem(value: T, n: usize, flags: Flags) -> Result<Self, AllocError> {
        let mut v = Self::with_capacity(n, flags)?;
        v.extend_with(n, value, flags)?;
        Ok(v)
    }
}

impl<T, A: Allocator> Drop for Vec<T, A> {
    fn drop(&mut self) {
        // SAFETY: the first `len` elements are initialised.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.as_mut_ptr(), self.len)) };
        if let Ok(layout) = Self::layout_for(if Self::is_zst() { 0 } else { self.cap }) {
            // SAFETY: the buffer was allocated by `A` with `layout` (or is dangling and zero-sized).
            unsafe { A::free(self.ptr.cast(), layout) };
        }
    }
}

impl<T, A: Allocator, const N: usize> From<super::Box<[T; N], A>> for Vec<T, A> {
    fn from(b: super::Box<[T; N], A>) -> Vec<T, A> {
        let ptr = super::Box::into_raw(b);
        // SAFETY: a `Box<[T; N], A>` is a buffer of `N` initialised elements allocated by `A`.
        unsafe { Vec::from_raw_parts(ptr.cast(), N, N) }
    }
}

impl<T> Default for KVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug, A: Allocator> fmt::Debug for Vec<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, A: Allocator> Deref for Vec<T, A> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the first `len` elements are initialised.
        unsafe { core::slice::from_raw_parts(self.as_ptr(), self.len) }
    }
}

impl<T, A: Allocator> DerefMut for Vec<T, A> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: the first `len` elements are initialised.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), self.len) }
    }
}

impl<T: PartialEq, A: Allocator> PartialEq for Vec<T, A> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Eq, A: Allocator> Eq for Vec<T, A> {}

impl<T, I: SliceIndex<[T]>, A: Allocator> Index<I> for Vec<T, A> {
    type Output = I::Output;
    fn index(&self, index: I) -> &Self::Output {
        Index::index(&**self, index)
    }
}

impl<T, I: SliceIndex<[T]>, A: Allocator> IndexMut<I> for Vec<T, A> {
    fn index_mut(&mut self, index: I) -> &mut Self::Output {
        IndexMut::index_mut(&mut **self, index)
    }
}

impl<'a, T, A: Allocator> IntoIterator for &'a Vec<T, A> {
    type Item = &'a T;
    type IntoIter = core::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T, A: Allocator> IntoIterator for &'a mut Vec<T, A> {
    type Item = &'a mut T;
    type IntoIter = core::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// An iterator that moves the elements out of a [`Vec`].
pub struct IntoIter<T, A: Allocator> {
    buf: NonNull<T>,
    cap: usize,
    pos: usize,
    len: usize,
    _p: PhantomData<A>,
}

impl<T, A: Allocator> Iterator for IntoIter<T, A> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.pos == self.len {
            return None;
        }
        // SAFETY: elements `pos..len` are initialised and not yet moved out.
        let v = unsafe { ptr::read(self.buf.as_ptr().add(self.pos)) };
        self.pos += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.len - self.pos;
        (n, Some(n))
    }
}

impl<T, A: Allocator> Drop for IntoIter<T, A> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
        // SAFETY: the buffer's remaining elements were dropped above; it is then freed as the
        // vector's buffer would be.
        drop(unsafe { Vec::<T, A>::from_raw_parts(self.buf.as_ptr(), 0, self.cap) });
    }
}

impl<T, A: Allocator> IntoIterator for Vec<T, A> {
    type Item = T;
    type IntoIter = IntoIter<T, A>;
    fn into_iter(self) -> IntoIter<T, A> {
        let (ptr, len, cap) = self.into_raw_parts();
        IntoIter {
            // SAFETY: a vector's pointer is never NULL.
            buf: unsafe { NonNull::new_unchecked(ptr) },
            cap,
            pos: 0,
            len,
            _p: PhantomData,
        }
    }
}
