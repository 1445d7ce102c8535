//! The allocator-independent slab layer (mm/slab_common.c, include/linux/slab.h, mm/slab.h, mm/util.c):
//! slab flags, `kmem_cache_create` with cache merging, the kmalloc size classes and cache types, the kmalloc
//! family (`kmalloc`, `kzalloc`, `kcalloc`, `krealloc`, `kfree`, `ksize`, `kmemdup`, `kstrdup`),
//! `kmem_cache_destroy`, `/proc/slabinfo`, and the simulator's stop states (oops, panic).
//!
//! # The modelled configuration
//! Debian's 6.12.117 x86_64 configuration as far as slab goes, with fault injection compiled in:
//! `CONFIG_SLUB` (not TINY), `CONFIG_SLUB_DEBUG=y`, `CONFIG_SLUB_DEBUG_ON=n`, `CONFIG_SLUB_CPU_PARTIAL=y`,
//! `CONFIG_SLAB_MERGE_DEFAULT=y`, `CONFIG_SLAB_FREELIST_HARDENED` (runtime switch, default on),
//! `CONFIG_SLAB_FREELIST_RANDOM=n` (object order stays predictable), `CONFIG_RANDOM_KMALLOC_CACHES=n`,
//! `CONFIG_MEMCG=y` (runtime switch: `kmalloc-cg-*` caches, `SLAB_ACCOUNT`), `CONFIG_ZONE_DMA=y`,
//! `CONFIG_HARDENED_USERCOPY` (runtime switch, default on), `CONFIG_FAILSLAB=y`, `CONFIG_STACKDEPOT=y`,
//! `CONFIG_KASAN=n`, `CONFIG_KFENCE=n`, `CONFIG_DEBUG_OBJECTS=n`, `CONFIG_SLAB_OBJ_EXT=y` (follows MEMCG),
//! `CONFIG_SLAB_BUCKETS` (runtime switch, default on: the `kmalloc_buckets` cache), `CONFIG_DEBUG_VM=n`.
//! The `_SLAB_*` bit numbers below follow from that configuration.
//!
//! # Constructors
//! The simulator cannot call into module code while it is mutably borrowed, so a constructor is an opaque
//! [`CtorId`] the `kernel` façade hands out. When an allocation creates a new slab of a cache with a
//! constructor, the kernel runs the constructor on every object of that slab (`setup_object()`). The simulator
//! instead queues `(ctor, object)` pairs; the façade must call [`Machine::take_pending_ctors`] after every
//! `kmem_cache_alloc*` and run the constructors on those objects before it hands the new object to the
//! module. Nothing reads those objects in between, so the order of events is the kernel's.
//!
//! # Stop states
//! When the simulated kernel would oops (`BUG_ON()`, a wild pointer dereference) or panic (`SLAB_PANIC`), the
//! report is printed as the kernel prints it, the state is recorded as a [`KernelStop`] (see
//! [`Machine::kernel_stop`]) and the call returns NULL / does nothing. The host never panics. A runner should
//! check [`Machine::kernel_stop`] after each call into the simulator and end the listing there (after an oops
//! the real kernel kills the current task; after a panic it stops).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;

use crate::fault_inject::FaultConfig;
use crate::gfp::Gfp;
use crate::hostmem::PAGE_SIZE;
use crate::machine::Machine;
use crate::page::Pfn;
use crate::page_alloc::get_order;
use crate::panic::Frame;
use crate::printk::LogLevel;
use crate::slub::{KmemCache, Slab, TRACK_SIZE};

/// `slab_flags_t`.
pub type SlabFlags = u32;

/// The `enum _slab_flag_bits` values of the modelled configuration, under the names the Rust bindings give
/// them (`bindings::_slab_flag_bits__SLAB_HWCACHE_ALIGN`).
#[allow(non_upper_case_globals)]
pub mod bindings {
    pub const _slab_flag_bits__SLAB_CONSISTENCY_CHECKS: u32 = 0;
    pub const _slab_flag_bits__SLAB_RED_ZONE: u32 = 1;
    pub const _slab_flag_bits__SLAB_POISON: u32 = 2;
    pub const _slab_flag_bits__SLAB_KMALLOC: u32 = 3;
    pub const _slab_flag_bits__SLAB_HWCACHE_ALIGN: u32 = 4;
    pub const _slab_flag_bits__SLAB_CACHE_DMA: u32 = 5;
    pub const _slab_flag_bits__SLAB_CACHE_DMA32: u32 = 6;
    pub const _slab_flag_bits__SLAB_STORE_USER: u32 = 7;
    pub const _slab_flag_bits__SLAB_PANIC: u32 = 8;
    pub const _slab_flag_bits__SLAB_TYPESAFE_BY_RCU: u32 = 9;
    pub const _slab_flag_bits__SLAB_TRACE: u32 = 10;
    pub const _slab_flag_bits__SLAB_NOLEAKTRACE: u32 = 11;
    pub const _slab_flag_bits__SLAB_NO_MERGE: u32 = 12;
    pub const _slab_flag_bits__SLAB_FAILSLAB: u32 = 13;
    pub const _slab_flag_bits__SLAB_ACCOUNT: u32 = 14;
    pub const _slab_flag_bits__SLAB_NO_USER_FLAGS: u32 = 15;
    pub const _slab_flag_bits__SLAB_RECLAIM_ACCOUNT: u32 = 16;
    pub const _slab_flag_bits__SLAB_OBJECT_POISON: u32 = 17;
    pub const _slab_flag_bits__SLAB_CMPXCHG_DOUBLE: u32 = 18;
    pub const _slab_flag_bits__SLAB_NO_OBJ_EXT: u32 = 19;
    pub const _slab_flag_bits__SLAB_FLAGS_LAST_BIT: u32 = 20;
}

use bindings::*;

/// DEBUG: perform (expensive) checks on alloc/free.
pub const SLAB_CONSISTENCY_CHECKS: SlabFlags = 1 << _slab_flag_bits__SLAB_CONSISTENCY_CHECKS;
/// DEBUG: red zone objects.
pub const SLAB_RED_ZONE: SlabFlags = 1 << _slab_flag_bits__SLAB_RED_ZONE;
/// DEBUG: poison objects.
pub const SLAB_POISON: SlabFlags = 1 << _slab_flag_bits__SLAB_POISON;
/// A kmalloc cache.
pub const SLAB_KMALLOC: SlabFlags = 1 << _slab_flag_bits__SLAB_KMALLOC;
/// Align objects on cache lines.
pub const SLAB_HWCACHE_ALIGN: SlabFlags = 1 << _slab_flag_bits__SLAB_HWCACHE_ALIGN;
/// Use `GFP_DMA` memory.
pub const SLAB_CACHE_DMA: SlabFlags = 1 << _slab_flag_bits__SLAB_CACHE_DMA;
/// Use `GFP_DMA32` memory.
pub const SLAB_CACHE_DMA32: SlabFlags = 1 << _slab_flag_bits__SLAB_CACHE_DMA32;
/// DEBUG: store the last owner for bug hunting.
pub const SLAB_STORE_USER: SlabFlags = 1 << _slab_flag_bits__SLAB_STORE_USER;
/// Panic if `kmem_cache_create()` fails.
pub const SLAB_PANIC: SlabFlags = 1 << _slab_flag_bits__SLAB_PANIC;
/// Defer freeing slabs to RCU.
pub const SLAB_TYPESAFE_BY_RCU: SlabFlags = 1 << _slab_flag_bits__SLAB_TYPESAFE_BY_RCU;
/// DEBUG: trace allocations and frees.
pub const SLAB_TRACE: SlabFlags = 1 << _slab_flag_bits__SLAB_TRACE;
/// Avoid kmemleak tracing.
pub const SLAB_NOLEAKTRACE: SlabFlags = 1 << _slab_flag_bits__SLAB_NOLEAKTRACE;
/// Prevent merging with compatible caches.
pub const SLAB_NO_MERGE: SlabFlags = 1 << _slab_flag_bits__SLAB_NO_MERGE;
/// Fault injection mark.
pub const SLAB_FAILSLAB: SlabFlags = 1 << _slab_flag_bits__SLAB_FAILSLAB;
/// Account to memcg.
pub const SLAB_ACCOUNT: SlabFlags = 1 << _slab_flag_bits__SLAB_ACCOUNT;
/// Ignore user-specified debugging flags.
pub const SLAB_NO_USER_FLAGS: SlabFlags = 1 << _slab_flag_bits__SLAB_NO_USER_FLAGS;
/// Objects are reclaimable.
pub const SLAB_RECLAIM_ACCOUNT: SlabFlags = 1 << _slab_flag_bits__SLAB_RECLAIM_ACCOUNT;
/// `SLAB_TEMPORARY` is `SLAB_RECLAIM_ACCOUNT`.
pub const SLAB_TEMPORARY: SlabFlags = SLAB_RECLAIM_ACCOUNT;
/// Internal: poison the object itself (`__OBJECT_POISON`).
pub const __OBJECT_POISON: SlabFlags = 1 << _slab_flag_bits__SLAB_OBJECT_POISON;
/// Internal: cmpxchg_double fast mode.
pub const __CMPXCHG_DOUBLE: SlabFlags = 1 << _slab_flag_bits__SLAB_CMPXCHG_DOUBLE;
/// No slab object extensions.
pub const SLAB_NO_OBJ_EXT: SlabFlags = 1 << _slab_flag_bits__SLAB_NO_OBJ_EXT;

/// `SLAB_DEBUG_FLAGS`.
pub const SLAB_DEBUG_FLAGS: SlabFlags =
    SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_CONSISTENCY_CHECKS;
/// `DEBUG_DEFAULT_FLAGS` (what a bare `slab_debug` turns on).
pub const DEBUG_DEFAULT_FLAGS: SlabFlags = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
/// `DEBUG_METADATA_FLAGS`.
pub const DEBUG_METADATA_FLAGS: SlabFlags = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
const SLAB_CORE_FLAGS: SlabFlags =
    SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_PANIC | SLAB_TYPESAFE_BY_RCU;
const SLAB_CACHE_FLAGS: SlabFlags = SLAB_NOLEAKTRACE
    | SLAB_RECLAIM_ACCOUNT
    | SLAB_TEMPORARY
    | SLAB_ACCOUNT
    | SLAB_NO_USER_FLAGS
    | SLAB_KMALLOC
    | SLAB_NO_MERGE;
/// `CACHE_CREATE_MASK`.
pub const CACHE_CREATE_MASK: SlabFlags = SLAB_CORE_FLAGS | SLAB_DEBUG_FLAGS | SLAB_CACHE_FLAGS;
/// `SLAB_FLAGS_PERMITTED`.
pub const SLAB_FLAGS_PERMITTED: SlabFlags = SLAB_CORE_FLAGS
    | SLAB_RED_ZONE
    | SLAB_POISON
    | SLAB_STORE_USER
    | SLAB_TRACE
    | SLAB_CONSISTENCY_CHECKS
    | SLAB_NOLEAKTRACE
    | SLAB_RECLAIM_ACCOUNT
    | SLAB_TEMPORARY
    | SLAB_ACCOUNT
    | SLAB_KMALLOC
    | SLAB_NO_MERGE
    | SLAB_NO_USER_FLAGS;
