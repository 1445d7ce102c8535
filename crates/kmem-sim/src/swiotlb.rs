//! The software IO TLB: kernel/dma/swiotlb.c of Linux 6.12.117 (`CONFIG_SWIOTLB`, not
//! `CONFIG_SWIOTLB_DYNAMIC`), the bounce buffers the direct-mapping DMA code (dma.rs) copies through when a
//! device cannot reach a buffer, or for every mapping with `swiotlb=force`.
//!
//! - Boot (`swiotlb_init_remap()`, from x86's `mem_init()` → `pci_iommu_alloc()`): x86 asks for a pool only
//!   when memory extends above 4 GiB or is encrypted (`pci_swiotlb_detect()`), neither of which the book's
//!   machines have, or when the command line forces it (`swiotlb=<slabs>[,<areas>][,force]`,
//!   `setup_io_tlb_npages()`). The pool is `nslabs` slots of `IO_TLB_SIZE` (2 KiB) from
//!   `memblock_alloc_low()`, with a slot array (`struct io_tlb_slot`, 24 bytes each) and an area array from
//!   `memblock_alloc()`; the areas (`swiotlb_adjust_nareas(num_possible_cpus())`, rounded up to a power of
//!   two) split the slots so that CPUs search different parts. Without `force`, x86's
//!   `pci_iommu_init()` tears an unneeded pool down again (`swiotlb_exit()`), so only a forced pool
//!   exists on these machines.
//! - Mapping (`swiotlb_tbl_map_single()`): the area of the current CPU is searched first, from its
//!   `index` (next fit), for `nr_slots(size)` free slots in one segment of `IO_TLB_SEGSIZE` (128) slots —
//!   page-aligned when the mapping is a page or more (`swiotlb_search_pool_area()`); each slot's `list`
//!   counts the free slots from it to the end of its segment. The original data is copied in
//!   (`swiotlb_bounce(…, DMA_TO_DEVICE)`, whatever the direction, so a partial device write leaves the
//!   rest intact). If the device cannot reach the slot either, the slots go back and `dev_WARN_ONCE()`
//!   says `swiotlb addr … overflow`.
//! - Syncs copy: for the device (`DMA_TO_DEVICE`, `DMA_BIDIRECTIONAL`) original to slot, for the CPU
//!   (`DMA_FROM_DEVICE`, `DMA_BIDIRECTIONAL`) slot to original; an unmap syncs for the CPU, then frees the
//!   slots (`swiotlb_release_slots()`, merging the free counts with the neighbours in the segment).
//! - `/sys/kernel/debug/swiotlb/`: `io_tlb_nslabs`, `io_tlb_used` and `io_tlb_used_hiwater`.
//!
//! Not modelled: a device's `min_align_mask` and segment boundary (every device has the defaults, 0 and
//! `ULONG_MAX`, since module code cannot set them), restricted DMA pools (`swiotlb_alloc()`), highmem
//! originals.

#![forbid(unsafe_code)]

use crate::device::DeviceId;
use crate::dma::DMA_MAPPING_ERROR;
use crate::dma_debug::{DmaDirection, DMA_ATTR_SKIP_CPU_SYNC};
use crate::machine::{Machine, PAGE_SHIFT};
use crate::printk::LogLevel;

/// `IO_TLB_SHIFT`, `IO_TLB_SIZE`: a slot is 2 KiB.
pub const IO_TLB_SHIFT: u32 = 11;
/// `IO_TLB_SIZE`.
pub const IO_TLB_SIZE: u64 = 1 << IO_TLB_SHIFT;
/// `IO_TLB_SEGSIZE`: slots per segment, the longest contiguous bounce buffer.
pub const IO_TLB_SEGSIZE: u64 = 128;
/// `IO_TLB_DEFAULT_SIZE`: 64 MiB.
pub const IO_TLB_DEFAULT_SIZE: u64 = 64 << 20;
/// `sizeof(struct io_tlb_slot)` on x86_64.
pub const IO_TLB_SLOT_SIZE: u64 = 24;
/// `sizeof(struct io_tlb_area)` on x86_64.
pub const IO_TLB_AREA_SIZE: u64 = 16;
/// `DMA_ATTR_NO_WARN`.
const DMA_ATTR_NO_WARN: u64 = 1 << 8;
/// `INVALID_PHYS_ADDR`.
const INVALID_PHYS_ADDR: u64 = !0;
/// Where the `dev_WARN_ONCE()`s of kernel/dma/swiotlb.c are (their last lines).
const LINE_BUFFER_OVERFLOW: u32 = 897;
const LINE_ADDR_OVERFLOW: u32 = 1619;

