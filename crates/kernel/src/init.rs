//! In-place initialisation (rust/kernel/init.rs), reduced to what the book's modules use: the
//! [`PinInit`]/[`Init`] traits, initialisers from closures, and [`InPlaceInit`] so that
//! `KBox::pin_init(new_spinlock!(value, "name"), GFP_KERNEL)` works as in the kernel.
//!
//! The simulator does not provide the `pin_init!`/`init!` struct-initialiser macros.

use crate::alloc::{AllocError, Flags};
use crate::error::{self, Error};
use core::convert::Infallible;
use core::marker::PhantomData;
use core::pin::Pin;

/// A pinned in-place initialiser for `T`.
///
/// # Safety
///
/// `__pinned_init` returns `Ok` only when it fully initialised `slot`; on `Err` the slot is left
/// uninitialised (and may be freed).
pub unsafe trait PinInit<T: ?Sized, E = Infallible>: Sized {
    /// Initialises `slot`.
    ///
    /// # Safety
    ///
    /// `slot` is valid for writes and will not move after initialisation.
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E>;

    /// This initialiser, then `f` on the initialised (pinned) value.
    fn pin_chain<F>(self, f: F) -> ChainPinInit<Self, F, T, E>
    where
        F: FnOnce(Pin<&mut T>) -> Result<(), E>,
    {
        ChainPinInit(self, f, PhantomData)
    }
}

/// The initialiser [`PinInit::pin_chain`] returns.
pub struct ChainPinInit<I, F, T: ?Sized, E>(I, F, PhantomData<fn(*mut T) -> E>);

// SAFETY: the value is initialised by `I`, then only modified in place by `F`; on `F`'s error it is
// dropped, leaving the slot uninitialised.
unsafe impl<T: ?Sized, E, I, F> PinInit<T, E> for ChainPinInit<I, F, T, E>
where
    I: PinInit<T, E>,
    F: FnOnce(Pin<&mut T>) -> Result<(), E>,
{
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: as the caller guarantees for `slot`.
        unsafe { self.0.__pinned_init(slot)? };
        // SAFETY: `slot` is initialised now and will not move.
        let val = unsafe { Pin::new_unchecked(&mut *slot) };
        (self.1)(val).inspect_err(|_| {
            // SAFETY: `slot` was initialised above.
            unsafe { core::ptr::drop_in_place(slot) };
        })
    }
}

/// An in-place initialiser for `T` (the value may move afterwards).
///
/// # Safety
///
/// As for [`PinInit`].
pub unsafe trait Init<T: ?Sized, E = Infallible>: PinInit<T, E> {
    /// Initialises `slot`.
    ///
    /// # Safety
    ///
    /// `slot` is valid for writes.
    unsafe fn __init(self, slot: *mut T) -> Result<(), E>;

    /// This initialiser, then `f` on the initialised value.
    ///
    /// (As in the kernel, every type is an `Init` of itself, so with the prelude in scope
    /// `iter.chain(other)` is ambiguous: write `Iterator::chain(iter, other)`.)
    fn chain<F>(self, f: F) -> ChainInit<Self, F, T, E>
    where
        F: FnOnce(&mut T) -> Result<(), E>,
    {
        ChainInit(self, f, PhantomData)
    }
}

/// The initialiser [`Init::chain`] returns.
pub struct ChainInit<I, F, T: ?Sized, E>(I, F, PhantomData<fn(*mut T) -> E>);

// SAFETY: as for `ChainPinInit`.
unsafe impl<T: ?Sized, E, I, F> Init<T, E> for ChainInit<I, F, T, E>
where
    I: Init<T, E>,
    F: FnOnce(&mut T) -> Result<(), E>,
{
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: as the caller guarantees for `slot`.
        unsafe { self.0.__init(slot)? };
        // SAFETY: `slot` is initialised now.
        (self.1)(unsafe { &mut *slot }).inspect_err(|_| {
            // SAFETY: `slot` was initialised above.
            unsafe { core::ptr::drop_in_place(slot) };
        })
    }
}