/// `SLAB_NEVER_MERGE`.
pub const SLAB_NEVER_MERGE: SlabFlags = SLAB_RED_ZONE
    | SLAB_POISON
    | SLAB_STORE_USER
    | SLAB_TRACE
    | SLAB_TYPESAFE_BY_RCU
    | SLAB_NOLEAKTRACE
    | SLAB_FAILSLAB
    | SLAB_NO_MERGE;
/// `SLAB_MERGE_SAME`.
pub const SLAB_MERGE_SAME: SlabFlags = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT;

/// `ZERO_SIZE_PTR`.
pub const ZERO_SIZE_PTR: u64 = 16;
/// `ZERO_OR_NULL_PTR()`.
pub fn zero_or_null_ptr(p: u64) -> bool {
    p <= ZERO_SIZE_PTR
}
/// `KMALLOC_SHIFT_LOW`.
pub const KMALLOC_SHIFT_LOW: u32 = 3;
/// `KMALLOC_SHIFT_HIGH` (`PAGE_SHIFT + 1`).
pub const KMALLOC_SHIFT_HIGH: u32 = 13;
/// `KMALLOC_MAX_CACHE_SIZE` (8 KiB).
pub const KMALLOC_MAX_CACHE_SIZE: u64 = 1 << KMALLOC_SHIFT_HIGH;
/// `KMALLOC_SHIFT_MAX` (`MAX_PAGE_ORDER + PAGE_SHIFT`).
pub const KMALLOC_SHIFT_MAX: u32 = 22;
/// `KMALLOC_MAX_SIZE` (4 MiB).
pub const KMALLOC_MAX_SIZE: u64 = 1 << KMALLOC_SHIFT_MAX;
/// `KMALLOC_MIN_SIZE`.
pub const KMALLOC_MIN_SIZE: u64 = 1 << KMALLOC_SHIFT_LOW;
/// `ARCH_KMALLOC_MINALIGN` / `arch_slab_minalign()` on x86_64.
pub const ARCH_KMALLOC_MINALIGN: u32 = 8;
/// `cache_line_size()` on the QEMU CPUs.
pub const CACHE_LINE_SIZE: u32 = 64;
/// `SLUB_RED_INACTIVE`.
pub const SLUB_RED_INACTIVE: u8 = 0xbb;
/// `SLUB_RED_ACTIVE`.
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
/// `POISON_INUSE`.
pub const POISON_INUSE: u8 = 0x5a;
/// `POISON_FREE`.
pub const POISON_FREE: u8 = 0x6b;
/// `POISON_END`.
pub const POISON_END: u8 = 0xa5;

/// `enum kmalloc_cache_type` of the modelled configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum KmallocType {
    /// `KMALLOC_NORMAL`: `kmalloc-N`.
    Normal = 0,
    /// `KMALLOC_RECLAIM`: `kmalloc-rcl-N`.
    Reclaim = 1,
    /// `KMALLOC_DMA`: `dma-kmalloc-N`.
    Dma = 2,
    /// `KMALLOC_CGROUP`: `kmalloc-cg-N`.
    Cgroup = 3,
}

/// `NR_KMALLOC_TYPES`.
pub const NR_KMALLOC_TYPES: usize = 4;

/// `kmalloc_info[]`: (size, short name) by kmalloc index (0..=13).
pub const KMALLOC_INFO: [(u32, &str); 14] = [
    (0, "0"),
    (96, "96"),
    (192, "192"),
    (8, "8"),
    (16, "16"),
    (32, "32"),
    (64, "64"),
    (128, "128"),
    (256, "256"),
    (512, "512"),
    (1024, "1k"),
    (2048, "2k"),
    (4096, "4k"),
    (8192, "8k"),
];

/// `kmalloc_size_index[24]` for sizes 1..=192 in steps of 8.
pub const KMALLOC_SIZE_INDEX: [u8; 24] = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2];

/// `__kmalloc_index(size)`: 0 for 0, 1 for 65..96, 2 for 129..192, else `n` for `2^(n-1)+1 .. 2^n`; `None`
/// beyond 2 MiB (the kernel BUG()s there).
///
/// Context: any.
pub fn kmalloc_index(size: u64) -> Option<u32> {
    if size == 0 {
        return Some(0);
    }
    if size <= KMALLOC_MIN_SIZE {
        return Some(KMALLOC_SHIFT_LOW);
    }
    if size > 64 && size <= 96 {
        return Some(1);
    }
    if size > 128 && size <= 192 {
        return Some(2);
    }
    if size > 2 * 1024 * 1024 {
        return None;
    }
    Some(64 - (size - 1).leading_zeros())
}

/// `kmalloc_size_index`-based lookup used by `kmalloc_slab()` (`size` 1..=8192).
fn kmalloc_slab_index(size: u64) -> usize {
    if size <= 192 {
        KMALLOC_SIZE_INDEX[((size - 1) / 8) as usize] as usize
    } else {
        (64 - (size - 1).leading_zeros()) as usize
    }
}

/// `kmalloc_type(flags)`.
///
/// Context: any.
pub fn kmalloc_type(flags: Gfp, memcg: bool) -> KmallocType {
    let not_normal = Gfp::__GFP_RECLAIMABLE.0 | Gfp::__GFP_DMA.0 | if memcg { Gfp::__GFP_ACCOUNT.0 } else { 0 };
    if flags.0 & not_normal == 0 {
        return KmallocType::Normal;
    }
    if flags.intersects(Gfp::__GFP_DMA) {
        return KmallocType::Dma;
    }
    if !memcg || flags.intersects(Gfp::__GFP_RECLAIMABLE) {
        KmallocType::Reclaim
    } else {
        KmallocType::Cgroup
    }
}

/// A slab cache handle (`struct kmem_cache *`). Aliases (merged caches) share the handle of the cache they
/// were merged into.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CacheId(pub u32);

/// An opaque constructor handle chosen by the `kernel` façade (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct CtorId(pub u32);

/// The constructor of a cache the kernel itself creates (e.g. `anon_vma_ctor`): its effect on the objects
/// is not modelled, only that the cache has one (it moves the free pointer out of the object).
pub const KERNEL_CTOR: CtorId = CtorId(u32::MAX);

/// `struct kmem_cache_args`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KmemCacheArgs {
    /// `align`.
    pub align: u32,
    /// `useroffset`.
    pub useroffset: u32,
    /// `usersize`.
    pub usersize: u32,
    /// `freeptr_offset` (only with `SLAB_TYPESAFE_BY_RCU` and `use_freeptr_offset`).
    pub freeptr_offset: u32,
    /// `use_freeptr_offset`.
    pub use_freeptr_offset: bool,
    /// `ctor`.
    pub ctor: Option<CtorId>,
}

/// Slab boot options and configuration switches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabConfig {
    /// The `slab_debug` (or old `slub_debug`) boot option: `None` when absent, `Some("")` for a bare
    /// `slab_debug`, `Some("FZPU,kmalloc-*")` for `slab_debug=FZPU,kmalloc-*`.
    pub slab_debug: Option<String>,
    /// `slab_nomerge` (or `slub_nomerge`).
    pub slab_nomerge: bool,
    /// `slab_min_order=`.
    pub slub_min_order: u32,
    /// `slab_max_order=` (default `PAGE_ALLOC_COSTLY_ORDER` = 3).
    pub slub_max_order: u32,
    /// `slab_min_objects=` (0: derived from the CPU count).
    pub slub_min_objects: u32,
    /// `no_hash_pointers` on the command line (also implied by `slab_debug`).
    pub no_hash_pointers: bool,
    /// `CONFIG_SLAB_FREELIST_HARDENED`.
    pub freelist_hardened: bool,
    /// `CONFIG_HARDENED_USERCOPY` (kmalloc caches get a usercopy region, which forbids merging).
    pub hardened_usercopy: bool,
    /// `CONFIG_MEMCG` (kmalloc-cg caches; `kmalloc-N` get `SLAB_NO_MERGE`).
    pub memcg: bool,
    /// `CONFIG_SLAB_BUCKETS` (creates the `kmalloc_buckets` cache at boot).
    pub slab_buckets: bool,
    /// `init_on_alloc=1` (Debian's default is on; off here so uninitialised memory can be shown).
    pub init_on_alloc: bool,
    /// `init_on_free=1`.
    pub init_on_free: bool,
    /// Seed for `s->random` and the `%p` hash key.
    pub seed: u64,
    /// `failslab=` settings (None: off).
    pub failslab: Option<FaultConfig>,
    /// failslab `ignore-gfp-wait` (kernel default: true).
    pub failslab_ignore_gfp_wait: bool,
    /// failslab `cache-filter` (kernel default: false).
    pub failslab_cache_filter: bool,
    /// `CONFIG_SLUB_DEBUG_ON` (Debian: off). Only mempool element poisoning and `DMAPOOL_DEBUG` (mempool.rs,
    /// dmapool.rs) follow it; for SLUB itself use `slab_debug=` (the same as what it turns on).
    pub slub_debug_on: bool,
}

impl Default for SlabConfig {
    fn default() -> Self {
        SlabConfig {
            slab_debug: None,
            slab_nomerge: false,
            slub_min_order: 0,
            slub_max_order: 3,
            slub_min_objects: 0,
            no_hash_pointers: false,
            freelist_hardened: true,
            hardened_usercopy: true,
            memcg: true,
            slab_buckets: true,
            init_on_alloc: false,
            init_on_free: false,
            seed: 0x6b6d_656d_2d62_6f6f,
            failslab: None,
            failslab_ignore_gfp_wait: true,
            failslab_cache_filter: false,
            slub_debug_on: false,
        }
    }
}

impl SlabConfig {
    /// Parses kernel command-line words that concern slab (`slab_debug`, `slab_debug=...`, `slub_debug...`,
    /// `slab_nomerge`, `slub_nomerge`, `slab_merge`, `slab_min_order=`, `slab_max_order=`,
    /// `slab_min_objects=` (and `slub_` spellings), `no_hash_pointers`, `init_on_alloc=`, `init_on_free=`);
    /// other words are ignored.
    ///
    /// Context: any.
    pub fn from_cmdline(cmdline: &str) -> SlabConfig {
        let mut c = SlabConfig::default();
        c.apply_cmdline(cmdline);
        c
    }