/// What `swiotlb=` asked for (`setup_io_tlb_npages()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwiotlbParams {
    /// `default_nslabs`.
    pub nslabs: u64,
    /// `default_nareas` (0: one per possible CPU).
    pub nareas: u64,
    /// `swiotlb_force_bounce`.
    pub force: bool,
    /// `swiotlb_force_disable` (`noforce`).
    pub disable: bool,
}

impl Default for SwiotlbParams {
    fn default() -> Self {
        Self { nslabs: IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT, nareas: 0, force: false, disable: false }
    }
}

/// `simple_strtoul(s, &s, 0)`: a decimal, `0x` hexadecimal or `0` octal number and the rest.
fn strtoul(s: &str) -> (u64, &str) {
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    (u64::from_str_radix(&digits[..end], radix).unwrap_or(0), &digits[end..])
}

impl SwiotlbParams {
    /// The last `swiotlb=` of a command line applied to the defaults, as `setup_io_tlb_npages()` reads it.
    ///
    /// Context: boot.
    pub fn from_cmdline(cmdline: &str) -> Self {
        let mut p = Self::default();
        for arg in cmdline.split_whitespace().filter_map(|w| w.strip_prefix("swiotlb=")) {
            let mut s = arg;
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                let (n, rest) = strtoul(s);
                // ALIGN(n, IO_TLB_SEGSIZE): no tail segment shorter than a segment.
                p.nslabs = n.div_ceil(IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
                s = rest;
            }
            s = s.strip_prefix(',').unwrap_or(s);
            if s.starts_with(|c: char| c.is_ascii_digit()) {
                let (n, rest) = strtoul(s);
                p.nareas = n.max(1).next_power_of_two();
                s = rest;
            }
            s = s.strip_prefix(',').unwrap_or(s);
            match s {
                "force" => p.force = true,
                "noforce" => p.disable = true,
                _ => {}
            }
        }
        p
    }

    /// `swiotlb_adjust_nareas()`'s `round_up_default_nslabs()`: at least a segment per area, and a power of
    /// two. Returns whether it changed the size.
    fn round_up_nslabs(&mut self) -> bool {
        if self.nareas == 0 {
            return false;
        }
        if self.nslabs < IO_TLB_SEGSIZE * self.nareas {
            self.nslabs = IO_TLB_SEGSIZE * self.nareas;
        } else if self.nslabs.is_power_of_two() {
            return false;
        }
        self.nslabs = self.nslabs.next_power_of_two();
        true
    }
}

/// A `struct io_tlb_slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IoTlbSlot {
    orig_addr: u64,
    alloc_size: u64,
    list: u16,
    pad_slots: u16,
}

/// A `struct io_tlb_area`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IoTlbArea {
    used: u64,
    index: u64,
}

/// The default pool (`io_tlb_default_mem.defpool`).
#[derive(Clone, Debug)]
struct IoTlbPool {
    start: u64,
    nslabs: u64,
    area_nslabs: u64,
    slots: Vec<IoTlbSlot>,
    areas: Vec<IoTlbArea>,
}

/// `io_tlb_default_mem` (a field of [`Machine`]).
#[derive(Clone, Debug, Default)]
pub struct IoTlbMem {
    pool: Option<IoTlbPool>,
    force_bounce: bool,
    total_used: u64,
    used_hiwater: u64,
}

/// The memblock allocations of a forced pool, for the boot (mm_init.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SwiotlbBoot {
    pub nslabs: u64,
    pub nareas: u64,
    /// Pages of the bounce buffers (`PAGE_ALIGN(nslabs << IO_TLB_SHIFT)`).
    pub tlb_pages: u64,
    /// Pages of the slot array (`PAGE_ALIGN(nslabs * sizeof(struct io_tlb_slot))`).
    pub slot_pages: u64,
}

