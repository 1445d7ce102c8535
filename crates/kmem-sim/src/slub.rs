//! The SLUB allocator (mm/slub.c of Debian's 6.12.117): caches (`struct kmem_cache`), per-CPU slabs
//! (`struct kmem_cache_cpu`), the node partial lists (`struct kmem_cache_node`), slabs made of buddy pages,
//! free pointers stored inside free objects (hardened with `s->random ^ swab(ptr_addr)`), and the whole
//! `slab_debug` machinery (red zones, poisoning, user tracking, consistency checks) with its reports.
//!
//! # What is modelled and how
//! - Objects live in real slab pages from the page allocator (page type slab, owner `PageOwner::Slab`,
//!   compound for order > 0). Every free pointer, poison byte, red zone, `struct track` and kmalloc
//!   `orig_size` is really written into simulated memory, at the kernel's offsets, so corruption by a module
//!   is real and is found where the kernel finds it.
//! - `struct slab` (kept in struct page by the kernel) is a [`Slab`] record keyed by the head pfn.
//! - Per-CPU state: the active slab with its lockless freelist, and the per-CPU partial list
//!   (`CONFIG_SLUB_CPU_PARTIAL`) with the kernel's `cpu_partial_slabs` limit. There are no concurrent CPUs, so
//!   the cmpxchg loops, `tid`s and locks reduce to plain updates. One NUMA node.
//! - Caches with debug flags take the kernel's debug paths: no CPU slab, one object at a time from the node
//!   partial list (`alloc_single_from_partial`), a full list with `SLAB_STORE_USER`, frees through
//!   `free_to_partial_list()` with `free_debug_processing()`.
//! - A free pointer that decodes to garbage is followed as the kernel follows it: reading through an
//!   unmapped or non-canonical address oopses (see [`crate::slab_common::KernelStop`]); a mapped address is
//!   handed out as an object. `BUG_ON(object == fp)` in `set_freepointer()` oopses with `kernel BUG at
//!   mm/slub.c:550!`.
//! - Stacks in reports come from the simulated call stack; text addresses are fictional but stable.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::hostmem::PAGE_SIZE;
use crate::machine::Machine;
use crate::page::{PageOwner, PageType, Pfn};
use crate::page_alloc::get_order;
use crate::panic::Taint;
use crate::printk::LogLevel;
use crate::slab_common::*;

pub mod sysfs;

/// `sizeof(struct track)` with `CONFIG_STACKDEPOT` on x86_64: addr, handle, cpu, pid, when.
pub const TRACK_SIZE: u32 = 32;
/// `MAX_OBJS_PER_PAGE`.
pub const MAX_OBJS_PER_PAGE: u32 = 32767;
/// `MIN_PARTIAL`.
pub const MIN_PARTIAL: u64 = 5;
/// `MAX_PARTIAL`.
pub const MAX_PARTIAL: u64 = 10;
/// Line of `BUG_ON(object == fp)` in `set_freepointer()` (6.12.117).
pub const LINE_SET_FREEPOINTER_BUG: u32 = 550;
/// Line of `WARN_ON(1)` in `object_err()`.
pub const LINE_OBJECT_ERR_WARN: u32 = 1127;
/// Line of `WARN_ON(1)` in `__slab_err()`.
pub const LINE_SLAB_ERR_WARN: u32 = 1152;
/// Line of the `WARN()` in `cache_from_obj()`.
pub const LINE_CACHE_FROM_OBJ_WARN: u32 = 4772;
/// Line of the `WARN_ONCE()` in `virt_to_cache()`.
pub const LINE_VIRT_TO_CACHE_WARN: u32 = 4756;
/// Clock advance per slab allocator call.
pub const SLAB_STEP_NS: u64 = 100;

const TRACK_ALLOC: u32 = 0;
const TRACK_FREE: u32 = 1;

/// `struct kmem_cache_cpu`.
#[derive(Clone, Debug, Default)]
pub struct KmemCacheCpu {
    /// Lockless freelist (object address, 0 = NULL).
    pub freelist: u64,
    /// The active slab (head pfn).
    pub slab: Option<u64>,
    /// Per-CPU partial slabs; the last element is the list head (`c->partial`).
    pub partial: Vec<u64>,
    /// `tid`.
    pub tid: u64,
}

/// `struct kmem_cache_node`.
#[derive(Clone, Debug, Default)]
pub struct KmemCacheNode {
    /// `nr_partial`.
    pub nr_partial: u64,
    /// `partial`, head first.
    pub partial: std::collections::VecDeque<u64>,
    /// `full` (only kept with `SLAB_STORE_USER`).
    pub full: Vec<u64>,
    /// `nr_slabs`.
    pub nr_slabs: u64,
    /// `total_objects`.
    pub total_objects: u64,
}

/// `struct slab` (the fields SLUB uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slab {
    /// `slab_cache`.
    pub cache: CacheId,
    /// Folio order.
    pub order: u32,
    /// `freelist` (0 = NULL).
    pub freelist: u64,
    /// `inuse`.
    pub inuse: u32,
    /// `objects`.
    pub objects: u32,
    /// `frozen`.
    pub frozen: bool,
    /// PG_workingset: on the node partial list.
    pub node_partial: bool,
}

/// The geometry of a cache, copied out on every operation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Geom {
    pub flags: SlabFlags,
    pub size: u32,
    pub object_size: u32,
    pub offset: u32,
    pub inuse: u32,
    pub red_left_pad: u32,
    pub random: u64,
    pub hardened: bool,
    pub objects: u32,
    pub order: u32,
}

impl Geom {
    fn debug(&self) -> bool {
        self.flags & SLAB_DEBUG_FLAGS != 0
    }
    fn freeptr_outside_object(&self) -> bool {
        self.offset >= self.inuse
    }
    fn info_end(&self) -> u32 {
        if self.freeptr_outside_object() {
            self.inuse + 8
        } else {
            self.inuse
        }
    }
    fn orig_size_tracked(&self) -> bool {
        self.flags & SLAB_STORE_USER != 0 && self.flags & SLAB_KMALLOC != 0
    }
    fn size_from_object(&self) -> u32 {
        if self.flags & SLAB_RED_ZONE != 0 {
            self.size - self.red_left_pad
        } else {
            self.size
        }
    }
    fn fixup_red_left(&self, p: u64) -> u64 {
        if self.flags & SLAB_RED_ZONE != 0 {
            p + self.red_left_pad as u64
        } else {
            p
        }
    }
}

/// `struct kmem_cache`.
#[derive(Clone, Debug, Default)]
pub struct KmemCache {
    /// `name`.
    pub name: String,
    /// `flags`.
    pub flags: SlabFlags,
    /// `min_partial`.
    pub min_partial: u64,
    /// `size`.
    pub size: u32,
    /// `object_size`.
    pub object_size: u32,
    /// `offset`.
    pub offset: u32,
    /// `cpu_partial`.
    pub cpu_partial: u32,
    /// `cpu_partial_slabs`.
    pub cpu_partial_slabs: u32,
    /// `oo`.
    pub oo_order: u32,
    /// `oo` objects.
    pub oo_objects: u32,
    /// `min` order.
    pub min_order: u32,
    /// `min` objects.
    pub min_objects: u32,
    /// `allocflags`.
    pub allocflags: Gfp,
    /// `refcount`.
    pub refcount: i32,
    /// `ctor`.
    pub ctor: Option<CtorId>,
    /// `inuse`.
    pub inuse: u32,
    /// `align`.
    pub align: u32,
    /// `red_left_pad`.
    pub red_left_pad: u32,
    /// `random`.
    pub random: u64,
    /// `useroffset`.
    pub useroffset: u32,
    /// `usersize`.
    pub usersize: u32,
    /// `cpu_slab`, one per CPU.
    pub cpu_slab: Vec<KmemCacheCpu>,
    /// The `__percpu` pointer of `cpu_slab` (`alloc_kmem_cache_cpus()`: one `struct kmem_cache_cpu` per CPU
    /// from the per-CPU allocator, percpu.rs).
    pub cpu_slab_pcpu: u64,
    /// `node[0]`.
    pub node: KmemCacheNode,
    /// Names of caches merged into this one.
    pub aliases: Vec<String>,
    /// `remote_node_defrag_ratio` (CONFIG_NUMA; 1000 at creation, `remote_node_defrag_ratio_store()`
    /// takes a percentage and keeps ten times it).
    pub remote_node_defrag_ratio: u32,
    /// The `%pS` of `ctor` when the simulator knows it (the recorded boot's caches).
    pub ctor_symbol: Option<String>,
    /// The name of its `kobject` in `/sys/kernel/slab` once `sysfs_slab_add()` added it (`None` before
    /// `slab_late_init()` and after `sysfs_slab_unlink()`).
    pub kobj: Option<String>,
    /// `debugfs_slab_add()` made `/sys/kernel/debug/slab/<name>/` (caches with `SLAB_STORE_USER`).
    pub debugfs: bool,
    /// A cache of the recorded boot (crate::qemu_boot), made as a cache of its own: the recording ran with
    /// `slab_nomerge`, so its sysfs directory has its name.
    pub(crate) recorded: bool,
    /// The `struct kmem_cache` object and the `kmem_cache_node` object of this cache.
    pub(crate) meta_objects: (u64, u64),
    pub(crate) hardened: bool,
}

impl KmemCache {
    pub(crate) fn geom(&self) -> Geom {
        Geom {
            flags: self.flags,
            size: self.size,
            object_size: self.object_size,
            offset: self.offset,
            inuse: self.inuse,
            red_left_pad: self.red_left_pad,
            random: self.random,
            hardened: self.hardened,
            objects: self.oo_objects,
            order: self.oo_order,
        }
    }
}

fn order_objects(order: u32, size: u32) -> u32 {
    ((PAGE_SIZE as u32) << order) / size
}

fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// `calc_slab_order()`.
fn calc_slab_order(size: u32, min_order: u32, max_order: u32, fract_leftover: u32) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = (PAGE_SIZE as u32) << order;
        let rem = slab_size % size;
        if rem <= slab_size / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// `calculate_order(size)` for `nr_cpus` CPUs and the `slab_min_order`/`slab_max_order`/`slab_min_objects`
/// settings; `None` for -ENOSYS.
///
/// Context: any.
pub fn calculate_order(size: u32, nr_cpus: u32, min_order: u32, max_order: u32, min_objects: u32) -> Option<u32> {
    let mut min_objects = min_objects;
    if min_objects == 0 {
        min_objects = 4 * (fls(nr_cpus) + 1);
    }
    let max_objects = order_objects(max_order, size).max(1);
    min_objects = min_objects.min(max_objects);
    let min_order = min_order.max(get_order(min_objects as u64 * size as u64));
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        return Some(get_order(size as u64 * MAX_OBJS_PER_PAGE as u64) - 1);
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, max_order, fraction);
        if order <= max_order {
            return Some(order);
        }
        fraction /= 2;
    }
    let order = get_order(size as u64);
    (order <= 10).then_some(order)
}

fn swab64(x: u64) -> u64 {
    x.swap_bytes()
}

/// Result of walking into memory that faults: the oops was printed.
type Faulted = ();

impl Machine {
    // ------------------------------------------------------------------ memory access

    #[inline]
    fn rd64(&self, addr: u64) -> Option<u64> {
        let po = self.layout.page_offset;
        if addr >= po && addr.wrapping_add(8) <= self.layout.high_memory {
            self.mem.read_u64(addr - po).ok()
        } else {
            self.read_u64(addr).ok()
        }
    }

    #[inline]
    fn wr64(&mut self, addr: u64, v: u64) -> bool {
        let po = self.layout.page_offset;
        if addr >= po && addr.wrapping_add(8) <= self.layout.high_memory {
            self.mem.write_u64(addr - po, v).is_ok()
        } else {
            self.write_u64(addr, v).is_ok()
        }
    }

