//! A kernel spinlock (rust/kernel/sync/lock/spinlock.rs).

use crate::init::PinInit;
use crate::str::CStr;
use crate::sync::LockClassKey;
use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

/// Creates a [`SpinLock`] initialiser with the given name and a newly-created lock class.
///
/// It uses the name if one is given, otherwise it generates one based on the file name and line
/// number.
#[macro_export]
macro_rules! new_spinlock {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLock::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock;

/// A spinlock: exposes the kernel's `spinlock_t`.
///
/// While the guard returned by [`SpinLock::lock`] lives, preemption is disabled on the simulated CPU
/// (`in_atomic()` is true), as `spin_lock()` does on a kernel with `CONFIG_PREEMPT_COUNT`.
pub struct SpinLock<T: ?Sized> {
    name: &'static CStr,
    data: UnsafeCell<T>,
}

// SAFETY: the lock serialises access to `data` (and the simulator is single-threaded per machine).
unsafe impl<T: ?Sized + Send> Send for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// Constructs a new spinlock initialiser.
    pub fn new(t: T, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        let _ = key;
        SpinLock {
            name,
            data: UnsafeCell::new(t),
        }
    }
}

impl<T: ?Sized> SpinLock<T> {
    /// Acquires the lock and gives the caller access to the data protected by it.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        crate::__sim::with_machine(|m| m.spin_lock());
        SpinLockGuard { lock: self }
    }

    /// The name given at creation (the simulator's lockdep stand-in).
    #[doc(hidden)]
    pub fn __name(&self) -> &'static CStr {
        self.name
    }
}

/// A lock guard: the lock is held until it is dropped.
pub struct SpinLockGuard<'a, T: ?Sized> {
    lock: &'a SpinLock<T>,
}

impl<T: ?Sized> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the caller owns the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the caller owns the lock.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        crate::__sim::with_machine(|m| m.spin_unlock());
    }
}