fn io_tlb_offset(i: u64) -> u64 {
    i & (IO_TLB_SEGSIZE - 1)
}

fn nr_slots(v: u64) -> u64 {
    v.div_ceil(IO_TLB_SIZE)
}

/// The loop both `swiotlb_search_pool_area()` and `swiotlb_release_slots()` end with: the free slots just
/// before `index` in its segment count on from `count`, so each says how many free slots follow it.
fn relink_preceding(slots: &mut [IoTlbSlot], index: u64, mut count: u16) {
    let mut i = index;
    while i > 0 {
        i -= 1;
        if io_tlb_offset(i) == IO_TLB_SEGSIZE - 1 || slots[i as usize].list == 0 {
            break;
        }
        count += 1;
        slots[i as usize].list = count;
    }
}

impl Machine {
    /// The first half of `swiotlb_init_remap()`: whether this boot gets a pool and how big, printing what
    /// `swiotlb_adjust_nareas()` prints. None without `swiotlb=force` (x86 would ask for a pool only for
    /// memory above 4 GiB, and tears an unforced one down at `pci_iommu_init()`) or with `noforce`.
    ///
    /// Context: boot, before `memblock_free_all()`.
    pub(crate) fn swiotlb_boot_size(&mut self) -> Option<SwiotlbBoot> {
        let mut p = SwiotlbParams::from_cmdline(&self.cfg.cmdline);
        if !p.force || p.disable {
            return None;
        }
        if p.nareas == 0 {
            p.nareas = (self.cfg.cpus.max(1) as u64).next_power_of_two();
        }
        self.printk(LogLevel::Info, &format!("software IO TLB: area num {}.\n", p.nareas));
        if p.round_up_nslabs() {
            let mb = (p.nslabs << IO_TLB_SHIFT) >> 20;
            self.printk(LogLevel::Info, &format!("software IO TLB: SWIOTLB bounce buffer size roundup to {mb}MB"));
        }
        // limit_nareas()
        let nareas = if p.nslabs < p.nareas * IO_TLB_SEGSIZE { p.nslabs / IO_TLB_SEGSIZE } else { p.nareas };
        let page = 1u64 << PAGE_SHIFT;
        Some(SwiotlbBoot {
            nslabs: p.nslabs,
            nareas: nareas.max(1),
            tlb_pages: (p.nslabs << IO_TLB_SHIFT).div_ceil(page),
            slot_pages: (p.nslabs * IO_TLB_SLOT_SIZE).div_ceil(page),
        })
    }

    /// `swiotlb_init_io_tlb_pool()`: the pool at `start` (physical), every slot free.
    ///
    /// Context: boot.
    pub(crate) fn swiotlb_init_pool(&mut self, start: u64, b: SwiotlbBoot) {
        let slots = (0..b.nslabs)
            .map(|i| IoTlbSlot {
                orig_addr: INVALID_PHYS_ADDR,
                alloc_size: 0,
                list: (IO_TLB_SEGSIZE - io_tlb_offset(i)).min(b.nslabs - i) as u16,
                pad_slots: 0,
            })
            .collect();
        let virt = self.phys_to_virt(start);
        let _ = self.fill(virt, b.nslabs << IO_TLB_SHIFT, 0);
        self.swiotlb = IoTlbMem {
            pool: Some(IoTlbPool {
                start,
                nslabs: b.nslabs,
                area_nslabs: b.nslabs / b.nareas,
                slots,
                areas: vec![IoTlbArea::default(); b.nareas as usize],
            }),
            force_bounce: true,
            total_used: 0,
            used_hiwater: 0,
        };
    }

    /// `is_swiotlb_force_bounce(dev)`: `swiotlb=force` — every streaming mapping bounces.
    ///
    /// Context: any.
    pub fn is_swiotlb_force_bounce(&self) -> bool {
        self.swiotlb.force_bounce && self.swiotlb.pool.is_some()
    }

    /// `is_swiotlb_active(dev)`: a pool exists.
    ///
    /// Context: any.
    pub fn is_swiotlb_active(&self) -> bool {
        self.swiotlb.pool.is_some()
    }

