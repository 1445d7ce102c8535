//! The `kernel` crate of Rust-for-Linux as Debian's Linux 6.12.117 has it (`rust/kernel/`), implemented
//! on the [`kmem_sim`] allocator simulator instead of a running kernel.
//!
//! A kernel module written against this crate builds **unchanged** in two worlds: here, where it runs in
//! userspace on a simulated machine with deterministic `dmesg`, and with Kbuild against a real 6.12
//! kernel (plus the small `rust/helpers` patch in `listings/kernel/`, which exposes the C allocator
//! entry points that bindgen cannot see because they are macros or static inlines).
//!
//! The rule of this crate: nothing appears under `kernel::` that the real crate (plus that patch)
//! lacks, with the same names, signatures and semantics. The one exception is the hidden
//! [`__sim`] module, the glue the `module!` macro expands to and the runner (`kmem-runner`) drives; no
//! module source names it.
//!
//! What the allocators return is real host memory inside the simulated RAM, so module code may
//! dereference it exactly as kernel code does. Whatever a module prints with `{:p}` or `{:#x}` shows up
//! in `dmesg` as the simulated kernel address (`0xffff8880...`, `0xffffc900...`, or `0xc.......` on
//! the 32-bit machine).

#![deny(unsafe_op_in_unsafe_fn)]

extern crate self as kernel;

pub mod alloc;
pub mod bindings;
pub mod error;
pub mod init;
pub mod page;
pub mod prelude;
pub mod print;
pub mod str;
pub mod sync;
pub mod types;

#[doc(hidden)]
pub mod __sim;
mod module;

pub use module::{Module, ThisModule};

/// The C types as the kernel's `ffi` crate defines them (`c_char` is `u8`, `c_long` is `isize`,
/// `c_ulong` is `usize`), which is what bindgen's `--ctypes-prefix ffi` refers to.
pub mod ffi {
    #![allow(non_camel_case_types, missing_docs)]
    pub type c_char = u8;
    pub type c_schar = i8;
    pub type c_uchar = u8;
    pub type c_short = i16;
    pub type c_ushort = u16;
    pub type c_int = i32;
    pub type c_uint = u32;
    pub type c_long = isize;
    pub type c_ulong = usize;
    pub type c_longlong = i64;
    pub type c_ulonglong = u64;
    pub use core::ffi::c_void;
}

/// The log prefix of messages the `kernel` crate itself prints (as `rust/kernel/lib.rs` defines it).
#[doc(hidden)]
pub(crate) const __LOG_PREFIX: &[u8] = b"rust_kernel\0";
