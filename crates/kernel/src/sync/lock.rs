//! Generic kernel lock and guard (rust/kernel/sync/lock.rs), with the spinlock backend.

pub mod spinlock;
