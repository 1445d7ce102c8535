//! The coherent DMA API: kernel/dma/mapping.c and kernel/dma/direct.c (include/linux/dma-mapping.h) of Linux
//! 6.12.117, for a plain x86 machine: no IOMMU, no `dma_map_ops` for the device, no CMA area, no memory
//! encryption, cache-coherent devices. So `dma_alloc_coherent` is `dma_direct_alloc`: pages from the buddy
//! allocator in the zone the device's coherent mask needs, zeroed, the CPU address is the direct-map address
//! and the bus address (`dma_addr_t`) is the physical address.
//!
//! - Masks: `dma_set_mask`/`dma_set_coherent_mask` accept a mask >= `DMA_BIT_MASK(32)` always, a smaller one
//!   only if it covers `min((max_pfn - 1) << PAGE_SHIFT, zone_dma_limit)` (`dma_direct_supported`), i.e.
//!   24 bits on x86; otherwise `-EIO`. A device whose `dma_mask` pointer is NULL gets `-EIO` from
//!   `dma_set_mask`.
//! - Zones (`dma_direct_optimal_gfp_mask`): a coherent mask <= 24 bits allocates with GFP_DMA, <= 32 bits
//!   with GFP_DMA32 (GFP_DMA32 means ZONE_NORMAL on 32-bit x86, which has no ZONE_DMA32), else any zone; a
//!   page that is not addressable (`dma_coherent_ok`) is freed and the allocation retried in DMA32, then DMA.
//! - `dma_alloc_attrs` warns once (`WARN_ON_ONCE`) for a zero coherent mask and for `__GFP_COMP` (refused),
//!   and strips `__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM` from the caller's mask. `dma_free_attrs` warns when
//!   called with interrupts disabled and frees the pages the *bus address* names, at `get_order(size)`.
//! - A NULL device oopses (the kernel dereferences it); the fault address is `dev + offsetof(struct device,
//!   dma_ops)`, [`DEVICE_DMA_OPS_OFFSET`] — an estimate, see its documentation.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use crate::device::DeviceId;
use crate::dma_debug::DmaDirection;
use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::{PageOwner, Pfn};
use crate::zone::ZoneType;

/// `DMA_BIT_MASK(n)`.
///
/// Context: any.
#[allow(non_snake_case)]
pub const fn DMA_BIT_MASK(n: u32) -> u64 {
    if n >= 64 {
        !0
    } else {
        (1u64 << n) - 1
    }
}

/// `DMA_MAPPING_ERROR`.
pub const DMA_MAPPING_ERROR: u64 = !0;
/// `DMA_ATTR_NO_WARN`.
pub const DMA_ATTR_NO_WARN: u64 = 1 << 8;
/// `zone_dma_limit` on x86 (the top of ZONE_DMA, 16 MiB).
pub const ZONE_DMA_LIMIT: u64 = DMA_BIT_MASK(24);
/// `offsetof(struct device, dma_ops)` on x86_64 as the simulator assumes it for the NULL-device oops. The
/// real value depends on the configuration (lockdep, PM, MSI ...); this is an estimate, not measured.
pub const DEVICE_DMA_OPS_OFFSET: u64 = 0x248;
/// The same for 32-bit x86 (estimate).
pub const DEVICE_DMA_OPS_OFFSET_32: u64 = 0x15c;

const LINE_NO_COHERENT_MASK: u32 = 598;
const LINE_GFP_COMP: u32 = 605;
const LINE_FREE_IRQS_DISABLED: u32 = 650;

/// Why a DMA mask was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// `-EIO`: the mask is not supported or the device has no `dma_mask`.
    Io,
}

impl DmaError {
    /// The errno (`-EIO` = -5).
    ///
    /// Context: any.
    pub fn errno(self) -> i32 {
        -5
    }
}

impl std::fmt::Display for DmaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DMA mask not supported (-EIO)")
    }
}
impl std::error::Error for DmaError {}

/// A coherent buffer: the CPU (kernel virtual) address and the bus address (`*dma_handle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaAlloc {
    /// The kernel's address of the buffer (direct map).
    pub cpu_addr: u64,
    /// The device's address (`dma_addr_t`), the physical address here.
    pub dma_handle: u64,
}

/// A live coherent allocation, for dumps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoherentAlloc {
    /// The device.
    pub dev: DeviceId,
    /// CPU address.
    pub cpu_addr: u64,
    /// Bus address.
    pub dma_handle: u64,
    /// Requested size.
    pub size: u64,
    /// Page order.
    pub order: u32,
    /// Zone the pages came from.
    pub zone: ZoneType,
}

/// Devices, coherent allocations and DMA pools (a field of [`Machine`]).
#[derive(Clone, Debug, Default)]
pub struct DmaState {
    pub(crate) devices: Vec<crate::device::Device>,
    pub(crate) next_auto_id: u32,
    /// Live coherent allocations, oldest first.
    pub(crate) coherent: Vec<CoherentAlloc>,
    /// DMA pools by address.
    pub(crate) pools: HashMap<u64, crate::dmapool::DmaPool>,
    /// `dma_direct_map_resource()`'s `dev_err_once()` has printed.
    pub(crate) resource_err_printed: bool,
}

