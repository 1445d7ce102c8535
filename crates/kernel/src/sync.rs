//! Synchronisation primitives (rust/kernel/sync.rs), reduced to what enters atomic context in the
//! book's modules: [`SpinLock`] with [`new_spinlock!`](crate::new_spinlock).
//!
//! Holding a spinlock disables preemption, so the simulated machine is in atomic context until the
//! guard is dropped: a `GFP_KERNEL` allocation there triggers the kernel's "sleeping function called
//! from invalid context" report, exactly as `CONFIG_DEBUG_ATOMIC_SLEEP` does on a real kernel.

pub mod lock;

pub use lock::spinlock::{new_spinlock, SpinLock, SpinLockGuard};

/// Represents a lockdep class. It's a wrapper around C's `lock_class_key`.
pub struct LockClassKey(#[allow(dead_code)] core::cell::UnsafeCell<[u8; 8]>);

// SAFETY: the key is only ever used as an address by lockdep.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// Creates a new lock class key.
    pub const fn new() -> Self {
        Self(core::cell::UnsafeCell::new([0; 8]))
    }
}

impl Default for LockClassKey {
    fn default() -> Self {
        Self::new()
    }
}

/// Defines a new static lock class and returns a pointer to it.
#[doc(hidden)]
#[macro_export]
macro_rules! static_lock_class {
    () => {{
        static CLASS: $crate::sync::LockClassKey = $crate::sync::LockClassKey::new();
        &CLASS
    }};
}

/// Returns the given string, if one is provided, otherwise generates one based on the source code
/// location.
#[doc(hidden)]
#[macro_export]
macro_rules! optional_name {
    () => {
        $crate::c_str!(::core::concat!(::core::file!(), ":", ::core::line!()))
    };
    ($name:literal) => {
        $crate::c_str!($name)
    };
}
