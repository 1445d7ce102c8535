//! DMA-API debugging (kernel/dma/debug.c of Linux 6.12.117, `CONFIG_DMA_API_DEBUG`, which the book's kernel
//! has): every streaming mapping and coherent allocation is recorded in a `struct dma_debug_entry` (with the
//! five innermost frames of the stack that made it), and every unmap, free and sync is checked against the
//! records.
//!
//! A problem found is reported by `err_printk()`: `WARN(1, "DMA-API: <driver or bus> <device>: <what>")` —
//! the full warning with registers and call trace — followed, when a record is involved, by `DMA-API: Mapped
//! at:` and the record's stack. Only the first problem of the boot is shown (`show_num_errors` starts at 1;
//! `/sys/kernel/debug/dma-api/all_errors` would show all, `num_errors` counts them all).
//!
//! Records are found as the kernel finds them: by device address in `HASH_SIZE` buckets of 8 KiB
//! (`hash_fn()`), the best fit of the exact matches (size, type, direction, scatterlist count) for an unmap,
//! a record containing the range, searched back bucket by bucket, for a sync. Mappings the device may write
//! (any direction but `DMA_TO_DEVICE`) also claim their first cache line (`active_cacheline_insert()`); a
//! second such mapping of the same line is reported as `cacheline tracking EEXIST, overlapping mappings aren't
//! supported` unless mapped with `DMA_ATTR_SKIP_CPU_SYNC`.
//!
//! Not modelled: `check_for_stack()` (module code's stack is host memory, never a page of the simulated
//! kernel, so no mapping can come from it), `check_for_illegal_area()` (module code cannot get an address in
//! the kernel's text or rodata), the driver filter (`driver_filter`), the debugfs files, a device's `dma_parms` limits (every device has
//! the defaults, 64 KiB segments and no boundary, since module code cannot set them through the opaque
//! `struct device`).

#![forbid(unsafe_code)]

use crate::device::DeviceId;
use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::panic::Frame;
use crate::printk::LogLevel;

/// `PREALLOC_DMA_DEBUG_ENTRIES`.
pub const PREALLOC_DMA_DEBUG_ENTRIES: u64 = 1 << 16;
/// `DMA_DEBUG_DYNAMIC_ENTRIES`: `PAGE_SIZE / sizeof(struct dma_debug_entry)`; the entry is 112 bytes on
/// x86_64 with `CONFIG_STACKTRACE`, `____cacheline_aligned_in_smp` makes it 128.
pub const DMA_DEBUG_DYNAMIC_ENTRIES: u64 = 4096 / 128;
/// `DMA_DEBUG_STACKTRACE_ENTRIES`.
const DMA_DEBUG_STACKTRACE_ENTRIES: usize = 5;
/// `HASH_SIZE`, `HASH_FN_SHIFT`.
const HASH_SIZE: u64 = 16384;
const HASH_FN_SHIFT: u32 = 13;
/// `L1_CACHE_SHIFT` on x86.
const L1_CACHE_SHIFT: u32 = 6;
/// `dma_get_max_seg_size()` of a device whose `dma_parms` has no `max_segment_size`: `SZ_64K`.
pub const SG_MAX_SEGMENT_SIZE: u32 = 65536;
/// `DMA_ATTR_SKIP_CPU_SYNC`.
pub const DMA_ATTR_SKIP_CPU_SYNC: u64 = 1 << 5;
pub use crate::dma::DMA_MAPPING_ERROR;

/// `enum dma_data_direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaDirection {
    /// `DMA_BIDIRECTIONAL` (0).
    Bidirectional,
    /// `DMA_TO_DEVICE` (1).
    ToDevice,
    /// `DMA_FROM_DEVICE` (2).
    FromDevice,
    /// `DMA_NONE` (3).
    None,
}

impl DmaDirection {
    /// The direction of a C value; None for a value outside the enum.
    pub fn from_raw(v: u32) -> Option<Self> {
        Some(match v {
            0 => Self::Bidirectional,
            1 => Self::ToDevice,
            2 => Self::FromDevice,
            3 => Self::None,
            _ => return None,
        })
    }