    /// Applies the slab words of `cmdline` (as [`SlabConfig::from_cmdline`]) over these settings.
    ///
    /// Context: any.
    pub fn apply_cmdline(&mut self, cmdline: &str) {
        let c = self;
        for w in cmdline.split_whitespace() {
            let (k, v) = match w.find('=') {
                Some(i) => (&w[..i], Some(&w[i + 1..])),
                None => (w, None),
            };
            match k {
                "slab_debug" | "slub_debug" => c.slab_debug = Some(v.unwrap_or("").to_string()),
                "slab_nomerge" | "slub_nomerge" => c.slab_nomerge = true,
                "slab_merge" | "slub_merge" => c.slab_nomerge = false,
                "slab_min_order" | "slub_min_order" => c.slub_min_order = v.and_then(|v| v.parse().ok()).unwrap_or(0),
                "slab_max_order" | "slub_max_order" => c.slub_max_order = v.and_then(|v| v.parse().ok()).unwrap_or(3),
                "slab_min_objects" | "slub_min_objects" => {
                    c.slub_min_objects = v.and_then(|v| v.parse().ok()).unwrap_or(0)
                }
                "no_hash_pointers" => c.no_hash_pointers = true,
                "init_on_alloc" => c.init_on_alloc = v == Some("1"),
                "init_on_free" => c.init_on_free = v == Some("1"),
                "failslab" => c.failslab = v.and_then(crate::fault_inject::FaultConfig::from_setup),
                _ => {}
            }
        }
    }

    /// `slab_debug=<v>` (builder).
    pub fn slab_debug(mut self, v: &str) -> Self {
        self.slab_debug = Some(v.to_string());
        self
    }

    /// `slab_nomerge` (builder).
    pub fn nomerge(mut self, on: bool) -> Self {
        self.slab_nomerge = on;
        self
    }
}

/// How the simulated kernel stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelStop {
    /// An oops: the report was printed, the current task would be killed.
    Oops(Oops),
    /// `panic()`: the report was printed, the machine would stop.
    Panic(String),
}

impl KernelStop {
    /// The signal that ends the task an oops killed: SIGKILL after `page_fault_oops()`, SIGSEGV after
    /// `die()` (a `BUG()`, a general protection fault, a stack guard page hit); `None` for a panic.
    ///
    /// Context: any.
    pub fn signal(&self) -> Option<i32> {
        match self {
            KernelStop::Oops(Oops { kind: OopsKind::PageFault { .. }, .. }) => Some(9),
            KernelStop::Oops(_) => Some(11),
            KernelStop::Panic(_) => None,
        }
    }
}

/// An oops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oops {
    /// What happened.
    pub kind: OopsKind,
    /// The function the fault happened in (the RIP symbol).
    pub function: String,
}

/// Kinds of oops the slab layer produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OopsKind {
    /// `BUG_ON()`: `kernel BUG at <file>:<line>!` (invalid opcode).
    Bug { file: String, line: u32 },
    /// A read of an unmapped canonical address: `BUG: unable to handle page fault for address: ...`.
    PageFault { addr: u64 },
    /// A non-canonical address: `general protection fault, probably for non-canonical address ...`.
    GeneralProtection { addr: u64 },
}

impl fmt::Display for KernelStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelStop::Panic(m) => write!(f, "Kernel panic - not syncing: {m}"),
            KernelStop::Oops(o) => match &o.kind {
                OopsKind::Bug { file, line } => {
                    write!(f, "kernel BUG at {file}:{line}! in {}", o.function)
                }
                OopsKind::PageFault { addr } => {
                    write!(f, "page fault at {addr:#018x} in {}", o.function)
                }
                OopsKind::GeneralProtection { addr } => {
                    write!(f, "general protection fault at {addr:#018x} in {}", o.function)
                }
            },
        }
    }
}

/// Why `kmem_cache_create` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheCreateError {
    /// `-EINVAL`.
    Inval,
    /// `-ENOMEM`.
    NoMem,
    /// `-ENOSYS` (object too large for any slab order).
    NoSys,
    /// `-EEXIST` (`sysfs_slab_add()`: `/sys/kernel/slab` already has the name).
    Exist,
}

impl CacheCreateError {
    /// The errno value the kernel prints.
    pub fn errno(self) -> i32 {
        match self {
            CacheCreateError::Inval => -22,
            CacheCreateError::NoMem => -12,
            CacheCreateError::NoSys => -38,
            CacheCreateError::Exist => -17,
        }
    }
}

/// One row of `/proc/slabinfo` (`struct slabinfo` plus name and size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    /// Cache name.
    pub name: String,
    /// `active_objs`.
    pub active_objs: u64,
    /// `num_objs`.
    pub num_objs: u64,
    /// `s->size`.
    pub objsize: u32,
    /// `objects_per_slab`.
    pub objects_per_slab: u32,
    /// `1 << cache_order`.
    pub pages_per_slab: u32,
    /// `active_slabs`.
    pub active_slabs: u64,
    /// `num_slabs`.
    pub num_slabs: u64,
}

/// A fast hasher for pfn keys.
#[derive(Default, Clone, Copy)]
pub(crate) struct PfnHasher(u64);
impl std::hash::Hasher for PfnHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
pub(crate) type PfnMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<PfnHasher>>;

/// All slab state of the machine.
#[derive(Debug, Default)]
pub struct SlabState {
    pub(crate) cfg: SlabConfig,
    /// Caches by `CacheId` (None once released).
    pub(crate) caches: Vec<Option<KmemCache>>,
    /// `slab_caches`, oldest first (the kernel's list reversed).
    pub(crate) slab_caches: Vec<CacheId>,
    /// `kmalloc_caches[type][index]`.
    pub(crate) kmalloc_caches: [[Option<CacheId>; 14]; NR_KMALLOC_TYPES],
    /// The `kmem_buckets` that `kmem_buckets_create()` made, by the address of their object.
    pub(crate) buckets: std::collections::HashMap<u64, [Option<CacheId>; 14]>,
    /// `struct slab` of every slab page (by head pfn).
    pub(crate) slabs: PfnMap<Slab>,
    pub(crate) kmem_cache: Option<CacheId>,
    pub(crate) kmem_cache_node: Option<CacheId>,
    /// `slub_debug` global flags.
    pub(crate) slub_debug: SlabFlags,
    /// `slub_debug_string`.
    pub(crate) slub_debug_string: Option<String>,
    pub(crate) disable_higher_order_debug: bool,
    /// `slub_debug_enabled` static key.
    pub(crate) slub_debug_enabled: bool,
    /// `no_hash_pointers`.
    pub(crate) no_hash_pointers: bool,
    /// `slab_state >= UP`.
    pub(crate) up: bool,
    /// Fictional text addresses of functions (for `struct track`'s `addr` and the stack depot).
    pub(crate) symbols: Vec<Frame>,
    pub(crate) symbol_index: HashMap<(String, Option<String>, u32, u32), u32>,
    /// The stack depot: handle - 1 indexes it.
    pub(crate) depot: Vec<Vec<u64>>,
    pub(crate) depot_index: HashMap<Vec<u64>, u32>,
    /// Constructor work for the façade.
    pub(crate) pending_ctors: Vec<(CtorId, u64)>,
    /// Oops or panic.
    pub(crate) stop: Option<KernelStop>,
    pub(crate) failslab: Option<crate::fault_inject::FaultAttr>,
    pub(crate) rng: u64,
    /// `pr_warn_once` in `free_large_kmalloc` done.
    pub(crate) warned_large_order0: bool,
    /// slab_out_of_memory rate limit (jiffies of the last burst start, count).
    pub(crate) oom_rs: (u64, u32),
    /// `stack_table` of lib/stackdepot.c (0 until `stack_depot_init()`; 1 when its allocation failed).
    pub(crate) stack_table: u64,
    /// The Rust paths of the modules' constructors (`ctor_show()`).
    pub(crate) ctor_frames: HashMap<CtorId, Frame>,
    /// `/sys/kernel/slab` (`slab_kset`) and `slab_state == FULL` (crate::slub::sysfs).
    pub(crate) kset: crate::slub::sysfs::SlabKset,
}

/// Base of the fictional kernel text addresses.
const TEXT_BASE: u64 = 0xffff_ffff_8100_0000;
/// Base of the fictional module text addresses.
const MODULE_TEXT_BASE: u64 = 0xffff_ffff_a000_0000;

impl Machine {
    // ------------------------------------------------------------------ small helpers shared with slub.rs

    /// `%p`: the raw address with `no_hash_pointers` (implied by `slab_debug`), else the kernel's 32-bit hash
    /// (deterministic here), both as 16 hex digits; NULL prints as zeros.
    ///
    /// Context: any.
    pub fn format_ptr(&self, p: u64) -> String {
        if p == 0 || self.slab.no_hash_pointers || p >= u64::MAX - 4095 {
            return format!("{p:016x}");
        }
        let mut z = p ^ self.slab.cfg.seed.rotate_left(17);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        format!("{:016x}", z & 0xffff_ffff)
    }

    /// `%pS` of a fictional text address.
    pub(crate) fn format_symbol(&self, addr: u64) -> String {
        match self.symbol_of(addr) {
            Some(f) if self.in_freed_init(f) => format!("{addr:#x}"),
            Some(f) => match &f.module {
                Some(m) => format!("{}+{:#x}/{:#x} [{m}]", f.func, f.offset, f.size),
                None => format!("{}+{:#x}/{:#x}", f.func, f.offset, f.size),
            },
            None => format!("{addr:#x}"),
        }
    }

    /// The frame a fictional text address stands for.
    pub(crate) fn symbol_of(&self, addr: u64) -> Option<&Frame> {
        let (base, idx) = if addr >= MODULE_TEXT_BASE {
            (MODULE_TEXT_BASE, (addr - MODULE_TEXT_BASE) >> 12)
        } else if addr >= TEXT_BASE {
            (TEXT_BASE, (addr - TEXT_BASE) >> 12)
        } else {
            return None;
        };
        let _ = base;
        self.slab.symbols.get(idx as usize)
    }