    /// `is_swiotlb_buffer(dev, paddr)`: whether a physical address is a bounce buffer.
    ///
    /// Context: any.
    pub fn is_swiotlb_buffer(&self, paddr: u64) -> bool {
        self.swiotlb.pool.as_ref().is_some_and(|p| paddr >= p.start && paddr < p.start + (p.nslabs << IO_TLB_SHIFT))
    }

    /// `swiotlb_max_mapping_size(dev)`: one segment, 256 KiB (no `min_align_mask`).
    ///
    /// Context: any.
    pub fn swiotlb_max_mapping_size(&self) -> u64 {
        IO_TLB_SIZE * IO_TLB_SEGSIZE
    }

    /// `swiotlb_map(dev, paddr, size, dir, attrs)`: a bounce buffer for `size` bytes at `paddr`, filled from
    /// the original, as the device address — or `DMA_MAPPING_ERROR` when the pool is full (`swiotlb buffer
    /// is full`, unless `DMA_ATTR_NO_WARN`) or the device cannot reach the bounce buffer either
    /// (`dev_WARN_ONCE()`).
    ///
    /// Context: any (the pool's area lock is a spinlock).
    pub(crate) fn swiotlb_map(&mut self, dev: DeviceId, paddr: u64, size: u64, dir: DmaDirection, attrs: u64) -> u64 {
        let (mask, bus_limit) = match self.device(dev) {
            Some(d) => (d.dma_mask.unwrap_or(0), d.bus_dma_limit),
            None => (0, 0),
        };
        let depth = self.stack.frames.len();
        self.push_kframe("swiotlb_map");
        let tlb = self.swiotlb_tbl_map_single(dev, paddr, size, attrs);
        let r = match tlb {
            None => DMA_MAPPING_ERROR,
            Some(tlb) if !crate::dma::dma_capable(mask, bus_limit, tlb, size) => {
                self.swiotlb_tbl_unmap_single(tlb, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
                let msg = format!(
                    "{} {}: swiotlb addr 0x{tlb:016x}+{size} overflow (mask {mask:x}, bus limit {bus_limit:x}).\n",
                    self.dev_driver_string(dev),
                    self.dev_name(dev),
                );
                self.warn_once("kernel/dma/swiotlb.c", LINE_ADDR_OVERFLOW, Some(&msg));
                DMA_MAPPING_ERROR
            }
            Some(tlb) => tlb,
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `swiotlb_tbl_map_single(dev, orig_addr, size, 0, dir, attrs)`: the slots, their original addresses,
    /// and the copy in. None when no area has room.
    fn swiotlb_tbl_map_single(&mut self, dev: DeviceId, orig_addr: u64, size: u64, attrs: u64) -> Option<u64> {
        self.with_frame("swiotlb_tbl_map_single", |m| m.swiotlb_tbl_map_single_inner(dev, orig_addr, size, attrs))
    }

    fn swiotlb_tbl_map_single_inner(&mut self, dev: DeviceId, orig_addr: u64, size: u64, attrs: u64) -> Option<u64> {
        // swiotlb_align_offset() is 0 without a min_align_mask, and alloc_align_mask is 0 for streaming maps.
        let Some(index) = self.swiotlb_find_slots(size) else {
            if attrs & DMA_ATTR_NO_WARN == 0 {
                let (nslabs, used) = (self.swiotlb.pool.as_ref().map_or(0, |p| p.nslabs), self.swiotlb.total_used);
                let msg = format!(
                    "{} {}: swiotlb buffer is full (sz: {size} bytes), total {nslabs} (slots), used {used} (slots)\n",
                    self.dev_driver_string(dev),
                    self.dev_name(dev)
                );
                self.printk(LogLevel::Warning, &msg);
            }
            return None;
        };
        let pool = self.swiotlb.pool.as_mut()?;
        pool.slots[index as usize].pad_slots = 0;
        for i in 0..nr_slots(size) {
            pool.slots[(index + i) as usize].orig_addr = orig_addr + (i << IO_TLB_SHIFT);
        }
        let tlb = pool.start + (index << IO_TLB_SHIFT);
        // The unconditional copy in: a device that writes only part of the buffer leaves the rest as it was.
        self.swiotlb_bounce(tlb, size, DmaDirection::ToDevice);
        Some(tlb)
    }

    /// `swiotlb_find_slots()`: the current CPU's area first, then the others in turn.
    fn swiotlb_find_slots(&mut self, alloc_size: u64) -> Option<u64> {
        let nareas = self.swiotlb.pool.as_ref()?.areas.len() as u64;
        let start = self.sched.cpu as u64 & (nareas - 1);
        let mut i = start;
        loop {
            if let Some(idx) = self.swiotlb_search_pool_area(i, alloc_size) {
                return Some(idx);
            }
            i = (i + 1) % nareas;
            if i == start {
                return None;
            }
        }
    }

    /// `swiotlb_search_pool_area()`: next fit from the area's `index`, page-aligned for a page or more.
    fn swiotlb_search_pool_area(&mut self, area_index: u64, alloc_size: u64) -> Option<u64> {
        let pool = self.swiotlb.pool.as_mut()?;
        let nslots = nr_slots(alloc_size);
        let mut alloc_align_mask = if alloc_size >= 1 << PAGE_SHIFT { (1 << PAGE_SHIFT) - 1 } else { 0 };
        alloc_align_mask |= IO_TLB_SIZE - 1;
        // get_max_slots(alloc_align_mask): the stride past unaligned slots.
        let stride = (alloc_align_mask + 1) >> IO_TLB_SHIFT;
        let area = pool.areas[area_index as usize];
        if nslots > pool.area_nslabs - area.used {
            return None;
        }
        let area_nslabs = pool.area_nslabs;
        let slot_base = area_index * area_nslabs;
        let wrap = |i: u64| if i >= area_nslabs { i - area_nslabs } else { i };
        let mut index = area.index;
        let mut checked = 0;
        let mut found = None;
        while checked < area_nslabs {
            let slot_index = slot_base + index;
            let tlb_addr = pool.start + (slot_index << IO_TLB_SHIFT);
            if tlb_addr & alloc_align_mask != 0 {
                index = wrap(index + 1);
                checked += 1;
                continue;
            }
            if pool.slots[slot_index as usize].list as u64 >= nslots {
                found = Some((slot_index, index));
                break;
            }
            index = wrap(index + stride);
            checked += stride;
        }
        let (slot_index, index) = found?;
        for i in slot_index..slot_index + nslots {
            let s = &mut pool.slots[i as usize];
            s.list = 0;
            s.alloc_size = alloc_size - ((i - slot_index) << IO_TLB_SHIFT);
        }
        relink_preceding(&mut pool.slots, slot_index, 0);
        let a = &mut pool.areas[area_index as usize];
        a.index = wrap(index + nslots);
        a.used += nslots;
        self.swiotlb.total_used += nslots;
        self.swiotlb.used_hiwater = self.swiotlb.used_hiwater.max(self.swiotlb.total_used);
        Some(slot_index)
    }

    /// `swiotlb_bounce(dev, tlb_addr, size, dir)`: copies between the bounce buffer and the original
    /// (`DMA_TO_DEVICE`: into the buffer), at most what the mapping holds from `tlb_addr` on
    /// (`dev_WARN_ONCE()` `Buffer overflow detected` for more).
    fn swiotlb_bounce(&mut self, tlb_addr: u64, size: u64, dir: DmaDirection) {
        let Some(pool) = self.swiotlb.pool.as_ref() else { return };
        let index = ((tlb_addr - pool.start) >> IO_TLB_SHIFT) as usize;
        let IoTlbSlot { orig_addr, alloc_size, .. } = pool.slots[index];
        if orig_addr == INVALID_PHYS_ADDR {
            return;
        }
        let tlb_offset = tlb_addr & (IO_TLB_SIZE - 1);
        let orig = orig_addr + tlb_offset;
        let avail = alloc_size.saturating_sub(tlb_offset);
        let mut size = size;
        if size > avail {
            let msg = format!("Buffer overflow detected. Allocation size: {avail}. Mapping size: {size}.\n");
            self.warn_once("kernel/dma/swiotlb.c", LINE_BUFFER_OVERFLOW, Some(&msg));
            size = avail;
        }
        let (from, to) = if dir == DmaDirection::ToDevice { (orig, tlb_addr) } else { (tlb_addr, orig) };
        let mut buf = vec![0u8; size as usize];
        let (src, dst) = (self.phys_to_virt(from), self.phys_to_virt(to));
        if self.read_bytes(src, &mut buf).is_ok() {
            let _ = self.write_bytes(dst, &buf);
        }
    }

    /// `swiotlb_tbl_unmap_single()` (`__swiotlb_tbl_unmap_single()`): the copy back for the CPU unless
    /// `DMA_ATTR_SKIP_CPU_SYNC`, then the slots are free again. Nothing for an address outside the pool.
    ///
    /// Context: any.
    pub(crate) fn swiotlb_tbl_unmap_single(&mut self, tlb_addr: u64, size: u64, dir: DmaDirection, attrs: u64) {
        if !self.is_swiotlb_buffer(tlb_addr) {
            return;
        }
        if attrs & DMA_ATTR_SKIP_CPU_SYNC == 0 && matches!(dir, DmaDirection::FromDevice | DmaDirection::Bidirectional)
        {
            self.swiotlb_bounce(tlb_addr, size, DmaDirection::FromDevice);
        }
        self.swiotlb_release_slots(tlb_addr);
    }

    /// `swiotlb_release_slots()`: the mapping's slots back, their free counts merged with the free slots
    /// after and before them in the segment.
    fn swiotlb_release_slots(&mut self, tlb_addr: u64) {
        let Some(pool) = self.swiotlb.pool.as_mut() else { return };
        let index = (tlb_addr - pool.start) >> IO_TLB_SHIFT;
        let index = index - pool.slots[index as usize].pad_slots as u64;
        let nslots = nr_slots(pool.slots[index as usize].alloc_size);
        let aindex = (index / pool.area_nslabs) as usize;
        let mut count =
            if index + nslots < (index + 1).div_ceil(IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE && index + nslots < pool.nslabs {
                pool.slots[(index + nslots) as usize].list
            } else {
                0
            };
        for i in (index..index + nslots).rev() {
            count += 1;
            pool.slots[i as usize] =
                IoTlbSlot { orig_addr: INVALID_PHYS_ADDR, alloc_size: 0, list: count, pad_slots: 0 };
        }
        relink_preceding(&mut pool.slots, index, count);
        pool.areas[aindex].used -= nslots;
        self.swiotlb.total_used -= nslots;
    }

    /// `swiotlb_sync_single_for_device()` / `_for_cpu()` (`to_cpu`) of a bounce buffer: the copy the
    /// direction needs (for the device: `DMA_TO_DEVICE` and `DMA_BIDIRECTIONAL`; for the CPU:
    /// `DMA_FROM_DEVICE` and `DMA_BIDIRECTIONAL`). Nothing for an address outside the pool.
    ///
    /// Context: any.
    pub(crate) fn swiotlb_sync_single(&mut self, tlb_addr: u64, size: u64, dir: DmaDirection, to_cpu: bool) {
        if !self.is_swiotlb_buffer(tlb_addr) {
            return;
        }
        match (to_cpu, dir) {
            (false, DmaDirection::ToDevice | DmaDirection::Bidirectional) => {
                self.swiotlb_bounce(tlb_addr, size, DmaDirection::ToDevice)
            }
            (true, DmaDirection::FromDevice | DmaDirection::Bidirectional) => {
                self.swiotlb_bounce(tlb_addr, size, DmaDirection::FromDevice)
            }
            _ => {}
        }
    }

    /// `/sys/kernel/debug/swiotlb/<file>`: `io_tlb_nslabs`, `io_tlb_used`, `io_tlb_used_hiwater` (each
    /// `%llu\n`), present only when a pool exists.
    ///
    /// Context: process context. Returns `-ENOENT` for another file or without a pool.
    pub fn swiotlb_debugfs_read(&self, file: &str) -> Result<String, i32> {
        let pool = self.swiotlb.pool.as_ref().ok_or(-2)?;
        let v = match file {
            "io_tlb_nslabs" => pool.nslabs,
            "io_tlb_used" => self.swiotlb.total_used,
            "io_tlb_used_hiwater" => self.swiotlb.used_hiwater,
            _ => return Err(-2),
        };
        Ok(format!("{v}\n"))
    }
}
