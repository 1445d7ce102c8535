//! The simulated machine: configuration, address-space layout (arch/x86/include/asm/page_64_types.h,
//! pgtable_64_types.h, pgtable_32_areas.h, arch/x86/mm/kaslr.c) and address translation (asm/page.h).
//!
//! [`Machine`] holds one sub-struct per kernel subsystem; later parts of the simulator (slub.rs, vmalloc.rs,
//! mempool.rs, dma.rs) add their own state as fields here and their functions as `impl Machine` blocks in their
//! own files.

#![forbid(unsafe_code)]

use std::fmt;

use crate::fault_inject::FailPageAlloc;
use crate::hostmem::{HostMem, HostMemError, PAGE_SIZE};
use crate::page::{PageFrame, Pfn};
use crate::page_alloc::AllocState;
use crate::panic::{CallStack, PanicState};
use crate::printk::Printk;
use crate::sched::Sched;
use crate::zone::Zone;

/// `PAGE_SHIFT`.
pub const PAGE_SHIFT: u32 = 12;
/// Clock advance per page allocator call (see printk.rs).
pub const ALLOC_STEP_NS: u64 = 250;
/// Largest host window reserved for the bottom of the vmalloc area.
pub const MAX_WINDOW: u64 = 1 << 40;
/// Host window for the top of the vmalloc area when the bottom window does not reach it: the per-CPU
/// allocator's chunks are placed there, downwards from `VMALLOC_END` (`pcpu_get_vm_areas()`).
pub const TOP_WINDOW: u64 = 1 << 30;

/// The architecture profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86_64 with 4-level paging.
    X86_64,
    /// Classic 32-bit x86, 3G/1G split, non-PAE `HIGHMEM4G`.
    I386,
}

/// Machine configuration (builder style).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// Architecture.
    pub arch: Arch,
    /// RAM in MiB (the `-m` of QEMU).
    pub ram_mib: u64,
    /// Number of CPUs.
    pub cpus: u32,
    /// `Some(seed)`: randomise the memory layout (CONFIG_RANDOMIZE_MEMORY) from this seed. x86_64 only (the
    /// 32-bit profile ignores it: 32-bit x86 has no memory-layout randomisation).
    pub kaslr_seed: Option<u64>,
    /// Size of the kernel image (`_text` to `_end`) reserved at 16 MiB, KiB.
    pub kernel_image_kib: u64,
    /// Part of the image freed at the end of boot (`Freeing unused kernel image (initmem) memory`), KiB.
    pub kernel_init_kib: u64,
    /// Page allocations the kernel makes during boot after the buddy allocator is up (kernel stacks, slabs,
    /// page tables, rootfs ...), KiB; allocated deterministically and kept.
    pub boot_alloc_kib: u64,
    /// 32-bit only: `vmalloc=` boot parameter in MiB (`__VMALLOC_RESERVE` = value + 8 MiB); default 128 MiB.
    pub vmalloc_reserve_mib: Option<u64>,
    /// 32-bit only: `NR_CPUS` of the build (sizes the fixmap, so it moves `VMALLOC_END`).
    pub nr_cpus_config: u32,
    /// `pageblock_order` (9 on x86_64 with hugepages, 10 on non-PAE 32-bit or without HUGETLB_PAGE/THP).
    pub pageblock_order: u32,
    /// Print `Node 0 ` prefixes and node fields (CONFIG_NUMA).
    pub numa: bool,
    /// `cpuset=/,mems_allowed=0` after the nodemask in allocation failures (CONFIG_CPUSETS).
    pub cpusets: bool,
    /// `RCU nest depth` line in sleeping-in-atomic reports (CONFIG_PREEMPT_RCU).
    pub preempt_rcu: bool,
    /// `Preemption disabled at:` line in sleeping-in-atomic reports (CONFIG_DEBUG_PREEMPT; off by default).
    pub debug_preempt: bool,
    /// `init_utsname()->release`.
    pub uts_release: String,
    /// The first word of `init_utsname()->version`.
    pub uts_version_tag: String,
    /// `LINUX_PACKAGE_ID` (empty for a kernel built from the source tree; the format keeps its space).
    pub linux_package_id: String,
    /// `dmi` hardware name.
    pub hardware_name: String,
    /// `fail_page_alloc` settings.
    pub fail_page_alloc: Option<crate::fault_inject::FaultConfig>,
    /// Slab boot options and configuration switches (`slab_debug=`, `slab_nomerge`, failslab ...).
    pub slab: crate::slab_common::SlabConfig,
    /// Log every line to the host's stderr too.
    pub echo_log: bool,
    /// The kernel command line (`/proc/cmdline`); [`MachineConfig::cmdline`] applies its words.
    pub cmdline: String,
    /// Boot as the book's QEMU guest really booted (crate::qemu_boot): memblock, the boot's slab caches and
    /// objects, vmalloc areas, page cache and per-CPU lists taken from the recorded real boot. Only for the
    /// machines that were recorded (x86_64 with 256 MiB and 4 CPUs; i386 with 160 or 1536 MiB and 1 CPU; no
    /// KASLR, see [`crate::qemu_boot::Recording::for_config`]); any other machine's boot is modelled from the
    /// configuration alone.
    pub recorded_boot: bool,
    /// Where QEMU loaded this boot's initramfs, `(first byte, last byte)` as its `RAMDISK:` line says, for a
    /// recorded boot ([`MachineConfig::recorded_boot`]): each listing's boot has its own, as its initramfs holds
    /// its own module (`kmem_truth::observed::INITRD`). `None`: the recorded boot's.
    pub initrd: Option<(u64, u64)>,
    /// `panic=` (`panic_timeout`): 0 waits forever after a panic, a negative value reboots at once (the
    /// book's guest boots with `panic=-1`), a positive one after that many seconds.
    pub panic_timeout: i64,
}

impl MachineConfig {
    /// The RAM sizes [`Machine::boot`] accepts, MiB (the 32-bit profile handles at most 3 GiB of them).
    pub const RAM_MIB: std::ops::RangeInclusive<u64> = 32..=64 * 1024;
    /// The CPU counts [`Machine::boot`] accepts.
    pub const CPUS: std::ops::RangeInclusive<u32> = 1..=64;