    /// `valid_dma_direction()`: the three a mapping may have.
    pub fn is_valid(self) -> bool {
        !matches!(self, Self::None)
    }

    /// `dir2name[]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bidirectional => "DMA_BIDIRECTIONAL",
            Self::ToDevice => "DMA_TO_DEVICE",
            Self::FromDevice => "DMA_FROM_DEVICE",
            Self::None => "DMA_NONE",
        }
    }
}

/// `dma_debug_single`, `dma_debug_coherent` … (`type2name[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaDebugType {
    /// `dma_map_single()`/`dma_map_page()`.
    Single,
    /// `dma_alloc_coherent()`.
    Coherent,
    /// `dma_map_sg()`: one record per mapped entry.
    Sg,
    /// `dma_map_resource()`.
    Resource,
    /// `dma_alloc_pages()`/`dma_alloc_noncoherent()`.
    Noncoherent,
}

impl DmaDebugType {
    fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Coherent => "coherent",
            Self::Sg => "scatter-gather",
            Self::Resource => "resource",
            Self::Noncoherent => "noncoherent",
        }
    }
}

/// `enum map_err_types`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapErr {
    /// `MAP_ERR_CHECK_NOT_APPLICABLE` (coherent allocations).
    NotApplicable,
    /// `MAP_ERR_NOT_CHECKED`.
    NotChecked,
    /// `MAP_ERR_CHECKED`.
    Checked,
}

/// A `struct dma_debug_entry`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaDebugEntry {
    /// `dev`.
    pub dev: DeviceId,
    /// `type`.
    pub ty: DmaDebugType,
    /// `dev_addr`.
    pub dev_addr: u64,
    /// `paddr`.
    pub paddr: u64,
    /// `size`.
    pub size: u64,
    /// `direction`.
    pub direction: DmaDirection,
    /// `map_err_type`.
    pub map_err: MapErr,
    /// `sg_call_ents`: the `nents` `dma_map_sg()` was called with (0 for other types).
    pub sg_call_ents: i32,
    /// `sg_mapped_ents`: what it returned.
    pub sg_mapped_ents: i32,
    /// `stack_entries` (text addresses, innermost first).
    pub stack: Vec<u64>,
}

/// The state of kernel/dma/debug.c.
#[derive(Debug)]
pub(crate) struct DmaDebugState {
    /// `dma_debug_initialized` and not `global_disable`.
    enabled: bool,
    /// The live records, in the order they were added (the order of each hash bucket's list).
    entries: Vec<DmaDebugEntry>,
    /// `dma_active_cacheline`: first cache line -> overlapping mappings beyond the first.
    cachelines: std::collections::HashMap<u64, u32>,
    /// `error_count`.
    error_count: u32,
    /// `show_num_errors`.
    show_num_errors: u32,
    /// `show_all_errors`.
    show_all_errors: bool,
}

impl Default for DmaDebugState {
    fn default() -> Self {
        Self {
            enabled: false,
            entries: Vec::new(),
            cachelines: Default::default(),
            error_count: 0,
            show_num_errors: 1,
            show_all_errors: false,
        }
    }
}

/// The reference record an unmap, free or sync builds to look its mapping up (a `struct dma_debug_entry` on
/// the stack in kernel/dma/debug.c).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DmaRef {
    pub dev: DeviceId,
    pub ty: DmaDebugType,
    pub dev_addr: u64,
    pub paddr: u64,
    pub size: u64,
    pub direction: DmaDirection,
    pub sg_call_ents: i32,
}

impl DmaRef {
    fn new(dev: DeviceId, ty: DmaDebugType, dev_addr: u64, paddr: u64, size: u64, direction: DmaDirection) -> Self {
        Self { dev, ty, dev_addr, paddr, size, direction, sg_call_ents: 0 }
    }
}