    /// A fictional text address for a frame (stable per frame).
    pub(crate) fn text_address(&mut self, f: &Frame) -> u64 {
        let key = (f.func.to_string(), f.module.clone(), f.offset, f.size);
        let idx = match self.slab.symbol_index.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.slab.symbols.len() as u32;
                self.slab.symbols.push(f.clone());
                self.slab.symbol_index.insert(key, i);
                i
            }
        };
        let base = if f.module.is_some() { MODULE_TEXT_BASE } else { TEXT_BASE };
        base + ((idx as u64) << 12) + f.offset as u64
    }

    /// A frame for a kernel function name (offsets as part 1 derives them).
    pub(crate) fn kernel_frame(name: &str) -> Frame {
        Frame::kernel(name.to_string())
    }

    /// `_RET_IP_` of the entry point `entry` about to run: the real frame that calls it, with the return
    /// offset of that call (a C helper that tail-calls `entry` leaves no frame: its caller is `_RET_IP_`).
    pub(crate) fn caller_frame_of(&self, entry: &str) -> Frame {
        let mut path = self.stack.frames.clone();
        path.push(Frame::kernel(entry.to_string()));
        let real = self.realize(&path);
        match real.as_slice() {
            [.., caller, last] if last.func == entry => caller.clone(),
            [.., last] if last.func != entry => last.clone(),
            _ => self.stack.frames.last().cloned().unwrap_or_else(|| Self::kernel_frame("kernel_init")),
        }
    }

    /// `stack_depot_init()` (lib/stackdepot.c) for the first cache created with `SLAB_STORE_USER` after boot:
    /// the hash table is sized from `nr_free_buffer_pages()` (rounded up to a power of two, one entry per
    /// `1 << STACK_HASH_TABLE_SCALE` (14) bytes, at least 4096 and at most 1M entries), announced, and
    /// allocated with `kvcalloc()` (a `list_head` per entry).
    ///
    /// Context: process context, may sleep.
    pub(crate) fn stack_depot_init(&mut self) {
        if self.slab.stack_table != 0 {
            return;
        }
        let entries = (self.nr_free_buffer_pages().max(1).next_power_of_two() >> (14 - 12)).clamp(1 << 12, 1 << 20);
        self.printk(LogLevel::Info, &format!("stackdepot: allocating hash table of {entries} entries via kvcalloc\n"));
        let depth = self.stack.frames.len();
        self.push_kframe("stack_depot_init");
        let t = self.kvcalloc(entries, 16, Gfp::GFP_KERNEL);
        self.stack.frames.truncate(depth);
        if t == 0 {
            self.printk(LogLevel::Err, "stackdepot: hash table allocation failed, disabling\n");
        }
        self.slab.stack_table = t.max(1);
    }

    /// Saves `entries` (innermost first) in the stack depot; returns the handle (never 0).
    pub(crate) fn stack_depot_save(&mut self, entries: Vec<u64>) -> u32 {
        if let Some(&h) = self.slab.depot_index.get(&entries) {
            return h;
        }
        self.slab.depot.push(entries.clone());
        let h = self.slab.depot.len() as u32;
        self.slab.depot_index.insert(entries, h);
        h
    }

    /// `stack_depot_print()`: one ` func+0x../0x..` line per entry at the default level.
    pub(crate) fn stack_depot_print(&mut self, handle: u32) {
        let Some(entries) = self.slab.depot.get(handle.wrapping_sub(1) as usize).cloned() else {
            return;
        };
        for e in entries {
            let s = self.format_symbol(e);
            self.printk(LogLevel::Default, &format!(" {s}\n"));
        }
    }

    // ------------------------------------------------------------------ stop states

    /// How the simulated kernel stopped, if it did (oops or panic). See the module documentation.
    ///
    /// Context: any.
    pub fn kernel_stop(&self) -> Option<&KernelStop> {
        self.slab.stop.as_ref()
    }

    /// Takes (clears) the stop state, e.g. after a runner reported it.
    ///
    /// Context: any.
    pub fn take_kernel_stop(&mut self) -> Option<KernelStop> {
        self.slab.stop.take()
    }

    /// Constructor work queued by allocations that created new slabs: `(ctor, object)` pairs, in the order the
    /// kernel's `setup_object()` would have run them. The façade runs them before returning the new object.
    ///
    /// Context: any.
    pub fn take_pending_ctors(&mut self) -> Vec<(CtorId, u64)> {
        std::mem::take(&mut self.slab.pending_ctors)
    }

    /// `panic()`: `Kernel panic - not syncing: <msg>`; a stack dump unless an oops already tainted the kernel
    /// (`TAINT_DIE`); the panic notifiers (x86's `dump_kernel_offset()`: `Kernel Offset: disabled` without
    /// KASLR); then, with a `panic=` timeout (the book's `panic=-1`), the reboot, before the end marker
    /// could be printed; without one, the end marker. Records [`KernelStop::Panic`].
    ///
    /// Context: any.
    pub fn kernel_panic(&mut self, msg: &str) {
        let msg = msg.trim_end_matches('\n').to_string();
        self.printk(LogLevel::Emerg, &format!("Kernel panic - not syncing: {msg}\n"));
        if !self.test_taint(crate::panic::Taint::Die) {
            self.dump_stack_with(&["panic"]);
        }
        if self.layout.arch == crate::machine::Arch::X86_64 {
            if self.cfg.kaslr_seed.is_some() {
                let off = self.layout.start_kernel_map;
                self.printk(LogLevel::Emerg, &format!("Kernel Offset: randomised from {off:#x}\n"));
            } else {
                self.printk(LogLevel::Emerg, "Kernel Offset: disabled\n");
            }
        }
        if self.cfg.panic_timeout == 0 {
            self.printk(LogLevel::Emerg, &format!("---[ end Kernel panic - not syncing: {msg} ]---\n"));
        }
        if self.slab.stop.is_none() {
            self.slab.stop = Some(KernelStop::Panic(msg));
        }
    }

    /// `die()` for a trap in the current path: a `BUG()` (`kernel BUG at file:line!` and the oops of an
    /// invalid opcode), a page fault or a general protection fault, with the registers, the call trace and the
    /// executive summary (panic.rs). Records [`KernelStop::Oops`].
    pub(crate) fn die(&mut self, kind: OopsKind) {
        let function = self.realized_stack().last().map(|f| f.func.to_string()).unwrap_or_default();
        match &kind {
            OopsKind::Bug { file, line } => {
                let (file, line) = (file.clone(), *line);
                self.bug_oops(&file, line, &[]);
            }
            OopsKind::PageFault { addr } => {
                // A read by the simulated kernel code itself (the simulator checks its accesses).
                self.page_fault_oops(*addr, 0);
                return;
            }
            OopsKind::GeneralProtection { addr } => {
                let rip = self.realized_stack().last().cloned().unwrap_or_else(|| Frame::kernel("0x0"));
                let what = format!("general protection fault, probably for non-canonical address {addr:#x}: 0000");
                self.oops_report(&what, &rip, None, &[]);
            }
        }
        if self.slab.stop.is_none() {
            self.slab.stop = Some(KernelStop::Oops(Oops { kind, function }));
        }
    }

    pub(crate) fn format_frame(&self, f: &Frame) -> String {
        match &f.module {
            Some(m) => format!("{}+{:#x}/{:#x} [{m}]", f.func, f.offset, f.size),
            None => format!("{}+{:#x}/{:#x}", f.func, f.offset, f.size),
        }
    }

    /// The oops for dereferencing `addr` (page fault, or GP fault for a non-canonical address).
    pub(crate) fn die_on_access(&mut self, addr: u64) {
        let canonical = !(0x0000_8000_0000_0000..0xffff_8000_0000_0000).contains(&addr);
        if canonical {
            self.die(OopsKind::PageFault { addr });
        } else {
            self.die(OopsKind::GeneralProtection { addr });
        }
    }

    // ------------------------------------------------------------------ boot

    /// `kmem_cache_init()` + `create_kmalloc_caches()`: parses the slab boot options, creates the bootstrap
    /// caches `kmem_cache_node` and `kmem_cache`, the kmalloc caches of every type (8 .. 8k, 96, 192), and
    /// `kmalloc_buckets`, and prints the `SLUB:` boot line. Called by boot.
    ///
    /// Context: boot.
    pub(crate) fn kmem_cache_init(&mut self, cfg: SlabConfig) {
        self.slab.no_hash_pointers = cfg.no_hash_pointers;
        self.slab.rng = cfg.seed | 1;
        self.slab.failslab = cfg.failslab.clone().map(|c| crate::fault_inject::FaultAttr::new("failslab", c));
        self.slab.cfg = cfg;
        if let Some(s) = self.slab.cfg.slab_debug.clone() {
            self.setup_slub_debug(&s);
        }
        if self.slab.slub_debug_enabled && !self.slab.no_hash_pointers {
            self.no_hash_pointers_enable();
        }
        let node = self.create_boot_cache("kmem_cache_node", 64, SLAB_HWCACHE_ALIGN | SLAB_NO_OBJ_EXT, 0, 0);
        self.slab.kmem_cache_node = Some(node);
        let kc = self.create_boot_cache("kmem_cache", 224, SLAB_HWCACHE_ALIGN | SLAB_NO_OBJ_EXT, 0, 0);
        self.slab.kmem_cache = Some(kc);
        // bootstrap(): the static caches become real objects of kmem_cache, and get their node objects.
        for id in [kc, node] {
            self.slab_caches_push(id);
            self.cache_meta_alloc(id);
        }
        self.create_kmalloc_caches();
        let cpus = self.cfg.cpus;
        let (min_o, max_o, min_obj) =
            (self.slab.cfg.slub_min_order, self.slab.cfg.slub_max_order, self.slab.cfg.slub_min_objects);
        self.printk(
            LogLevel::Info,
            &format!(
                "SLUB: HWalign={CACHE_LINE_SIZE}, Order={min_o}-{max_o}, MinObjects={min_obj}, CPUs={cpus}, Nodes=1\n"
            ),
        );
    }

    fn no_hash_pointers_enable(&mut self) {
        self.slab.no_hash_pointers = true;
        let lines = [
            "**********************************************************",
            "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **",
            "**                                                      **",
            "** This system shows unhashed kernel memory addresses   **",
            "** via the console, logs, and other interfaces. This    **",
            "** might reduce the security of your system.            **",
            "**                                                      **",
            "** If you see this message and you are not debugging    **",
            "** the kernel, report this immediately to your system   **",
            "** administrator!                                       **",
            "**                                                      **",
            "**   NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE NOTICE   **",
            "**********************************************************",
        ];
        for l in lines {
            self.printk(LogLevel::Warning, &format!("{l}\n"));
        }
    }

    fn slab_caches_push(&mut self, id: CacheId) {
        self.slab.slab_caches.push(id);
    }

    /// Allocates the `struct kmem_cache` object and its `kmem_cache_node` for a cache (what
    /// `kmem_cache_zalloc(kmem_cache)` and `init_kmem_cache_nodes()` do), so `/proc/slabinfo` counts them.
    fn cache_meta_alloc(&mut self, id: CacheId) {
        let (Some(kc), Some(kn)) = (self.slab.kmem_cache, self.slab.kmem_cache_node) else {
            return;
        };
        let a = self.slab_alloc_node(kc, Gfp::GFP_NOWAIT | Gfp::__GFP_ZERO, 224, "kmem_cache_alloc_noprof", true);
        let b = self.slab_alloc_node(kn, Gfp::GFP_NOWAIT | Gfp::__GFP_ZERO, 64, "kmem_cache_alloc_node_noprof", true);
        if let Some(Some(c)) = self.slab.caches.get_mut(id.0 as usize) {
            c.meta_objects = (a, b);
        }
    }

    fn create_boot_cache(
        &mut self,
        name: &str,
        size: u32,
        flags: SlabFlags,
        useroffset: u32,
        usersize: u32,
    ) -> CacheId {
        let mut align = ARCH_KMALLOC_MINALIGN;
        if flags & SLAB_KMALLOC != 0 {
            align = align.max(1 << size.trailing_zeros());
        }
        let mut args = KmemCacheArgs { align: calculate_alignment(flags, align, size), ..Default::default() };
        if self.slab.cfg.hardened_usercopy {
            args.useroffset = useroffset;
            args.usersize = usersize;
        }
        match self.do_kmem_cache_create(name, size, &args, flags) {
            Ok(id) => {
                if let Some(Some(c)) = self.slab.caches.get_mut(id.0 as usize) {
                    c.refcount = -1;
                }
                id
            }
            Err(e) => {
                self.kernel_panic(&format!(
                    "Creation of kmalloc slab {name} size={size} failed. Reason {}\n",
                    e.errno()
                ));
                CacheId(u32::MAX)
            }
        }
    }

    fn create_kmalloc_cache(&mut self, name: &str, size: u32, flags: SlabFlags) -> CacheId {
        let id = self.create_boot_cache(name, size, flags | SLAB_KMALLOC, 0, size);
        self.slab_caches_push(id);
        self.cache_meta_alloc(id);
        if let Some(Some(c)) = self.slab.caches.get_mut(id.0 as usize) {
            c.refcount = 1;
        }
        id
    }

    fn new_kmalloc_cache(&mut self, idx: usize, t: KmallocType) {
        let mut flags = 0;
        match t {
            KmallocType::Reclaim => flags |= SLAB_RECLAIM_ACCOUNT,
            KmallocType::Cgroup => flags |= SLAB_ACCOUNT,
            KmallocType::Dma => flags |= SLAB_CACHE_DMA,
            KmallocType::Normal => {
                if self.slab.cfg.memcg {
                    flags |= SLAB_NO_MERGE;
                }
            }
        }
        if self.slab.kmalloc_caches[t as usize][idx].is_none() {
            let (size, short) = KMALLOC_INFO[idx];
            let name = match t {
                KmallocType::Normal => format!("kmalloc-{short}"),
                KmallocType::Reclaim => format!("kmalloc-rcl-{short}"),
                KmallocType::Dma => format!("dma-kmalloc-{short}"),
                KmallocType::Cgroup => format!("kmalloc-cg-{short}"),
            };
            let id = self.create_kmalloc_cache(&name, size, flags);
            self.slab.kmalloc_caches[t as usize][idx] = Some(id);
        }
    }

    fn create_kmalloc_caches(&mut self) {
        let types: &[KmallocType] = if self.slab.cfg.memcg {
            &[KmallocType::Normal, KmallocType::Reclaim, KmallocType::Dma, KmallocType::Cgroup]
        } else {
            &[KmallocType::Normal, KmallocType::Reclaim, KmallocType::Dma]
        };
        for &t in types {
            self.new_kmalloc_cache(1, t);
            self.new_kmalloc_cache(2, t);
            for i in KMALLOC_SHIFT_LOW as usize..=KMALLOC_SHIFT_HIGH as usize {
                self.new_kmalloc_cache(i, t);
            }
        }
        if !self.slab.cfg.memcg {
            // KMALLOC_CGROUP == KMALLOC_NORMAL without CONFIG_MEMCG.
            self.slab.kmalloc_caches[KmallocType::Cgroup as usize] = self.slab.kmalloc_caches[0];
        }
        self.slab.up = true;
        if self.slab.cfg.slab_buckets {
            // sizeof(kmem_buckets) = 14 pointers.
            let _ = self.kmem_cache_create("kmalloc_buckets", 14 * 8, 0, SLAB_NO_MERGE, None);
        }
    }

    // ------------------------------------------------------------------ cache creation

    /// `kmem_cache_create(name, size, align, flags, ctor)`: the 6.12 macro over
    /// [`Machine::__kmem_cache_create_args`]. `None` on failure (after the kernel's warning; with
    /// `SLAB_PANIC` the simulated kernel panics, see [`Machine::kernel_stop`]).
    ///
    /// Context: process context, may sleep.
    pub fn kmem_cache_create(
        &mut self,
        name: &str,
        size: u32,
        align: u32,
        flags: SlabFlags,
        ctor: Option<CtorId>,
    ) -> Option<CacheId> {
        let mut args = KmemCacheArgs { align, ctor, ..Default::default() };
        self.__kmem_cache_create_args(name, size, &mut args, flags)
    }

    /// `kmem_cache_create_usercopy()`.
    ///
    /// Context: process context, may sleep.
    #[allow(clippy::too_many_arguments)]
    pub fn kmem_cache_create_usercopy(
        &mut self,
        name: &str,
        size: u32,
        align: u32,
        flags: SlabFlags,
        useroffset: u32,
        usersize: u32,
        ctor: Option<CtorId>,
    ) -> Option<CacheId> {
        let mut args = KmemCacheArgs { align, useroffset, usersize, ctor, ..Default::default() };
        self.__kmem_cache_create_args(name, size, &mut args, flags)
    }

    /// `__kmem_cache_create_args(name, object_size, args, flags)`: looks for a cache to merge with
    /// (`find_mergeable()`: no debug flags, no ctor, no usercopy region, same `SLAB_MERGE_SAME` flags, a size
    /// within one word after alignment, not with `slab_nomerge`), else creates a new cache. Returns the cache
    /// (an alias shares its target's handle) or `None` after printing `__kmem_cache_create_args(<name>) failed
    /// with error <err>` and a stack dump (or panicking with `SLAB_PANIC`).
    ///
    /// Context: process context, may sleep.
    #[allow(non_snake_case)]
    pub fn __kmem_cache_create_args(
        &mut self,
        name: &str,
        object_size: u32,
        args: &mut KmemCacheArgs,
        mut flags: SlabFlags,
    ) -> Option<CacheId> {
        let depth = self.stack.frames.len();
        self.push_kframe("__kmem_cache_create_args");
        if flags & SLAB_DEBUG_FLAGS != 0 {
            self.slab.slub_debug_enabled = true;
        }
        if flags & SLAB_STORE_USER != 0 {
            self.stack_depot_init();
        }
        let r = (|| {
            if flags & !SLAB_FLAGS_PERMITTED != 0 {
                return Err(CacheCreateError::Inval);
            }
            flags &= CACHE_CREATE_MASK;
            if !self.slab.cfg.hardened_usercopy
                || (args.usersize == 0 && args.useroffset != 0)
                || object_size < args.usersize
                || object_size - args.usersize < args.useroffset
            {
                if self.slab.cfg.hardened_usercopy && (args.usersize != 0 || args.useroffset != 0) {
                    self.warn("mm/slab_common.c", 343, None);
                }
                args.usersize = 0;
                args.useroffset = 0;
            }
            if let Some(s) = self.__kmem_cache_alias(name, object_size, flags, args) {
                return Ok(s);
            }
            args.align = calculate_alignment(flags, args.align, object_size);
            self.create_cache(name, object_size, args, flags)
        })();
        self.stack.frames.truncate(depth);
        match r {
            Ok(s) => Some(s),
            Err(e) => {
                let err = e.errno();
                if flags & SLAB_PANIC != 0 {
                    self.push_kframe("__kmem_cache_create_args");
                    self.kernel_panic(&format!(
                        "__kmem_cache_create_args: Failed to create slab '{name}'. Error {err}"
                    ));
                    self.stack.frames.truncate(depth);
                } else {
                    self.printk(
                        LogLevel::Warning,
                        &format!("__kmem_cache_create_args({name}) failed with error {err}\n"),
                    );
                    self.push_kframe("__kmem_cache_create_args");
                    self.dump_stack();
                    self.stack.frames.truncate(depth);
                }
                None
            }
        }
    }

    /// `slab_unmergeable()`: `slab_nomerge`, a `SLAB_NEVER_MERGE` flag, a constructor, a usercopy region, or
    /// a boot cache still being made (`refcount < 0`).
    pub(crate) fn slab_unmergeable(&self, s: &KmemCache) -> bool {
        self.slab.cfg.slab_nomerge
            || s.flags & SLAB_NEVER_MERGE != 0
            || s.ctor.is_some()
            || s.usersize != 0
            || s.refcount < 0
    }

    fn find_mergeable(&self, size: u32, flags: SlabFlags, name: &str, args: &KmemCacheArgs) -> Option<CacheId> {
        if self.slab.cfg.slab_nomerge || args.ctor.is_some() || args.usersize != 0 {
            return None;
        }
        let flags = self.kmem_cache_flags(flags, name);
        if flags & SLAB_NEVER_MERGE != 0 {
            return None;
        }
        let size = align_up(size, 8);
        let align = calculate_alignment(flags, args.align, size);
        let size = align_up(size, align);
        for &id in &self.slab.slab_caches {
            let Some(Some(s)) = self.slab.caches.get(id.0 as usize) else {
                continue;
            };
            if self.slab_unmergeable(s) || size > s.size {
                continue;
            }
            if flags & SLAB_MERGE_SAME != s.flags & SLAB_MERGE_SAME {
                continue;
            }
            if s.size & !(align - 1) != s.size {
                continue;
            }
            if s.size - size >= 8 {
                continue;
            }
            return Some(id);
        }
        None
    }

    #[allow(non_snake_case)]
    fn __kmem_cache_alias(&mut self, name: &str, size: u32, flags: SlabFlags, args: &KmemCacheArgs) -> Option<CacheId> {
        let id = self.find_mergeable(size, flags, name, args)?;
        self.sysfs_slab_alias(id, name).ok()?;
        let s = self.slab.caches[id.0 as usize].as_mut()?;
        s.refcount += 1;
        s.object_size = s.object_size.max(size);
        s.inuse = s.inuse.max(align_up(size, 8));
        s.aliases.push(name.to_string());
        Some(id)
    }

    fn create_cache(
        &mut self,
        name: &str,
        object_size: u32,
        args: &mut KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<CacheId, CacheCreateError> {
        if args.useroffset + args.usersize > object_size {
            self.warn("mm/slab_common.c", 229, None);
            args.useroffset = 0;
            args.usersize = 0;
        }
        if args.use_freeptr_offset
            && (args.freeptr_offset >= object_size || flags & SLAB_TYPESAFE_BY_RCU == 0 || args.freeptr_offset % 8 != 0)
        {
            return Err(CacheCreateError::Inval);
        }
        // kmem_cache_zalloc(kmem_cache, GFP_KERNEL)
        let id = self.do_kmem_cache_create(name, object_size, args, flags)?;
        self.cache_meta_alloc(id);
        // do_kmem_cache_create(): once sysfs is up (slab_state == FULL) the cache gets its directory now.
        if self.slab_sysfs_up() {
            if self.sysfs_slab_add(id).is_err() {
                // __kmem_cache_release(), then kmem_cache_free(kmem_cache, s) in create_cache().
                let meta = self.slab.caches[id.0 as usize].as_ref().map(|c| c.meta_objects).unwrap_or((0, 0));
                self.free_cache_cpus(id);
                self.free_cache_meta(meta);
                self.slab.caches[id.0 as usize] = None;
                return Err(CacheCreateError::Exist);
            }
            if self.cache(id).is_some_and(|c| c.flags & SLAB_STORE_USER != 0) {
                self.debugfs_slab_add(id);
            }
        }
        if let Some(Some(c)) = self.slab.caches.get_mut(id.0 as usize) {
            c.refcount = 1;
        }
        self.slab_caches_push(id);
        Ok(id)
    }

    // ------------------------------------------------------------------ destroy / shrink / queries

    /// `kmem_cache_destroy(s)`: waits for the `kfree_rcu()`s in flight (`kvfree_rcu_barrier()`: they may
    /// include objects of this cache), then drops a reference; at the last one shuts the cache down. A cache that still
    /// has objects gets the `Objects remaining on __kmem_cache_shutdown()` report per partial slab, then the
    /// `kmem_cache_destroy <name>: Slab cache still has objects when called from <caller>` warning; it leaves
    /// the cache list but its slabs stay allocated (leaked), as in the kernel.
    ///
    /// Context: process context, may sleep.
    pub fn kmem_cache_destroy(&mut self, s: Option<CacheId>) {
        let Some(id) = s else { return };
        let caller = self.caller_frame_of("kmem_cache_destroy");
        // In-flight kfree_rcu()s may include objects of this cache.
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_cache_destroy");
        self.kvfree_rcu_barrier();
        self.stack.frames.truncate(depth);
        let Some(Some(c)) = self.slab.caches.get_mut(id.0 as usize) else {
            return;
        };
        c.refcount -= 1;
        if c.refcount != 0 {
            return;
        }
        let name = c.name.clone();
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_cache_destroy");
        let err = self.__kmem_cache_shutdown(id);
        if err {
            let who = self.format_frame(&caller);
            self.warn(
                "mm/slab_common.c",
                549,
                Some(&format!("kmem_cache_destroy {name}: Slab cache still has objects when called from {who}")),
            );
        }
        self.stack.frames.truncate(depth);
        self.slab.slab_caches.retain(|&x| x != id);
        // sysfs_slab_unlink() and debugfs_slab_release(), even for a cache that keeps its objects.
        self.sysfs_slab_unlink(id);
        if err {
            return;
        }
        // kmem_cache_release() → __kmem_cache_release(): free_percpu(s->cpu_slab), then the kmem_cache and
        // kmem_cache_node objects.
        let meta = self.slab.caches[id.0 as usize].as_ref().map(|c| c.meta_objects).unwrap_or((0, 0));
        self.free_cache_cpus(id);
        self.free_cache_meta(meta);
        self.slab.caches[id.0 as usize] = None;
    }

    /// `free_percpu(s->cpu_slab)` of `__kmem_cache_release()`.
    fn free_cache_cpus(&mut self, id: CacheId) {
        let p = self.slab.caches[id.0 as usize].as_ref().map(|c| c.cpu_slab_pcpu).unwrap_or(0);
        self.free_percpu(p);
    }

    /// Frees a cache's `struct kmem_cache` and `kmem_cache_node` objects.
    fn free_cache_meta(&mut self, meta: (u64, u64)) {
        for (p, cache) in [(meta.1, self.slab.kmem_cache_node), (meta.0, self.slab.kmem_cache)] {
            if p != 0 {
                if let Some(cache) = cache {
                    self.slab_free_object(cache, p, "kmem_cache_free");
                }
            }
        }
    }

    /// `kmem_cache_size(s)`: the object size.
    ///
    /// Context: any.
    pub fn kmem_cache_size(&self, s: CacheId) -> u32 {
        self.cache(s).map(|c| c.object_size).unwrap_or(0)
    }

    /// The cache's name.
    ///
    /// Context: any.
    pub fn kmem_cache_name(&self, s: CacheId) -> Option<&str> {
        self.cache(s).map(|c| c.name.as_str())
    }

    /// The address of the cache's `struct kmem_cache` (the object `__kmem_cache_create_args()`
    /// returns: an alias gets its target's), or 0 for a boot cache created before the `kmem_cache`
    /// cache existed.
    ///
    /// Context: any.
    pub fn kmem_cache_addr(&self, s: CacheId) -> u64 {
        self.cache(s).map(|c| c.meta_objects.0).unwrap_or(0)
    }

    /// The cache named `name` (a listed cache, not an alias name).
    ///
    /// Context: any.
    pub fn find_cache(&self, name: &str) -> Option<CacheId> {
        self.slab.slab_caches.iter().copied().find(|&id| self.cache(id).is_some_and(|c| c.name == name))
    }

    /// The kmalloc cache of a type and kmalloc index.
    ///
    /// Context: any.
    pub fn kmalloc_cache(&self, t: KmallocType, index: usize) -> Option<CacheId> {
        self.slab.kmalloc_caches[t as usize].get(index).copied().flatten()
    }

    pub(crate) fn cache(&self, s: CacheId) -> Option<&KmemCache> {
        self.slab.caches.get(s.0 as usize).and_then(|c| c.as_ref())
    }

    /// Read-only view of a cache's geometry: (object_size, size, offset, inuse, align, red_left_pad,
    /// objects per slab, order, flags).
    ///
    /// Context: any.
    pub fn kmem_cache_layout(&self, s: CacheId) -> Option<CacheLayout> {
        self.cache(s).map(|c| CacheLayout {
            name: c.name.clone(),
            object_size: c.object_size,
            size: c.size,
            offset: c.offset,
            inuse: c.inuse,
            align: c.align,
            red_left_pad: c.red_left_pad,
            objects: c.oo_objects,
            order: c.oo_order,
            min_partial: c.min_partial,
            cpu_partial: c.cpu_partial,
            flags: c.flags,
            refcount: c.refcount,
            aliases: c.aliases.clone(),
        })
    }

    // ------------------------------------------------------------------ kmalloc family

    fn kmalloc_slab(&self, size: u64, flags: Gfp) -> Option<CacheId> {
        let t = kmalloc_type(flags, self.slab.cfg.memcg);
        self.slab.kmalloc_caches[t as usize][kmalloc_slab_index(size)]
    }

    /// `__do_kmalloc_node()` with the kernel function `entry` as the allocator entry point.
    pub(crate) fn do_kmalloc(&mut self, size: u64, flags: Gfp, entry: &'static str) -> u64 {
        if size > KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_large(size, flags, entry);
        }
        if size == 0 {
            return ZERO_SIZE_PTR;
        }
        let Some(s) = self.kmalloc_slab(size, flags) else {
            return 0;
        };
        self.slab_alloc_node(s, flags, size as u32, entry, false)
    }

    /// `___kmalloc_large_node()`: pages with `__GFP_COMP` at `get_order(size)`.
    fn kmalloc_large(&mut self, size: u64, mut flags: Gfp, entry: &'static str) -> u64 {
        let order = get_order(size);
        let depth = self.stack.frames.len();
        self.push_kframe(entry);
        // `__kmalloc_large_node_noprof()` and `kmalloc_large` entry points inline or tail-call into it.
        self.push_kframe("___kmalloc_large_node");
        if flags.0 & GFP_SLAB_BUG_MASK != 0 {
            flags = self.kmalloc_fix_flags(flags);
        }
        flags |= Gfp::__GFP_COMP;
        let r = self.alloc_pages(flags, order);
        self.stack.frames.truncate(depth);
        match r {
            Some(p) => self.page_address(p),
            None => 0,
        }
    }

    /// `kmalloc_fix_flags()`: `Unexpected gfp: ... Fix your code!` and a stack dump.
    pub(crate) fn kmalloc_fix_flags(&mut self, flags: Gfp) -> Gfp {
        let invalid = Gfp(flags.0 & GFP_SLAB_BUG_MASK);
        let fixed = Gfp(flags.0 & !GFP_SLAB_BUG_MASK);
        self.printk(
            LogLevel::Warning,
            &format!(
                "Unexpected gfp: {:#x} ({}). Fixing up to gfp: {:#x} ({}). Fix your code!\n",
                invalid.0,
                crate::gfp::format_gfp_names(invalid),
                fixed.0,
                crate::gfp::format_gfp_names(fixed)
            ),
        );
        self.dump_stack_with(&["kmalloc_fix_flags"]);
        fixed
    }

    /// `kmalloc(size, flags)`: an object of the kmalloc cache of the size class and type (`kmalloc_type()`:
    /// `__GFP_DMA` -> `dma-kmalloc-N`, `__GFP_RECLAIMABLE` -> `kmalloc-rcl-N`, `__GFP_ACCOUNT` ->
    /// `kmalloc-cg-N`), pages with `__GFP_COMP` above 8 KiB, `ZERO_SIZE_PTR` (16) for 0 bytes, 0 (NULL) on
    /// failure. The module calls `__kmalloc_noprof` (the Rust bindings' entry point).
    ///
    /// Context: any; a gfp that allows blocking needs process context outside atomic sections.
    pub fn kmalloc(&mut self, size: u64, flags: Gfp) -> u64 {
        self.do_kmalloc(size, flags, "__kmalloc_noprof")
    }

    /// `__kmalloc_node_noprof(size, NULL, flags, node)` (and `__kmalloc_node_track_caller_noprof()`, `entry`
    /// names which): `kmalloc()` on a preferred node. The book's machines have one node: SLUB takes any slab for
    /// `NUMA_NO_NODE` and node 0, and `___slab_alloc()` treats a node without slabs as `NUMA_NO_NODE`, so the
    /// object is the one `kmalloc()` would give.
    ///
    /// Context: as [`Machine::kmalloc`]. Returns the object, `ZERO_SIZE_PTR` for 0 bytes, 0 on failure.
    pub fn kmalloc_node_entry(&mut self, size: u64, flags: Gfp, node: i32, entry: &'static str) -> u64 {
        let _ = node;
        self.do_kmalloc(size, flags, entry)
    }

    /// `kmem_buckets_create(name, flags, useroffset, usersize, ctor)` (mm/slab_common.c): a private set of
    /// kmalloc caches, one per size class of `kmalloc_caches[KMALLOC_NORMAL]` (the 96 and 192 byte classes
    /// included), named `<name>-<size>` and created in the classes' index order (96, 192, 8, 16 … 8k) with
    /// `SLAB_NO_MERGE` added, each with the usercopy region clipped to its size. The `kmem_buckets` array is
    /// an object of the boot's `kmalloc_buckets` cache. Returns its address, or 0 after the kernel's warning.
    /// 6.12 has no function that destroys buckets: their caches stay.
    ///
    /// Context: process context, may sleep.
    pub fn kmem_buckets_create(
        &mut self,
        name: &str,
        flags: SlabFlags,
        useroffset: u32,
        usersize: u32,
        ctor: Option<CtorId>,
    ) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_buckets_create");
        let r = self.kmem_buckets_create_inner(name, flags, useroffset, usersize, ctor);
        self.stack.frames.truncate(depth);
        r
    }

    fn kmem_buckets_create_inner(
        &mut self,
        name: &str,
        flags: SlabFlags,
        useroffset: u32,
        usersize: u32,
        ctor: Option<CtorId>,
    ) -> u64 {
        let Some(bc) = self.find_cache("kmalloc_buckets") else {
            // WARN_ON(!kmem_buckets_cache)
            self.warn("mm/slab_common.c", 423, None);
            return 0;
        };
        let b = self.kmem_cache_alloc(bc, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
        if b == 0 {
            self.warn("mm/slab_common.c", 427, None);
            return 0;
        }
        let flags = flags | SLAB_NO_MERGE;
        let mut arr: [Option<CacheId>; 14] = [None; 14];
        let mut made = Vec::new();
        for idx in 0..14 {
            let Some(k) = self.slab.kmalloc_caches[KmallocType::Normal as usize][idx] else {
                continue;
            };
            let Some((size, kname)) = self.cache(k).map(|c| (c.object_size, c.name.clone())) else {
                continue;
            };
            if size == 0 {
                continue;
            }
            let short = kname.split_once('-').map_or("", |(_, s)| s).to_string();
            let (uo, us) = if useroffset >= size { (0, 0) } else { (useroffset, (size - useroffset).min(usersize)) };
            let aligned_idx = kmalloc_slab_index(u64::from(size));
            if arr[aligned_idx].is_none() {
                let cname = format!("{name}-{short}");
                match self.kmem_cache_create_usercopy(&cname, size, 0, flags, uo, us, ctor) {
                    Some(c) => {
                        arr[aligned_idx] = Some(c);
                        made.push(c);
                    }
                    None => {
                        self.warn("mm/slab_common.c", 465, None);
                        for c in made {
                            self.kmem_cache_destroy(Some(c));
                        }
                        self.kmem_cache_free(bc, b);
                        return 0;
                    }
                }
            }
            if idx != aligned_idx {
                arr[idx] = arr[aligned_idx];
            }
        }
        // The object holds the cache pointers.
        let ps = self.ptr_size();
        for (i, c) in arr.iter().enumerate() {
            let v = c.map_or(0, |c| self.kmem_cache_addr(c));
            let _ = self.write_bytes(b + i as u64 * ps, &v.to_le_bytes()[..ps as usize]);
        }
        self.slab.buckets.insert(b, arr);
        b
    }

    /// `__kmalloc_node_noprof(size, b, flags, node)` with buckets `b` (0: the kmalloc caches): as
    /// [`Machine::kmalloc_node_entry`], but the cache of the size class comes from `b`, whatever the flags'
    /// kmalloc type (`kmalloc_slab()`).
    ///
    /// Context: as [`Machine::kmalloc`]. Returns the object, `ZERO_SIZE_PTR` for 0 bytes, 0 on failure.
    pub fn kmalloc_node_buckets(&mut self, size: u64, b: u64, flags: Gfp, node: i32, entry: &'static str) -> u64 {
        let Some(arr) = (b != 0).then(|| self.slab.buckets.get(&b).copied()).flatten() else {
            return self.kmalloc_node_entry(size, flags, node, entry);
        };
        if size > KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_large(size, flags, entry);
        }
        if size == 0 {
            return ZERO_SIZE_PTR;
        }
        let Some(s) = arr[kmalloc_slab_index(size)] else {
            return 0;
        };
        self.slab_alloc_node(s, flags, size as u32, entry, false)
    }

    /// `__kmalloc_large_noprof(size, flags)` / `__kmalloc_large_node_noprof()`: pages with `__GFP_COMP` at
    /// `get_order(size)`, whatever the size (the large path without the size check of `kmalloc()`).
    ///
    /// Context: as [`Machine::kmalloc`]. Returns the pages' address or 0.
    pub fn kmalloc_large_entry(&mut self, size: u64, flags: Gfp, entry: &'static str) -> u64 {
        self.kmalloc_large(size, flags, entry)
    }

    /// `kzalloc(size, flags)`: `kmalloc(size, flags | __GFP_ZERO)`.
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kzalloc(&mut self, size: u64, flags: Gfp) -> u64 {
        self.do_kmalloc(size, flags | Gfp::__GFP_ZERO, "__kmalloc_noprof")
    }

    /// `kmalloc_array(n, size, flags)`: NULL if `n * size` overflows.
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kmalloc_array(&mut self, n: u64, size: u64, flags: Gfp) -> u64 {
        match n.checked_mul(size) {
            Some(b) => self.do_kmalloc(b, flags, "__kmalloc_noprof"),
            None => 0,
        }
    }

    /// `kcalloc(n, size, flags)`: `kmalloc_array(n, size, flags | __GFP_ZERO)`.
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kcalloc(&mut self, n: u64, size: u64, flags: Gfp) -> u64 {
        self.kmalloc_array(n, size, flags | Gfp::__GFP_ZERO)
    }

    /// `kmalloc_size_roundup(size)`: the size kmalloc really gives.
    ///
    /// Context: any.
    pub fn kmalloc_size_roundup(&self, size: u64) -> u64 {
        if size != 0 && size <= KMALLOC_MAX_CACHE_SIZE {
            return self
                .kmalloc_slab(size, Gfp::GFP_KERNEL)
                .and_then(|s| self.cache(s))
                .map(|c| c.object_size as u64)
                .unwrap_or(size);
        }
        if size != 0 && size <= KMALLOC_MAX_SIZE {
            return PAGE_SIZE << get_order(size);
        }
        size
    }

    /// `kmem_cache_free(s, x)` with an `s` that is no cache (NULL, or stale): with CONFIG_SLAB_FREELIST_HARDENED
    /// (the book's kernel has it) `cache_from_obj()` finds the object's own cache and `WARN()`s `Wrong slab
    /// cache`, formatting `s->name` — the read of offset 0x60 of the bogus cache faults first, as the real
    /// kernel's oops for a NULL cache shows. An object in no slab gives no cache and a silent return. The i386
    /// offset is not measured; there the call returns.
    ///
    /// Context: any.
    pub fn kmem_cache_free_bad_cache(&mut self, cache: u64, x: u64) {
        if !self.slab.cfg.freelist_hardened || self.slab_of(x).is_none() || self.ptr_size() != 8 {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_cache_free");
        self.die_on_access(cache.wrapping_add(0x60));
        self.stack.frames.truncate(depth);
    }

    /// A `struct kmem_cache *` that is no cache (NULL, or stale) given to `kmem_cache_alloc_noprof()`: the first
    /// field the allocation path reads is `s->object_size` (offset 0x1c on x86_64, after `cpu_slab`, `flags`,
    /// `min_partial` and `size`; 0x10 on i386), where the real kernel faulted for a NULL cache.
    ///
    /// Context: any.
    pub fn kmem_cache_alloc_bad_cache(&mut self, cache: u64) {
        let off = if self.ptr_size() == 8 { 0x1c } else { 0x10 };
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_cache_alloc_noprof");
        self.die_on_access(cache.wrapping_add(off));
        self.stack.frames.truncate(depth);
    }

    /// `__kmalloc_cache_noprof(s, flags, size)` / `__kmalloc_cache_node_noprof()` (`entry` names which): what
    /// `kmalloc()` of a size known at compile time calls, with the kmalloc cache `kmalloc_slab()` chose for
    /// it — an object of `s` whose requested size is `size`.
    ///
    /// Context: as [`Machine::kmalloc`]. Returns the object or 0.
    pub fn kmalloc_cache_entry(&mut self, s: CacheId, flags: Gfp, size: u64, entry: &'static str) -> u64 {
        self.slab_alloc_node(s, flags, size as u32, entry, false)
    }

    /// `__kmalloc_cache_noprof(cache, ...)` (`entry`) of a pointer that is not a cache: NULL comes back from
    /// `slab_pre_alloc_hook()` and the call returns NULL; anything else, `slab_alloc_node()` reads
    /// `s->cpu_slab`, the first word of `struct kmem_cache`, and faults there (both as the real kernel does).
    ///
    /// Context: the current task's context.
    pub fn kmalloc_cache_bad_cache(&mut self, cache: u64, entry: &'static str) {
        if cache == 0 {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe(entry);
        self.die_on_access(cache);
        self.stack.frames.truncate(depth);
    }

    /// `ksize(p)`: the usable size of a kmalloc'ed (or slab) object; 0 for NULL/`ZERO_SIZE_PTR`. Like the
    /// kernel, it disables the kmalloc red zone of the object (its recorded request size becomes the object
    /// size).
    ///
    /// Context: any.
    pub fn ksize(&mut self, p: u64) -> u64 {
        if zero_or_null_ptr(p) {
            return 0;
        }
        let Some(head) = self.folio_of(p) else {
            // __ksize(): virt_to_folio() of an address outside the direct map reads a struct page beyond the
            // memory map.
            self.push_kframe("__ksize");
            self.die_on_access(self.vmemmap_addr_of(p));
            self.pop_frame();
            return 0;
        };
        match self.slab.slabs.get(&head).map(|s| s.cache) {
            None => {
                let order = self.pages[head as usize].order as u32;
                let fsize = PAGE_SIZE << order;
                if fsize <= KMALLOC_MAX_CACHE_SIZE {
                    self.push_kframe("__ksize");
                    self.warn("mm/slab_common.c", 1046, None);
                    self.pop_frame();
                    return 0;
                }
                if p != self.page_address(Pfn(head)) {
                    self.push_kframe("__ksize");
                    self.warn("mm/slab_common.c", 1048, None);
                    self.pop_frame();
                    return 0;
                }
                fsize
            }
            Some(s) => {
                self.skip_orig_size_check(s, p);
                let c = self.cache(s).unwrap();
                slab_ksize(c) as u64
            }
        }
    }

    /// `krealloc(p, new_size, flags)` (6.12.117): size 0 frees `p` and returns `ZERO_SIZE_PTR`; if the object
    /// still fits (`ksize(p) >= new_size`) `p` is returned as is (spare bytes zeroed with init_on_alloc);
    /// otherwise a new object is allocated, `ksize(p)` bytes are copied and `p` is freed. NULL on failure
    /// (`p` untouched).
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn krealloc(&mut self, p: u64, new_size: u64, flags: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        if new_size == 0 {
            self.kfree(p);
            return ZERO_SIZE_PTR;
        }
        let caller = self.caller_frame_of("krealloc_noprof");
        let ks = if !zero_or_null_ptr(p) { self.ksize(p) } else { 0 };
        if self.slab.stop.is_some() && ks == 0 && !zero_or_null_ptr(p) {
            return 0;
        }
        if ks >= new_size {
            if self.want_init_on_alloc(flags) {
                let _ = self.fill(p + new_size, ks - new_size, 0);
            }
            return p;
        }
        // kmalloc_node_track_caller(new_size, flags, NUMA_NO_NODE, _RET_IP_) from krealloc_noprof.
        self.stack.frames.push(caller.clone());
        self.push_kframe("krealloc_noprof");
        let ret = self.do_kmalloc(new_size, flags, "__kmalloc_node_track_caller_noprof");
        self.stack.frames.truncate(depth);
        if ret != 0 && !zero_or_null_ptr(p) {
            let mut buf = vec![0u8; ks as usize];
            let _ = self.read_bytes(p, &mut buf);
            let _ = self.write_bytes(ret, &buf);
        }
        if ret != 0 && ret != p {
            self.kfree(p);
        }
        ret
    }

    /// `kmemdup(src, len, gfp)`: a kmalloc'ed copy of simulated memory.
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kmemdup(&mut self, src: u64, len: u64, gfp: Gfp) -> u64 {
        let mut buf = vec![0u8; len as usize];
        if self.read_bytes(src, &mut buf).is_err() {
            self.die_on_access(src);
            return 0;
        }
        self.kmemdup_bytes(&buf, gfp)
    }

    /// `kmemdup()` of host bytes (e.g. a module's static data).
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kmemdup_bytes(&mut self, data: &[u8], gfp: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("kmemdup_noprof");
        let p = self.do_kmalloc(data.len() as u64, gfp, "__kmalloc_node_track_caller_noprof");
        self.stack.frames.truncate(depth);
        if !zero_or_null_ptr(p) {
            let _ = self.write_bytes(p, data);
        }
        p
    }

    /// `kstrdup(s, gfp)`: a kmalloc'ed NUL-terminated copy of `s`.
    ///
    /// Context: as [`Machine::kmalloc`].
    pub fn kstrdup(&mut self, s: &str, gfp: Gfp) -> u64 {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        let depth = self.stack.frames.len();
        self.push_kframe("kstrdup");
        let p = self.do_kmalloc(v.len() as u64, gfp, "__kmalloc_node_track_caller_noprof");
        self.stack.frames.truncate(depth);
        if !zero_or_null_ptr(p) {
            let _ = self.write_bytes(p, &v);
        }
        p
    }

    /// `kfree(p)`: NULL and `ZERO_SIZE_PTR` are ignored; a slab object goes back to its cache; anything else
    /// is taken for a large kmalloc and its folio is put (so freeing a stray page-allocator pointer gives the
    /// page allocator's reports, as in the kernel).
    ///
    /// Context: any.
    pub fn kfree(&mut self, p: u64) {
        if zero_or_null_ptr(p) {
            return;
        }
        let Some(head) = self.folio_of(p) else {
            // virt_to_folio() of an address outside the direct map: a wild struct page pointer.
            let depth = self.stack.frames.len();
            self.push_kframe("kfree");
            self.die_on_access(self.vmemmap_addr_of(p));
            self.stack.frames.truncate(depth);
            return;
        };
        match self.slab.slabs.get(&head).map(|s| s.cache) {
            Some(s) => self.slab_free_object(s, p, "kfree"),
            None => self.free_large_kmalloc(head, p),
        }
    }

    /// `kfree_sensitive(p)`: zeroes `ksize(p)` bytes, then `kfree`.
    ///
    /// Context: any.
    pub fn kfree_sensitive(&mut self, p: u64) {
        let ks = self.ksize(p);
        if ks != 0 {
            let _ = self.fill(p, ks, 0);
        }
        self.kfree(p);
    }

    fn free_large_kmalloc(&mut self, head: u64, p: u64) {
        let order = self.pages[head as usize].order;
        let depth = self.stack.frames.len();
        self.push_kframe("kfree");
        self.push_kframe("free_large_kmalloc");
        if order == 0 || !self.pages[head as usize].is_head() {
            self.warn_once("mm/slub.c", 4799, None);
            if !self.slab.warned_large_order0 {
                self.slab.warned_large_order0 = true;
                let s = self.format_ptr(p);
                self.printk(LogLevel::Warning, &format!("object pointer: 0x{s}\n"));
            }
        }
        self.put_page(Pfn(head));
        self.stack.frames.truncate(depth);
    }

    /// The head pfn of the folio holding a direct-map address.
    pub(crate) fn folio_of(&self, p: u64) -> Option<u64> {
        let pfn = self.virt_to_page(p)?.0;
        let f = self.pages.get(pfn as usize)?;
        Some(if f.is_tail() { f.compound_head as u64 } else { pfn })
    }

    /// The vmemmap address `virt_to_page()` computes for any address.
    pub(crate) fn vmemmap_addr_of(&self, p: u64) -> u64 {
        self.layout.vmemmap_base.wrapping_add((self.__pa(p) >> 12).wrapping_mul(self.layout.struct_page_size))
    }

    pub(crate) fn want_init_on_alloc(&self, flags: Gfp) -> bool {
        self.slab.cfg.init_on_alloc || flags.intersects(Gfp::__GFP_ZERO)
    }

    // ------------------------------------------------------------------ /proc/slabinfo

    /// Every cache that still exists (listed in /proc/slabinfo or not), in creation order. For tests.
    ///
    /// Context: any.
    pub fn all_caches(&self) -> Vec<CacheId> {
        (0..self.slab.caches.len() as u32).map(CacheId).filter(|&c| self.cache(c).is_some()).collect()
    }

    /// `get_slabinfo()` for every listed cache, newest first (the `/proc/slabinfo` order).
    ///
    /// Context: any.
    pub fn slabinfo(&self) -> Vec<SlabInfo> {
        self.slab.slab_caches.iter().rev().filter_map(|&id| self.cache(id)).map(|s| self.slabinfo_row(s)).collect()
    }

    /// One cache's `/proc/slabinfo` numbers: get_slabinfo() of `mm/slub.c` (the objects free on the node's
    /// partial slabs are the only ones not counted active).
    fn slabinfo_row(&self, s: &KmemCache) -> SlabInfo {
        let n = &s.node;
        let nr_free: u64 =
            n.partial.iter().filter_map(|p| self.slab.slabs.get(p)).map(|sl| (sl.objects - sl.inuse) as u64).sum();
        SlabInfo {
            name: s.name.clone(),
            active_objs: n.total_objects - nr_free,
            num_objs: n.total_objects,
            objsize: s.size,
            objects_per_slab: s.oo_objects,
            pages_per_slab: 1 << s.oo_order,
            active_slabs: n.nr_slabs,
            num_slabs: n.nr_slabs,
        }
    }

    /// The `/proc/slabinfo` row of one cache.
    ///
    /// Context: any.
    pub fn slabinfo_of(&self, id: CacheId) -> Option<SlabInfo> {
        self.cache(id).map(|s| self.slabinfo_row(s))
    }

    /// `/proc/slabinfo` exactly as 6.12 prints it (version 2.1, tunables 0).
    ///
    /// Context: any.
    pub fn proc_slabinfo(&self) -> String {
        let mut out = String::from("slabinfo - version: 2.1\n");
        out.push_str("# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>");
        out.push_str(" : tunables <limit> <batchcount> <sharedfactor>");
        out.push_str(" : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
        for i in self.slabinfo() {
            out.push_str(&format!(
                "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}\n",
                i.name,
                i.active_objs,
                i.num_objs,
                i.objsize,
                i.objects_per_slab,
                i.pages_per_slab,
                0,
                0,
                0,
                i.active_slabs,
                i.num_slabs,
                0
            ));
        }
        out
    }

    /// A `slabtop -o`-like summary: the totals header and the caches sorted by number of objects.
    ///
    /// Context: any.
    pub fn slabtop(&self) -> String {
        let info = self.slabinfo();
        let objs: u64 = info.iter().map(|i| i.num_objs).sum();
        let active: u64 = info.iter().map(|i| i.active_objs).sum();
        let slabs: u64 = info.iter().map(|i| i.num_slabs).sum();
        let caches = info.len();
        let active_caches = info.iter().filter(|i| i.active_objs > 0).count();
        let size: u64 = info.iter().map(|i| i.num_objs * i.objsize as u64).sum();
        let active_size: u64 = info.iter().map(|i| i.active_objs * i.objsize as u64).sum();
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                a as f64 * 100.0 / b as f64
            }
        };
        let mut out = String::new();
        out.push_str(&format!(" Active / Total Objects (% used)    : {active} / {objs} ({:.1}%)\n", pct(active, objs)));
        out.push_str(&format!(" Active / Total Slabs (% used)      : {slabs} / {slabs} (100.0%)\n"));
        out.push_str(&format!(
            " Active / Total Caches (% used)     : {active_caches} / {caches} ({:.1}%)\n",
            pct(active_caches as u64, caches as u64)
        ));
        out.push_str(&format!(
            " Active / Total Size (% used)       : {:.2}K / {:.2}K ({:.1}%)\n",
            active_size as f64 / 1024.0,
            size as f64 / 1024.0,
            pct(active_size, size)
        ));
        out.push('\n');
        out.push_str("  OBJS ACTIVE  USE OBJ SIZE  SLABS OBJ/SLAB CACHE SIZE NAME                   \n");
        let mut v = info;
        v.sort_by(|a, b| b.num_objs.cmp(&a.num_objs).then(a.name.cmp(&b.name)));
        for i in v {
            let use_pct = (i.active_objs * 100).checked_div(i.num_objs).unwrap_or(0);
            let cache_kb = i.num_slabs * i.pages_per_slab as u64 * 4;
            out.push_str(&format!(
                "{:>6} {:>6} {:>3}% {:>7.2}K {:>6} {:>8} {:>9}K {}\n",
                i.num_objs,
                i.active_objs,
                use_pct,
                i.objsize as f64 / 1024.0,
                i.num_slabs,
                i.objects_per_slab,
                cache_kb,
                i.name
            ));
        }
        out
    }
}