    /// The default x86_64 machine: 256 MiB, 4 CPUs, no KASLR.
    ///
    /// Context: any.
    pub fn x86_64() -> Self {
        MachineConfig {
            arch: Arch::X86_64,
            ram_mib: 256,
            cpus: 4,
            kaslr_seed: None,
            kernel_image_kib: 12 * 1024,
            kernel_init_kib: 2 * 1024,
            // Calibrated on the book's real 6.12.117 QEMU run (listings/kernel/observed, target/qemu): what a
            // module finds free when it is loaded (49 order-10 blocks for GFP_KERNEL; ~213 MB free).
            boot_alloc_kib: 32 * 1024,
            vmalloc_reserve_mib: None,
            nr_cpus_config: 8,
            pageblock_order: 10,
            numa: true,
            cpusets: true,
            preempt_rcu: true,
            debug_preempt: false,
            uts_release: "6.12.117".into(),
            uts_version_tag: "#1".into(),
            linux_package_id: String::new(),
            hardware_name: "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.3-debian-1.16.3-2 04/01/2014".into(),
            fail_page_alloc: None,
            slab: crate::slab_common::SlabConfig::default(),
            echo_log: false,
            cmdline: String::new(),
            recorded_boot: true,
            initrd: None,
            panic_timeout: 0,
        }
    }

    /// The 32-bit x86 machine (3G/1G): 160 MiB, 1 CPU, the classic experiment's size.
    ///
    /// Context: any.
    pub fn i386() -> Self {
        MachineConfig {
            arch: Arch::I386,
            ram_mib: 160,
            cpus: 1,
            kernel_image_kib: 8 * 1024,
            kernel_init_kib: 1024,
            boot_alloc_kib: 3 * 1024,
            pageblock_order: 10,
            numa: false,
            recorded_boot: true,
            panic_timeout: 0,
            ..Self::x86_64()
        }
    }

    /// RAM size in MiB.
    ///
    /// Context: any.
    pub fn ram_mib(mut self, n: u64) -> Self {
        // Smaller machines spend less at boot: at most 7/64 of RAM (the budget of the 256 MiB machine).
        if n < self.ram_mib {
            self.boot_alloc_kib = self.boot_alloc_kib.min(n * 1024 * 7 / 64);
        }
        self.ram_mib = n;
        self
    }

    /// CPU count.
    ///
    /// Context: any.
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// Randomise the memory layout deterministically from `seed` (x86_64 only).
    ///
    /// Context: any.
    pub fn kaslr(mut self, seed: u64) -> Self {
        self.kaslr_seed = Some(seed);
        self.recorded_boot = false;
        self
    }

    /// Boots the modelled machine even where the recorded boot would apply (x86_64, 256 MiB, 4 CPUs): memblock,
    /// the boot's allocations, slab caches and per-CPU lists come from the configuration alone, as for any
    /// other size (see [`MachineConfig::recorded_boot`]). For tests of the modelled boot itself, and of
    /// mechanisms shown on an address space and free lists that no recorded history shaped.
    ///
    /// Context: any.
    pub fn modelled_boot(mut self) -> Self {
        self.recorded_boot = false;
        self
    }

    /// Kernel image size in KiB.
    ///
    /// Context: any.
    pub fn kernel_image_kib(mut self, n: u64) -> Self {
        self.kernel_image_kib = n;
        self
    }

    /// Page allocations made during boot, KiB.
    ///
    /// Context: any.
    pub fn boot_alloc_kib(mut self, n: u64) -> Self {
        self.boot_alloc_kib = n;
        self
    }

    /// 32-bit `vmalloc=<n>M`.
    ///
    /// Context: any.
    pub fn vmalloc_mib(mut self, n: u64) -> Self {
        self.vmalloc_reserve_mib = Some(n);
        self
    }

    /// `pageblock_order` (9 or 10; e.g. 10 for an x86_64 kernel without HUGETLB_PAGE and THP).
    ///
    /// Context: any.
    pub fn pageblock_order(mut self, order: u32) -> Self {
        self.pageblock_order = order.clamp(1, crate::zone::MAX_PAGE_ORDER);
        self
    }

    /// CONFIG_NUMA on or off (changes printing only).
    ///
    /// Context: any.
    pub fn numa(mut self, on: bool) -> Self {
        self.numa = on;
        self
    }

    /// CONFIG_CPUSETS on or off (changes printing only).
    ///
    /// Context: any.
    pub fn cpusets(mut self, on: bool) -> Self {
        self.cpusets = on;
        self
    }

    /// CONFIG_PREEMPT_RCU (`RCU nest depth` line) and CONFIG_DEBUG_PREEMPT (`Preemption disabled at:`).
    ///
    /// Context: any.
    pub fn preempt_debug(mut self, preempt_rcu: bool, debug_preempt: bool) -> Self {
        self.preempt_rcu = preempt_rcu;
        self.debug_preempt = debug_preempt;
        self
    }

    /// Enables `fail_page_alloc` with these settings.
    ///
    /// Context: any.
    pub fn fail_page_alloc(mut self, f: crate::fault_inject::FaultConfig) -> Self {
        self.fail_page_alloc = Some(f);
        self
    }

    /// Boots with this kernel command line: its slab words (`slab_debug=`, `slab_nomerge`,
    /// `no_hash_pointers`, `init_on_alloc=`, `failslab=` …, see [`crate::slab_common::SlabConfig::apply_cmdline`])
    /// and `fail_page_alloc=<interval>,<probability>,<space>,<times>` take effect; words the simulator does not
    /// model (`console=`, `panic=`, …) are kept for `/proc/cmdline` only.
    ///
    /// Context: any.
    pub fn cmdline(mut self, cmdline: &str) -> Self {
        self.slab.apply_cmdline(cmdline);
        for w in cmdline.split_whitespace() {
            if let Some(v) = w.strip_prefix("fail_page_alloc=") {
                self.fail_page_alloc = crate::fault_inject::FaultConfig::from_setup(v);
            }
            if let Some(v) = w.strip_prefix("panic=") {
                // kernel/panic.c: core_param(panic, panic_timeout, int, 0644); a bad value leaves it alone.
                if let Ok(t) = v.parse::<i64>() {
                    self.panic_timeout = t;
                }
            }
        }
        self.cmdline = cmdline.to_string();
        self
    }