/// `__hash_bucket_find()`'s best fit among the matching records `cands`: the first perfect fit (size, type,
/// direction, scatterlist count), else the first with the most equal fields if it is the only match.
fn best_fit<'a>(cands: impl Iterator<Item = (usize, &'a DmaDebugEntry)>, r: &DmaRef) -> Option<usize> {
    let (mut matches, mut best, mut last_lvl) = (0, None, -1);
    for (i, e) in cands {
        matches += 1;
        let lvl = (e.size == r.size) as i32
            + (e.ty == r.ty) as i32
            + (e.direction == r.direction) as i32
            + (e.sg_call_ents == r.sg_call_ents) as i32;
        if lvl == 4 {
            return Some(i);
        }
        if lvl > last_lvl {
            last_lvl = lvl;
            best = Some(i);
        }
    }
    if matches == 1 {
        best
    } else {
        None
    }
}

/// `hash_fn()`.
fn hash_fn(dev_addr: u64) -> u64 {
    (dev_addr >> HASH_FN_SHIFT) & (HASH_SIZE - 1)
}

impl Machine {
    /// `dma_debug_init()` (`CONFIG_DMA_API_DEBUG`): the hash buckets, then the preallocated entries, a zeroed
    /// page per `DMA_DEBUG_DYNAMIC_ENTRIES` (`dma_debug_create_entries()`), kept for the kernel's life.
    ///
    /// Context: boot.
    pub(crate) fn dma_debug_init(&mut self) {
        let mut n = 0;
        while n < PREALLOC_DMA_DEBUG_ENTRIES {
            let page = self.get_zeroed_page(Gfp::GFP_KERNEL);
            if page == 0 {
                self.printk(LogLevel::Err, "DMA-API: debugging out of memory error - disabled\n");
                return;
            }
            if let Some(pfn) = self.virt_to_page(page) {
                self.set_page_owner(pfn, 0, crate::page::PageOwner::Boot);
            }
            n += DMA_DEBUG_DYNAMIC_ENTRIES;
        }
        self.printk(LogLevel::Info, &format!("DMA-API: preallocated {n} debug entries\n"));
        self.printk(LogLevel::Info, "DMA-API: debugging enabled by kernel config\n");
        self.dma_debug.enabled = true;
    }

    /// The live DMA-API records, oldest first.
    ///
    /// Context: any.
    pub fn dma_debug_entries(&self) -> &[DmaDebugEntry] {
        &self.dma_debug.entries
    }

    /// `error_count` (`/sys/kernel/debug/dma-api/error_count`).
    ///
    /// Context: any.
    pub fn dma_debug_error_count(&self) -> u32 {
        self.dma_debug.error_count
    }

    /// `err_printk(dev, entry, ...)` at kernel/dma/debug.c:`line`.
    fn dma_err_printk(&mut self, dev: Option<DeviceId>, entry: Option<&DmaDebugEntry>, line: u32, what: &str) {
        self.dma_debug.error_count += 1;
        let st = &self.dma_debug;
        if st.show_all_errors || st.show_num_errors > 0 {
            let (drv, name) = match dev {
                Some(d) => (self.dev_driver_string(d), self.dev_name(d)),
                None => ("NULL".to_string(), "NULL".to_string()),
            };
            self.warn("kernel/dma/debug.c", line, Some(&format!("DMA-API: {drv} {name}: {what}")));
            // dump_entry_trace()
            if let Some(e) = entry {
                self.printk(LogLevel::Warning, "DMA-API: Mapped at:\n");
                for &a in &e.stack {
                    let s = self.format_symbol(a);
                    self.printk(LogLevel::Default, &format!(" {s}\n"));
                }
            }
        }
        let st = &mut self.dma_debug;
        if !st.show_all_errors && st.show_num_errors > 0 {
            st.show_num_errors -= 1;
        }
    }

    /// `dma_entry_alloc()`'s `stack_trace_save(entries, 5, 1)`: the stack below `dma_entry_alloc`.
    fn dma_entry_stack(&mut self) -> Vec<u64> {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_entry_alloc");
        let real = self.realized_stack();
        self.stack.frames.truncate(depth);
        let frames: Vec<Frame> = real.into_iter().rev().skip(1).take(DMA_DEBUG_STACKTRACE_ENTRIES).collect();
        frames.iter().map(|f| self.text_address(f)).collect()
    }