/// A cache's geometry (read-only view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheLayout {
    /// Name.
    pub name: String,
    /// `object_size`.
    pub object_size: u32,
    /// `size` (object plus metadata, aligned).
    pub size: u32,
    /// `offset` of the free pointer.
    pub offset: u32,
    /// `inuse`.
    pub inuse: u32,
    /// `align`.
    pub align: u32,
    /// `red_left_pad`.
    pub red_left_pad: u32,
    /// Objects per slab (`oo_objects(s->oo)`).
    pub objects: u32,
    /// Slab order (`oo_order(s->oo)`).
    pub order: u32,
    /// `min_partial`.
    pub min_partial: u64,
    /// `cpu_partial`.
    pub cpu_partial: u32,
    /// `flags`.
    pub flags: SlabFlags,
    /// `refcount`.
    pub refcount: i32,
    /// Names merged into this cache.
    pub aliases: Vec<String>,
}

/// `GFP_SLAB_BUG_MASK`: `__GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK`.
pub const GFP_SLAB_BUG_MASK: u32 = 0x4 | 0x2 | !((1u32 << 24) - 1);

/// `ALIGN(x, a)`.
pub fn align_up(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

/// `calculate_alignment(flags, align, size)`.
///
/// Context: any.
pub fn calculate_alignment(flags: SlabFlags, mut align: u32, size: u32) -> u32 {
    if flags & SLAB_HWCACHE_ALIGN != 0 {
        let mut ralign = CACHE_LINE_SIZE;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align = align.max(ARCH_KMALLOC_MINALIGN);
    align_up(align, 8)
}

/// `slab_ksize(s)`.
pub(crate) fn slab_ksize(s: &KmemCache) -> u32 {
    if s.flags & (SLAB_RED_ZONE | SLAB_POISON) != 0 {
        return s.object_size;
    }
    if s.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_STORE_USER) != 0 {
        return s.inuse;
    }
    s.size
}

/// `sizeof(struct track)` re-exported for tests.
pub const SIZEOF_TRACK: u32 = TRACK_SIZE;

#[cfg(test)]
mod kmalloc_large_tests {
    use crate::{Gfp, Machine, MachineConfig};

    #[test]
    fn too_large_kmalloc_warns_from_kmalloc_large_node() {
        // 6.12 mm/slub.c: __do_kmalloc_node() -> __kmalloc_large_node_noprof() -> ___kmalloc_large_node()
        // -> alloc_pages: the real kernel's trace shows `___kmalloc_large_node+0x..` under the caller.
        let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
        assert_eq!(m.kmalloc(5 << 20, Gfp::GFP_KERNEL), 0);
        let log = m.dmesg();
        assert!(log.contains("mm/page_alloc.c:4832"), "{log}");
        assert!(log.contains(" ___kmalloc_large_node+0x"), "{log}");
        assert!(!log.contains("__kmalloc_large_noprof"), "{log}");
    }
}