// SAFETY: as above; the value does not move after initialisation either way.
unsafe impl<T: ?Sized, E, I, F> PinInit<T, E> for ChainInit<I, F, T, E>
where
    I: Init<T, E>,
    F: FnOnce(&mut T) -> Result<(), E>,
{
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: as the caller guarantees for `slot`.
        unsafe { self.__init(slot) }
    }
}

// SAFETY: writing a value initialises the slot completely.
unsafe impl<T, E> Init<T, E> for T {
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: the caller guarantees `slot` is valid for writes.
        unsafe { slot.write(self) };
        Ok(())
    }
}

// SAFETY: as above.
unsafe impl<T, E> PinInit<T, E> for T {
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: the caller guarantees `slot` is valid for writes.
        unsafe { self.__init(slot) }
    }
}

struct InitClosure<F, T: ?Sized, E>(F, PhantomData<fn(*mut T) -> E>);

// SAFETY: the closure's contract is the trait's (see `pin_init_from_closure`).
unsafe impl<T: ?Sized, F, E> PinInit<T, E> for InitClosure<F, T, E>
where
    F: FnOnce(*mut T) -> Result<(), E>,
{
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E> {
        (self.0)(slot)
    }
}

// SAFETY: as above.
unsafe impl<T: ?Sized, F, E> Init<T, E> for InitClosure<F, T, E>
where
    F: FnOnce(*mut T) -> Result<(), E>,
{
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        (self.0)(slot)
    }
}

/// An initialiser from a closure.
///
/// # Safety
///
/// The closure must uphold [`PinInit`]'s contract.
pub const unsafe fn pin_init_from_closure<T: ?Sized, E>(f: impl FnOnce(*mut T) -> Result<(), E>) -> impl PinInit<T, E> {
    InitClosure(f, PhantomData)
}

/// An initialiser from a closure.
///
/// # Safety
///
/// The closure must uphold [`Init`]'s contract.
pub const unsafe fn init_from_closure<T: ?Sized, E>(f: impl FnOnce(*mut T) -> Result<(), E>) -> impl Init<T, E> {
    InitClosure(f, PhantomData)
}

/// Smart pointers that can allocate their memory and initialise it in place.
pub trait InPlaceInit<T>: Sized {
    /// `Pin<Self>`.
    type PinnedSelf;

    /// Allocates with `flags`, then runs the pinned initialiser.
    fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, E>
    where
        E: From<AllocError>;

    /// As [`InPlaceInit::try_pin_init`], with the error converted to [`Error`].
    fn pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> error::Result<Self::PinnedSelf>
    where
        Error: From<E>,
    {
        // SAFETY: delegates to `init`, changing only the error type.
        let init = unsafe { pin_init_from_closure(|slot| init.__pinned_init(slot).map_err(Error::from)) };
        Self::try_pin_init(init, flags)
    }

    /// Allocates with `flags`, then runs the initialiser.
    fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>;

    /// As [`InPlaceInit::try_init`], with the error converted to [`Error`].
    fn init<E>(init: impl Init<T, E>, flags: Flags) -> error::Result<Self>
    where
        Error: From<E>,
    {
        // SAFETY: delegates to `init`, changing only the error type.
        let init = unsafe { init_from_closure(|slot| init.__pinned_init(slot).map_err(Error::from)) };
        Self::try_init(init, flags)
    }
}

/// Smart pointers holding uninitialised memory that can be initialised in place.
pub trait InPlaceWrite<T> {
    /// The initialised type.
    type Initialized;

    /// Initialises the memory with `init`.
    fn write_init<E>(self, init: impl Init<T, E>) -> Result<Self::Initialized, E>;

    /// Initialises the memory with the pinned initialiser `init`.
    fn write_pin_init<E>(self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E>;
}