    /// `add_dma_entry()`: the record, and its first cache line for a mapping the device may write.
    fn add_dma_entry(&mut self, entry: DmaDebugEntry, attrs: u64) {
        let exists = if entry.direction == DmaDirection::ToDevice {
            false
        } else {
            let cln = entry.paddr >> L1_CACHE_SHIFT;
            match self.dma_debug.cachelines.get_mut(&cln) {
                Some(n) => {
                    *n += 1;
                    true
                }
                None => {
                    self.dma_debug.cachelines.insert(cln, 0);
                    false
                }
            }
        };
        self.dma_debug.entries.push(entry.clone());
        if exists && attrs & DMA_ATTR_SKIP_CPU_SYNC == 0 {
            let what = "cacheline tracking EEXIST, overlapping mappings aren't supported\n";
            self.dma_err_printk(Some(entry.dev), Some(&entry), 602, what);
        }
    }

    /// A DMA-API debug hook: nothing while debugging is off, else `f` inside the hook's frame `frame`.
    fn dma_debug_call(&mut self, frame: &'static str, f: impl FnOnce(&mut Self)) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe(frame);
        f(self);
        self.stack.frames.truncate(depth);
    }

    /// `dma_entry_alloc()` (with the stack below it) filled from `r`, then `add_dma_entry()`.
    fn dma_debug_add(&mut self, r: &DmaRef, map_err: MapErr, sg_mapped_ents: i32, attrs: u64) {
        let stack = self.dma_entry_stack();
        let entry = DmaDebugEntry {
            dev: r.dev,
            ty: r.ty,
            dev_addr: r.dev_addr,
            paddr: r.paddr,
            size: r.size,
            direction: r.direction,
            map_err,
            sg_call_ents: r.sg_call_ents,
            sg_mapped_ents,
            stack,
        };
        self.add_dma_entry(entry, attrs);
    }

    /// `active_cacheline_remove()`.
    fn remove_cacheline(&mut self, e: &DmaDebugEntry) {
        if e.direction == DmaDirection::ToDevice {
            return;
        }
        let cln = e.paddr >> L1_CACHE_SHIFT;
        match self.dma_debug.cachelines.get_mut(&cln) {
            Some(0) => {
                self.dma_debug.cachelines.remove(&cln);
            }
            Some(n) => *n -= 1,
            None => {}
        }
    }