    /// Echo the log to stderr.
    ///
    /// Context: any.
    pub fn echo_log(mut self, on: bool) -> Self {
        self.echo_log = on;
        self
    }
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self::x86_64()
    }
}

/// Why a machine could not boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootError {
    /// RAM size outside what the profile supports.
    UnsupportedRam { mib: u64, reason: &'static str },
    /// Bad CPU count.
    BadCpus(u32),
    /// Host memory could not be set up.
    Host(HostMemError),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::UnsupportedRam { mib, reason } => {
                write!(f, "cannot simulate {mib} MiB of RAM: {reason}")
            }
            BootError::BadCpus(n) => write!(
                f,
                "bad CPU count {n}: supported: {} .. {}",
                MachineConfig::CPUS.start(),
                MachineConfig::CPUS.end()
            ),
            BootError::Host(e) => write!(f, "host memory: {e}"),
        }
    }
}
impl std::error::Error for BootError {}
impl From<HostMemError> for BootError {
    fn from(e: HostMemError) -> Self {
        BootError::Host(e)
    }
}

/// A memory access fault (what would be an oops in the kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemFault {
    /// The address is not mapped (not direct map RAM, not a mapped vmalloc page).
    Unmapped(u64),
    /// The range runs off the end of what is mapped.
    OutOfRange { addr: u64, len: u64 },
    /// A `struct page` (vmemmap) address: the simulator does not back those with bytes.
    PageStruct(u64),
}

impl fmt::Display for MemFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemFault::Unmapped(a) => {
                write!(f, "unable to handle page fault for address: {a:#018x}")
            }
            MemFault::OutOfRange { addr, len } => {
                write!(f, "access {addr:#x}+{len:#x} runs off mapped memory")
            }
            MemFault::PageStruct(a) => {
                write!(f, "{a:#x} is a struct page address (not backed by bytes)")
            }
        }
    }
}
impl std::error::Error for MemFault {}

/// The kernel's virtual and physical layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Architecture.
    pub arch: Arch,
    /// `PAGE_OFFSET` (`page_offset_base` on x86_64).
    pub page_offset: u64,
    /// `VMALLOC_START`.
    pub vmalloc_start: u64,
    /// `VMALLOC_END` (inclusive last byte on x86_64 as the kernel defines it; exclusive end on 32-bit).
    pub vmalloc_end: u64,
    /// `vmemmap_base` (x86_64) or the address of `mem_map` (32-bit FLATMEM).
    pub vmemmap_base: u64,
    /// `sizeof(struct page)`: 64 on x86_64, 32 on i386.
    pub struct_page_size: u64,
    /// `high_memory`: the direct-map address just past lowmem.
    pub high_memory: u64,
    /// `max_low_pfn`.
    pub max_low_pfn: u64,
    /// `max_pfn`.
    pub max_pfn: u64,
    /// 32-bit: `MAXMEM` (largest lowmem size).
    pub maxmem: u64,
    /// 32-bit: `PKMAP_BASE`.
    pub pkmap_base: u64,
    /// 32-bit: `FIXADDR_TOT_START`.
    pub fixaddr_start: u64,
    /// `__START_KERNEL_map` (x86_64 kernel text mapping).
    pub start_kernel_map: u64,
    /// `MODULES_VADDR`.
    pub modules_vaddr: u64,
    /// `MODULES_END`.
    pub modules_end: u64,
    /// Size of the host window backing the vmalloc area (from `vmalloc_start`).
    pub vmalloc_window: u64,
    /// Size of the host window backing the top of the vmalloc area (up to `vmalloc_end`), 0 when
    /// `vmalloc_window` covers the whole area.
    pub vmalloc_top_window: u64,
}

impl Layout {
    /// First address of the top host window (`vmalloc_top_window` bytes ending at the area's end).
    fn top_window_start(&self) -> u64 {
        let end = match self.arch {
            Arch::X86_64 => self.vmalloc_end.wrapping_add(1),
            Arch::I386 => self.vmalloc_end,
        };
        end.wrapping_sub(self.vmalloc_top_window)
    }

    /// The host-window offset of vmalloc-area address `addr`: the bottom window maps `[vmalloc_start,
    /// vmalloc_start + vmalloc_window)` at offsets from 0, the top window the last `vmalloc_top_window` bytes
    /// of the area after it. None for an address neither covers.
    ///
    /// Context: any.
    pub fn window_offset(&self, addr: u64) -> Option<u64> {
        if !self.is_vmalloc_addr(addr) {
            return None;
        }
        let off = addr - self.vmalloc_start;
        if off < self.vmalloc_window {
            return Some(off);
        }
        let top = self.top_window_start();
        (self.vmalloc_top_window > 0 && addr >= top).then(|| self.vmalloc_window + (addr - top))
    }

    /// The vmalloc-area address at host-window offset `off` (the inverse of [`Layout::window_offset`]).
    ///
    /// Context: any.
    pub fn window_addr(&self, off: u64) -> u64 {
        if off < self.vmalloc_window {
            self.vmalloc_start + off
        } else {
            self.top_window_start() + (off - self.vmalloc_window)
        }
    }

    /// Whether `addr` lies in `[VMALLOC_START, VMALLOC_END]` (`is_vmalloc_addr()`).
    ///
    /// Context: any.
    pub fn is_vmalloc_addr(&self, addr: u64) -> bool {
        match self.arch {
            Arch::X86_64 => addr >= self.vmalloc_start && addr <= self.vmalloc_end,
            Arch::I386 => addr >= self.vmalloc_start && addr < self.vmalloc_end,
        }
    }

    /// Whether `addr` is in the direct map of RAM (`virt_addr_valid()` for lowmem).
    ///
    /// Context: any.
    pub fn is_direct_map_addr(&self, addr: u64) -> bool {
        addr >= self.page_offset && addr < self.high_memory
    }

    /// Whether `addr` is inside the vmemmap (`struct page` array).
    ///
    /// Context: any.
    pub fn is_page_struct_addr(&self, addr: u64) -> bool {
        addr >= self.vmemmap_base && addr < self.vmemmap_base + self.max_pfn * self.struct_page_size
    }