    fn rd_bytes(&self, addr: u64, len: u64) -> Vec<u8> {
        let mut v = vec![0u8; len as usize];
        let _ = self.read_bytes(addr, &mut v);
        v
    }

    #[inline]
    pub(crate) fn kc(&mut self, s: CacheId) -> &mut KmemCache {
        self.slab.caches[s.0 as usize].as_mut().expect("live cache")
    }

    #[inline]
    fn geom_of(&self, s: CacheId) -> Geom {
        self.slab.caches[s.0 as usize].as_ref().expect("live cache").geom()
    }

    /// `get_freepointer()`: reads and decodes the free pointer of `object`; a fault oopses (`Err`).
    #[inline]
    fn get_freepointer(&mut self, g: &Geom, object: u64) -> Result<u64, Faulted> {
        let ptr_addr = object.wrapping_add(g.offset as u64);
        match self.rd64(ptr_addr) {
            Some(v) => Ok(if g.hardened { v ^ g.random ^ swab64(ptr_addr) } else { v }),
            None => {
                self.die_on_access(ptr_addr);
                Err(())
            }
        }
    }

    /// `set_freepointer()`: `BUG_ON(object == fp)` with hardening, then stores the encoded pointer.
    #[inline]
    fn set_freepointer(&mut self, g: &Geom, object: u64, fp: u64) -> Result<(), Faulted> {
        if g.hardened && object == fp {
            self.die(crate::slab_common::OopsKind::Bug { file: "mm/slub.c".into(), line: LINE_SET_FREEPOINTER_BUG });
            return Err(());
        }
        let ptr_addr = object.wrapping_add(g.offset as u64);
        let v = if g.hardened { fp ^ g.random ^ swab64(ptr_addr) } else { fp };
        if !self.wr64(ptr_addr, v) {
            self.die_on_access(ptr_addr);
            return Err(());
        }
        Ok(())
    }

    /// `__kmem_obj_info()` → `kmem_dump_obj()`'s text for `object` in the slab at `slab`: ` slab <cache> start
    /// <object> [data offset N] pointer offset N size N` then, for a cache with SLAB_STORE_USER, ` allocated at
    /// <caller>` and the allocation and free stacks from the stack depot (` Free path:`).
    fn kmem_obj_dump(&mut self, object: u64, slab: u64) {
        let sl = self.slab.slabs[&slab];
        let g = self.geom_of(sl.cache);
        let name = self.cache(sl.cache).map(|c| c.name.clone()).unwrap_or_default();
        let base = self.slab_address(slab);
        // restore_red_left(), obj_to_index(), then the object's start with its left red zone.
        let objp = if g.flags & SLAB_RED_ZONE != 0 { object.wrapping_sub(g.red_left_pad as u64) } else { object };
        let data_offset = object - objp;
        let objnr = objp.wrapping_sub(base) / g.size as u64;
        let start = base + g.size as u64 * objnr;
        let mut line = format!(" slab {name} start {}", self.format_ptr(start));
        if data_offset != 0 {
            line += &format!(" data offset {data_offset}");
        }
        line += &format!(" pointer offset {}", object.wrapping_sub(start) - data_offset);
        if g.object_size != 0 {
            line += &format!(" size {}", g.object_size);
        }
        let in_slab = start >= base && start < base + sl.objects as u64 * g.size as u64;
        let (mut ret, mut alloc_stack, mut free_stack) = (0, Vec::new(), Vec::new());
        if in_slab && g.flags & SLAB_STORE_USER != 0 {
            let track = g.fixup_red_left(start) + g.info_end() as u64;
            let read = |m: &mut Self, at: u64| {
                let b = m.rd_bytes(at, TRACK_SIZE as u64);
                let addr = u64::from_le_bytes(b[0..8].try_into().unwrap());
                let handle = u32::from_le_bytes(b[8..12].try_into().unwrap());
                let stack = m.slab.depot.get(handle.wrapping_sub(1) as usize).cloned().unwrap_or_default();
                (addr, stack)
            };
            (ret, alloc_stack) = read(self, track);
            free_stack = read(self, track + TRACK_SIZE as u64).1;
        }
        if ret != 0 {
            line += &format!(" allocated at {}\n", self.format_symbol(ret));
        } else {
            line += "\n";
        }
        self.pr_cont(&line);
        // KS_ADDRS_COUNT entries of each.
        for e in alloc_stack.into_iter().take(16) {
            let s = self.format_symbol(e);
            self.printk(LogLevel::Info, &format!("    {s}\n"));
        }
        if !free_stack.is_empty() {
            self.pr_cont(" Free path:\n");
        }
        for e in free_stack.into_iter().take(16) {
            let s = self.format_symbol(e);
            self.printk(LogLevel::Info, &format!("    {s}\n"));
        }
    }

    /// `kmem_dump_obj(object)` (mm/slab_common.c): continues the caller's line with what the slab allocator
    /// knows of the object `object` points into (see `kmem_obj_dump` above).
    ///
    /// Context: any. Returns false, printing nothing, when `object` is below `PAGE_SIZE`, not a direct-map
    /// address, or not in a slab.
    pub fn kmem_dump_obj(&mut self, object: u64) -> bool {
        if object < PAGE_SIZE || !self.virt_addr_valid(object) {
            return false;
        }
        let Some(head) = self.folio_of(object) else {
            return false;
        };
        if !self.slab.slabs.contains_key(&head) {
            return false;
        }
        self.kmem_obj_dump(object, head);
        true
    }

    fn slab_address(&self, pfn: u64) -> u64 {
        self.page_address(Pfn(pfn))
    }

    fn check_valid_pointer(&self, g: &Geom, slab_pfn: u64, sl: &Slab, object: u64) -> bool {
        if object == 0 {
            return true;
        }
        let base = self.slab_address(slab_pfn);
        let object = if g.flags & SLAB_RED_ZONE != 0 { object.wrapping_sub(g.red_left_pad as u64) } else { object };
        !(object < base || object >= base + sl.objects as u64 * g.size as u64 || (object - base) % g.size as u64 != 0)
    }

    // ------------------------------------------------------------------ slab_debug option

