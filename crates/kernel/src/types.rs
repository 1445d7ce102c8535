//! Kernel types (rust/kernel/types.rs), reduced to [`Opaque`].

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

/// Stores an opaque value: a C object Rust does not look into.
#[repr(transparent)]
pub struct Opaque<T>(UnsafeCell<MaybeUninit<T>>);

impl<T> Opaque<T> {
    /// An uninitialised value.
    pub const fn uninit() -> Self {
        Self(UnsafeCell::new(MaybeUninit::uninit()))
    }

    /// A raw pointer to the value.
    pub const fn get(&self) -> *mut T {
        UnsafeCell::get(&self.0).cast::<T>()
    }
}