fn min_not_zero(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

impl Machine {
    /// `get_order()` as the kernel computes it for a run-time size (`get_order(0)` is `BITS_PER_LONG -
    /// PAGE_SHIFT`, which no allocator accepts).
    pub(crate) fn kernel_get_order(&self, size: u64) -> u32 {
        if size == 0 {
            return match self.layout.arch {
                Arch::X86_64 => 64 - PAGE_SHIFT,
                Arch::I386 => 32 - PAGE_SHIFT,
            };
        }
        crate::page_alloc::get_order(size)
    }

    /// `(dma_addr_t)mask`: 64 bits on x86_64, 32 on non-PAE i386.
    fn dma_addr_t(&self, v: u64) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => v,
            Arch::I386 => v & 0xffff_ffff,
        }
    }

    /// `dma_direct_supported(dev, mask)`.
    fn dma_supported(&self, mask: u64) -> bool {
        if mask >= DMA_BIT_MASK(32) {
            return true;
        }
        let min_mask = ((self.layout.max_pfn - 1) << PAGE_SHIFT).min(ZONE_DMA_LIMIT);
        mask >= min_mask
    }

    /// `dma_set_mask(dev, mask)`: `Err(-EIO)` if the device has no `dma_mask` or the mask is unsupported.
    ///
    /// Context: process context (probe).
    pub fn dma_set_mask(&mut self, dev: DeviceId, mask: u64) -> Result<(), DmaError> {
        let mask = self.dma_addr_t(mask);
        let ok = self.dma_supported(mask);
        let d = self.device_mut(dev).ok_or(DmaError::Io)?;
        if d.dma_mask.is_none() || !ok {
            return Err(DmaError::Io);
        }
        d.dma_mask = Some(mask);
        Ok(())
    }

    /// `dma_set_coherent_mask(dev, mask)`: `Err(-EIO)` if unsupported.
    ///
    /// Context: process context (probe).
    pub fn dma_set_coherent_mask(&mut self, dev: DeviceId, mask: u64) -> Result<(), DmaError> {
        let mask = self.dma_addr_t(mask);
        let ok = self.dma_supported(mask);
        let d = self.device_mut(dev).ok_or(DmaError::Io)?;
        if !ok {
            return Err(DmaError::Io);
        }
        d.coherent_dma_mask = mask;
        Ok(())
    }

    /// `dma_set_mask_and_coherent(dev, mask)`: `dma_set_mask`, then on success `dma_set_coherent_mask`.
    ///
    /// Context: process context (probe).
    pub fn dma_set_mask_and_coherent(&mut self, dev: DeviceId, mask: u64) -> Result<(), DmaError> {
        self.dma_set_mask(dev, mask)?;
        let _ = self.dma_set_coherent_mask(dev, mask);
        Ok(())
    }

    /// `dma_coerce_mask_and_coherent(dev, mask)`: points `dev->dma_mask` at the coherent mask first, so it also
    /// works for a device without a `dma_mask`.
    ///
    /// Context: process context (probe).
    pub fn dma_coerce_mask_and_coherent(&mut self, dev: DeviceId, mask: u64) -> Result<(), DmaError> {
        let d = self.device_mut(dev).ok_or(DmaError::Io)?;
        d.dma_mask = Some(d.coherent_dma_mask);
        self.dma_set_mask_and_coherent(dev, mask)
    }

    /// `dma_get_mask(dev)`: `*dev->dma_mask`, or `DMA_BIT_MASK(32)` without one.
    ///
    /// Context: any.
    pub fn dma_get_mask(&self, dev: DeviceId) -> u64 {
        self.device(dev).and_then(|d| d.dma_mask).unwrap_or(DMA_BIT_MASK(32))
    }

    /// `dma_get_required_mask(dev)` (`dma_direct_get_required_mask`): the smallest all-ones mask covering the
    /// last page of RAM.
    ///
    /// Context: any.
    pub fn dma_get_required_mask(&self, _dev: DeviceId) -> u64 {
        self.dma_direct_get_required_mask()
    }

    /// `dma_direct_get_required_mask()`: the device is not read on x86 (`phys_to_dma()` is the identity).
    ///
    /// Context: any.
    pub fn dma_direct_get_required_mask(&self) -> u64 {
        let max_dma = (self.layout.max_pfn - 1) << PAGE_SHIFT;
        let fls = 64 - max_dma.leading_zeros();
        (1u64 << (fls - 1)) * 2 - 1
    }

    fn null_device_oops(&mut self) {
        let off = match self.layout.arch {
            Arch::X86_64 => DEVICE_DMA_OPS_OFFSET,
            Arch::I386 => DEVICE_DMA_OPS_OFFSET_32,
        };
        self.die_on_access(off);
    }

    /// `dma_alloc_coherent(dev, size, &handle, gfp)` = `dma_alloc_attrs` with `DMA_ATTR_NO_WARN` when the mask
    /// has `__GFP_NOWARN`. None (NULL) on failure. See the module documentation for the rules.
    ///
    /// Context: process context with GFP_KERNEL; GFP_ATOMIC from atomic context.
    pub fn dma_alloc_coherent(&mut self, dev: Option<DeviceId>, size: u64, gfp: Gfp) -> Option<DmaAlloc> {
        let attrs = if gfp.intersects(Gfp::__GFP_NOWARN) { DMA_ATTR_NO_WARN } else { 0 };
        self.dma_alloc_attrs(dev, size, gfp, attrs)
    }

    /// `dma_alloc_attrs(dev, size, &handle, flag, attrs)`.
    ///
    /// Context: as [`Machine::dma_alloc_coherent`].
    pub fn dma_alloc_attrs(&mut self, dev: Option<DeviceId>, size: u64, flag: Gfp, attrs: u64) -> Option<DmaAlloc> {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_alloc_attrs");
        let r = self.dma_alloc_attrs_inner(dev, size, flag, attrs);
        // Back in dma_alloc_attrs() itself (the allocation's frames are gone).
        self.stack.frames.truncate(depth + 1);
        if let (Some(a), Some(d)) = (r, dev) {
            self.debug_dma_alloc_coherent(d, size, a.dma_handle, a.cpu_addr);
        }
        self.stack.frames.truncate(depth);
        r
    }

    fn dma_alloc_attrs_inner(
        &mut self,
        dev: Option<DeviceId>,
        size: u64,
        mut flag: Gfp,
        attrs: u64,
    ) -> Option<DmaAlloc> {
        let Some(dev) = dev.filter(|d| self.device(*d).is_some()) else {
            self.null_device_oops();
            return None;
        };
        let d = self.device(dev)?;
        let (cmask, limit) = (d.coherent_dma_mask, d.bus_dma_limit);
        if cmask == 0 {
            self.warn_once("kernel/dma/mapping.c", LINE_NO_COHERENT_MASK, None);
        }
        if flag.intersects(Gfp::__GFP_COMP) {
            self.warn_once("kernel/dma/mapping.c", LINE_GFP_COMP, None);
            return None;
        }
        flag &= !(Gfp::__GFP_DMA | Gfp::__GFP_DMA32 | Gfp::__GFP_HIGHMEM);
        // dma_direct_alloc()
        self.push_kframe("dma_direct_alloc");
        let req_size = size;
        // PAGE_ALIGN(size): unsigned long arithmetic, so a size within a page of ULONG_MAX wraps to 0 (and
        // get_order(0) then asks for an impossible order).
        let size = size.wrapping_add(4095) & !4095;
        if attrs & DMA_ATTR_NO_WARN != 0 {
            flag |= Gfp::__GFP_NOWARN;
        }
        let page = self.dma_direct_alloc_pages(cmask, limit, size, flag & !Gfp::__GFP_ZERO)?;
        let cpu_addr = self.page_address(page);
        if cpu_addr == 0 {
            // A highmem page would be remapped with vmap; the simulator never gets one (no __GFP_HIGHMEM).
            let order = self.kernel_get_order(size);
            self.__free_pages(page, order);
            return None;
        }
        let _ = self.fill(cpu_addr, size, 0);
        let order = self.kernel_get_order(size);
        self.set_page_owner(page, order, PageOwner::Dma);
        let dma_handle = page.0 << PAGE_SHIFT;
        let zone = self.page_zone(page).map(|z| z.zone_type).unwrap_or(ZoneType::Normal);
        self.dma.coherent.push(CoherentAlloc { dev, cpu_addr, dma_handle, size: req_size, order, zone });
        Some(DmaAlloc { cpu_addr, dma_handle })
    }

    /// `__dma_direct_alloc_pages()`.
    fn dma_direct_alloc_pages(&mut self, cmask: u64, bus_limit: u64, size: u64, mut gfp: Gfp) -> Option<Pfn> {
        let depth = self.stack.frames.len();
        self.push_kframe("__dma_direct_alloc_pages");
        let limit = min_not_zero(cmask, bus_limit);
        // dma_direct_optimal_gfp_mask()
        let phys_limit = limit;
        if phys_limit <= ZONE_DMA_LIMIT {
            gfp |= Gfp::GFP_DMA;
        } else if phys_limit <= DMA_BIT_MASK(32) {
            gfp |= Gfp::GFP_DMA32;
        }
        let has_dma32 = self.zones.iter().any(|z| z.zone_type == ZoneType::Dma32);
        let order = self.kernel_get_order(size);
        let coherent_ok = |phys: u64| phys.wrapping_add(size).wrapping_sub(1) <= limit;
        let r = loop {
            let Some(page) = self.alloc_pages(gfp, order) else {
                break None;
            };
            if coherent_ok(page.0 << PAGE_SHIFT) {
                break Some(page);
            }
            self.__free_pages(page, order);
            if has_dma32 && phys_limit < DMA_BIT_MASK(64) && !gfp.intersects(Gfp::GFP_DMA32 | Gfp::GFP_DMA) {
                gfp |= Gfp::GFP_DMA32;
                continue;
            }
            if !gfp.intersects(Gfp::GFP_DMA) {
                gfp = (gfp & !Gfp::GFP_DMA32) | Gfp::GFP_DMA;
                continue;
            }
            break None;
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `dma_free_coherent(dev, size, cpu_addr, dma_handle)` = `dma_free_attrs(..., 0)`: warns when interrupts
    /// are disabled, ignores a NULL `cpu_addr`, and frees `get_order(size)` pages at the page the bus address
    /// names (a wrong size or handle gives the page allocator's bad-page reports).
    ///
    /// Context: process context or softirq, interrupts enabled.
    pub fn dma_free_coherent(&mut self, dev: Option<DeviceId>, size: u64, cpu_addr: u64, dma_handle: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_free_attrs");
        self.dma_free_inner(dev, size, cpu_addr, dma_handle);
        self.stack.frames.truncate(depth);
    }

    fn dma_free_inner(&mut self, dev: Option<DeviceId>, size: u64, cpu_addr: u64, handle: u64) {
        if dev.filter(|d| self.device(*d).is_some()).is_none() {
            self.null_device_oops();
            return;
        }
        if self.irqs_disabled() {
            self.warn("kernel/dma/mapping.c", LINE_FREE_IRQS_DISABLED, None);
        }
        if cpu_addr == 0 {
            return;
        }
        if let Some(d) = dev {
            self.debug_dma_free_coherent(d, size, cpu_addr, handle);
        }
        self.push_kframe("dma_direct_free");
        let order = self.kernel_get_order(size);
        let pfn = Pfn(handle >> PAGE_SHIFT);
        if let Some(i) = self.dma.coherent.iter().position(|c| c.dma_handle == handle) {
            let c = self.dma.coherent.remove(i);
            self.set_page_owner(pfn, c.order, PageOwner::PageAlloc);
        }
        self.__free_pages(pfn, order);
    }

    /// Live coherent allocations, oldest first.
    ///
    /// Context: any.
    pub fn dma_coherent_allocations(&self) -> &[CoherentAlloc] {
        &self.dma.coherent
    }

    /// A dump of the live coherent allocations for the book: one line per buffer with the device, the CPU and
    /// bus addresses, the size, the order and the zone.
    ///
    /// Context: any.
    pub fn dma_coherent_dump(&self) -> String {
        let mut s = String::new();
        for c in &self.dma.coherent {
            s.push_str(&format!(
                "{} {}: cpu_addr={:#x} dma_handle={:#x} size={} order={} zone={}\n",
                self.dev_driver_string(c.dev),
                self.dev_name(c.dev),
                c.cpu_addr,
                c.dma_handle,
                c.size,
                c.order,
                c.zone.name()
            ));
        }
        s
    }
}

/// `DMA_BIT_MASK()` end of a streaming mapping: `dma_capable(dev, addr, size, true)` of
/// include/linux/dma-direct.h (x86 has a 64-bit `dma_addr_t`, so only the mask and the bus limit count).
pub(crate) fn dma_capable(mask: u64, bus_limit: u64, addr: u64, size: u64) -> bool {
    if addr == DMA_MAPPING_ERROR {
        return false;
    }
    addr.wrapping_add(size).wrapping_sub(1) <= min_not_zero(mask, bus_limit)
}

impl Machine {
    /// `BUG_ON(!valid_dma_direction(dir))` at kernel/dma/mapping.c:`line`: the direction, or an oops.
    fn dma_direction(&mut self, dir: u32, line: u32) -> Option<DmaDirection> {
        match DmaDirection::from_raw(dir).filter(|d| d.is_valid()) {
            Some(d) => Some(d),
            None => {
                self.die(crate::slab_common::OopsKind::Bug { file: "kernel/dma/mapping.c".into(), line });
                None
            }
        }
    }

    /// `dma_map_page_attrs(dev, page, offset, size, dir, attrs)` (what the inline `dma_map_single()` and
    /// `dma_map_page()` call): a streaming mapping of `size` bytes at `offset` into the page `pfn`. The
    /// book's machines map directly (`dma_direct_map_page()`): the device address is the physical address,
    /// which must lie under the device's DMA mask and bus limit (`dma_capable()`). No swiotlb pool exists on
    /// them unless the command line forces one (`swiotlb=force`, swiotlb.rs; x86 would also set one up for
    /// memory above 4 GiB), so a buffer the device cannot reach is not bounced: `dev_WARN_ONCE()` `DMA addr
    /// … overflow` and `DMA_MAPPING_ERROR`. With the forced pool every mapping bounces.
    /// A device without a `dma_mask` warns once (kernel/dma/mapping.c:164) and gets `DMA_MAPPING_ERROR`; an
    /// invalid direction is a `BUG()`. The mapping is recorded by `debug_dma_map_page()` (dma_debug.rs).
    ///
    /// Context: any. Returns the device address or `DMA_MAPPING_ERROR`.
    pub fn dma_map_page_attrs(
        &mut self,
        dev: Option<DeviceId>,
        pfn: Pfn,
        offset: u64,
        size: u64,
        dir: u32,
        attrs: u64,
    ) -> u64 {
        self.with_frame("dma_map_page_attrs", |m| m.dma_map_page_inner(dev, pfn, offset, size, dir, attrs))
    }

    fn dma_map_page_inner(
        &mut self,
        dev: Option<DeviceId>,
        pfn: Pfn,
        offset: u64,
        size: u64,
        dir: u32,
        attrs: u64,
    ) -> u64 {
        let Some(dir) = self.dma_direction(dir, 162) else {
            return DMA_MAPPING_ERROR;
        };
        let Some(dev) = dev.filter(|d| self.device(*d).is_some()) else {
            // dev->dma_mask is read first.
            self.die_on_access(crate::device::DEVICE_DMA_MASK_OFFSET);
            return DMA_MAPPING_ERROR;
        };
        let d = self.device(dev).cloned().unwrap_or_else(|| unreachable!());
        let Some(mask) = d.dma_mask else {
            self.warn_once("kernel/dma/mapping.c", 164, None);
            return DMA_MAPPING_ERROR;
        };
        let _ = mask;
        let phys = (pfn.0 << PAGE_SHIFT) + offset;
        let dma_addr = self.dma_direct_map_page(dev, phys, size, dir, attrs);
        self.debug_dma_map_page(dev, phys, size, dir, dma_addr, attrs);
        dma_addr
    }

    /// `dma_direct_map_page()` (kernel/dma/direct.h, inline in its callers): with `swiotlb=force` a bounce
    /// buffer (`swiotlb_map()`); otherwise the physical address, if the device reaches it (`dma_capable()`),
    /// else a bounce buffer if a pool exists, else `dev_WARN_ONCE()` `DMA addr … overflow` and
    /// `DMA_MAPPING_ERROR`.
    fn dma_direct_map_page(&mut self, dev: DeviceId, phys: u64, size: u64, dir: DmaDirection, attrs: u64) -> u64 {
        let (mask, bus_limit) = match self.device(dev) {
            Some(d) => (d.dma_mask.unwrap_or(0), d.bus_dma_limit),
            None => (0, 0),
        };
        let dma_addr = phys;
        if self.is_swiotlb_force_bounce() {
            return self.swiotlb_map(dev, phys, size, dir, attrs);
        }
        if !dma_capable(mask, bus_limit, dma_addr, size) {
            if self.is_swiotlb_active() {
                return self.swiotlb_map(dev, phys, size, dir, attrs);
            }
            let msg = format!(
                "{} {}: DMA addr 0x{dma_addr:016x}+{size} overflow (mask {mask:x}, bus limit {bus_limit:x}).\n",
                self.dev_driver_string(dev),
                self.dev_name(dev),
            );
            // The multi-line dev_WARN_ONCE() of direct.h:103-105 records its last line.
            self.warn_once("kernel/dma/direct.h", 105, Some(&msg));
            return DMA_MAPPING_ERROR;
        }
        dma_addr
    }

    /// `dma_unmap_page_attrs(dev, addr, size, dir, attrs)`: ends a streaming mapping (nothing to undo for a
    /// direct mapping on a cache-coherent x86) and checks it against its record (`debug_dma_unmap_page()`).
    ///
    /// Context: any.
    pub fn dma_unmap_page_attrs(&mut self, dev: Option<DeviceId>, addr: u64, size: u64, dir: u32, attrs: u64) {
        self.dma_checked_call("dma_unmap_page_attrs", 188, dev, dir, |m, d, dir| {
            m.dma_direct_unmap_page(addr, size, dir, attrs);
            m.debug_dma_unmap_page(d, addr, size, dir)
        });
    }

    /// `__dma_sync_single_for_cpu()` (`to_cpu`) / `__dma_sync_single_for_device()` (what the inline
    /// `dma_sync_single_for_*()` call; with `CONFIG_DMA_API_DEBUG` they always do): no cache maintenance is
    /// needed on x86, so what remains is `check_sync()` of the range against its mapping.
    ///
    /// Context: any.
    pub fn dma_sync_single(&mut self, dev: Option<DeviceId>, addr: u64, size: u64, dir: u32, to_cpu: bool) {
        let (frame, line) =
            if to_cpu { ("__dma_sync_single_for_cpu", 368) } else { ("__dma_sync_single_for_device", 385) };
        self.dma_checked_call(frame, line, dev, dir, |m, d, dir| {
            // dma_direct_sync_single_for_cpu()/_for_device(): only a bounce buffer has something to do.
            m.swiotlb_sync_single(addr, size, dir, to_cpu);
            m.debug_dma_sync_single(d, addr, size, dir, to_cpu)
        });
    }

    /// `dma_direct_unmap_page()` (kernel/dma/direct.h): for a bounce buffer, the copy back for the CPU
    /// (unless `DMA_ATTR_SKIP_CPU_SYNC`) and the slots freed; nothing for a direct mapping.
    fn dma_direct_unmap_page(&mut self, addr: u64, size: u64, dir: DmaDirection, attrs: u64) {
        if attrs & crate::dma_debug::DMA_ATTR_SKIP_CPU_SYNC == 0 {
            self.swiotlb_sync_single(addr, size, dir, true);
        }
        self.swiotlb_tbl_unmap_single(addr, size, dir, attrs | crate::dma_debug::DMA_ATTR_SKIP_CPU_SYNC);
    }

    /// `dma_direct_unmap_sg()`: `dma_direct_unmap_page()` of each entry's `dma_address` and `dma_length`.
    fn dma_direct_unmap_sg(&mut self, sg: &[crate::scatterlist::Scatterlist], dir: DmaDirection, attrs: u64) {
        for s in sg {
            self.dma_direct_unmap_page(s.dma_address, s.dma_length as u64, dir, attrs);
        }
    }

    /// The shape of the unmap and sync entry points of kernel/dma/mapping.c: in the function `frame`, the
    /// `BUG_ON(!valid_dma_direction(dir))` at `line`, then `check` (the DMA-API debug check) for a
    /// registered device, the oops of a NULL one otherwise.
    fn dma_checked_call(
        &mut self,
        frame: &'static str,
        line: u32,
        dev: Option<DeviceId>,
        dir: u32,
        check: impl FnOnce(&mut Self, DeviceId, DmaDirection),
    ) {
        let depth = self.stack.frames.len();
        self.push_kframe(frame);
        if let Some(dir) = self.dma_direction(dir, line) {
            match dev.filter(|d| self.device(*d).is_some()) {
                Some(dev) => check(self, dev, dir),
                None => self.null_device_oops(),
            }
        }
        self.stack.frames.truncate(depth);
    }
}

/// The queries of kernel/dma/mapping.c about a device's direct mapping. The book's machines have no DMA ops
/// and no IOMMU, so they answer from the masks and the swiotlb pool (only with `swiotlb=force`); what each reads of the device first is
/// what faults for a NULL one (offsets measured in the real build, listings/kernel/struct-offsets.txt).
impl Machine {
    /// `dma_map_direct(dev, ops)`: reads `*dev->dma_mask`. A NULL device faults at `dev->dma_mask`, a device
    /// without a mask pointer at address 0.
    fn dma_map_direct_dev(&mut self, dev: Option<DeviceId>) -> Option<DeviceId> {
        match dev.filter(|d| self.device(*d).is_some()) {
            None => {
                self.die_on_access(crate::device::DEVICE_DMA_MASK_OFFSET);
                None
            }
            Some(d) if self.device(d).is_some_and(|x| x.dma_mask.is_none()) => {
                self.die_on_access(0);
                None
            }
            Some(d) => Some(d),
        }
    }

    /// `dma_max_mapping_size(dev)`: `SIZE_MAX`, or one swiotlb segment when a pool is active and the device
    /// bounces (`dma_direct_max_mapping_size()`: forced, or its mask below what RAM needs).
    ///
    /// Context: any. Returns the size, or 0 after the oops of a NULL device.
    pub fn dma_max_mapping_size(&mut self, dev: Option<DeviceId>) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_max_mapping_size");
        let r = match self.dma_map_direct_dev(dev) {
            // dma_direct_max_mapping_size(): a bounce buffer is at most one segment of slots.
            Some(d)
                if self.is_swiotlb_active()
                    && (self.is_swiotlb_force_bounce() || self.dma_addressing_limited(Some(d))) =>
            {
                self.swiotlb_max_mapping_size()
            }
            Some(_) => u64::MAX,
            None => 0,
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `dma_opt_mapping_size(dev)`: `min(dma_max_mapping_size(dev), SIZE_MAX)` without an IOMMU.
    ///
    /// Context: any.
    pub fn dma_opt_mapping_size(&mut self, dev: Option<DeviceId>) -> u64 {
        self.with_frame("dma_opt_mapping_size", |m| m.dma_max_mapping_size(dev))
    }

    /// `dma_addressing_limited(dev)`: whether the device's mask (or bus limit) is below the mask all of RAM
    /// needs (`dma_get_required_mask()`); with no `dma_range_map`, all RAM is direct-mapped otherwise.
    ///
    /// Context: any.
    pub fn dma_addressing_limited(&mut self, dev: Option<DeviceId>) -> bool {
        let Some(d) = dev.filter(|d| self.device(*d).is_some()) else {
            let depth = self.stack.frames.len();
            self.push_kframe("dma_addressing_limited");
            self.die_on_access(crate::device::DEVICE_DMA_MASK_OFFSET);
            self.stack.frames.truncate(depth);
            return false;
        };
        let x = self.device(d).cloned().unwrap_or_else(|| unreachable!());
        let mask = x.dma_mask.filter(|&m| m != 0).unwrap_or(DMA_BIT_MASK(32));
        min_not_zero(mask, x.bus_dma_limit) < self.dma_get_required_mask(d)
    }

    /// `dma_can_mmap(dev)`: true (`dma_direct_can_mmap()`: x86 is DMA-coherent). Reads
    /// `dev->coherent_dma_mask` first.
    ///
    /// Context: any.
    pub fn dma_can_mmap(&mut self, dev: Option<DeviceId>) -> bool {
        if dev.filter(|d| self.device(*d).is_some()).is_none() {
            let depth = self.stack.frames.len();
            self.push_kframe("dma_can_mmap");
            self.die_on_access(crate::device::DEVICE_COHERENT_DMA_MASK_OFFSET);
            self.stack.frames.truncate(depth);
            return false;
        }
        true
    }

    /// `__dma_need_sync(dev, dma_addr)` (`dma_direct_need_sync()`): x86 is DMA-coherent, so only a bounce
    /// buffer needs syncs.
    ///
    /// Context: any.
    pub fn __dma_need_sync(&mut self, dev: Option<DeviceId>, dma_addr: u64) -> bool {
        self.with_frame("__dma_need_sync", |m| m.dma_map_direct_dev(dev).is_some() && m.is_swiotlb_buffer(dma_addr))
    }

    /// `dma_get_merge_boundary(dev)`: 0, "can't merge" (no DMA ops, no IOMMU); the device is not read.
    ///
    /// Context: any.
    pub fn dma_get_merge_boundary(&self, dev: Option<DeviceId>) -> u64 {
        let _ = dev;
        0
    }

    /// `dma_pci_p2pdma_supported(dev)`: true — "if ops is not set, dma direct and default IOMMU support
    /// P2PDMA"; the device is not read.
    ///
    /// Context: any.
    pub fn dma_pci_p2pdma_supported(&self, dev: Option<DeviceId>) -> bool {
        let _ = dev;
        true
    }
}

/// `-EIO`, `-EINVAL`, `-ENOMEM`, `-EREMOTEIO`.
const EIO: i32 = -5;
const EINVAL: i32 = -22;
const ENOMEM: i32 = -12;
const EREMOTEIO: i32 = -121;

/// Scatter-gather mappings and non-coherent pages (kernel/dma/mapping.c, kernel/dma/direct.c): on the book's
/// machines every segment is mapped on its own by `dma_direct_map_page()` — no IOMMU merges segments, so
/// `dma_map_sg()` returns the number of entries it was given — and `dma_alloc_pages()` is the buddy
/// allocator's pages in the zone the coherent mask needs, as for `dma_alloc_coherent()` (x86 is
/// cache-coherent, so "non-coherent" memory is ordinary memory whose ownership the driver still has to hand
/// over with the sync calls). The scatterlist is given as its entries (`sg[i]` is the i-th entry
/// `for_each_sg()` visits); what `dma_map_sg()` writes (`dma_address`, `dma_length`) is written into them.
impl Machine {
    /// `dma_map_sg_attrs(dev, sg, nents, dir, attrs)`: maps the first `nents` entries of `sg` and records them
    /// (`debug_dma_map_sg()`, which with `CONFIG_DMA_API_DEBUG_SG` also checks each segment against the
    /// device's limits: 64 KiB and no boundary for a device without `dma_parms` values). A segment the
    /// device cannot reach unmaps the ones before it and fails the whole call. A list shorter than `nents`
    /// oopses as `for_each_sg()` reaches NULL; `nents <= 0` is a `WARN_ON_ONCE()`.
    ///
    /// Context: any. Returns the number of mapped entries, 0 on failure.
    pub fn dma_map_sg_attrs(
        &mut self,
        dev: Option<DeviceId>,
        sg: &mut [crate::scatterlist::Scatterlist],
        nents: i32,
        dir: u32,
        attrs: u64,
    ) -> u32 {
        let r = self.with_frame("dma_map_sg_attrs", |m| m.__dma_map_sg_attrs(dev, sg, nents, dir, attrs));
        r.max(0) as u32
    }

    /// `dma_map_sgtable(dev, sgt, dir, attrs)`: `__dma_map_sg_attrs()` of the table's `orig_nents` entries.
    ///
    /// Context: any. Returns `Ok(nents)` (the caller stores it in `sgt->nents`) or the negative errno.
    pub fn dma_map_sgtable(
        &mut self,
        dev: Option<DeviceId>,
        sg: &mut [crate::scatterlist::Scatterlist],
        orig_nents: u32,
        dir: u32,
        attrs: u64,
    ) -> Result<u32, i32> {
        let r = self.with_frame("dma_map_sgtable", |m| m.__dma_map_sg_attrs(dev, sg, orig_nents as i32, dir, attrs));
        if r < 0 {
            Err(r)
        } else {
            Ok(r as u32)
        }
    }

    fn __dma_map_sg_attrs(
        &mut self,
        dev: Option<DeviceId>,
        sg: &mut [crate::scatterlist::Scatterlist],
        nents: i32,
        dir: u32,
        attrs: u64,
    ) -> i32 {
        self.with_frame("__dma_map_sg_attrs", |m| m.__dma_map_sg_attrs_inner(dev, sg, nents, dir, attrs))
    }

    fn __dma_map_sg_attrs_inner(
        &mut self,
        dev: Option<DeviceId>,
        sg: &mut [crate::scatterlist::Scatterlist],
        nents: i32,
        dir: u32,
        attrs: u64,
    ) -> i32 {
        let Some(dir) = self.dma_direction(dir, 207) else {
            return 0;
        };
        let Some(dev) = dev.filter(|d| self.device(*d).is_some()) else {
            self.die_on_access(crate::device::DEVICE_DMA_MASK_OFFSET);
            return 0;
        };
        let d = self.device(dev).cloned().unwrap_or_else(|| unreachable!());
        let Some(mask) = d.dma_mask else {
            self.warn_once("kernel/dma/mapping.c", 209, None);
            return 0;
        };
        let _ = mask;
        let ents = self.dma_direct_map_sg(dev, sg, nents, dir, attrs);
        if ents > 0 {
            self.debug_dma_map_sg(dev, sg, nents, ents, dir, attrs);
        } else if ![EINVAL, ENOMEM, EIO, EREMOTEIO].contains(&ents) {
            self.warn_once("kernel/dma/mapping.c", 225, None);
            return EIO;
        }
        ents
    }

    /// `dma_direct_map_sg()`: each entry through `dma_direct_map_page()`; on a failure the entries mapped so
    /// far are unmapped (their bounce buffers, if any, given back without a copy) and the result is `-EIO`.
    fn dma_direct_map_sg(
        &mut self,
        dev: DeviceId,
        sg: &mut [crate::scatterlist::Scatterlist],
        nents: i32,
        dir: DmaDirection,
        attrs: u64,
    ) -> i32 {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_direct_map_sg");
        let mut ret = nents;
        for i in 0..nents.max(0) as usize {
            let Some(s) = sg.get_mut(i) else {
                // sg_next() of the last entry returned NULL: sg_page(NULL) reads page_link at 0.
                self.die_on_access(0);
                ret = EIO;
                break;
            };
            let phys = {
                let s = *s;
                self.sg_phys(&s)
            };
            let addr = self.dma_direct_map_page(dev, phys, s.length as u64, dir, attrs);
            let s = &mut sg[i];
            s.dma_address = addr;
            if addr == DMA_MAPPING_ERROR {
                ret = EIO;
                let done: Vec<_> = sg[..i].to_vec();
                self.dma_direct_unmap_sg(&done, dir, attrs | crate::dma_debug::DMA_ATTR_SKIP_CPU_SYNC);
                break;
            }
            s.dma_length = s.length;
        }
        self.stack.frames.truncate(depth);
        ret
    }

    /// `dma_unmap_sg_attrs(dev, sg, nents, dir, attrs)`: checks the entries against their records
    /// (`debug_dma_unmap_sg()`: as many as were mapped, found from the first entry's record); nothing to
    /// undo for direct mappings on x86.
    ///
    /// Context: any.
    pub fn dma_unmap_sg_attrs(
        &mut self,
        dev: Option<DeviceId>,
        sg: &[crate::scatterlist::Scatterlist],
        nents: i32,
        dir: u32,
        attrs: u64,
    ) {
        self.dma_checked_call("dma_unmap_sg_attrs", 308, dev, dir, |m, d, dir| {
            m.debug_dma_unmap_sg(d, sg, nents, dir);
            let n = (nents.max(0) as usize).min(sg.len());
            m.dma_direct_unmap_sg(&sg[..n], dir, attrs)
        });
    }

    /// `__dma_sync_sg_for_cpu()` (`to_cpu`) / `__dma_sync_sg_for_device()`: no cache maintenance on x86,
    /// so what remains is the check of each mapped entry against its record.
    ///
    /// Context: any.
    pub fn dma_sync_sg(
        &mut self,
        dev: Option<DeviceId>,
        sg: &[crate::scatterlist::Scatterlist],
        nelems: i32,
        dir: u32,
        to_cpu: bool,
    ) {
        let (frame, line) = if to_cpu { ("__dma_sync_sg_for_cpu", 402) } else { ("__dma_sync_sg_for_device", 419) };
        self.dma_checked_call(frame, line, dev, dir, |m, d, dir| {
            // dma_direct_sync_sg_for_cpu()/_for_device(): each entry's bounce buffer, sg->length bytes.
            for s in sg.iter().take(nelems.max(0) as usize) {
                m.swiotlb_sync_single(s.dma_address, s.length as u64, dir, to_cpu);
            }
            m.debug_dma_sync_sg(d, sg, nelems, dir, to_cpu)
        });
    }

    /// `__dma_alloc_pages()`: the checks of kernel/dma/mapping.c (a zero coherent mask, zone modifiers and
    /// `__GFP_COMP` each `WARN_ON_ONCE()` and fail), then `dma_direct_alloc_pages()`: zeroed pages of
    /// `get_order(PAGE_ALIGN(size))`, the device address their physical address.
    fn __dma_alloc_pages(&mut self, dev: DeviceId, size: u64, gfp: Gfp) -> Option<(Pfn, u64)> {
        let d = self.device(dev).cloned()?;
        if d.coherent_dma_mask == 0 {
            self.warn_once("kernel/dma/mapping.c", 672, None);
            return None;
        }
        if gfp.intersects(Gfp::__GFP_DMA | Gfp::__GFP_DMA32 | Gfp::__GFP_HIGHMEM) {
            self.warn_once("kernel/dma/mapping.c", 674, None);
            return None;
        }
        if gfp.intersects(Gfp::__GFP_COMP) {
            self.warn_once("kernel/dma/mapping.c", 676, None);
            return None;
        }
        let size = size.wrapping_add(4095) & !4095;
        let depth = self.stack.frames.len();
        self.push_kframe("dma_direct_alloc_pages");
        let page = self.dma_direct_alloc_pages(d.coherent_dma_mask, d.bus_dma_limit, size, gfp);
        self.stack.frames.truncate(depth);
        let page = page?;
        let addr = self.page_address(page);
        let _ = self.fill(addr, size, 0);
        let order = self.kernel_get_order(size);
        self.set_page_owner(page, order, PageOwner::Dma);
        Some((page, page.0 << PAGE_SHIFT))
    }

    /// `__dma_free_pages()`: `dma_direct_free_pages()` gives the `get_order(PAGE_ALIGN(size))` pages back.
    fn __dma_free_pages(&mut self, size: u64, page: Pfn) {
        let size = size.wrapping_add(4095) & !4095;
        let depth = self.stack.frames.len();
        self.push_kframe("dma_direct_free_pages");
        let order = self.kernel_get_order(size);
        self.set_page_owner(page, order, PageOwner::PageAlloc);
        self.__free_pages(page, order);
        self.stack.frames.truncate(depth);
    }

    /// `dma_alloc_pages(dev, size, &handle, dir, gfp)` (and through it the inline `dma_alloc_noncoherent()`,
    /// which returns `page_address()` of the result): pages the driver owns and hands to the device with
    /// `dma_sync_single_for_device()`, recorded as a `noncoherent` mapping.
    ///
    /// Context: process context with GFP_KERNEL. Returns the first page and the device address, or None.
    pub fn dma_alloc_pages(&mut self, dev: Option<DeviceId>, size: u64, dir: u32, gfp: Gfp) -> Option<(Pfn, u64)> {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_alloc_pages");
        let r = match dev.filter(|d| self.device(*d).is_some()) {
            None => {
                self.die_on_access(crate::device::DEVICE_COHERENT_DMA_MASK_OFFSET);
                None
            }
            Some(d) => {
                let r = self.__dma_alloc_pages(d, size, gfp);
                if let (Some((page, handle)), Some(dir)) = (r, DmaDirection::from_raw(dir)) {
                    self.debug_dma_alloc_pages(d, page.0 << PAGE_SHIFT, size, dir, handle);
                }
                r
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `dma_free_pages(dev, size, page, handle, dir)` (and `dma_free_noncoherent()`): checked against the
    /// record, then freed.
    ///
    /// Context: as [`Machine::dma_alloc_pages`].
    pub fn dma_free_pages(&mut self, dev: Option<DeviceId>, size: u64, page: Pfn, handle: u64, dir: u32) {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_free_pages");
        match dev.filter(|d| self.device(*d).is_some()) {
            None => self.null_device_oops(),
            Some(d) => {
                let dir = DmaDirection::from_raw(dir).unwrap_or(DmaDirection::None);
                self.debug_dma_free_pages(d, page.0 << PAGE_SHIFT, size, dir, handle);
                self.__dma_free_pages(size, page);
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `dma_alloc_noncontiguous(dev, size, dir, gfp, attrs)` without an IOMMU (`alloc_single_sgt()`): a
    /// kmalloc'ed `struct sg_table` of one entry holding `__dma_alloc_pages()`' block — physically contiguous
    /// after all — recorded as a one-entry scatter-gather mapping. Attributes other than
    /// `DMA_ATTR_ALLOC_SINGLE_PAGES`, and `__GFP_COMP`, `WARN_ON_ONCE()` and fail.
    ///
    /// Context: process context with GFP_KERNEL. Returns the `struct sg_table`'s kernel address and its
    /// contents, or None.
    pub fn dma_alloc_noncontiguous(
        &mut self,
        dev: Option<DeviceId>,
        size: u64,
        dir: u32,
        gfp: Gfp,
        attrs: u64,
    ) -> Option<(u64, crate::scatterlist::SgTable)> {
        self.with_frame("dma_alloc_noncontiguous", |m| m.dma_alloc_noncontiguous_inner(dev, size, dir, gfp, attrs))
    }

    fn dma_alloc_noncontiguous_inner(
        &mut self,
        dev: Option<DeviceId>,
        size: u64,
        dir: u32,
        gfp: Gfp,
        attrs: u64,
    ) -> Option<(u64, crate::scatterlist::SgTable)> {
        use crate::scatterlist::SG_TABLE_SIZE;
        const DMA_ATTR_ALLOC_SINGLE_PAGES: u64 = 1 << 7;
        if attrs & !DMA_ATTR_ALLOC_SINGLE_PAGES != 0 {
            self.warn_once("kernel/dma/mapping.c", 770, None);
            return None;
        }
        if gfp.intersects(Gfp::__GFP_COMP) {
            self.warn_once("kernel/dma/mapping.c", 772, None);
            return None;
        }
        let Some(dev) = dev.filter(|d| self.device(*d).is_some()) else {
            self.die_on_access(crate::device::DEVICE_COHERENT_DMA_MASK_OFFSET);
            return None;
        };
        // alloc_single_sgt()
        let sgt = self.kmalloc(SG_TABLE_SIZE, gfp);
        if sgt == 0 {
            return None;
        }
        let (ret, mut table) = self.sg_alloc_table(1, gfp);
        if ret != 0 {
            self.kfree(sgt);
            return None;
        }
        let Some((page, handle)) = self.__dma_alloc_pages(dev, size, gfp) else {
            self.sg_free_table(&mut table);
            self.kfree(sgt);
            return None;
        };
        let len = (size.wrapping_add(4095) & !4095) as u32;
        let mut sg = self.sg_read(table.sgl).unwrap_or_default();
        // sg_set_page(sgt->sgl, page, PAGE_ALIGN(size), 0); sg_dma_len(sgt->sgl) = sgt->sgl->length.
        sg.page_link = (sg.page_link & crate::scatterlist::SG_PAGE_LINK_MASK) | self.page_struct_addr(page);
        sg.offset = 0;
        sg.length = len;
        sg.dma_address = handle;
        sg.dma_length = len;
        let _ = self.write_bytes(table.sgl, &sg.to_bytes());
        table.nents = 1;
        let _ = self.write_bytes(sgt, &table.to_bytes());
        if let Some(d) = DmaDirection::from_raw(dir) {
            self.debug_dma_map_sg(dev, &[sg], table.orig_nents as i32, 1, d, 0);
        }
        Some((sgt, table))
    }

    /// `dma_free_noncontiguous(dev, size, sgt, dir)`: the record checked (`debug_dma_unmap_sg()`), then
    /// `free_single_sgt()`: the pages, the table's array, the `struct sg_table` at `sgt` (whose contents,
    /// as the caller read them, are `table`).
    ///
    /// Context: as [`Machine::dma_alloc_noncontiguous`].
    pub fn dma_free_noncontiguous(
        &mut self,
        dev: Option<DeviceId>,
        size: u64,
        sgt: u64,
        mut table: crate::scatterlist::SgTable,
        dir: u32,
    ) {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_free_noncontiguous");
        let sg = self.sg_read(table.sgl).unwrap_or_default();
        match dev.filter(|d| self.device(*d).is_some()) {
            None => self.null_device_oops(),
            Some(d) => {
                let dir = DmaDirection::from_raw(dir).unwrap_or(DmaDirection::None);
                self.debug_dma_unmap_sg(d, &[sg], table.orig_nents as i32, dir);
                self.push_kframe("free_single_sgt");
                let page = self.sg_pfn(&sg);
                self.__dma_free_pages(size, page);
                self.sg_free_table(&mut table);
                self.kfree(sgt);
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `dma_map_resource(dev, phys, size, dir, attrs)`: a device address for MMIO (another device's
    /// registers), not RAM: `dma_direct_map_resource()` checks only the mask (`dev_err_once()` and
    /// `WARN_ON_ONCE()` when the device cannot reach it), recorded as a `resource` mapping to be checked
    /// with `dma_mapping_error()`.
    ///
    /// Context: any. Returns the device address or `DMA_MAPPING_ERROR`.
    pub fn dma_map_resource(&mut self, dev: Option<DeviceId>, phys: u64, size: u64, dir: u32, attrs: u64) -> u64 {
        self.with_frame("dma_map_resource", |m| m.dma_map_resource_inner(dev, phys, size, dir, attrs))
    }

    fn dma_map_resource_inner(&mut self, dev: Option<DeviceId>, phys: u64, size: u64, dir: u32, attrs: u64) -> u64 {
        let Some(dir) = self.dma_direction(dir, 327) else {
            return DMA_MAPPING_ERROR;
        };
        let Some(dev) = dev.filter(|d| self.device(*d).is_some()) else {
            self.die_on_access(crate::device::DEVICE_DMA_MASK_OFFSET);
            return DMA_MAPPING_ERROR;
        };
        let d = self.device(dev).cloned().unwrap_or_else(|| unreachable!());
        let Some(mask) = d.dma_mask else {
            self.warn_once("kernel/dma/mapping.c", 329, None);
            return DMA_MAPPING_ERROR;
        };
        let addr = if dma_capable(mask, d.bus_dma_limit, phys, size) {
            phys
        } else {
            // dev_err_once(): once per boot for this call site, whichever device.
            if !std::mem::replace(&mut self.dma.resource_err_printed, true) {
                let msg = format!(
                    "{} {}: DMA addr 0x{phys:016x}+{size} overflow (mask {mask:x}, bus limit {:x}).\n",
                    self.dev_driver_string(dev),
                    self.dev_name(dev),
                    d.bus_dma_limit
                );
                self.printk(crate::printk::LogLevel::Err, &msg);
            }
            self.push_kframe("dma_direct_map_resource");
            self.warn_once("kernel/dma/direct.c", 516, None);
            DMA_MAPPING_ERROR
        };
        self.debug_dma_map_resource(dev, phys, size, dir, addr, attrs);
        addr
    }

    /// `dma_unmap_resource(dev, addr, size, dir, attrs)`: checked against its record.
    ///
    /// Context: any.
    pub fn dma_unmap_resource(&mut self, dev: Option<DeviceId>, addr: u64, size: u64, dir: u32, attrs: u64) {
        let _ = attrs;
        self.dma_checked_call("dma_unmap_resource", 350, dev, dir, |m, d, dir| {
            m.debug_dma_unmap_resource(d, addr, size, dir)
        });
    }

    /// `dma_get_sgtable_attrs(dev, sgt, cpu_addr, dma_addr, size, attrs)` (`dma_direct_get_sgtable()`): a
    /// one-entry table describing a coherent buffer, for exporting it (dma-buf).
    ///
    /// Context: process context. Returns 0 and the table, or the errno of `sg_alloc_table()`.
    pub fn dma_get_sgtable_attrs(
        &mut self,
        dev: Option<DeviceId>,
        dma_addr: u64,
        size: u64,
    ) -> (i32, crate::scatterlist::SgTable) {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_get_sgtable_attrs");
        if self.dma_map_direct_dev(dev).is_none() {
            self.stack.frames.truncate(depth);
            return (EINVAL, Default::default());
        }
        self.push_kframe("dma_direct_get_sgtable");
        let page = Pfn(dma_addr >> PAGE_SHIFT);
        let (ret, table) = self.sg_alloc_table(1, Gfp::GFP_KERNEL);
        if ret == 0 {
            let mut sg = self.sg_read(table.sgl).unwrap_or_default();
            sg.page_link = (sg.page_link & crate::scatterlist::SG_PAGE_LINK_MASK) | self.page_struct_addr(page);
            sg.offset = 0;
            sg.length = (size.wrapping_add(4095) & !4095) as u32;
            let _ = self.write_bytes(table.sgl, &sg.to_bytes());
        }
        self.stack.frames.truncate(depth);
        (ret, table)
    }
}