    /// Size of the vmalloc range.
    ///
    /// Context: any.
    pub fn vmalloc_size(&self) -> u64 {
        match self.arch {
            Arch::X86_64 => self.vmalloc_end - self.vmalloc_start + 1,
            Arch::I386 => self.vmalloc_end - self.vmalloc_start,
        }
    }
}

/// The simulated machine.
pub struct Machine {
    /// Configuration it booted with.
    pub(crate) cfg: MachineConfig,
    /// Address layout.
    pub(crate) layout: Layout,
    /// RAM and vmalloc window.
    pub(crate) mem: HostMem,
    /// `struct page` array indexed by pfn.
    pub(crate) pages: Vec<PageFrame>,
    /// Zones of node 0, indexed by zone index.
    pub(crate) zones: Vec<Zone>,
    /// Page allocator bookkeeping (pageblock types, counters, rate limits).
    pub(crate) alloc: AllocState,
    /// The kernel log.
    pub(crate) printk: Printk,
    /// Context and tasks.
    pub(crate) sched: Sched,
    /// Taint, modules, once-warnings.
    pub(crate) panic: PanicState,
    /// Simulated call stack.
    pub(crate) stack: CallStack,
    /// `fail_page_alloc`.
    pub(crate) fail_page_alloc: FailPageAlloc,
    /// Counters of other subsystems shown in /proc/meminfo.
    pub(crate) vmstat: crate::procfs::VmStat,
    /// Simulated time in ns.
    pub(crate) clock_ns: u64,
    /// vmalloc (vmalloc.rs).
    pub(crate) vmalloc: crate::vmalloc::VmallocState,
    /// The per-CPU allocator (percpu.rs).
    pub(crate) percpu: crate::percpu::PcpuState,
    /// SLUB: caches, slabs, kmalloc (slab_common.rs, slub.rs).
    pub(crate) slab: crate::slab_common::SlabState,
    /// Mempools, scheduled events of other tasks, memory eaters (mempool.rs).
    pub(crate) mempools: crate::mempool::MempoolState,
    /// Devices, coherent DMA allocations and DMA pools (device.rs, dma.rs, dmapool.rs).
    pub(crate) dma: crate::dma::DmaState,
    /// Page-table pages of the kernel and of the processes (pgtable.rs).
    pub(crate) pgtable: crate::pgtable::PageTableState,
    /// The platform bus's drivers (device.rs).
    pub(crate) bus: crate::device::BusState,
    /// Managed device resources (devres.rs).
    pub(crate) devres: crate::devres::DevresState,
    /// DMA-API debugging records (dma_debug.rs).
    pub(crate) dma_debug: crate::dma_debug::DmaDebugState,
    /// Grace periods and `kfree_rcu()`'s batches (rcu.rs).
    pub(crate) rcu: crate::rcu::RcuState,
    /// The software IO TLB's bounce buffers (swiotlb.rs).
    pub(crate) swiotlb: crate::swiotlb::IoTlbMem,
    /// `debug_pagealloc=on`: which frames are out of the direct map (debug_page_alloc.rs).
    pub(crate) debug_pagealloc: crate::debug_page_alloc::DebugPageAlloc,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine").field("cfg", &self.cfg).field("layout", &self.layout).finish_non_exhaustive()
    }
}

/// x86_64 4-level constants.
pub mod x86_64 {
    /// `__PAGE_OFFSET_BASE_L4`.
    pub const PAGE_OFFSET_BASE_L4: u64 = 0xffff_8880_0000_0000;
    /// `__VMALLOC_BASE_L4`.
    pub const VMALLOC_BASE_L4: u64 = 0xffff_c900_0000_0000;
    /// `__VMEMMAP_BASE_L4`.
    pub const VMEMMAP_BASE_L4: u64 = 0xffff_ea00_0000_0000;
    /// `VMALLOC_SIZE_TB_L4`.
    pub const VMALLOC_SIZE_TB: u64 = 32;
    /// `CPU_ENTRY_AREA_BASE` (KASLR's `vaddr_end`).
    pub const CPU_ENTRY_AREA_BASE: u64 = 0xffff_fe00_0000_0000;
    /// `__START_KERNEL_map`.
    pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
    /// `MODULES_VADDR` = `__START_KERNEL_map + KERNEL_IMAGE_SIZE`: `KERNEL_IMAGE_SIZE` is 512 MiB without
    /// `CONFIG_RANDOMIZE_BASE` (the book's kernel), so modules start at 0xffffffffa0000000.
    pub const MODULES_VADDR: u64 = 0xffff_ffff_a000_0000;
    /// `MODULES_VADDR` with `CONFIG_RANDOMIZE_BASE` (a distribution kernel, the KASLR profile):
    /// `KERNEL_IMAGE_SIZE` is 1 GiB.
    pub const MODULES_VADDR_RANDOMIZE_BASE: u64 = 0xffff_ffff_c000_0000;
    /// `MODULES_END`.
    pub const MODULES_END: u64 = 0xffff_ffff_ff00_0000;
    /// `MAX_PHYSMEM_BITS` (4-level).
    pub const MAX_PHYSMEM_BITS: u32 = 46;
    /// `CONFIG_RANDOMIZE_MEMORY_PHYSICAL_PADDING` (0xa with memory hotplug).
    pub const PHYSICAL_PADDING_TB: u64 = 0xa;
}

/// 32-bit constants.
pub mod i386 {
    /// `PAGE_OFFSET` (3G/1G).
    pub const PAGE_OFFSET: u64 = 0xC000_0000;
    /// `VMALLOC_OFFSET`.
    pub const VMALLOC_OFFSET: u64 = 8 << 20;
    /// `__VMALLOC_RESERVE` default.
    pub const VMALLOC_RESERVE: u64 = 128 << 20;
    /// `FIXADDR_TOP` (`__FIXADDR_TOP` = -PAGE_SIZE).
    pub const FIXADDR_TOP: u64 = 0xffff_f000;
    /// `PMD_SIZE` without PAE (4 MiB).
    pub const PMD_SIZE: u64 = 4 << 20;
    /// `PTRS_PER_PTE` without PAE.
    pub const PTRS_PER_PTE: u64 = 1024;
    /// `KM_MAX_IDX`.
    pub const KM_MAX_IDX: u64 = 16;
    /// `MAX_IO_APICS` on 32-bit.
    pub const MAX_IO_APICS: u64 = 64;
    /// `sizeof(struct cpu_entry_area)` in pages on 32-bit: gdt, guard, entry stack, guard, doublefault stack,
    /// 5 pages of TSS with the I/O bitmaps, debug store, 32 pages of BTS/PEBS buffers.
    pub const CPU_ENTRY_AREA_PAGES_PER_CPU: u64 = 43;
}