    /// `parse_slub_debug_flags()`: returns (flags, slab list, rest); with `init` it also reports unknown
    /// letters and records `O` (disable debugging of higher-order caches), as the boot-time parse does.
    fn parse_slub_debug_flags<'a>(&mut self, s: &'a str, init: bool) -> (SlabFlags, Option<&'a str>, Option<&'a str>) {
        let block = parse_block(s);
        if init {
            for c in block.unknown {
                self.printk(LogLevel::Err, &format!("slab_debug option '{c}' unknown. skipped\n"));
            }
            if block.higher_order_disable {
                self.slab.disable_higher_order_debug = true;
            }
        }
        (block.flags, block.slabs, block.rest)
    }

    /// `setup_slub_debug()` for the text after `slab_debug` (`""` or `"=..."` minus the `=`).
    pub(crate) fn setup_slub_debug(&mut self, opt: &str) {
        let mut global_flags = DEBUG_DEFAULT_FLAGS;
        let mut changed = false;
        let mut list_specified = false;
        if !opt.is_empty() {
            let mut rest = Some(opt);
            while let Some(s) = rest {
                let (flags, list, next) = self.parse_slub_debug_flags(s, true);
                if list.is_none() {
                    global_flags = flags;
                    changed = true;
                } else {
                    list_specified = true;
                }
                rest = next;
            }
            if list_specified {
                if !changed {
                    global_flags = 0;
                }
                self.slab.slub_debug_string = Some(opt.to_string());
            }
        }
        self.slab.slub_debug = global_flags;
        self.slab.slub_debug_enabled = global_flags != 0 || self.slab.slub_debug_string.is_some();
    }

    /// `kmem_cache_flags(flags, name)`: adds the `slab_debug` flags that apply to `name`.
    pub(crate) fn kmem_cache_flags(&self, flags: SlabFlags, name: &str) -> SlabFlags {
        if flags & SLAB_NO_USER_FLAGS != 0 {
            return flags;
        }
        let mut local = self.slab.slub_debug;
        if flags & SLAB_NOLEAKTRACE != 0 {
            local &= !SLAB_STORE_USER;
        }
        if let Some(s) = &self.slab.slub_debug_string {
            // Same parse as the kernel, without the boot-time messages.
            let mut rest = Some(s.as_str());
            while let Some(blk) = rest {
                let DebugBlock { flags: bflags, slabs: list, rest: next, .. } = parse_block(blk);
                rest = next;
                let Some(list) = list else { continue };
                for item in list.split(',') {
                    let matches = match item.find('*') {
                        Some(g) => name.starts_with(&item[..g]),
                        None => name == item,
                    };
                    if matches {
                        return flags | bflags;
                    }
                }
            }
        }
        flags | local
    }

    // ------------------------------------------------------------------ cache creation

    /// `do_kmem_cache_create()`: a new `struct kmem_cache`.
    pub(crate) fn do_kmem_cache_create(
        &mut self,
        name: &str,
        size: u32,
        args: &KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<CacheId, CacheCreateError> {
        let mut s = KmemCache {
            name: name.to_string(),
            size,
            object_size: size,
            flags: self.kmem_cache_flags(flags, name),
            align: args.align,
            ctor: args.ctor,
            useroffset: args.useroffset,
            usersize: args.usersize,
            hardened: self.slab.cfg.freelist_hardened,
            ..Default::default()
        };
        if s.hardened {
            let mut z = self.slab.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            self.slab.rng = z;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            s.random = z ^ (z >> 31);
        }
        if !self.calculate_sizes(args, &mut s) {
            return Err(CacheCreateError::Inval);
        }
        if self.slab.disable_higher_order_debug && get_order(s.size as u64) > get_order(s.object_size as u64) {
            s.flags &= !DEBUG_METADATA_FLAGS;
            s.offset = 0;
            if !self.calculate_sizes(args, &mut s) {
                return Err(CacheCreateError::Inval);
            }
        }
        if s.flags & (SLAB_CONSISTENCY_CHECKS | SLAB_STORE_USER | SLAB_TRACE) == 0 {
            s.flags |= __CMPXCHG_DOUBLE;
        }
        let ilog2 = 31 - s.size.leading_zeros();
        s.min_partial = ((ilog2 / 2) as u64).clamp(MIN_PARTIAL, MAX_PARTIAL);
        // set_cpu_partial()
        let nr_objects = if s.flags & SLAB_DEBUG_FLAGS != 0 {
            0
        } else if s.size as u64 >= PAGE_SIZE {
            6
        } else if s.size >= 1024 {
            24
        } else if s.size >= 256 {
            52
        } else {
            120
        };
        s.cpu_partial = nr_objects;
        s.cpu_partial_slabs = (nr_objects * 2).div_ceil(s.oo_objects);
        s.remote_node_defrag_ratio = 1000;
        s.cpu_slab = vec![KmemCacheCpu::default(); self.cfg.cpus as usize];
        for (i, c) in s.cpu_slab.iter_mut().enumerate() {
            c.tid = i as u64;
        }
        // alloc_kmem_cache_cpus(): __alloc_percpu(sizeof(struct kmem_cache_cpu), 2 * sizeof(void *)); the
        // struct is the freelist/tid pair (aligned to two words), slab, partial (CONFIG_SLUB_CPU_PARTIAL) and an
        // empty local_lock_t.
        let (pcpu_size, pcpu_align) = if self.layout.arch == crate::machine::Arch::X86_64 { (32, 16) } else { (16, 8) };
        if self.percpu_ready() {
            s.cpu_slab_pcpu = self
                .with_frame("alloc_kmem_cache_cpus", |m| m.pcpu_alloc(pcpu_size, pcpu_align, false, Gfp::GFP_KERNEL));
            if s.cpu_slab_pcpu == 0 {
                return Err(CacheCreateError::NoMem);
            }
        }
        let id = CacheId(self.slab.caches.len() as u32);
        self.slab.caches.push(Some(s));
        Ok(id)
    }

    /// `calculate_sizes()`.
    fn calculate_sizes(&self, args: &KmemCacheArgs, s: &mut KmemCache) -> bool {
        let flags = s.flags;
        let mut size = align_up(s.object_size, 8);
        if flags & SLAB_POISON != 0 && flags & SLAB_TYPESAFE_BY_RCU == 0 && s.ctor.is_none() {
            s.flags |= __OBJECT_POISON;
        } else {
            s.flags &= !__OBJECT_POISON;
        }
        if flags & SLAB_RED_ZONE != 0 && size == s.object_size {
            size += 8;
        }
        s.inuse = size;
        let orig_size_tracked = s.flags & SLAB_STORE_USER != 0 && s.flags & SLAB_KMALLOC != 0;
        if (flags & SLAB_TYPESAFE_BY_RCU != 0 && !args.use_freeptr_offset)
            || flags & SLAB_POISON != 0
            || s.ctor.is_some()
            || (flags & SLAB_RED_ZONE != 0 && (s.object_size < 8 || orig_size_tracked))
        {
            s.offset = size;
            size += 8;
        } else if flags & SLAB_TYPESAFE_BY_RCU != 0 && args.use_freeptr_offset {
            s.offset = args.freeptr_offset;
        } else {
            s.offset = (s.object_size / 2) & !7;
        }
        if flags & SLAB_STORE_USER != 0 {
            size += 2 * TRACK_SIZE;
            if flags & SLAB_KMALLOC != 0 {
                size += 8;
            }
        }
        if flags & SLAB_RED_ZONE != 0 {
            size += 8;
            s.red_left_pad = align_up(8, s.align);
            size += s.red_left_pad;
        }
        size = align_up(size, s.align);
        s.size = size;
        let cfg = &self.slab.cfg;
        let Some(order) =
            calculate_order(size, self.cfg.cpus, cfg.slub_min_order, cfg.slub_max_order, cfg.slub_min_objects)
        else {
            return false;
        };
        s.allocflags = Gfp::__GFP_COMP;
        if s.flags & SLAB_CACHE_DMA != 0 {
            s.allocflags |= Gfp::GFP_DMA;
        }
        if s.flags & SLAB_CACHE_DMA32 != 0 {
            s.allocflags |= Gfp::GFP_DMA32;
        }
        if s.flags & SLAB_RECLAIM_ACCOUNT != 0 {
            s.allocflags |= Gfp::__GFP_RECLAIMABLE;
        }
        s.oo_order = order;
        s.oo_objects = order_objects(order, size);
        s.min_order = get_order(size as u64);
        s.min_objects = order_objects(s.min_order, size);
        s.oo_objects != 0
    }

    // ------------------------------------------------------------------ slabs

    /// `new_slab()` (with `allocate_slab()` inlined into it, as in the real build): pages from the buddy
    /// allocator, the freelist threaded through the objects, debug setup and constructors queued.
    fn new_slab(&mut self, s: CacheId, flags: Gfp) -> Option<u64> {
        let depth = self.stack.frames.len();
        self.push_kframe("new_slab");
        let r = self.new_slab_inner(s, flags);
        self.stack.frames.truncate(depth);
        r
    }

    fn new_slab_inner(&mut self, s: CacheId, mut flags: Gfp) -> Option<u64> {
        if flags.0 & GFP_SLAB_BUG_MASK != 0 {
            flags = self.kmalloc_fix_flags(flags);
        }
        let (ctor, allocflags, min_order, min_objects) = {
            let c = self.cache(s)?;
            (c.ctor, c.allocflags, c.min_order, c.min_objects)
        };
        if ctor.is_some() && flags.intersects(Gfp::__GFP_ZERO) {
            self.warn_once("mm/slub.c", 2700, None);
        }
        // GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK
        let keep = Gfp::__GFP_RECLAIM.0
            | Gfp::__GFP_HIGH.0
            | Gfp::__GFP_IO.0
            | Gfp::__GFP_FS.0
            | Gfp::__GFP_NOWARN.0
            | Gfp::__GFP_RETRY_MAYFAIL.0
            | Gfp::__GFP_NOFAIL.0
            | Gfp::__GFP_NORETRY.0
            | Gfp::__GFP_MEMALLOC.0
            | Gfp::__GFP_NOMEMALLOC.0
            | Gfp::__GFP_HARDWALL.0
            | Gfp::__GFP_THISNODE.0;
        let flags = Gfp(flags.0 & keep) | allocflags;
        let g = self.geom_of(s);
        let mut order = g.order;
        let mut objects = g.objects;
        let mut alloc_gfp = Gfp((flags | Gfp::__GFP_NOWARN | Gfp::__GFP_NORETRY).0 & !Gfp::__GFP_NOFAIL.0);
        if alloc_gfp.intersects(Gfp::__GFP_DIRECT_RECLAIM) && order > min_order {
            alloc_gfp = Gfp((alloc_gfp | Gfp::__GFP_NOMEMALLOC).0 & !Gfp::__GFP_RECLAIM.0);
        }
        let mut page = self.alloc_pages(alloc_gfp, order);
        if page.is_none() && order != min_order {
            order = min_order;
            objects = min_objects;
            page = self.alloc_pages(flags, order);
        } else if page.is_none() {
            page = self.alloc_pages(flags, order);
        }
        let pfn = page?.0;
        self.set_page_owner(Pfn(pfn), order, PageOwner::Slab);
        self.set_page_type(Pfn(pfn), PageType::Slab);
        self.account_slab(g.flags, order, true);
        let start = self.slab_address(pfn);
        if g.flags & SLAB_POISON != 0 {
            let _ = self.fill(start, PAGE_SIZE << order, POISON_INUSE);
        }
        let first = g.fixup_red_left(start);
        let mut p = first;
        for idx in 0..objects {
            self.setup_object(&g, p, ctor);
            let next = if idx + 1 < objects { p + g.size as u64 } else { 0 };
            let _ = self.set_freepointer(&g, p, next);
            p = next;
        }
        self.slab.slabs.insert(
            pfn,
            Slab { cache: s, order, freelist: first, inuse: 0, objects, frozen: false, node_partial: false },
        );
        Some(pfn)
    }

    fn setup_object(&mut self, g: &Geom, object: u64, ctor: Option<CtorId>) {
        if g.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | __OBJECT_POISON) != 0 {
            self.init_object(g, object, SLUB_RED_INACTIVE);
            if g.flags & SLAB_STORE_USER != 0 {
                let _ = self.fill(object + g.info_end() as u64, 2 * TRACK_SIZE as u64, 0);
            }
        }
        if let Some(c) = ctor.filter(|&c| c != crate::slab_common::KERNEL_CTOR) {
            self.slab.pending_ctors.push((c, object));
        }
    }

    /// `free_slab()`: checks with `SLAB_CONSISTENCY_CHECKS`, then the pages go back to the buddy allocator.
    fn free_slab(&mut self, s: CacheId, pfn: u64) {
        let g = self.geom_of(s);
        if g.flags & SLAB_CONSISTENCY_CHECKS != 0 {
            self.slab_pad_check(s, pfn);
            let Some(sl) = self.slab.slabs.get(&pfn).copied() else {
                return;
            };
            let mut p = g.fixup_red_left(self.slab_address(pfn));
            for _ in 0..sl.objects {
                self.check_object(s, pfn, p, SLUB_RED_INACTIVE);
                p += g.size as u64;
            }
        }
        let Some(sl) = self.slab.slabs.remove(&pfn) else {
            return;
        };
        self.set_page_type(Pfn(pfn), PageType::None);
        self.set_page_owner(Pfn(pfn), sl.order, PageOwner::PageAlloc);
        self.account_slab(g.flags, sl.order, false);
        self.__free_pages(Pfn(pfn), sl.order);
    }

    /// `account_slab()` / `unaccount_slab()` (mm/slab.h): `NR_SLAB_RECLAIMABLE_B` for caches with
    /// `SLAB_RECLAIM_ACCOUNT`, else `NR_SLAB_UNRECLAIMABLE_B` (kept in pages here).
    fn account_slab(&mut self, flags: SlabFlags, order: u32, add: bool) {
        let n = 1u64 << order;
        let v = &mut self.vmstat;
        let c = if flags & crate::slab_common::SLAB_RECLAIM_ACCOUNT != 0 {
            &mut v.slab_reclaimable
        } else {
            &mut v.slab_unreclaimable
        };
        *c = if add { *c + n } else { c.saturating_sub(n) };
    }

    fn discard_slab(&mut self, s: CacheId, pfn: u64) {
        let objects = self.slab.slabs.get(&pfn).map(|x| x.objects).unwrap_or(0);
        let n = &mut self.kc(s).node;
        n.nr_slabs -= 1;
        n.total_objects -= objects as u64;
        self.free_slab(s, pfn);
    }

    fn inc_slabs_node(&mut self, s: CacheId, objects: u32) {
        let n = &mut self.kc(s).node;
        n.nr_slabs += 1;
        n.total_objects += objects as u64;
    }

    fn add_partial(&mut self, s: CacheId, pfn: u64, tail: bool) {
        let n = &mut self.kc(s).node;
        n.nr_partial += 1;
        if tail {
            n.partial.push_back(pfn);
        } else {
            n.partial.push_front(pfn);
        }
        if let Some(sl) = self.slab.slabs.get_mut(&pfn) {
            sl.node_partial = true;
        }
        // slab_set_node_partial(): SLUB reuses PG_workingset of the slab's head page for this.
        self.pages[pfn as usize].set(crate::page::pg::PG_WORKINGSET);
    }

    fn remove_partial(&mut self, s: CacheId, pfn: u64) {
        let n = &mut self.kc(s).node;
        if let Some(i) = n.partial.iter().position(|&x| x == pfn) {
            n.partial.remove(i);
            n.nr_partial -= 1;
        }
        if let Some(sl) = self.slab.slabs.get_mut(&pfn) {
            sl.node_partial = false;
        }
        // slab_clear_node_partial().
        self.pages[pfn as usize].clear(crate::page::pg::PG_WORKINGSET);
    }

    fn add_full(&mut self, s: CacheId, pfn: u64) {
        if self.geom_of(s).flags & SLAB_STORE_USER != 0 {
            self.kc(s).node.full.push(pfn);
        }
    }

    fn remove_full(&mut self, s: CacheId, pfn: u64) {
        if self.geom_of(s).flags & SLAB_STORE_USER != 0 {
            let f = &mut self.kc(s).node.full;
            if let Some(i) = f.iter().position(|&x| x == pfn) {
                f.remove(i);
            }
        }
    }

    /// Boot-time state of a cache (crate::qemu_boot): `full` slabs all of whose objects the rest of the kernel
    /// holds. Their objects are in use, so no free pointer is written, as in slabs that filled up.
    ///
    /// Context: boot.
    pub(crate) fn boot_full_slabs(&mut self, s: CacheId, full: u64) {
        let g = self.geom_of(s);
        let Some((allocflags, objects)) = self.cache(s).map(|c| (c.allocflags, c.oo_objects)) else { return };
        let gfp = Gfp::GFP_KERNEL | allocflags | Gfp::__GFP_NOWARN;
        for _ in 0..full {
            let Some(page) = self.alloc_pages(gfp, g.order) else { return };
            let pfn = page.0;
            self.set_page_owner(page, g.order, PageOwner::Slab);
            self.set_page_type(page, PageType::Slab);
            self.account_slab(g.flags, g.order, true);
            self.slab.slabs.insert(
                pfn,
                Slab {
                    cache: s,
                    order: g.order,
                    freelist: 0,
                    inuse: objects,
                    objects,
                    frozen: false,
                    node_partial: false,
                },
            );
            self.inc_slabs_node(s, objects);
            self.add_full(s, pfn);
        }
    }

    // ------------------------------------------------------------------ allocation

    /// `slab_alloc_node()`: pre-alloc hook (might_alloc, failslab), the fast path or `___slab_alloc()`, the
    /// post-alloc hook (zeroing). `entry` names the kernel entry point for stacks.
    pub(crate) fn slab_alloc_node(
        &mut self,
        s: CacheId,
        gfp: Gfp,
        orig_size: u32,
        entry: &'static str,
        internal: bool,
    ) -> u64 {
        // The entry point (kmem_cache_alloc_noprof, __kmalloc_noprof …) is on the stack for the whole call;
        // slab_alloc_node() itself is inlined into each.
        let depth = self.stack.frames.len();
        self.push_kframe(entry);
        let r = self.slab_alloc_node_inner(s, gfp, orig_size, entry, internal);
        self.stack.frames.truncate(depth);
        r
    }

    fn slab_alloc_node_inner(
        &mut self,
        s: CacheId,
        gfp: Gfp,
        orig_size: u32,
        entry: &'static str,
        internal: bool,
    ) -> u64 {
        self.clock_ns += SLAB_STEP_NS;
        self.might_alloc(gfp);
        if !internal && self.slab.failslab.is_some() && self.should_failslab(s, gfp, entry) {
            return 0;
        }
        let cpu = self.sched.cpu as usize;
        let g = self.geom_of(s);
        let object = {
            let c = &self.slab.caches[s.0 as usize].as_ref().unwrap().cpu_slab[cpu];
            let (object, slab) = (c.freelist, c.slab);
            if object == 0 || slab.is_none() {
                self.slab_alloc_slow(s, &g, gfp, orig_size, entry).unwrap_or_default()
            } else {
                match self.get_freepointer(&g, object) {
                    Ok(next) => {
                        let c = &mut self.kc(s).cpu_slab[cpu];
                        c.freelist = next;
                        c.tid += 1;
                        object
                    }
                    Err(()) => 0,
                }
            }
        };
        if object == 0 {
            return 0;
        }
        let ctor = self.slab.caches[s.0 as usize].as_ref().unwrap().ctor;
        // maybe_wipe_obj_freeptr()
        let poison_like = g.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON) != 0;
        if self.slab.cfg.init_on_free && ctor.is_none() && !poison_like && !g.freeptr_outside_object() {
            let _ = self.wr64(object + g.offset as u64, 0);
        }
        // slab_want_init_on_alloc()
        let init = if self.slab.cfg.init_on_alloc {
            if ctor.is_some() {
                false
            } else if poison_like {
                gfp.intersects(Gfp::__GFP_ZERO)
            } else {
                true
            }
        } else {
            gfp.intersects(Gfp::__GFP_ZERO)
        };
        if init {
            let zero_size = if g.orig_size_tracked() { orig_size } else { g.object_size };
            let _ = self.fill(object, zero_size as u64, 0);
        }
        object
    }

    /// `__slab_alloc()` → `___slab_alloc()`, below the entry point on the stack.
    fn slab_alloc_slow(
        &mut self,
        s: CacheId,
        g: &Geom,
        gfp: Gfp,
        orig_size: u32,
        entry: &'static str,
    ) -> Result<u64, Faulted> {
        // _RET_IP_ of the entry point: the frame below it.
        let depth = self.stack.frames.len();
        let entry_frame = self.stack.frames.pop();
        let caller = self.caller_frame_of(entry);
        self.stack.frames.extend(entry_frame);
        self.push_kframe("__slab_alloc");
        self.push_kframe("___slab_alloc");
        let r = self.slab_alloc_slow_inner(s, g, gfp, orig_size, entry, &caller);
        self.stack.frames.truncate(depth);
        r
    }

    fn slab_alloc_slow_inner(
        &mut self,
        s: CacheId,
        g: &Geom,
        gfp: Gfp,
        orig_size: u32,
        entry: &'static str,
        caller: &crate::panic::Frame,
    ) -> Result<u64, Faulted> {
        let cpu = self.sched.cpu as usize;
        if let Some(slab) = self.kc(s).cpu_slab[cpu].slab {
            let freelist = self.kc(s).cpu_slab[cpu].freelist;
            let freelist = if freelist != 0 { freelist } else { self.get_freelist(slab) };
            if freelist != 0 {
                return self.load_freelist(s, g, freelist);
            }
            let c = &mut self.kc(s).cpu_slab[cpu];
            c.slab = None;
            c.tid += 1;
        }
        // new_slab: the per-CPU partial list.
        if let Some(slab) = self.kc(s).cpu_slab[cpu].partial.pop() {
            self.kc(s).cpu_slab[cpu].slab = Some(slab);
            let freelist = self.get_freelist(slab);
            return self.load_freelist(s, g, freelist);
        }
        // new_objects: the node partial list.
        if let Some((slab, object)) = self.get_partial_node(s, g, orig_size)? {
            if g.debug() {
                if g.flags & SLAB_STORE_USER != 0 {
                    self.set_track(g, object, TRACK_ALLOC, caller, entry);
                }
                return Ok(object);
            }
            let freelist = {
                let sl = self.slab.slabs.get_mut(&slab).unwrap();
                let f = sl.freelist;
                sl.freelist = 0;
                sl.inuse = sl.objects;
                sl.frozen = true;
                f
            };
            self.kc(s).cpu_slab[cpu].slab = Some(slab);
            return self.load_freelist(s, g, freelist);
        }
        let slab = loop {
            let Some(slab) = self.new_slab(s, gfp) else {
                self.slab_out_of_memory(s, gfp);
                return Ok(0);
            };
            if g.debug() {
                match self.alloc_single_from_new_slab(s, g, slab, orig_size)? {
                    Some(object) => {
                        if g.flags & SLAB_STORE_USER != 0 {
                            self.set_track(g, object, TRACK_ALLOC, caller, entry);
                        }
                        return Ok(object);
                    }
                    None => continue,
                }
            }
            break slab;
        };
        let (freelist, objects) = {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            let f = sl.freelist;
            sl.freelist = 0;
            sl.inuse = sl.objects;
            sl.frozen = true;
            (f, sl.objects)
        };
        self.inc_slabs_node(s, objects);
        self.kc(s).cpu_slab[cpu].slab = Some(slab);
        self.load_freelist(s, g, freelist)
    }

    fn load_freelist(&mut self, s: CacheId, g: &Geom, freelist: u64) -> Result<u64, Faulted> {
        let cpu = self.sched.cpu as usize;
        let next = self.get_freepointer(g, freelist)?;
        let c = &mut self.kc(s).cpu_slab[cpu];
        c.freelist = next;
        c.tid += 1;
        Ok(freelist)
    }

    /// `get_freelist()`: takes the slab's freelist; the slab stays frozen if there was one.
    fn get_freelist(&mut self, slab: u64) -> u64 {
        let sl = self.slab.slabs.get_mut(&slab).unwrap();
        let f = sl.freelist;
        sl.freelist = 0;
        sl.inuse = sl.objects;
        sl.frozen = f != 0;
        f
    }

    /// `get_partial_node()`: for debug caches one object from the first slab that passes the checks; else
    /// the first slab, with more slabs moved to the per-CPU partial list.
    fn get_partial_node(&mut self, s: CacheId, g: &Geom, orig_size: u32) -> Result<Option<(u64, u64)>, Faulted> {
        if self.kc(s).node.nr_partial == 0 {
            return Ok(None);
        }
        let depth = self.stack.frames.len();
        // get_partial() is inlined into ___slab_alloc(); get_partial_node() and alloc_single_from_partial()
        // are functions of their own in the source.
        self.push_kframe("get_partial_node");
        let r = self.get_partial_node_inner(s, g, orig_size);
        self.stack.frames.truncate(depth);
        r
    }

    fn get_partial_node_inner(&mut self, s: CacheId, g: &Geom, orig_size: u32) -> Result<Option<(u64, u64)>, Faulted> {
        let list: Vec<u64> = self.kc(s).node.partial.iter().copied().collect();
        let mut partial = None;
        let mut partial_slabs = 0;
        let cpu_partial_slabs = self.kc(s).cpu_partial_slabs;
        for slab in list {
            if g.debug() {
                self.push_kframe("alloc_single_from_partial");
                let got = self.alloc_single_from_partial(s, g, slab, orig_size);
                self.stack.frames.pop();
                if let Some(object) = got? {
                    return Ok(Some((slab, object)));
                }
                continue;
            }
            self.remove_partial(s, slab);
            if partial.is_none() {
                partial = Some(slab);
                if cpu_partial_slabs == 0 {
                    break;
                }
            } else {
                self.put_cpu_partial(s, slab, false);
                partial_slabs += 1;
                if partial_slabs > cpu_partial_slabs / 2 {
                    break;
                }
            }
        }
        Ok(partial.map(|p| (p, 0)))
    }

    fn alloc_single_from_partial(
        &mut self,
        s: CacheId,
        g: &Geom,
        slab: u64,
        orig_size: u32,
    ) -> Result<Option<u64>, Faulted> {
        let object = self.slab.slabs[&slab].freelist;
        let next = self.get_freepointer(g, object)?;
        {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.freelist = next;
            sl.inuse += 1;
        }
        if !self.alloc_debug_processing(s, g, slab, object, orig_size) {
            self.remove_partial(s, slab);
            return Ok(None);
        }
        let sl = self.slab.slabs[&slab];
        if sl.inuse == sl.objects {
            self.remove_partial(s, slab);
            self.add_full(s, slab);
        }
        Ok(Some(object))
    }

    fn alloc_single_from_new_slab(
        &mut self,
        s: CacheId,
        g: &Geom,
        slab: u64,
        orig_size: u32,
    ) -> Result<Option<u64>, Faulted> {
        let object = self.slab.slabs[&slab].freelist;
        let next = self.get_freepointer(g, object)?;
        {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.freelist = next;
            sl.inuse = 1;
        }
        if !self.alloc_debug_processing(s, g, slab, object, orig_size) {
            return Ok(None);
        }
        let sl = self.slab.slabs[&slab];
        if sl.inuse == sl.objects {
            self.add_full(s, slab);
        } else {
            self.add_partial(s, slab, false);
        }
        self.inc_slabs_node(s, sl.objects);
        Ok(Some(object))
    }

    /// `alloc_debug_processing()`.
    fn alloc_debug_processing(&mut self, s: CacheId, g: &Geom, slab: u64, object: u64, orig_size: u32) -> bool {
        self.push_kframe("alloc_debug_processing");
        let mut ok = true;
        if g.flags & SLAB_CONSISTENCY_CHECKS != 0 {
            ok = self.check_slab(s, slab);
            if ok {
                let sl = self.slab.slabs[&slab];
                if !self.check_valid_pointer(g, slab, &sl, object) {
                    self.object_err(s, slab, object, "Freelist Pointer check fails");
                    ok = false;
                }
            }
            if ok && !self.check_object(s, slab, object, SLUB_RED_INACTIVE) {
                ok = false;
            }
        }
        if ok {
            self.trace(s, slab, object, true);
            self.set_orig_size(g, object, orig_size);
            self.init_object(g, object, SLUB_RED_ACTIVE);
        } else {
            self.slab_fix(s, "Marking all objects used");
            if let Some(sl) = self.slab.slabs.get_mut(&slab) {
                sl.inuse = sl.objects;
                sl.freelist = 0;
                sl.frozen = true;
            }
        }
        self.pop_frame();
        ok
    }

    fn slab_out_of_memory(&mut self, s: CacheId, gfp: Gfp) {
        if gfp.intersects(Gfp::__GFP_NOWARN) {
            return;
        }
        let j = self.jiffies();
        let (begin, n) = self.slab.oom_rs;
        if begin == 0 || j >= begin + 5 * crate::printk::HZ {
            self.slab.oom_rs = (j.max(1), 1);
        } else if n >= 10 {
            return;
        } else {
            self.slab.oom_rs.1 += 1;
        }
        let cpu = self.sched.cpu;
        let (name, object_size, size, oo, min, nr_slabs, nr_objs) = {
            let c = self.cache(s).unwrap();
            (c.name.clone(), c.object_size, c.size, c.oo_order, c.min_order, c.node.nr_slabs, c.node.total_objects)
        };
        let nr_free: u64 = self
            .cache(s)
            .unwrap()
            .node
            .partial
            .iter()
            .filter_map(|p| self.slab.slabs.get(p))
            .map(|x| (x.objects - x.inuse) as u64)
            .sum();
        self.printk(
            LogLevel::Warning,
            &format!(
                "SLUB: Unable to allocate memory on CPU {cpu} (of node 0) on node -1, gfp={:#x}({})\n",
                gfp.0,
                crate::gfp::format_gfp_names(gfp)
            ),
        );
        self.printk(
            LogLevel::Warning,
            &format!("  cache: {name}, object size: {object_size}, buffer size: {size}, default order: {oo}, min order: {min}\n"),
        );
        if min > get_order(object_size as u64) {
            self.printk(
                LogLevel::Warning,
                &format!("  {name} debugging increased min order, use slab_debug=O to disable.\n"),
            );
        }
        self.printk(LogLevel::Warning, &format!("  node 0: slabs: {nr_slabs}, objs: {nr_objs}, free: {nr_free}\n"));
    }

    // ------------------------------------------------------------------ per-CPU partial lists, flushing

    fn put_cpu_partial(&mut self, s: CacheId, slab: u64, drain: bool) {
        let cpu = self.sched.cpu as usize;
        let limit = self.kc(s).cpu_partial_slabs as usize;
        let c = &mut self.kc(s).cpu_slab[cpu];
        let mut to_put = Vec::new();
        if !c.partial.is_empty() && drain && c.partial.len() >= limit {
            to_put = std::mem::take(&mut c.partial);
        }
        c.partial.push(slab);
        if !to_put.is_empty() {
            // __put_partials() walks from the head.
            to_put.reverse();
            self.put_partials_list(s, to_put);
        }
    }

    /// `__put_partials()`.
    fn put_partials_list(&mut self, s: CacheId, slabs: Vec<u64>) {
        let mut discard = Vec::new();
        for slab in slabs {
            let inuse = self.slab.slabs[&slab].inuse;
            let (nr_partial, min_partial) = {
                let c = self.kc(s);
                (c.node.nr_partial, c.min_partial)
            };
            if inuse == 0 && nr_partial >= min_partial {
                discard.push(slab);
            } else {
                self.add_partial(s, slab, true);
            }
        }
        for slab in discard {
            self.discard_slab(s, slab);
        }
    }

    /// `deactivate_slab()`: the CPU freelist is spliced back and the slab goes to the right list.
    fn deactivate_slab(&mut self, s: CacheId, slab: u64, freelist: u64) -> Result<(), Faulted> {
        let g = self.geom_of(s);
        let tail = self.slab.slabs[&slab].freelist != 0;
        let mut free_delta = 0;
        let mut freelist_tail = 0;
        let mut iter = freelist;
        let mut head = freelist;
        while iter != 0 {
            let next = self.get_freepointer(&g, iter)?;
            if g.flags & SLAB_CONSISTENCY_CHECKS != 0 {
                let sl = self.slab.slabs[&slab];
                if !self.check_valid_pointer(&g, slab, &sl, next) {
                    self.object_err(s, slab, iter, "Freechain corrupt");
                    self.slab_fix(s, "Isolate corrupted freechain");
                    if freelist_tail == 0 {
                        head = 0;
                    }
                    break;
                }
            }
            freelist_tail = iter;
            free_delta += 1;
            iter = next;
        }
        let old = self.slab.slabs[&slab].freelist;
        if freelist_tail != 0 {
            self.set_freepointer(&g, freelist_tail, old)?;
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.inuse -= free_delta;
            sl.freelist = head;
        }
        let sl = {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.frozen = false;
            *sl
        };
        let (nr_partial, min_partial) = {
            let c = self.kc(s);
            (c.node.nr_partial, c.min_partial)
        };
        if sl.inuse == 0 && nr_partial >= min_partial {
            self.discard_slab(s, slab);
        } else if sl.freelist != 0 {
            self.add_partial(s, slab, tail);
        }
        Ok(())
    }

    /// `flush_all()`: deactivate every CPU slab and move every CPU partial slab to the node.
    fn flush_all(&mut self, s: CacheId) -> Result<(), Faulted> {
        for cpu in 0..self.cfg.cpus as usize {
            let (slab, freelist, partial) = {
                let c = &mut self.kc(s).cpu_slab[cpu];
                let r = (c.slab.take(), c.freelist, std::mem::take(&mut c.partial));
                c.freelist = 0;
                c.tid += 1;
                r
            };
            if let Some(slab) = slab {
                self.deactivate_slab(s, slab, freelist)?;
            }
            if !partial.is_empty() {
                let mut p = partial;
                p.reverse();
                self.put_partials_list(s, p);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ freeing

    /// `slab_free()` of `x` into cache `s` (the cache of its slab). `entry` is `kfree` or `kmem_cache_free`.
    pub(crate) fn slab_free_object(&mut self, s: CacheId, x: u64, entry: &'static str) {
        self.clock_ns += SLAB_STEP_NS;
        let Some(slab) = self.folio_of(x) else { return };
        let g = self.geom_of(s);
        // slab_free_hook(): init_on_free.
        let ctor = self.slab.caches[s.0 as usize].as_ref().unwrap().ctor;
        if self.slab.cfg.init_on_free && ctor.is_none() && g.flags & (SLAB_TYPESAFE_BY_RCU | SLAB_POISON) == 0 {
            let orig = self.get_orig_size(&g, x);
            let _ = self.fill(x, orig as u64, 0);
            let rsize = if g.flags & SLAB_RED_ZONE != 0 { g.red_left_pad } else { 0 };
            let inuse = g.info_end();
            let _ = self.fill(x + inuse as u64, (g.size - inuse - rsize) as u64, 0);
            self.set_orig_size(&g, x, orig);
        }
        // do_slab_free()
        let cpu = self.sched.cpu as usize;
        let c = &self.slab.caches[s.0 as usize].as_ref().unwrap().cpu_slab[cpu];
        if c.slab == Some(slab) {
            let freelist = c.freelist;
            if g.hardened && x == freelist {
                let depth = self.stack.frames.len();
                self.push_kframe(entry);
                let _ = self.set_freepointer(&g, x, freelist);
                self.stack.frames.truncate(depth);
                return;
            }
            if self.set_freepointer(&g, x, freelist).is_err() {
                return;
            }
            let c = &mut self.kc(s).cpu_slab[cpu];
            c.freelist = x;
            c.tid += 1;
            return;
        }
        let caller = self.caller_frame_of(entry);
        let depth = self.stack.frames.len();
        self.push_kframe(entry);
        self.push_kframe("__slab_free");
        let _ = self.__slab_free(s, &g, slab, x, &caller, entry);
        self.stack.frames.truncate(depth);
    }

    #[allow(non_snake_case)]
    fn __slab_free(
        &mut self,
        s: CacheId,
        g: &Geom,
        slab: u64,
        x: u64,
        caller: &crate::panic::Frame,
        entry: &'static str,
    ) -> Result<(), Faulted> {
        if g.debug() {
            self.push_kframe("free_to_partial_list");
            let r = self.free_to_partial_list(s, g, slab, x, caller, entry);
            self.pop_frame();
            return r;
        }
        let sl = self.slab.slabs[&slab];
        let prior = sl.freelist;
        self.set_freepointer(g, x, prior)?;
        let was_frozen = sl.frozen;
        let new_inuse = sl.inuse.wrapping_sub(1);
        let has_cpu_partial = true;
        let mut take_node = false;
        let mut on_node_partial = false;
        if (new_inuse == 0 || prior == 0) && !was_frozen && (!has_cpu_partial || prior != 0) {
            take_node = true;
            on_node_partial = sl.node_partial;
        }
        {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.freelist = x;
            sl.inuse = new_inuse;
        }
        if !take_node {
            if !was_frozen && prior == 0 {
                self.put_cpu_partial(s, slab, true);
            }
            return Ok(());
        }
        if prior != 0 && !on_node_partial {
            return Ok(());
        }
        let (nr_partial, min_partial) = {
            let c = self.kc(s);
            (c.node.nr_partial, c.min_partial)
        };
        if new_inuse == 0 && nr_partial >= min_partial {
            if prior != 0 {
                self.remove_partial(s, slab);
            }
            self.discard_slab(s, slab);
        }
        Ok(())
    }

    fn free_to_partial_list(
        &mut self,
        s: CacheId,
        g: &Geom,
        slab: u64,
        x: u64,
        caller: &crate::panic::Frame,
        entry: &'static str,
    ) -> Result<(), Faulted> {
        let handle = if g.flags & SLAB_STORE_USER != 0 { self.track_prepare(entry) } else { 0 };
        if !self.free_debug_processing(s, g, slab, x, caller, handle) {
            return Ok(());
        }
        let prior = self.slab.slabs[&slab].freelist;
        self.set_freepointer(g, x, prior)?;
        let sl = {
            let sl = self.slab.slabs.get_mut(&slab).unwrap();
            sl.inuse -= 1;
            sl.freelist = x;
            *sl
        };
        let (nr_partial, min_partial) = {
            let c = self.kc(s);
            (c.node.nr_partial, c.min_partial)
        };
        let slab_free = sl.inuse == 0 && nr_partial >= min_partial;
        if prior == 0 {
            self.remove_full(s, slab);
            if !slab_free {
                self.add_partial(s, slab, true);
            }
        } else if slab_free {
            self.remove_partial(s, slab);
        }
        if slab_free {
            self.discard_slab(s, slab);
        }
        Ok(())
    }

    /// `free_debug_processing()` for one object.
    fn free_debug_processing(
        &mut self,
        s: CacheId,
        g: &Geom,
        slab: u64,
        object: u64,
        caller: &crate::panic::Frame,
        handle: u32,
    ) -> bool {
        let mut ok = false;
        'out: {
            if g.flags & SLAB_CONSISTENCY_CHECKS != 0 && !self.check_slab(s, slab) {
                break 'out;
            }
            let inuse = self.slab.slabs[&slab].inuse;
            if inuse < 1 {
                self.slab_err(s, slab, &format!("Slab has {inuse} allocated objects but 1 are to be freed\n"));
                break 'out;
            }
            if g.flags & SLAB_CONSISTENCY_CHECKS != 0 && !self.free_consistency_checks(s, g, slab, object) {
                break 'out;
            }
            if g.flags & SLAB_STORE_USER != 0 {
                self.set_track_update(g, object, TRACK_FREE, caller, handle);
            }
            self.trace(s, slab, object, false);
            self.init_object(g, object, SLUB_RED_INACTIVE);
            ok = true;
        }
        if !ok {
            let p = self.format_ptr(object);
            self.slab_fix(s, &format!("Object at 0x{p} not freed"));
        }
        ok
    }

    fn free_consistency_checks(&mut self, s: CacheId, g: &Geom, slab: u64, object: u64) -> bool {
        let sl = self.slab.slabs[&slab];
        if !self.check_valid_pointer(g, slab, &sl, object) {
            let p = self.format_ptr(object);
            self.slab_err(s, slab, &format!("Invalid object pointer 0x{p}"));
            return false;
        }
        if self.on_freelist(s, slab, object) {
            self.object_err(s, slab, object, "Object already free");
            return false;
        }
        if !self.check_object(s, slab, object, SLUB_RED_ACTIVE) {
            return false;
        }
        true
    }

    // ------------------------------------------------------------------ debug helpers

    fn set_orig_size(&mut self, g: &Geom, object: u64, orig_size: u32) {
        if !g.orig_size_tracked() {
            return;
        }
        let at = object + g.info_end() as u64 + 2 * TRACK_SIZE as u64;
        let _ = self.wr64(at, orig_size as u64);
    }

    fn get_orig_size(&self, g: &Geom, object: u64) -> u32 {
        if !g.orig_size_tracked() {
            return g.object_size;
        }
        let at = object + g.info_end() as u64 + 2 * TRACK_SIZE as u64;
        self.rd64(at).unwrap_or(g.object_size as u64) as u32
    }

    /// `skip_orig_size_check()` (used by `ksize()`).
    pub(crate) fn skip_orig_size_check(&mut self, s: CacheId, object: u64) {
        let g = self.geom_of(s);
        self.set_orig_size(&g, object, g.object_size);
    }

    /// `init_object()`.
    fn init_object(&mut self, g: &Geom, object: u64, val: u8) {
        let mut poison_size = g.object_size;
        if g.flags & SLAB_RED_ZONE != 0 {
            let _ = self.fill(object - g.red_left_pad as u64, g.red_left_pad as u64, val);
            if g.orig_size_tracked() && val == SLUB_RED_ACTIVE {
                poison_size = self.get_orig_size(g, object);
            }
        }
        if g.flags & __OBJECT_POISON != 0 && poison_size > 0 {
            let _ = self.fill(object, (poison_size - 1) as u64, POISON_FREE);
            let _ = self.fill(object + poison_size as u64 - 1, 1, POISON_END);
        }
        if g.flags & SLAB_RED_ZONE != 0 {
            let _ = self.fill(object + poison_size as u64, (g.inuse - poison_size) as u64, val);
        }
    }

    /// `set_track_prepare()`: the stack depot entry for the current stack below `entry`.
    ///
    /// `set_track_prepare()` is `noinline` and calls `stack_trace_save(entries, TRACK_ADDRS_COUNT, 3)`: the
    /// saved trace is the real stack innermost first without `set_track_prepare` and the two frames below it
    /// (`___slab_alloc`, `__slab_alloc` on the allocation path; `free_to_partial_list` and the free entry point
    /// on the free path), at most `TRACK_ADDRS_COUNT` (16) entries.
    fn track_prepare(&mut self, entry: &str) -> u32 {
        let _ = entry;
        let depth = self.stack.frames.len();
        self.push_kframe("set_track_prepare");
        let real = self.realized_stack();
        self.stack.frames.truncate(depth);
        let frames: Vec<crate::panic::Frame> = real.into_iter().rev().skip(3).take(16).collect();
        let entries: Vec<u64> = frames.iter().map(|f| self.text_address(f)).collect();
        self.stack_depot_save(entries)
    }

    fn set_track_update(&mut self, g: &Geom, object: u64, alloc: u32, caller: &crate::panic::Frame, handle: u32) {
        let addr = self.text_address(caller);
        let at = object + g.info_end() as u64 + (alloc * TRACK_SIZE) as u64;
        let mut b = [0u8; TRACK_SIZE as usize];
        b[0..8].copy_from_slice(&addr.to_le_bytes());
        b[8..12].copy_from_slice(&handle.to_le_bytes());
        b[12..16].copy_from_slice(&self.sched.cpu.to_le_bytes());
        b[16..20].copy_from_slice(&self.current().pid.to_le_bytes());
        b[24..32].copy_from_slice(&self.jiffies().to_le_bytes());
        let _ = self.write_bytes(at, &b);
    }

    fn set_track(&mut self, g: &Geom, object: u64, alloc: u32, caller: &crate::panic::Frame, entry: &str) {
        let handle = self.track_prepare(entry);
        self.set_track_update(g, object, alloc, caller, handle);
    }

    fn print_track(&mut self, what: &str, at: u64, pr_time: u64) {
        let b = self.rd_bytes(at, TRACK_SIZE as u64);
        let addr = u64::from_le_bytes(b[0..8].try_into().unwrap());
        if addr == 0 {
            return;
        }
        let handle = u32::from_le_bytes(b[8..12].try_into().unwrap());
        let cpu = u32::from_le_bytes(b[12..16].try_into().unwrap());
        let pid = i32::from_le_bytes(b[16..20].try_into().unwrap());
        let when = u64::from_le_bytes(b[24..32].try_into().unwrap());
        let sym = self.format_symbol(addr);
        self.printk(
            LogLevel::Err,
            &format!("{what} in {sym} age={} cpu={cpu} pid={pid}\n", pr_time.wrapping_sub(when)),
        );
        if handle != 0 && (handle as usize) <= self.slab.depot.len() {
            self.stack_depot_print(handle);
        } else {
            self.printk(LogLevel::Err, "object allocation/free stack trace missing\n");
        }
    }

    /// `print_tracking()`.
    fn print_tracking(&mut self, s: CacheId, object: u64) {
        let g = self.geom_of(s);
        if g.flags & SLAB_STORE_USER == 0 {
            return;
        }
        let pr_time = self.jiffies();
        let base = object + g.info_end() as u64;
        self.print_track("Allocated", base, pr_time);
        self.print_track("Freed", base + TRACK_SIZE as u64, pr_time);
    }

    /// `print_slab_info()`.
    fn print_slab_info(&mut self, slab: u64) {
        let sl = self.slab.slabs.get(&slab).copied();
        let (objects, inuse, fp) = sl.map(|x| (x.objects, x.inuse, x.freelist)).unwrap_or((0, 0, 0));
        let page = self.format_ptr(self.page_struct_addr(Pfn(slab)));
        let fp = self.format_ptr(fp);
        let flags = self.format_page_flags(Pfn(slab));
        self.printk(LogLevel::Err, &format!("Slab 0x{page} objects={objects} used={inuse} fp=0x{fp} flags={flags}\n"));
    }

    /// `print_section()`: `print_hex_dump(KERN_ERR, text, DUMP_PREFIX_ADDRESS, 16, 1, addr, len, true)`.
    fn print_section(&mut self, level: LogLevel, text: &str, addr: u64, len: u64) {
        let buf = self.rd_bytes(addr, len);
        for (i, row) in buf.chunks(16).enumerate() {
            let line = crate::printk::hex_dump_row(row);
            let a = self.format_ptr(addr + i as u64 * 16);
            self.printk(level, &format!("{text}{a}: {line}\n"));
        }
    }

    /// `slab_bug()` / `__slab_bug()`.
    fn slab_bug(&mut self, name: Option<&str>, msg: &str) {
        let name = name.unwrap_or("<unknown>").to_string();
        let t = self.print_tainted();
        self.printk(LogLevel::Err, "=============================================================================\n");
        self.printk(LogLevel::Err, &format!("BUG {name} ({t}): {msg}\n"));
        self.printk(LogLevel::Err, "-----------------------------------------------------------------------------\n\n");
    }

    fn cache_name(&self, s: CacheId) -> String {
        self.cache(s).map(|c| c.name.clone()).unwrap_or_default()
    }

    /// `slab_fix()`.
    fn slab_fix(&mut self, s: CacheId, msg: &str) {
        let name = self.cache_name(s);
        self.printk(LogLevel::Err, &format!("FIX {name}: {msg}\n"));
    }

    /// `print_trailer()`.
    fn print_trailer(&mut self, s: CacheId, slab: u64, p: u64) {
        let g = self.geom_of(s);
        let addr = self.slab_address(slab);
        self.print_tracking(s, p);
        self.print_slab_info(slab);
        let fp = match self.rd64(p + g.offset as u64) {
            Some(v) => {
                if g.hardened {
                    v ^ g.random ^ swab64(p + g.offset as u64)
                } else {
                    v
                }
            }
            None => 0,
        };
        let ps = self.format_ptr(p);
        let fps = self.format_ptr(fp);
        self.printk(LogLevel::Err, &format!("Object 0x{ps} @offset={} fp=0x{fps}\n\n", p - addr));
        if g.flags & SLAB_RED_ZONE != 0 {
            self.print_section(LogLevel::Err, "Redzone  ", p - g.red_left_pad as u64, g.red_left_pad as u64);
        } else if p > addr + 16 {
            self.print_section(LogLevel::Err, "Bytes b4 ", p - 16, 16);
        }
        self.print_section(LogLevel::Err, "Object   ", p, g.object_size.min(PAGE_SIZE as u32) as u64);
        if g.flags & SLAB_RED_ZONE != 0 {
            self.print_section(LogLevel::Err, "Redzone  ", p + g.object_size as u64, (g.inuse - g.object_size) as u64);
        }
        let mut off = g.info_end();
        if g.flags & SLAB_STORE_USER != 0 {
            off += 2 * TRACK_SIZE;
        }
        if g.orig_size_tracked() {
            off += 8;
        }
        if off != g.size_from_object() {
            self.print_section(LogLevel::Err, "Padding  ", p + off as u64, (g.size_from_object() - off) as u64);
        }
    }

    /// `object_err()`.
    fn object_err(&mut self, s: CacheId, slab: u64, object: u64, reason: &str) {
        let name = self.cache_name(s);
        self.slab_bug(Some(&name), reason);
        let g = self.geom_of(s);
        let sl = self.slab.slabs.get(&slab).copied();
        let valid = object != 0 && sl.is_some_and(|sl| self.check_valid_pointer(&g, slab, &sl, object));
        if !valid {
            self.print_slab_info(slab);
            let p = self.format_ptr(object);
            self.printk(LogLevel::Err, &format!("Invalid pointer 0x{p}\n"));
        } else {
            self.print_trailer(s, slab, object);
        }
        self.add_taint_lockdep_unreliable(Taint::BadPage);
        self.push_kframe("object_err");
        self.warn("mm/slub.c", LINE_OBJECT_ERR_WARN, None);
        self.pop_frame();
    }

    /// `slab_err()` = `__slab_bug()` + `__slab_err()`.
    fn slab_err(&mut self, s: CacheId, slab: u64, msg: &str) {
        let name = self.cache_name(s);
        self.slab_bug(Some(&name), msg);
        self.push_kframe("slab_err");
        self.__slab_err(slab);
        self.pop_frame();
    }

    #[allow(non_snake_case)]
    fn __slab_err(&mut self, slab: u64) {
        self.print_slab_info(slab);
        self.add_taint_lockdep_unreliable(Taint::BadPage);
        // A real function (not inlined in the book's kernel): the WARNING's RIP is in it.
        self.push_kframe("__slab_err");
        self.warn("mm/slub.c", LINE_SLAB_ERR_WARN, None);
        self.pop_frame();
    }

    /// `check_bytes_and_report()`; returns false if bytes were wrong (and restored).
    #[allow(clippy::too_many_arguments)]
    fn check_bytes_and_report(
        &mut self,
        s: CacheId,
        slab: u64,
        object: u64,
        what: &str,
        start: u64,
        value: u8,
        bytes: u64,
        print_obj: bool,
    ) -> bool {
        let buf = self.rd_bytes(start, bytes);
        let Some(first) = buf.iter().position(|&b| b != value) else {
            return true;
        };
        let mut end = bytes as usize;
        while end > first && buf[end - 1] == value {
            end -= 1;
        }
        let fault = start + first as u64;
        let endp = start + end as u64;
        let addr = self.slab_address(slab);
        let fs = self.format_ptr(fault);
        let es = self.format_ptr(endp - 1);
        self.printk(
            LogLevel::Err,
            &format!(
                "[{what} overwritten] 0x{fs}-0x{es} @offset={}. First byte 0x{:x} instead of 0x{value:x}\n",
                fault - addr,
                buf[first]
            ),
        );
        if print_obj {
            self.push_kframe("check_bytes_and_report");
            self.object_err(s, slab, object, "Object corrupt");
            self.pop_frame();
        }
        self.restore_bytes(s, what, value, fault, endp);
        false
    }

    fn restore_bytes(&mut self, s: CacheId, what: &str, data: u8, from: u64, to: u64) {
        let f = self.format_ptr(from);
        let t = self.format_ptr(to - 1);
        self.slab_fix(s, &format!("Restoring {what} 0x{f}-0x{t}=0x{data:x}"));
        let _ = self.fill(from, to - from, data);
    }

    fn check_pad_bytes(&mut self, s: CacheId, slab: u64, p: u64) -> bool {
        let g = self.geom_of(s);
        let mut off = g.info_end();
        if g.flags & SLAB_STORE_USER != 0 {
            off += 2 * TRACK_SIZE;
            if g.flags & SLAB_KMALLOC != 0 {
                off += 8;
            }
        }
        if g.size_from_object() == off {
            return true;
        }
        self.check_bytes_and_report(
            s,
            slab,
            p,
            "Object padding",
            p + off as u64,
            POISON_INUSE,
            (g.size_from_object() - off) as u64,
            true,
        )
    }

    fn slab_pad_check(&mut self, s: CacheId, slab: u64) {
        let g = self.geom_of(s);
        if g.flags & SLAB_POISON == 0 {
            return;
        }
        let Some(sl) = self.slab.slabs.get(&slab).copied() else {
            return;
        };
        let start = self.slab_address(slab);
        let length = PAGE_SIZE << sl.order;
        let remainder = length % g.size as u64;
        if remainder == 0 {
            return;
        }
        let pad = start + length - remainder;
        let buf = self.rd_bytes(pad, remainder);
        let Some(first) = buf.iter().position(|&b| b != POISON_INUSE) else {
            return;
        };
        let mut end = remainder as usize;
        while end > first && buf[end - 1] == POISON_INUSE {
            end -= 1;
        }
        let fault = pad + first as u64;
        let endp = pad + end as u64;
        let name = self.cache_name(s);
        let (fs, es) = (self.format_ptr(fault), self.format_ptr(endp - 1));
        self.slab_bug(Some(&name), &format!("Padding overwritten. 0x{fs}-0x{es} @offset={}", fault - start));
        self.print_section(LogLevel::Err, "Padding ", pad, remainder);
        self.push_kframe("slab_pad_check");
        self.__slab_err(slab);
        self.pop_frame();
        self.restore_bytes(s, "slab padding", POISON_INUSE, fault, endp);
    }

    /// `check_object()`.
    fn check_object(&mut self, s: CacheId, slab: u64, object: u64, val: u8) -> bool {
        let g = self.geom_of(s);
        self.push_kframe("check_object");
        let p = object;
        let endobject = object + g.object_size as u64;
        let mut ret = true;
        if g.flags & SLAB_RED_ZONE != 0 {
            if !self.check_bytes_and_report(
                s,
                slab,
                object,
                "Left Redzone",
                object - g.red_left_pad as u64,
                val,
                g.red_left_pad as u64,
                ret,
            ) {
                ret = false;
            }
            if !self.check_bytes_and_report(
                s,
                slab,
                object,
                "Right Redzone",
                endobject,
                val,
                (g.inuse - g.object_size) as u64,
                ret,
            ) {
                ret = false;
            }
            if g.orig_size_tracked() && val == SLUB_RED_ACTIVE {
                let orig = self.get_orig_size(&g, object);
                if g.object_size > orig
                    && !self.check_bytes_and_report(
                        s,
                        slab,
                        object,
                        "kmalloc Redzone",
                        p + orig as u64,
                        val,
                        (g.object_size - orig) as u64,
                        ret,
                    )
                {
                    ret = false;
                }
            }
        } else if g.flags & SLAB_POISON != 0
            && g.object_size < g.inuse
            && !self.check_bytes_and_report(
                s,
                slab,
                p,
                "Alignment padding",
                endobject,
                POISON_INUSE,
                (g.inuse - g.object_size) as u64,
                ret,
            )
        {
            ret = false;
        }
        if g.flags & SLAB_POISON != 0 {
            if val != SLUB_RED_ACTIVE && g.flags & __OBJECT_POISON != 0 {
                if g.object_size > 1
                    && !self.check_bytes_and_report(
                        s,
                        slab,
                        p,
                        "Poison",
                        p,
                        POISON_FREE,
                        (g.object_size - 1) as u64,
                        ret,
                    )
                {
                    ret = false;
                }
                if g.object_size > 0
                    && !self.check_bytes_and_report(
                        s,
                        slab,
                        p,
                        "End Poison",
                        p + g.object_size as u64 - 1,
                        POISON_END,
                        1,
                        ret,
                    )
                {
                    ret = false;
                }
            }
            if !self.check_pad_bytes(s, slab, p) {
                ret = false;
            }
        }
        if g.freeptr_outside_object() || val != SLUB_RED_ACTIVE {
            let fp_addr = p + g.offset as u64;
            let fp =
                self.rd64(fp_addr).map(|v| if g.hardened { v ^ g.random ^ swab64(fp_addr) } else { v }).unwrap_or(1);
            let sl = self.slab.slabs[&slab];
            if !self.check_valid_pointer(&g, slab, &sl, fp) {
                self.object_err(s, slab, p, "Freepointer corrupt");
                let _ = self.set_freepointer(&g, p, 0);
                ret = false;
            }
        }
        self.pop_frame();
        ret
    }

    /// `check_slab()`.
    fn check_slab(&mut self, s: CacheId, slab: u64) -> bool {
        let g = self.geom_of(s);
        let Some(sl) = self.slab.slabs.get(&slab).copied() else {
            self.slab_err(s, slab, "Not a valid slab page");
            return false;
        };
        let maxobj = order_objects(sl.order, g.size);
        if sl.objects > maxobj {
            self.slab_err(s, slab, &format!("objects {} > max {maxobj}", sl.objects));
            return false;
        }
        if sl.inuse > sl.objects {
            self.slab_err(s, slab, &format!("inuse {} > max {}", sl.inuse, sl.objects));
            return false;
        }
        if sl.frozen {
            self.slab_err(s, slab, "Slab disabled since SLUB metadata consistency check failed");
            return false;
        }
        self.slab_pad_check(s, slab);
        true
    }

    /// `on_freelist()`.
    fn on_freelist(&mut self, s: CacheId, slab: u64, search: u64) -> bool {
        let g = self.geom_of(s);
        let mut nr = 0u32;
        let mut object = 0u64;
        let mut fp = self.slab.slabs[&slab].freelist;
        let objects = self.slab.slabs[&slab].objects;
        while fp != 0 && nr <= objects {
            if fp == search {
                return true;
            }
            let sl = self.slab.slabs[&slab];
            if !self.check_valid_pointer(&g, slab, &sl, fp) {
                if object != 0 {
                    self.object_err(s, slab, object, "Freechain corrupt");
                    let _ = self.set_freepointer(&g, object, 0);
                } else {
                    self.slab_err(s, slab, "Freepointer corrupt");
                    let sl = self.slab.slabs.get_mut(&slab).unwrap();
                    sl.freelist = 0;
                    sl.inuse = sl.objects;
                    self.slab_fix(s, "Freelist cleared");
                    return false;
                }
                break;
            }
            object = fp;
            fp = match self.get_freepointer(&g, object) {
                Ok(v) => v,
                Err(()) => return false,
            };
            nr += 1;
        }
        let sl = self.slab.slabs[&slab];
        let max_objects = order_objects(sl.order, g.size).min(MAX_OBJS_PER_PAGE);
        if sl.objects != max_objects {
            self.slab_err(
                s,
                slab,
                &format!("Wrong number of objects. Found {} but should be {max_objects}", sl.objects),
            );
            self.slab.slabs.get_mut(&slab).unwrap().objects = max_objects;
            self.slab_fix(s, "Number of objects adjusted");
        }
        let sl = self.slab.slabs[&slab];
        if sl.inuse != sl.objects - nr {
            self.slab_err(
                s,
                slab,
                &format!("Wrong object count. Counter is {} but counted were {}", sl.inuse, sl.objects - nr),
            );
            self.slab.slabs.get_mut(&slab).unwrap().inuse = sl.objects - nr;
            self.slab_fix(s, "Object count adjusted");
        }
        search == 0
    }

    /// `trace()` (`SLAB_TRACE`).
    fn trace(&mut self, s: CacheId, slab: u64, object: u64, alloc: bool) {
        let g = self.geom_of(s);
        if g.flags & SLAB_TRACE == 0 {
            return;
        }
        let name = self.cache_name(s);
        let sl = self.slab.slabs[&slab];
        let (o, fp) = (self.format_ptr(object), self.format_ptr(sl.freelist));
        self.printk(
            LogLevel::Info,
            &format!("TRACE {name} {} 0x{o} inuse={} fp=0x{fp}\n", if alloc { "alloc" } else { "free" }, sl.inuse),
        );
        if !alloc {
            self.print_section(LogLevel::Info, "Object ", object, g.object_size as u64);
        }
        self.dump_stack();
    }

    /// The free objects of a slab (`__fill_map()`), as object indices.
    fn fill_map(&mut self, s: CacheId, slab: u64) -> Vec<bool> {
        let g = self.geom_of(s);
        let sl = self.slab.slabs[&slab];
        let mut map = vec![false; sl.objects as usize];
        let base = self.slab_address(slab);
        let mut p = sl.freelist;
        let mut n = 0;
        while p != 0 && n <= sl.objects {
            let idx = (p.wrapping_sub(g.red_left_pad as u64).wrapping_sub(base)) / g.size as u64;
            if let Some(m) = map.get_mut(idx as usize) {
                *m = true;
            }
            p = match self.get_freepointer(&g, p) {
                Ok(v) => v,
                Err(()) => break,
            };
            n += 1;
        }
        map
    }

    fn validate_slab(&mut self, s: CacheId, slab: u64) {
        if !self.check_slab(s, slab) || !self.on_freelist(s, slab, 0) {
            return;
        }
        let g = self.geom_of(s);
        let map = self.fill_map(s, slab);
        let mut p = g.fixup_red_left(self.slab_address(slab));
        for free in map {
            let val = if free { SLUB_RED_INACTIVE } else { SLUB_RED_ACTIVE };
            if !self.check_object(s, slab, p, val) {
                break;
            }
            p += g.size as u64;
        }
    }

    /// `validate_slab_cache()`: flush, then check every slab on the partial (and, with `SLAB_STORE_USER`,
    /// full) list. Returns the number of slabs checked.
    pub(crate) fn validate_slab_cache(&mut self, s: CacheId) -> u64 {
        if self.flush_all(s).is_err() {
            return 0;
        }
        let name = self.cache_name(s);
        let partial: Vec<u64> = self.kc(s).node.partial.iter().copied().collect();
        let mut count = 0u64;
        for slab in partial {
            self.validate_slab(s, slab);
            count += 1;
        }
        let nr_partial = self.kc(s).node.nr_partial;
        if count != nr_partial {
            self.printk(
                LogLevel::Err,
                &format!("SLUB {name}: {count} partial slabs counted but counter={nr_partial}\n"),
            );
        }
        if self.geom_of(s).flags & SLAB_STORE_USER == 0 {
            return count;
        }
        let full = self.kc(s).node.full.clone();
        for slab in full {
            self.validate_slab(s, slab);
            count += 1;
        }
        let nr_slabs = self.kc(s).node.nr_slabs;
        if count != nr_slabs {
            self.printk(LogLevel::Err, &format!("SLUB: {name} {count} slabs counted but counter={nr_slabs}\n"));
        }
        count
    }

    /// `list_slab_objects()`.
    fn list_slab_objects(&mut self, s: CacheId, slab: u64) {
        let name = self.cache_name(s);
        self.slab_bug(Some(&name), "Objects remaining on __kmem_cache_shutdown()");
        let g = self.geom_of(s);
        let map = self.fill_map(s, slab);
        let addr = self.slab_address(slab);
        let mut p = g.fixup_red_left(addr);
        for free in map {
            if !free {
                let ps = self.format_ptr(p);
                self.printk(LogLevel::Err, &format!("Object 0x{ps} @offset={}\n", p - addr));
                self.print_tracking(s, p);
            }
            p += g.size as u64;
        }
        self.push_kframe("list_slab_objects");
        self.__slab_err(slab);
        self.pop_frame();
    }

    /// `__kmem_cache_shutdown()`: true if objects remain.
    #[allow(non_snake_case)]
    pub(crate) fn __kmem_cache_shutdown(&mut self, s: CacheId) -> bool {
        self.push_kframe("__kmem_cache_shutdown");
        let _ = self.flush_all(s);
        let partial: Vec<u64> = self.kc(s).node.partial.iter().copied().collect();
        let mut discard = Vec::new();
        for slab in partial {
            if self.slab.slabs[&slab].inuse == 0 {
                self.remove_partial(s, slab);
                discard.push(slab);
            } else {
                self.list_slab_objects(s, slab);
            }
        }
        for slab in discard {
            self.discard_slab(s, slab);
        }
        self.pop_frame();
        let n = &self.kc(s).node;
        n.nr_partial != 0 || n.nr_slabs != 0
    }

    // ------------------------------------------------------------------ public kmem_cache API

    /// `kmem_cache_alloc(s, gfp)`: an object of `s`, 0 (NULL) on failure. If new slabs were made for a cache
    /// with a constructor, their objects are queued for [`Machine::take_pending_ctors`].
    ///
    /// Context: any; a gfp that allows blocking needs process context outside atomic sections.
    pub fn kmem_cache_alloc(&mut self, s: CacheId, gfp: Gfp) -> u64 {
        let size = match self.cache(s) {
            Some(c) => c.object_size,
            None => return 0,
        };
        self.slab_alloc_node(s, gfp, size, "kmem_cache_alloc_noprof", false)
    }

    /// `kmem_cache_alloc_bulk_noprof(s, gfp, size, p)`: `size` objects of `s` in one call (the CPU slab's
    /// freelist first, new slabs as needed, as `__kmem_cache_alloc_bulk()` takes them). All or nothing: when one
    /// allocation fails, those already made are freed again and the call returns 0.
    ///
    /// Context: interrupts enabled (mm/slub.c says so: it disables them itself around the CPU freelist); may
    /// sleep when `gfp` allows. Returns the objects (empty on failure).
    pub fn kmem_cache_alloc_bulk(&mut self, s: CacheId, gfp: Gfp, size: usize) -> Vec<u64> {
        let Some(object_size) = self.cache(s).map(|c| c.object_size) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(size);
        for _ in 0..size {
            let x = self.slab_alloc_node(s, gfp, object_size, "kmem_cache_alloc_bulk_noprof", false);
            if x == 0 {
                self.kmem_cache_free_bulk(s, &out);
                return Vec::new();
            }
            out.push(x);
        }
        out
    }

    /// `kmem_cache_free_bulk(s, size, p)`: frees each object of `objects` to `s`.
    ///
    /// Context: any.
    pub fn kmem_cache_free_bulk(&mut self, s: CacheId, objects: &[u64]) {
        for &x in objects {
            self.kmem_cache_free(s, x);
        }
    }

    /// `kmem_cache_zalloc(s, gfp)`: `kmem_cache_alloc(s, gfp | __GFP_ZERO)`.
    ///
    /// Context: as [`Machine::kmem_cache_alloc`].
    pub fn kmem_cache_zalloc(&mut self, s: CacheId, gfp: Gfp) -> u64 {
        self.kmem_cache_alloc(s, gfp | Gfp::__GFP_ZERO)
    }

    /// `kmem_cache_free(s, x)`: with freelist hardening (or `SLAB_CONSISTENCY_CHECKS`) the cache is looked up
    /// from the object (`cache_from_obj()`): an object of another cache gives the `kmem_cache_free: Wrong slab
    /// cache. <s> but object is from <t>` warning and goes back to its real cache; a non-slab pointer gives
    /// `virt_to_cache: Object is not a Slab page!` and is not freed.
    ///
    /// Context: any.
    pub fn kmem_cache_free(&mut self, s: CacheId, x: u64) {
        let Some(g) = self.cache(s).map(|c| c.geom()) else {
            return;
        };
        let depth = self.stack.frames.len();
        let target = if g.hardened || g.flags & SLAB_CONSISTENCY_CHECKS != 0 {
            let Some(head) = self.folio_of(x) else {
                self.push_kframe("kmem_cache_free");
                self.die_on_access(self.vmemmap_addr_of(x));
                self.stack.frames.truncate(depth);
                return;
            };
            match self.slab.slabs.get(&head).map(|sl| sl.cache) {
                None => {
                    self.push_kframe("kmem_cache_free");
                    self.warn_once(
                        "mm/slub.c",
                        LINE_VIRT_TO_CACHE_WARN,
                        Some("virt_to_cache: Object is not a Slab page!\n"),
                    );
                    self.stack.frames.truncate(depth);
                    return;
                }
                Some(c) if c != s => {
                    let (a, b) = (self.cache_name(s), self.cache_name(c));
                    self.push_kframe("kmem_cache_free");
                    self.warn(
                        "mm/slub.c",
                        LINE_CACHE_FROM_OBJ_WARN,
                        Some(&format!("cache_from_obj: Wrong slab cache. {a} but object is from {b}\n")),
                    );
                    self.print_tracking(c, x);
                    self.stack.frames.truncate(depth);
                    c
                }
                Some(c) => c,
            }
        } else {
            s
        };
        if self.folio_of(x).is_none() {
            return;
        }
        self.slab_free_object(target, x, "kmem_cache_free");
    }

    /// `kmem_cache_shrink(s)`: flushes the CPU slabs, frees empty slabs from the partial list (checking them
    /// with `SLAB_CONSISTENCY_CHECKS`) and sorts the rest by fullness. Returns 1 if slabs remain.
    ///
    /// Context: process context, may sleep.
    pub fn kmem_cache_shrink(&mut self, s: CacheId) -> i32 {
        if self.cache(s).is_none() {
            return 0;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("kmem_cache_shrink");
        if self.flush_all(s).is_err() {
            self.stack.frames.truncate(depth);
            return 0;
        }
        let partial: Vec<u64> = self.kc(s).node.partial.iter().copied().collect();
        let mut discard = Vec::new();
        let mut promote: Vec<Vec<u64>> = vec![Vec::new(); 32];
        let mut keep = Vec::new();
        for slab in partial {
            let sl = self.slab.slabs[&slab];
            let free = sl.objects - sl.inuse;
            if free == sl.objects {
                discard.push(slab);
            } else if free as usize <= 32 {
                promote[free as usize - 1].push(slab);
            } else {
                keep.push(slab);
            }
        }
        {
            let mut list: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
            for p in promote.iter() {
                for &x in p.iter() {
                    list.push_back(x);
                }
            }
            for x in keep {
                list.push_back(x);
            }
            let n = &mut self.kc(s).node;
            n.nr_partial = list.len() as u64;
            n.partial = list;
        }
        for slab in discard {
            if let Some(sl) = self.slab.slabs.get_mut(&slab) {
                sl.node_partial = false;
            }
            let objects = self.slab.slabs[&slab].objects;
            let n = &mut self.kc(s).node;
            n.nr_slabs -= 1;
            n.total_objects -= objects as u64;
            self.free_slab(s, slab);
        }
        self.stack.frames.truncate(depth);
        (self.kc(s).node.nr_slabs != 0) as i32
    }

    /// Writing `1` to `/sys/kernel/slab/<cache>/validate`: `validate_slab_cache()` for a debug cache
    /// (`Err(-EINVAL)` otherwise). Returns the number of slabs checked.
    ///
    /// Context: process context.
    pub fn kmem_cache_validate(&mut self, s: CacheId) -> Result<u64, i32> {
        let Some(g) = self.cache(s).map(|c| c.geom()) else {
            return Err(-22);
        };
        if !g.debug() {
            return Err(-22);
        }
        let depth = self.stack.frames.len();
        self.push_kframe("validate_store");
        let r = self.validate_slab_cache(s);
        self.stack.frames.truncate(depth);
        Ok(r)
    }

    /// The slabs of a cache as (head pfn, [`Slab`]) pairs (for tests and views).
    ///
    /// Context: any.
    pub fn cache_slabs(&self, s: CacheId) -> Vec<(Pfn, Slab)> {
        let mut v: Vec<(Pfn, Slab)> =
            self.slab.slabs.iter().filter(|(_, sl)| sl.cache == s).map(|(&p, sl)| (Pfn(p), *sl)).collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// The `struct slab` of the slab holding `addr`, if it is a slab page.
    ///
    /// Context: any.
    pub fn slab_of(&self, addr: u64) -> Option<(Pfn, Slab)> {
        let head = self.folio_of(addr)?;
        self.slab.slabs.get(&head).map(|sl| (Pfn(head), *sl))
    }

    /// The per-CPU state of a cache on a CPU.
    ///
    /// Context: any.
    pub fn kmem_cache_cpu(&self, s: CacheId, cpu: u32) -> Option<&KmemCacheCpu> {
        self.cache(s)?.cpu_slab.get(cpu as usize)
    }

    /// The node state of a cache.
    ///
    /// Context: any.
    pub fn kmem_cache_node(&self, s: CacheId) -> Option<&KmemCacheNode> {
        self.cache(s).map(|c| &c.node)
    }

    /// Decodes the free pointer stored in `object` (as `get_freepointer()` does), without side effects.
    ///
    /// Context: any.
    pub fn peek_freepointer(&self, s: CacheId, object: u64) -> Option<u64> {
        let g = self.cache(s)?.geom();
        let a = object + g.offset as u64;
        self.rd64(a).map(|v| if g.hardened { v ^ g.random ^ swab64(a) } else { v })
    }
}

/// One `;`-separated block of a `slab_debug=` option, parsed.
struct DebugBlock<'a> {
    flags: SlabFlags,
    /// The cache list after `,`.
    slabs: Option<&'a str>,
    /// The blocks after this one.
    rest: Option<&'a str>,
    /// Letters the kernel does not know (it reports and skips them).
    unknown: Vec<char>,
    /// `O`: disable debugging of caches whose debug metadata would raise their order.
    higher_order_disable: bool,
}

/// The parsing of `parse_slub_debug_flags()`, without side effects.
fn parse_block(s: &str) -> DebugBlock<'_> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b';' {
        i += 1;
    }
    let mut flags = 0;
    let mut unknown = Vec::new();
    let mut higher_order_disable = false;
    if i < b.len() && b[i] == b',' {
        flags = DEBUG_DEFAULT_FLAGS;
    } else {
        while i < b.len() && b[i] != b',' && b[i] != b';' {
            match b[i].to_ascii_lowercase() {
                b'-' => flags = 0,
                b'f' => flags |= SLAB_CONSISTENCY_CHECKS,
                b'z' => flags |= SLAB_RED_ZONE,
                b'p' => flags |= SLAB_POISON,
                b'u' => flags |= SLAB_STORE_USER,
                b't' => flags |= SLAB_TRACE,
                b'a' => flags |= SLAB_FAILSLAB,
                b'o' => higher_order_disable = true,
                c => unknown.push(c as char),
            }
            i += 1;
        }
    }
    let slabs = if i < b.len() && b[i] == b',' {
        i += 1;
        let start = i;
        while i < b.len() && b[i] != b';' {
            i += 1;
        }
        Some(&s[start..i])
    } else {
        while i < b.len() && b[i] != b';' {
            i += 1;
        }
        None
    };
    while i < b.len() && b[i] == b';' {
        i += 1;
    }
    DebugBlock { flags, slabs, rest: (i < b.len()).then(|| &s[i..]), unknown, higher_order_disable }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_with_four_cpus() {
        assert_eq!(calculate_order(96, 4, 0, 3, 0), Some(0));
        assert_eq!(order_objects(0, 96), 42);
        assert_eq!(calculate_order(8192, 4, 0, 3, 0), Some(3));
        assert_eq!(order_objects(3, 8192), 4);
    }
}
