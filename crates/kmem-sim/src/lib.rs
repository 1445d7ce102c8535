//! kmem-sim: a simulator of the Linux 6.12 page allocator (mm/page_alloc.c and friends) on x86_64 and classic
//! 32-bit x86, for the kmem-book. It boots a small virtual machine whose RAM is real host memory, keeps
//! `struct page` state, zones and buddy free lists the way the kernel does, and prints what the kernel prints
//! (allocation failures, bad page states, sleeping-in-atomic reports, warnings) into a `dmesg`-like log.
//!
//! Start with [`Machine::boot`] and [`MachineConfig`]. Module map (each names the kernel file it models):
//! [`machine`] (layout, translation), [`hostmem`] (RAM as a memfd), [`page`] (`struct page`), [`zone`],
//! [`page_alloc`] (the buddy allocator), [`mm_init`] (boot), [`gfp`], [`sched`] (context, `might_sleep`),
//! [`mod@panic`] (WARN, taint, stack dumps), [`printk`], [`fault_inject`], [`procfs`], [`workload`],
//! [`slab_common`] (kmalloc, caches, /proc/slabinfo), [`slub`] (the SLUB allocator and slab_debug; [`slub::sysfs`]: `/sys/kernel/slab`), [`sort`] (lib/sort.c),
//! [`failslab`],
//! [`vmalloc`] (mm/vmalloc.c) with [`rbtree`] (lib/rbtree.c) and [`util`] (mm/util.c: kvmalloc),
//! [`mempool`] (mm/mempool.c, plus scheduled events of other tasks and a memory eater), [`device`]
//! (drivers/base: devices, drivers and their binding, `dev_printk`), [`devres`] (drivers/base/devres.c), [`dma`] (kernel/dma/mapping.c, direct.c), [`dma_debug`] (kernel/dma/debug.c) and [`dmapool`] (mm/dmapool.c).
//!
//! ```
//! use kmem_sim::{Gfp, Machine, MachineConfig};
//! let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
//! m.set_current("insmod", 95);
//! let addr = m.__get_free_pages(Gfp::GFP_KERNEL, 2);
//! assert!(m.layout().is_direct_map_addr(addr));
//! m.write_u64(addr, 42).unwrap();
//! m.free_pages(addr, 2);
//! assert!(m.proc_buddyinfo().starts_with("Node 0, zone      DMA "));
//! ```
//!
//! Conventions:
//! - Everything the simulator prints uses simulated kernel addresses; [`Machine::host_ptr`] and
//!   [`Machine::kaddr_of_host`] translate to and from host memory.
//! - Time is simulated and deterministic (see [`printk`]); rate limits use it.
//! - Reports print a simulated call stack that API entry points and the `kernel` façade push to (see
//!   [`mod@panic`]).
//! - Later parts (slab, vmalloc, mempool, DMA) add their state as fields of [`Machine`] and their functions in
//!   their own `impl Machine` blocks; they mark pages with [`PageOwner`] and use [`Machine::might_alloc`],
//!   [`Machine::warn`], [`Machine::bad_page`], [`fault_inject::FaultAttr`].

// `unsafe` lives in `hostmem.rs` only (its `#![allow(unsafe_code)]`); every other module forbids it.
#![deny(unsafe_code)]

pub mod debug_page_alloc;
pub mod device;
pub mod devres;
pub mod dma;
pub mod dma_debug;
pub mod dmapool;
pub mod failslab;
pub mod fault;
pub mod fault_inject;
pub mod gfp;
pub mod hostmem;
pub mod ioremap;
pub mod kallsyms;
pub mod machine;
pub mod mempool;
pub mod mm_init;
pub mod module;
pub mod page;
pub mod page_alloc;
pub mod panic;
pub mod percpu;
pub mod pgtable;
pub mod printk;
pub mod procfs;
pub mod qemu_boot;
pub mod rbtree;
pub mod rcu;
pub mod scatterlist;
pub mod sched;
pub mod slab_common;
pub mod slub;
pub mod sort;
pub mod swiotlb;
pub mod util;
pub mod vmalloc;
pub mod workload;
pub mod zone;

pub use device::DeviceId;
pub use dma::{DmaAlloc, DmaError, DMA_BIT_MASK};
pub use dmapool::{DmaPoolCreateError, DmaPoolPtr};
pub use fault_inject::{FaultAttr, FaultConfig};
pub use gfp::Gfp;
pub use machine::{Arch, BootError, Layout, Machine, MachineConfig, MemFault};
pub use mempool::{MempoolAllocator, MempoolCall, MempoolPtr, MempoolStep, SimEvent};
pub use page::{PageOwner, PageType, Pfn};
pub use panic::{ModuleState, Taint};
pub use printk::LogLevel;
pub use slab_common::{CacheId, CtorId, KernelStop, KmemCacheArgs, SlabConfig};
pub use vmalloc::{PgProt, VmStruct, VmallocError, VmapSnapshot, VmapTree};
pub use zone::{MigrateType, ZoneType};