/// Tiny deterministic PRNG (splitmix64) used for KASLR and workloads.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next value.
    ///
    /// Context: any.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform value below `n` (n > 0).
    ///
    /// Context: any.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Computes the 32-bit fixmap/pkmap/vmalloc layout like pgtable_32_areas.h and fixmap.h do.
fn i386_top_layout(nr_cpus: u64) -> (u64, u64, u64) {
    use i386::*;
    // enum fixed_addresses: FIX_HOLE, FIX_DBGP_BASE, FIX_EARLYCON_MEM_BASE, FIX_APIC_BASE,
    // FIX_IO_APIC_BASE_0..+MAX_IO_APICS-1, FIX_KMAP_BEGIN..+KM_MAX_IDX*NR_CPUS-1, FIX_PCIE_MCFG.
    let end_permanent = 4 + MAX_IO_APICS + KM_MAX_IDX * nr_cpus + 1;
    let total_btmaps = 64 * 8;
    let btmap_end = if (end_permanent ^ (end_permanent + total_btmaps - 1)) & !(PTRS_PER_PTE - 1) != 0 {
        end_permanent + total_btmaps - (end_permanent & (total_btmaps - 1))
    } else {
        end_permanent
    };
    let btmap_begin = btmap_end + total_btmaps - 1;
    let end_of_fixed = btmap_begin + 1 /* FIX_WP_TEST */ + 1;
    let fixaddr_tot_start = FIXADDR_TOP - end_of_fixed * PAGE_SIZE;
    let cea_pages = nr_cpus * CPU_ENTRY_AREA_PAGES_PER_CPU;
    let pmd_mask = !(PMD_SIZE - 1);
    let cea_base = (fixaddr_tot_start - PAGE_SIZE * (cea_pages + 1)) & pmd_mask;
    let ldt_base = (cea_base - PAGE_SIZE) & pmd_mask;
    let pkmap_base = (ldt_base - PAGE_SIZE) & pmd_mask;
    let vmalloc_end = pkmap_base - 2 * PAGE_SIZE;
    (fixaddr_tot_start, pkmap_base, vmalloc_end)
}

/// The physical memory map (QEMU i440FX + SeaBIOS e820), as usable pfn ranges `[start, end)`.
pub(crate) fn e820_usable(ram_bytes: u64) -> Vec<(u64, u64)> {
    let below_4g = if ram_bytes >= 0xe000_0000 { 0xc000_0000 } else { ram_bytes };
    let above = ram_bytes - below_4g;
    // pfn 0 is trimmed to reserved by the kernel (e820 "update [mem 0x00000000-0x00000fff] usable ==>
    // reserved"); 0x9fc00-0xfffff is the EBDA/VGA/ROM hole; SeaBIOS keeps the top 128 KiB below 4G.
    let mut v = vec![(1, 0x9f), (0x100, (below_4g - 0x20000) >> PAGE_SHIFT)];
    if above > 0 {
        v.push((0x10_0000, 0x10_0000 + (above >> PAGE_SHIFT)));
    }
    v
}

impl Machine {
    pub(crate) fn compute_layout(cfg: &MachineConfig) -> Result<(Layout, u64), BootError> {
        let ram_bytes = cfg.ram_mib << 20;
        let usable = e820_usable(ram_bytes);
        let max_pfn = usable.last().map(|r| r.1).unwrap_or(0);
        let phys_bytes = max_pfn << PAGE_SHIFT;
        match cfg.arch {
            Arch::X86_64 => {
                use x86_64::*;
                let (mut po, mut vm, mut vmemmap) = (PAGE_OFFSET_BASE_L4, VMALLOC_BASE_L4, VMEMMAP_BASE_L4);
                if let Some(seed) = cfg.kaslr_seed {
                    // kernel_randomize_memory(): regions direct map, vmalloc, vmemmap in this order.
                    const TB: u64 = 1 << 40;
                    const PUD: u64 = 1 << 30;
                    let mut size_tb = [1u64 << (MAX_PHYSMEM_BITS - 40), VMALLOC_SIZE_TB, 0];
                    let memory_tb = phys_bytes.div_ceil(TB) + PHYSICAL_PADDING_TB;
                    if memory_tb < size_tb[0] {
                        size_tb[0] = memory_tb;
                    }
                    let vmemmap_size = (size_tb[0] << (40 - PAGE_SHIFT)) * 64;
                    size_tb[2] = vmemmap_size.div_ceil(TB);
                    let mut remain = CPU_ENTRY_AREA_BASE - PAGE_OFFSET_BASE_L4;
                    for s in size_tb {
                        remain -= s * TB;
                    }
                    let mut rng = SplitMix64(seed);
                    let mut vaddr = PAGE_OFFSET_BASE_L4;
                    let mut bases = [0u64; 3];
                    for (i, s) in size_tb.iter().enumerate() {
                        let entropy = remain / (3 - i as u64);
                        let e = (rng.next_u64() % (entropy + 1)) & !(PUD - 1);
                        vaddr += e;
                        bases[i] = vaddr;
                        vaddr += s * TB;
                        vaddr = (vaddr + 1).div_ceil(PUD) * PUD;
                        remain -= e;
                    }
                    (po, vm, vmemmap) = (bases[0], bases[1], bases[2]);
                }
                let vmalloc_end = vm + (VMALLOC_SIZE_TB << 40) - 1;
                Ok((
                    Layout {
                        arch: Arch::X86_64,
                        page_offset: po,
                        vmalloc_start: vm,
                        vmalloc_end,
                        vmemmap_base: vmemmap,
                        struct_page_size: 64,
                        high_memory: po + phys_bytes,
                        max_low_pfn: max_pfn,
                        max_pfn,
                        maxmem: 0,
                        pkmap_base: 0,
                        fixaddr_start: 0,
                        start_kernel_map: START_KERNEL_MAP,
                        modules_vaddr: if cfg.kaslr_seed.is_some() {
                            MODULES_VADDR_RANDOMIZE_BASE
                        } else {
                            MODULES_VADDR
                        },
                        modules_end: MODULES_END,
                        vmalloc_window: (VMALLOC_SIZE_TB << 40).min(MAX_WINDOW),
                        vmalloc_top_window: if VMALLOC_SIZE_TB << 40 > MAX_WINDOW { TOP_WINDOW } else { 0 },
                    },
                    phys_bytes,
                ))
            }
            Arch::I386 => {
                use i386::*;
                if ram_bytes > 3 << 30 {
                    return Err(BootError::UnsupportedRam {
                        mib: cfg.ram_mib,
                        reason: "the non-PAE 32-bit profile handles at most 3 GiB (RAM above 4G is unusable)",
                    });
                }
                let (fixaddr_start, pkmap_base, vmalloc_end) = i386_top_layout(cfg.nr_cpus_config as u64);
                let reserve = cfg.vmalloc_reserve_mib.map(|m| (m << 20) + VMALLOC_OFFSET).unwrap_or(VMALLOC_RESERVE);
                let maxmem = vmalloc_end - PAGE_OFFSET - reserve;
                let max_low_pfn = max_pfn.min(maxmem >> PAGE_SHIFT);
                let high_memory = PAGE_OFFSET + (max_low_pfn << PAGE_SHIFT);
                let vmalloc_start = high_memory + VMALLOC_OFFSET;
                Ok((
                    Layout {
                        arch: Arch::I386,
                        page_offset: PAGE_OFFSET,
                        vmalloc_start,
                        vmalloc_end,
                        vmemmap_base: 0, // set to mem_map at boot
                        struct_page_size: 32,
                        high_memory,
                        max_low_pfn,
                        max_pfn,
                        maxmem,
                        pkmap_base,
                        fixaddr_start,
                        start_kernel_map: PAGE_OFFSET,
                        modules_vaddr: vmalloc_start,
                        modules_end: vmalloc_end,
                        vmalloc_window: vmalloc_end - vmalloc_start,
                        vmalloc_top_window: 0,
                    },
                    phys_bytes,
                ))
            }
        }
    }