    /// `debug_dma_map_single(dev, addr, len)` (called by the inline `dma_map_single_attrs()`): a mapping of
    /// an address with no `struct page` behind it, or of vmalloc memory, is reported.
    ///
    /// Context: any.
    pub fn debug_dma_map_single(&mut self, dev: Option<DeviceId>, addr: u64, len: u64) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("debug_dma_map_single");
        let p = self.fmt_p(addr);
        if !self.virt_addr_valid(addr) {
            let what = format!("device driver maps memory from invalid area [addr={p}] [len={len}]\n");
            self.dma_err_printk(dev, None, 1204, &what);
        }
        if self.is_vmalloc_addr(addr) {
            let what = format!("device driver maps memory from vmalloc area [addr={p}] [len={len}]\n");
            self.dma_err_printk(dev, None, 1208, &what);
        }
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_map_page()`: records a successful streaming mapping, not yet checked with
    /// `dma_mapping_error()`.
    pub(crate) fn debug_dma_map_page(
        &mut self,
        dev: DeviceId,
        paddr: u64,
        size: u64,
        dir: DmaDirection,
        dma_addr: u64,
        attrs: u64,
    ) {
        if !self.dma_debug.enabled || dma_addr == DMA_MAPPING_ERROR {
            return;
        }
        self.dma_debug_call("debug_dma_map_page", |m| {
            m.dma_debug_add(
                &DmaRef {
                    dev,
                    ty: DmaDebugType::Single,
                    dev_addr: dma_addr,
                    paddr,
                    size,
                    direction: dir,
                    sg_call_ents: 0,
                },
                MapErr::NotChecked,
                0,
                attrs,
            );
        });
    }

    /// `debug_dma_mapping_error(dev, dma_addr)` (called by the inline `dma_mapping_error()`): the first
    /// unchecked record of that device address is marked checked.
    ///
    /// Context: any.
    pub fn debug_dma_mapping_error(&mut self, dev: Option<DeviceId>, dma_addr: u64) {
        if !self.dma_debug.enabled {
            return;
        }
        let Some(dev) = dev else { return };
        if let Some(e) = self
            .dma_debug
            .entries
            .iter_mut()
            .find(|e| e.dev == dev && e.dev_addr == dma_addr && e.map_err == MapErr::NotChecked)
        {
            e.map_err = MapErr::Checked;
        }
    }

    /// `debug_dma_alloc_coherent()`: records a coherent allocation.
    pub(crate) fn debug_dma_alloc_coherent(&mut self, dev: DeviceId, size: u64, dma_addr: u64, virt: u64) {
        if !self.dma_debug.enabled || virt == 0 || (!self.is_vmalloc_addr(virt) && !self.virt_addr_valid(virt)) {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("debug_dma_alloc_coherent");
        let paddr = self.virt_to_phys(virt);
        let r = DmaRef::new(dev, DmaDebugType::Coherent, dma_addr, paddr, size, DmaDirection::Bidirectional);
        self.dma_debug_add(&r, MapErr::NotApplicable, 0, 0);
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_free_coherent()`: checks a coherent free against the records.
    pub(crate) fn debug_dma_free_coherent(&mut self, dev: DeviceId, size: u64, virt: u64, dma_addr: u64) {
        if !self.is_vmalloc_addr(virt) && !self.virt_addr_valid(virt) {
            return;
        }
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("debug_dma_free_coherent");
        let paddr = self.virt_to_phys(virt);
        self.check_unmap(&DmaRef::new(dev, DmaDebugType::Coherent, dma_addr, paddr, size, DmaDirection::Bidirectional));
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_unmap_page()`: checks a streaming unmap against the records.
    pub(crate) fn debug_dma_unmap_page(&mut self, dev: DeviceId, dma_addr: u64, size: u64, dir: DmaDirection) {
        self.dma_debug_call("debug_dma_unmap_page", |m| {
            m.check_unmap(&DmaRef::new(dev, DmaDebugType::Single, dma_addr, 0, size, dir));
        });
    }

    /// `bucket_find_exact()` (`__hash_bucket_find()` with `exact_match()`): among the records with this
    /// device and device address, a perfect fit (size, type, direction and scatterlist count equal) at once,
    /// else the first best fit — but only if it is the only candidate ("multiple matches but no
    /// perfect-fit" is no match).
    fn dma_find_exact(&self, r: &DmaRef) -> Option<usize> {
        let cands =
            self.dma_debug.entries.iter().enumerate().filter(|(_, e)| e.dev == r.dev && e.dev_addr == r.dev_addr);
        best_fit(cands, r)
    }

    /// `bucket_find_contain()`: a record of `dev` containing `[dma_addr, dma_addr + size)`, searched in the
    /// address's hash bucket and then in the earlier ones.
    fn dma_find_contain(&self, r: &DmaRef) -> Option<usize> {
        let (dma_addr, size) = (r.dev_addr, r.size);
        let limit = HASH_SIZE.min((dma_addr >> HASH_FN_SHIFT) + 1);
        let mut addr = dma_addr;
        for _ in 0..limit {
            let bucket = hash_fn(addr);
            let cands = self.dma_debug.entries.iter().enumerate().filter(|(_, e)| {
                hash_fn(e.dev_addr) == bucket
                    && e.dev == r.dev
                    && e.dev_addr <= dma_addr
                    && e.dev_addr + e.size >= dma_addr + size
            });
            if let Some(i) = best_fit(cands, r) {
                return Some(i);
            }
            addr = addr.wrapping_sub(1 << HASH_FN_SHIFT);
        }
        None
    }

    /// `check_unmap()`: the record of an unmap or free, compared field by field, then forgotten.
    fn check_unmap(&mut self, r: &DmaRef) {
        let DmaRef { dev, ty, dev_addr: dma_addr, paddr, size, direction: dir, sg_call_ents } = *r;
        let depth = self.stack.frames.len();
        self.push_kframe("check_unmap");
        let Some(i) = self.dma_find_exact(r) else {
            if dma_addr == DMA_MAPPING_ERROR {
                self.dma_err_printk(
                    Some(dev),
                    None,
                    975,
                    "device driver tries to free an invalid DMA memory address\n",
                );
            } else {
                let what = format!(
                    "device driver tries to free DMA memory it has not allocated [device address=0x{dma_addr:016x}] [size={size} bytes]\n"
                );
                self.dma_err_printk(Some(dev), None, 981, &what);
            }
            self.stack.frames.truncate(depth);
            return;
        };
        let e = self.dma_debug.entries[i].clone();
        if size != e.size {
            let what = format!(
                "device driver frees DMA memory with different size [device address=0x{dma_addr:016x}] [map size={} bytes] [unmap size={size} bytes]\n",
                e.size
            );
            self.dma_err_printk(Some(dev), Some(&e), 991, &what);
        }
        if ty != e.ty {
            let what = format!(
                "device driver frees DMA memory with wrong function [device address=0x{dma_addr:016x}] [size={size} bytes] [mapped as {}] [unmapped as {}]\n",
                e.ty.name(),
                ty.name()
            );
            self.dma_err_printk(Some(dev), Some(&e), 1000, &what);
        } else if matches!(e.ty, DmaDebugType::Coherent | DmaDebugType::Noncoherent) && paddr != e.paddr {
            // "0x%pa": %pa prints 0x and 16 digits itself, so the line shows 0x0x….
            let what = format!(
                "device driver frees DMA memory with different CPU address [device address=0x{dma_addr:016x}] [size={size} bytes] [cpu alloc address=0x0x{:016x}] [cpu free address=0x0x{paddr:016x}]",
                e.paddr
            );
            self.dma_err_printk(Some(dev), Some(&e), 1011, &what);
        }
        if sg_call_ents != 0 && ty == DmaDebugType::Sg && sg_call_ents != e.sg_call_ents {
            let what = format!(
                "device driver frees DMA sg list with different entry count [map count={}] [unmap count={sg_call_ents}]\n",
                e.sg_call_ents
            );
            self.dma_err_printk(Some(dev), Some(&e), 1019, &what);
        }
        if dir != e.direction {
            let what = format!(
                "device driver frees DMA memory with different direction [device address=0x{dma_addr:016x}] [size={size} bytes] [mapped with {}] [unmapped with {}]\n",
                e.direction.name(),
                dir.name()
            );
            self.dma_err_printk(Some(dev), Some(&e), 1033, &what);
        }
        if e.map_err == MapErr::NotChecked {
            let what = format!(
                "device driver failed to check map error[device address=0x{dma_addr:016x}] [size={size} bytes] [mapped as {}]",
                e.ty.name()
            );
            self.dma_err_printk(Some(dev), Some(&e), 1047, &what);
        }
        let e = self.dma_debug.entries.remove(i);
        self.remove_cacheline(&e);
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_sync_single_for_cpu()` (`to_cpu`) / `_for_device()`: `check_sync()`.
    pub(crate) fn debug_dma_sync_single(
        &mut self,
        dev: DeviceId,
        dma_addr: u64,
        size: u64,
        dir: DmaDirection,
        to_cpu: bool,
    ) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe(if to_cpu { "debug_dma_sync_single_for_cpu" } else { "debug_dma_sync_single_for_device" });
        self.check_sync(&DmaRef::new(dev, DmaDebugType::Single, dma_addr, 0, size, dir), to_cpu);
        self.stack.frames.truncate(depth);
    }

