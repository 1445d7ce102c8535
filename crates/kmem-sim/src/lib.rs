//! kmem-sim: a simulator of the Linux 6.12 page allocator (mm/page_alloc.c and friends) on x86_64 and classic
//! 32-bit x86, for the kmem-book. It boots a small virtual machine whose RAM is real host memory, keeps
//! `struct page` state, zones and buddy free lists the way the kernel does, and prints what the kernel prints
//! (allocation failures, bad page states, sleeping-in-atomic reports, warnings) into a `dmesg`-like log.
//!
//! Start with [`Machine::boot`] and [`MachineConfig`]. Module map (each names the kernel file it models):
//! [`machine`] (layout, translation), [`hostmem`] (RAM as a memfd), [`page`] (`struct page`), [`zone`],
//! [`page_alloc`] (the buddy allocator), [`mm_init`] (boot), [`gfp`], [`sched`] (context, `might_sleep`),
//! [`panic`] (WARN, taint, stack dumps), [`printk`], [`fault_inject`], [`procfs`], [`workload`],
//! [`vmalloc`] (mm/vmalloc.c) with [`rbtree`] (lib/rbtree.c) and [`util`] (mm/util.c: kvmalloc).

#![deny(unsafe_code)]

pub mod fault_inject;
pub mod gfp;
pub mod hostmem;
pub mod machine;
pub mod mm_init;
pub mod page;
pub mod page_alloc;
pub mod panic;
pub mod printk;
pub mod procfs;
pub mod rbtree;
pub mod sched;
pub mod util;
pub mod vmalloc;
pub mod workload;
pub mod zone;

pub use fault_inject::{FaultAttr, FaultConfig};
pub use gfp::Gfp;
pub use machine::{Arch, BootError, Layout, Machine, MachineConfig, MemFault};
pub use page::{PageOwner, PageType, Pfn};
pub use panic::{ModuleState, Taint};
pub use printk::LogLevel;
pub use vmalloc::{PgProt, VmStruct, VmallocError, VmapSnapshot, VmapTree};
pub use zone::{MigrateType, ZoneType};