    /// Boots a machine: sets up RAM, the memblock reservations, zones, the memmap and the buddy allocator
    /// (see mm_init.rs for the numbers), logs the boot lines a real kernel prints about memory, and leaves the
    /// clock at about 1.3 s with `swapper/0` current and the system running.
    ///
    /// Context: host process; allocates host memory.
    pub fn boot(cfg: MachineConfig) -> Result<Machine, BootError> {
        if !MachineConfig::CPUS.contains(&cfg.cpus) {
            return Err(BootError::BadCpus(cfg.cpus));
        }
        if !MachineConfig::RAM_MIB.contains(&cfg.ram_mib) {
            return Err(BootError::UnsupportedRam { mib: cfg.ram_mib, reason: "supported: 32 MiB .. 64 GiB" });
        }
        let (layout, phys_bytes) = Self::compute_layout(&cfg)?;
        // The 32-bit kernel's addresses (PAGE_OFFSET 0xc0000000 ...) are host user addresses: the direct
        // map and the vmalloc window are placed there when the host has the range free, so that every
        // address module code sees is the kernel's (x86_64's 0xffff8880... cannot be a user address).
        let placement = (layout.arch == Arch::I386).then_some(crate::hostmem::KernelPlacement {
            direct: layout.page_offset as usize,
            direct_len: layout.max_low_pfn << PAGE_SHIFT,
            window: layout.vmalloc_start as usize,
        });
        let mem = HostMem::new_at(phys_bytes, layout.vmalloc_window + layout.vmalloc_top_window, placement)?;
        let (arch, cpus) = (cfg.arch, cfg.cpus);
        let mut m = Machine {
            fail_page_alloc: FailPageAlloc::new(cfg.fail_page_alloc.clone()),
            printk: {
                let mut p = Printk::default();
                p.echo = cfg.echo_log;
                p
            },
            cfg,
            layout,
            mem,
            pages: Vec::new(),
            zones: Vec::new(),
            alloc: AllocState::default(),
            sched: Sched::default(),
            panic: PanicState::default(),
            stack: CallStack::default(),
            vmstat: Default::default(),
            clock_ns: 0,
            vmalloc: crate::vmalloc::VmallocState::new(arch, cpus),
            percpu: crate::percpu::PcpuState::default(),
            slab: Default::default(),
            mempools: Default::default(),
            dma: Default::default(),
            pgtable: Default::default(),
            bus: Default::default(),
            devres: Default::default(),
            dma_debug: Default::default(),
            swiotlb: Default::default(),
            debug_pagealloc: Default::default(),
            rcu: Default::default(),
        };
        // drivers/base/devres.c: module_param_named(log, log_devres, int, ...): `devres.log=<int>`, any
        // non-zero value prints (the last one given wins; a value that is no integer leaves it alone).
        let log = m
            .cfg
            .cmdline
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("devres.log=")?.parse::<i32>().ok())
            .next_back();
        if let Some(v) = log {
            m.devres_set_log(v != 0);
        }
        m.mm_init();
        Ok(m)
    }

    /// The configuration.
    ///
    /// Context: any.
    pub fn config(&self) -> &MachineConfig {
        &self.cfg
    }

    /// The address layout.
    ///
    /// Context: any.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Host memory (for later parts: vmalloc maps frames into the window through this).
    ///
    /// Context: any.
    pub fn hostmem(&self) -> &HostMem {
        &self.mem
    }

    /// Mutable host memory.
    ///
    /// Context: any.
    pub fn hostmem_mut(&mut self) -> &mut HostMem {
        &mut self.mem
    }

    /// `__pa(addr)`: `addr - PAGE_OFFSET` for direct-map addresses; on x86_64 kernel-text addresses
    /// (`>= __START_KERNEL_map`) map to `addr - __START_KERNEL_map + phys_base` (phys_base 0 here). For any
    /// other address the result is the same arithmetic's garbage, as in the kernel (which does not check).
    ///
    /// Context: any.
    #[allow(non_snake_case)]
    pub fn __pa(&self, addr: u64) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => {
                if addr >= self.layout.start_kernel_map {
                    addr - self.layout.start_kernel_map
                } else {
                    addr.wrapping_sub(self.layout.page_offset)
                }
            }
            Arch::I386 => addr.wrapping_sub(self.layout.page_offset) & 0xffff_ffff,
        }
    }

    /// `__va(phys)`: `phys + PAGE_OFFSET` (wraps on 32-bit like the kernel's unsigned long arithmetic).
    ///
    /// Context: any.
    #[allow(non_snake_case)]
    pub fn __va(&self, phys: u64) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => phys.wrapping_add(self.layout.page_offset),
            Arch::I386 => phys.wrapping_add(self.layout.page_offset) & 0xffff_ffff,
        }
    }

    /// `virt_to_phys()`: `__pa()`. Only meaningful for direct-map (kmalloc, page allocator) addresses: for a
    /// vmalloc address it returns `addr - PAGE_OFFSET` like the kernel's arithmetic (a bogus physical address;
    /// with `CONFIG_DEBUG_VIRTUAL` the kernel would warn). Use vmalloc_to_page for those.
    ///
    /// Context: any.
    pub fn virt_to_phys(&self, addr: u64) -> u64 {
        self.__pa(addr)
    }

    /// `phys_to_virt()`: `__va()`.
    ///
    /// Context: any.
    pub fn phys_to_virt(&self, phys: u64) -> u64 {
        self.__va(phys)
    }

    /// `struct page` address of a pfn: `vmemmap_base + pfn * 64` (x86_64) or `mem_map + pfn * 32` (i386).
    /// Never dereferenced by the simulator.
    ///
    /// Context: any.
    pub fn page_struct_addr(&self, page: Pfn) -> u64 {
        self.layout.vmemmap_base + page.0 * self.layout.struct_page_size
    }

    /// The pfn whose `struct page` starts at `addr`.
    ///
    /// Context: any.
    pub fn pfn_of_page_struct(&self, addr: u64) -> Option<Pfn> {
        if !self.layout.is_page_struct_addr(addr) {
            return None;
        }
        let off = addr - self.layout.vmemmap_base;
        (off % self.layout.struct_page_size == 0).then_some(Pfn(off / self.layout.struct_page_size))
    }

    /// `page_to_pfn()` as the arithmetic it is, for any pointer: `(addr - vmemmap_base) / sizeof(struct
    /// page)`, whether or not a `struct page` is there (what the kernel computes for a bad pointer).
    ///
    /// Context: any.
    pub fn page_to_pfn_arith(&self, addr: u64) -> Pfn {
        Pfn(addr.wrapping_sub(self.layout.vmemmap_base) / self.layout.struct_page_size)
    }

    /// `pfn_to_page()` as an address (same as [`Machine::page_struct_addr`]).
    ///
    /// Context: any.
    pub fn pfn_to_page(&self, pfn: Pfn) -> u64 {
        self.page_struct_addr(pfn)
    }

    /// `page_to_pfn()` from a `struct page` address.
    ///
    /// Context: any.
    pub fn page_to_pfn(&self, page: u64) -> Option<Pfn> {
        self.pfn_of_page_struct(page)
    }

    /// `pfn_valid()`: the pfn has a `struct page` (inside `[0, max_pfn)`).
    ///
    /// Context: any.
    pub fn pfn_valid(&self, pfn: Pfn) -> bool {
        pfn.0 < self.layout.max_pfn
    }

    /// `page_address()`: the direct-map address of a page, 0 for a highmem page (no kmap in part 1).
    ///
    /// Context: any.
    pub fn page_address(&self, page: Pfn) -> u64 {
        if page.0 >= self.layout.max_low_pfn {
            return 0;
        }
        self.__va(page.0 << PAGE_SHIFT)
    }

    /// `virt_to_page()` for direct-map addresses (None elsewhere: the kernel would return a bogus page).
    ///
    /// Context: any.
    pub fn virt_to_page(&self, addr: u64) -> Option<Pfn> {
        if !self.layout.is_direct_map_addr(addr) {
            return None;
        }
        Some(Pfn(self.__pa(addr) >> PAGE_SHIFT))
    }

    /// `virt_addr_valid()`.
    ///
    /// Context: any.
    pub fn virt_addr_valid(&self, addr: u64) -> bool {
        self.virt_to_page(addr).is_some_and(|p| self.pfn_valid(p))
    }

    /// Runs the work the kernel queues on `system_wq` that the simulator models, as kworkers run it soon after
    /// the current system call: the per-CPU allocator's balance work (percpu.rs). The runner calls it when a
    /// module's init or exit has returned.
    ///
    /// Context: process context, may sleep.
    pub fn run_pending_work(&mut self) {
        self.pcpu_balance_work();
    }

    /// The host pointer for a simulated kernel address: direct map, or a mapped vmalloc window page. None for
    /// anything else (including `struct page` addresses, which have no bytes).
    ///
    /// Context: any.
    pub fn host_ptr(&self, kaddr: u64) -> Option<*mut u8> {
        if self.layout.is_direct_map_addr(kaddr) {
            return self.mem.phys_ptr(self.__pa(kaddr));
        }
        if let Some(off) = self.layout.window_offset(kaddr) {
            return self.mem.window_ptr(off);
        }
        None
    }

    /// The host address of physical address 0: the direct map's `__va(0)`, as module code sees it.
    ///
    /// Context: any.
    pub fn host_direct_base(&self) -> usize {
        self.mem.direct_base()
    }

    /// Whether every address module code sees is the simulated kernel's own: the direct map and the vmalloc
    /// area are at the kernel's addresses in the host (the 32-bit profile, when the host had the range free:
    /// one machine of a process at a time). Otherwise module code sees host addresses that print as the
    /// kernel's, and arithmetic with the kernel's bases (`page_offset_base` ...) gives the kernel's answers,
    /// arithmetic with literal kernel addresses does not.
    ///
    /// Context: any.
    pub fn at_kernel_addresses(&self) -> bool {
        self.mem.at_kernel_addresses()
    }

    /// The host address of `VMALLOC_START` (the vmalloc window's first byte), as module code sees it.
    ///
    /// Context: any.
    pub fn host_vmalloc_base(&self) -> usize {
        self.mem.window_base()
    }

    /// The simulated kernel address of a host address inside the direct map or the vmalloc window.
    ///
    /// Context: any.
    pub fn kaddr_of_host(&self, host: usize) -> Option<u64> {
        let d = self.mem.direct_base();
        // One past the end too: `high_memory` is such a pointer.
        if host >= d && ((host - d) as u64) <= (self.layout.max_low_pfn << PAGE_SHIFT) {
            return Some(self.__va((host - d) as u64));
        }
        let w = self.mem.window_base();
        if host >= w && ((host - w) as u64) < self.mem.window_bytes() {
            return Some(self.layout.window_addr((host - w) as u64));
        }
        None
    }

    /// Resolves `[kaddr, kaddr+len)` to physical chunks (each within one page for vmalloc addresses).
    fn resolve(&self, kaddr: u64, len: u64) -> Result<Vec<(u64, u64)>, MemFault> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let end = kaddr.checked_add(len).ok_or(MemFault::OutOfRange { addr: kaddr, len })?;
        if self.layout.is_direct_map_addr(kaddr) {
            if end > self.layout.high_memory {
                return Err(MemFault::OutOfRange { addr: kaddr, len });
            }
            return Ok(vec![(self.__pa(kaddr), len)]);
        }
        if self.layout.is_vmalloc_addr(kaddr) {
            let mut out = Vec::new();
            let mut a = kaddr;
            while a < end {
                let pfn =
                    self.layout.window_offset(a).and_then(|off| self.mem.window_pfn(off)).ok_or(if a == kaddr {
                        MemFault::Unmapped(a)
                    } else {
                        MemFault::OutOfRange { addr: kaddr, len }
                    })?;
                let in_page = a % PAGE_SIZE;
                let n = (PAGE_SIZE - in_page).min(end - a);
                out.push(((pfn << PAGE_SHIFT) + in_page, n));
                a += n;
            }
            return Ok(out);
        }
        if self.layout.is_page_struct_addr(kaddr) {
            return Err(MemFault::PageStruct(kaddr));
        }
        Err(MemFault::Unmapped(kaddr))
    }

    /// Reads simulated kernel memory.
    ///
    /// Context: any.
    pub fn read_bytes(&self, kaddr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        let mut done = 0usize;
        for (phys, n) in self.resolve(kaddr, buf.len() as u64)? {
            self.mem
                .read(phys, &mut buf[done..done + n as usize])
                .map_err(|_| MemFault::OutOfRange { addr: kaddr, len: buf.len() as u64 })?;
            done += n as usize;
        }
        Ok(())
    }

    /// Writes simulated kernel memory.
    ///
    /// Context: any.
    pub fn write_bytes(&mut self, kaddr: u64, data: &[u8]) -> Result<(), MemFault> {
        let mut done = 0usize;
        for (phys, n) in self.resolve(kaddr, data.len() as u64)? {
            self.mem
                .write(phys, &data[done..done + n as usize])
                .map_err(|_| MemFault::OutOfRange { addr: kaddr, len: data.len() as u64 })?;
            done += n as usize;
        }
        Ok(())
    }

    /// `memset()` of simulated kernel memory.
    ///
    /// Context: any.
    pub fn fill(&mut self, kaddr: u64, len: u64, byte: u8) -> Result<(), MemFault> {
        for (phys, n) in self.resolve(kaddr, len)? {
            self.mem.fill(phys, n, byte).map_err(|_| MemFault::OutOfRange { addr: kaddr, len })?;
        }
        Ok(())
    }

    /// Reads a u64 (little endian, unaligned allowed).
    ///
    /// Context: any.
    pub fn read_u64(&self, kaddr: u64) -> Result<u64, MemFault> {
        let mut b = [0u8; 8];
        self.read_bytes(kaddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a u64 (little endian, unaligned allowed).
    ///
    /// Context: any.
    pub fn write_u64(&mut self, kaddr: u64, v: u64) -> Result<(), MemFault> {
        self.write_bytes(kaddr, &v.to_le_bytes())
    }

    /// Reads physical memory directly (any pfn, including highmem).
    ///
    /// Context: any.
    pub fn read_phys(&self, phys: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        self.mem.read(phys, buf).map_err(|_| MemFault::OutOfRange { addr: phys, len: buf.len() as u64 })
    }

    /// Writes physical memory directly (any pfn, including highmem).
    ///
    /// Context: any.
    pub fn write_phys(&mut self, phys: u64, data: &[u8]) -> Result<(), MemFault> {
        self.mem.write(phys, data).map_err(|_| MemFault::OutOfRange { addr: phys, len: data.len() as u64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i386_layout_matches_6_12_arithmetic() {
        let (fix, pkmap, vend) = i386_top_layout(8);
        assert_eq!(fix, 0xffd3_9000);
        assert_eq!(pkmap, 0xff00_0000);
        assert_eq!(vend, 0xfeff_e000);
        let (l, _) = Machine::compute_layout(&MachineConfig::i386().ram_mib(2048)).unwrap();
        assert_eq!(l.maxmem, 0x36ff_e000); // 879.99 MiB: "879MB LOWMEM available"
        assert_eq!(l.max_low_pfn, 0x36ffe);
        assert_eq!(l.high_memory, 0xf6ff_e000);
        assert_eq!(l.vmalloc_start, 0xf77f_e000);
    }

    #[test]
    fn kaslr_is_deterministic_and_aligned() {
        let (a, _) = Machine::compute_layout(&MachineConfig::x86_64().kaslr(7)).unwrap();
        let (b, _) = Machine::compute_layout(&MachineConfig::x86_64().kaslr(7)).unwrap();
        let (c, _) = Machine::compute_layout(&MachineConfig::x86_64().kaslr(8)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.page_offset, c.page_offset);
        assert_eq!(a.page_offset % (1 << 30), 0);
        assert!(a.page_offset < a.vmalloc_start && a.vmalloc_end < a.vmemmap_base);
        assert!(a.vmemmap_base < x86_64::CPU_ENTRY_AREA_BASE);
    }
}