    /// `check_sync()`: the record containing a synced range, and the rules of its direction.
    fn check_sync(&mut self, r: &DmaRef, to_cpu: bool) {
        let DmaRef { dev, ty, dev_addr: dma_addr, size, direction: dir, sg_call_ents, .. } = *r;
        let depth = self.stack.frames.len();
        self.push_kframe("check_sync");
        let Some(i) = self.dma_find_contain(r) else {
            let what = format!(
                "device driver tries to sync DMA memory it has not allocated [device address=0x{dma_addr:016x}] [size={size} bytes]\n"
            );
            self.dma_err_printk(Some(dev), None, 1111, &what);
            self.stack.frames.truncate(depth);
            return;
        };
        let e = self.dma_debug.entries[i].clone();
        if size > e.size {
            let what = format!(
                "device driver syncs DMA memory outside allocated range [device address=0x{:016x}] [allocation size={} bytes] [sync offset+size={size}]\n",
                e.dev_addr, e.size
            );
            self.dma_err_printk(Some(dev), Some(&e), 1122, &what);
        }
        if e.direction != DmaDirection::Bidirectional {
            let names = (e.direction.name(), dir.name());
            if dir != e.direction {
                let what = format!(
                    "device driver syncs DMA memory with different direction [device address=0x{dma_addr:016x}] [size={} bytes] [mapped with {}] [synced with {}]\n",
                    e.size, names.0, names.1
                );
                self.dma_err_printk(Some(dev), Some(&e), 1135, &what);
            }
            if to_cpu && e.direction != DmaDirection::FromDevice && dir != DmaDirection::ToDevice {
                let what = format!(
                    "device driver syncs device read-only DMA memory for cpu [device address=0x{dma_addr:016x}] [size={} bytes] [mapped with {}] [synced with {}]\n",
                    e.size, names.0, names.1
                );
                self.dma_err_printk(Some(dev), Some(&e), 1146, &what);
            }
            if !to_cpu && e.direction != DmaDirection::ToDevice && dir != DmaDirection::FromDevice {
                let what = format!(
                    "device driver syncs device write-only DMA memory to device [device address=0x{dma_addr:016x}] [size={} bytes] [mapped with {}] [synced with {}]\n",
                    e.size, names.0, names.1
                );
                self.dma_err_printk(Some(dev), Some(&e), 1156, &what);
            }
            if sg_call_ents != 0 && ty == DmaDebugType::Sg && sg_call_ents != e.sg_call_ents {
                let what = format!(
                    "device driver syncs DMA sg list with different entry count [map count={}] [sync count={sg_call_ents}]\n",
                    e.sg_call_ents
                );
                self.dma_err_printk(Some(dev), Some(&e), 1163, &what);
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_map_sg(dev, sg, nents, mapped_ents, dir, attrs)`: one record per mapped entry, each
    /// segment checked against the device's limits first (`check_sg_segment()`, `CONFIG_DMA_API_DEBUG_SG`:
    /// `dma_get_max_seg_size()` is 64 KiB and `dma_get_seg_boundary()` `ULONG_MAX` for a device whose
    /// `dma_parms` sets neither, as the book's platform devices).
    pub(crate) fn debug_dma_map_sg(
        &mut self,
        dev: DeviceId,
        sg: &[crate::scatterlist::Scatterlist],
        nents: i32,
        mapped_ents: i32,
        dir: DmaDirection,
        attrs: u64,
    ) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("debug_dma_map_sg");
        for s in sg.iter().take(mapped_ents.max(0) as usize) {
            // dma_entry_alloc() records the stack before check_sg_segment() runs; printing does not change it.
            // check_sg_segment()
            let max_seg = SG_MAX_SEGMENT_SIZE;
            if s.length > max_seg {
                let what = format!(
                    "mapping sg segment longer than device claims to support [len={}] [max={max_seg}]\n",
                    s.length
                );
                self.dma_err_printk(Some(dev), None, 1182, &what);
            }
            let r = self.sg_ref(dev, s, nents, dir);
            self.dma_debug_add(&r, MapErr::NotApplicable, mapped_ents, attrs);
        }
        self.stack.frames.truncate(depth);
    }

    /// `get_nr_mapped_entries()`: `sg_mapped_ents` of the first entry's record (0 without one).
    fn get_nr_mapped_entries(&self, r: &DmaRef) -> i32 {
        self.dma_find_exact(r).map(|i| self.dma_debug.entries[i].sg_mapped_ents).unwrap_or(0)
    }

    fn sg_ref(&self, dev: DeviceId, s: &crate::scatterlist::Scatterlist, nelems: i32, dir: DmaDirection) -> DmaRef {
        DmaRef {
            dev,
            ty: DmaDebugType::Sg,
            dev_addr: s.dma_address,
            paddr: self.sg_phys(s),
            size: s.dma_length as u64,
            direction: dir,
            sg_call_ents: nelems,
        }
    }

    /// `debug_dma_unmap_sg(dev, sg, nelems, dir)`: each entry up to the mapped count (read from the first
    /// entry's record) checked by `check_unmap()`.
    pub(crate) fn debug_dma_unmap_sg(
        &mut self,
        dev: DeviceId,
        sg: &[crate::scatterlist::Scatterlist],
        nelems: i32,
        dir: DmaDirection,
    ) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("debug_dma_unmap_sg");
        let mut mapped_ents = 0;
        for (i, s) in sg.iter().take(nelems.max(0) as usize).enumerate() {
            let r = self.sg_ref(dev, s, nelems, dir);
            if mapped_ents != 0 && i as i32 >= mapped_ents {
                break;
            }
            if i == 0 {
                mapped_ents = self.get_nr_mapped_entries(&r);
            }
            self.check_unmap(&r);
        }
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_sync_sg_for_cpu()` (`to_cpu`) / `_for_device()`: `check_sync()` of each entry up to the
    /// mapped count.
    pub(crate) fn debug_dma_sync_sg(
        &mut self,
        dev: DeviceId,
        sg: &[crate::scatterlist::Scatterlist],
        nelems: i32,
        dir: DmaDirection,
        to_cpu: bool,
    ) {
        if !self.dma_debug.enabled {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe(if to_cpu { "debug_dma_sync_sg_for_cpu" } else { "debug_dma_sync_sg_for_device" });
        let mut mapped_ents = 0;
        for (i, s) in sg.iter().take(nelems.max(0) as usize).enumerate() {
            let r = self.sg_ref(dev, s, nelems, dir);
            if i == 0 {
                mapped_ents = self.get_nr_mapped_entries(&r);
            }
            if i as i32 >= mapped_ents {
                break;
            }
            self.check_sync(&r, to_cpu);
        }
        self.stack.frames.truncate(depth);
    }

    /// `debug_dma_alloc_pages()`: records `dma_alloc_pages()` memory as a `noncoherent` mapping.
    pub(crate) fn debug_dma_alloc_pages(
        &mut self,
        dev: DeviceId,
        paddr: u64,
        size: u64,
        dir: DmaDirection,
        dma_addr: u64,
    ) {
        self.dma_debug_call("debug_dma_alloc_pages", |m| {
            m.dma_debug_add(
                &DmaRef {
                    dev,
                    ty: DmaDebugType::Noncoherent,
                    dev_addr: dma_addr,
                    paddr,
                    size,
                    direction: dir,
                    sg_call_ents: 0,
                },
                MapErr::NotApplicable,
                0,
                0,
            );
        });
    }

    /// `debug_dma_free_pages()`: `check_unmap()` of a `noncoherent` record.
    pub(crate) fn debug_dma_free_pages(
        &mut self,
        dev: DeviceId,
        paddr: u64,
        size: u64,
        dir: DmaDirection,
        dma_addr: u64,
    ) {
        self.dma_debug_call("debug_dma_free_pages", |m| {
            m.check_unmap(&DmaRef::new(dev, DmaDebugType::Noncoherent, dma_addr, paddr, size, dir));
        });
    }

    /// `debug_dma_map_resource()`: records a `resource` mapping, to be checked with `dma_mapping_error()`
    /// (recorded even when the mapping failed, as the kernel does).
    pub(crate) fn debug_dma_map_resource(
        &mut self,
        dev: DeviceId,
        addr: u64,
        size: u64,
        dir: DmaDirection,
        dma_addr: u64,
        attrs: u64,
    ) {
        self.dma_debug_call("debug_dma_map_resource", |m| {
            m.dma_debug_add(
                &DmaRef {
                    dev,
                    ty: DmaDebugType::Resource,
                    dev_addr: dma_addr,
                    paddr: addr,
                    size,
                    direction: dir,
                    sg_call_ents: 0,
                },
                MapErr::NotChecked,
                0,
                attrs,
            );
        });
    }

    /// `debug_dma_unmap_resource()`: `check_unmap()` of a `resource` record.
    pub(crate) fn debug_dma_unmap_resource(&mut self, dev: DeviceId, dma_addr: u64, size: u64, dir: DmaDirection) {
        self.dma_debug_call("debug_dma_unmap_resource", |m| {
            m.check_unmap(&DmaRef::new(dev, DmaDebugType::Resource, dma_addr, 0, size, dir));
        });
    }
}
