//! The per-CPU allocator: mm/percpu.c and mm/percpu-vm.c (Linux 6.12.117).
//!
//! Per-CPU memory comes in *units*, one per possible CPU, all of the same size (`pcpu_unit_size`), at the
//! same offsets (`pcpu_unit_offsets[]`) from the base of every *chunk*. An allocation is one offset inside a
//! chunk, valid in every unit: the `__percpu` pointer the allocator returns is that offset expressed against
//! the first chunk's base (`__addr_to_pcpu_ptr()`), and `per_cpu_ptr(ptr, cpu)` adds `__per_cpu_offset[cpu]`
//! to reach the CPU's copy.
//!
//! - **The first chunk** is set up at boot (`pcpu_setup_first_chunk()`, from `pcpu_embed_first_chunk()`):
//!   in each unit the kernel's static per-CPU variables, the reserved region (`PERCPU_MODULE_RESERVE`, for
//!   modules' static per-CPU variables: `pcpu_reserved_chunk`) and a dynamic region (`pcpu_first_chunk`).
//!   It is memory of the direct map (memblock, mm_init.rs places it) and fully populated. Its sizes come
//!   from the recorded boot's `pcpu-alloc: sS rR dD uU` line.
//! - **Further chunks** (`pcpu_create_chunk()`, percpu-vm.c) are areas of the vmalloc space, taken from its
//!   top down by `pcpu_get_vm_areas()` (vmalloc.rs), with their bitmaps from `pcpu_mem_zalloc()` (kzalloc up
//!   to a page, `__vmalloc()` above). Their pages are populated on demand: `pcpu_alloc()` populates the pages
//!   an allocation covers (one page per unit each, `alloc_pages_node()`, mapped with `vmap_pages_range()`).
//! - **Allocation** searches the chunks slot by slot (`pcpu_chunk_lists[]`, a chunk's slot follows from its
//!   largest free region), first fit over the chunk's allocation bitmap (one bit per `PCPU_MIN_ALLOC_SIZE` =
//!   4 bytes; the kernel's block hints only make that search faster). Atomic allocations use populated pages
//!   only and never create chunks. `/proc/meminfo`'s `Percpu:` is `pcpu_nr_pages()`: populated pages times
//!   units.
//! - **Balance work** (`pcpu_balance_workfn()`, scheduled on `system_wq` when fewer than
//!   `PCPU_EMPTY_POP_PAGES_LOW` empty populated pages remain, after a failed atomic allocation, or when a second
//!   chunk becomes free) frees surplus free chunks, depopulates isolated ones and populates pages for atomic
//!   allocations. The simulator runs it when the current module call returns (`Machine::run_pending_work`).
//!
//! Not modelled: the kernel's boot-time dynamic per-CPU allocations other than SLUB's `kmem_cache_cpu`s
//! (the first chunk's dynamic region holds only those, so which offsets a module gets differs from the real
//! kernel's), memcg accounting of per-CPU memory, `CONFIG_PERCPU_STATS`, more than one NUMA node (one group).

use std::collections::VecDeque;

use crate::gfp::Gfp;
use crate::hostmem::PAGE_SIZE;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::Pfn;
use crate::printk::LogLevel;

/// `PCPU_MIN_ALLOC_SHIFT`, `PCPU_MIN_ALLOC_SIZE`.
const PCPU_MIN_ALLOC_SHIFT: u32 = 2;
const PCPU_MIN_ALLOC_SIZE: u64 = 1 << PCPU_MIN_ALLOC_SHIFT;
/// `PCPU_MIN_UNIT_SIZE`: the largest single allocation.
pub const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `PCPU_BITMAP_BLOCK_SIZE` (a page) in allocation bits.
const PCPU_BITMAP_BLOCK_BITS: u64 = PAGE_SIZE >> PCPU_MIN_ALLOC_SHIFT;
const PCPU_SLOT_BASE_SHIFT: u32 = 5;
const PCPU_SLOT_FAIL_THRESHOLD: usize = 3;
const PCPU_EMPTY_POP_PAGES_LOW: u64 = 2;
const PCPU_EMPTY_POP_PAGES_HIGH: u64 = 4;
/// `PERCPU_DYNAMIC_RESERVE` (64-bit) and `PERCPU_DYNAMIC_EARLY_SIZE`.
const PERCPU_DYNAMIC_RESERVE: u64 = 28 << 10;
const PERCPU_DYNAMIC_EARLY_SIZE: u64 = 20 << 10;
/// mm/percpu.c line the build's `__bug_table` gives `WARN(do_warn, "illegal size ...")` in
/// `pcpu_alloc_noprof()` (the macro's last line).
pub const LINE_ILLEGAL_SIZE_WARN: u32 = 1781;
const PERCPU_C: &str = "mm/percpu.c";

/// One chunk (`struct pcpu_chunk`).
#[derive(Clone, Debug)]
struct PcpuChunk {
    /// `base_addr`: kernel address of the chunk in unit 0 (units follow at `unit_offsets`).
    base_addr: u64,
    nr_pages: u64,
    /// `start_offset`/`end_offset`: hidden bytes at the start and end (first chunk only).
    start_offset: u64,
    end_offset: u64,
    /// `alloc_map` (a set bit: allocated or hidden), one bit per 4 bytes.
    alloc_map: Vec<u64>,
    /// `bound_map`: a set bit at the start of each allocation and one past its end.
    bound_map: Vec<u64>,
    /// `populated`, one flag per page.
    populated: Vec<bool>,
    nr_populated: u64,
    free_bytes: u64,
    isolated: bool,
    /// `immutable`: the first chunk's pages are never populated or depopulated.
    immutable: bool,
    /// `data`: the vm areas of `pcpu_get_vm_areas()` (one per group), kernel addresses.
    vms: Vec<u64>,
    /// The kmalloc'ed `vm_struct *` array `pcpu_get_vm_areas()` returned.
    vms_array: u64,
    /// `pcpu_mem_zalloc()` objects: the chunk itself, `alloc_map`, `bound_map`, `md_blocks`.
    objs: [u64; 4],
    /// `obj_exts` (memcg), 0 if none.
    obj_exts: u64,
}

impl PcpuChunk {
    fn map_bits(&self) -> u64 {
        (self.nr_pages * PAGE_SIZE) >> PCPU_MIN_ALLOC_SHIFT
    }
    fn test(map: &[u64], bit: u64) -> bool {
        map[(bit / 64) as usize] >> (bit % 64) & 1 != 0
    }
    fn set(map: &mut [u64], bit: u64) {
        map[(bit / 64) as usize] |= 1 << (bit % 64);
    }
    fn clear(map: &mut [u64], bit: u64) {
        map[(bit / 64) as usize] &= !(1 << (bit % 64));
    }
    fn set_range(map: &mut [u64], start: u64, n: u64, on: bool) {
        for b in start..start + n {
            if on {
                Self::set(map, b)
            } else {
                Self::clear(map, b)
            }
        }
    }
    /// The next clear bit of `alloc_map` at or after `bit` (or `map_bits`).
    fn next_zero(&self, mut bit: u64) -> u64 {
        let end = self.map_bits();
        while bit < end {
            let w = !self.alloc_map[(bit / 64) as usize] >> (bit % 64);
            if w == 0 {
                bit = (bit / 64 + 1) * 64;
                continue;
            }
            return (bit + w.trailing_zeros() as u64).min(end);
        }
        end
    }
    /// The next set bit of `alloc_map` at or after `bit` (or `map_bits`).
    fn next_one(&self, mut bit: u64) -> u64 {
        let end = self.map_bits();
        while bit < end {
            let w = self.alloc_map[(bit / 64) as usize] >> (bit % 64);
            if w == 0 {
                bit = (bit / 64 + 1) * 64;
                continue;
            }
            return (bit + w.trailing_zeros() as u64).min(end);
        }
        end
    }
    /// Free regions `(start, bits)` in address order.
    fn free_regions(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let end = self.map_bits();
        let mut b = self.next_zero(0);
        while b < end {
            let e = self.next_one(b);
            out.push((b, e - b));
            b = self.next_zero(e);
        }
        out
    }
    /// `chunk_md.contig_hint` and its start: the largest free region; of equal ones the better aligned
    /// start, then the first (`pcpu_block_update()`).
    fn contig_hint(&self) -> (u64, u64) {
        let mut best = (0u64, 0u64);
        for (s, n) in self.free_regions() {
            if n > best.0 || (n == best.0 && n > 0 && s.trailing_zeros() > best.1.trailing_zeros()) {
                best = (n, s);
            }
        }
        best
    }
    /// Whether page `p` is entirely free (its block's `contig_hint == PCPU_BITMAP_BLOCK_BITS`).
    fn page_empty(&self, p: u64) -> bool {
        let first = p * PCPU_BITMAP_BLOCK_BITS;
        (first..first + PCPU_BITMAP_BLOCK_BITS).step_by(64).all(|b| self.alloc_map[(b / 64) as usize] == 0)
    }
    /// `nr_empty_pop_pages`.
    fn nr_empty_pop_pages(&self) -> u64 {
        (0..self.nr_pages).filter(|&p| self.populated[p as usize] && self.page_empty(p)).count() as u64
    }
}

/// `__pcpu_size_to_slot()`.
fn size_to_slot_raw(size: u64) -> usize {
    let fls = 64 - size.leading_zeros();
    (fls as i64 - PCPU_SLOT_BASE_SHIFT as i64 + 2).max(1) as usize
}

/// The first chunk's (static, reserved, dynamic) bytes per unit for a modelled (not recorded) boot: the
/// book's kernels' static sizes, `PERCPU_MODULE_RESERVE` on x86_64 (the 32-bit kernel has no modules) and
/// `PERCPU_DYNAMIC_RESERVE` (28 KiB on 64-bit, 20 KiB on 32-bit) rounded as `pcpu_build_alloc_info()` does.
///
/// Context: any.
pub fn modelled_first_chunk_sizes(arch: Arch) -> (u64, u64, u64) {
    let (s, r, d) = match arch {
        Arch::X86_64 => (135072, 8192, PERCPU_DYNAMIC_RESERVE),
        Arch::I386 => (71212, 0, 20 << 10),
    };
    let sum = (s + r + d).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    (s, r, sum - s - r)
}

/// `pcpu_build_alloc_info()` for one NUMA group of `cpus` CPUs: `(unit_size, units_per_alloc)`.
///
/// Context: any.
pub fn pcpu_build_alloc_info(static_size: u64, reserved: u64, dyn_size: u64, atom: u64, cpus: u64) -> (u64, u64) {
    let size_sum = (static_size + reserved + dyn_size.max(PERCPU_DYNAMIC_EARLY_SIZE)).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let min_unit_size = size_sum.max(PCPU_MIN_UNIT_SIZE);
    let alloc_size = min_unit_size.div_ceil(atom) * atom;
    let mut upa = alloc_size / min_unit_size;
    while alloc_size % upa != 0 || (alloc_size / upa) % PAGE_SIZE != 0 {
        upa -= 1;
    }
    let max_upa = upa;
    let (mut best_upa, mut last_allocs) = (0, u64::MAX);
    for upa in (1..=max_upa).rev() {
        if alloc_size % upa != 0 || (alloc_size / upa) % PAGE_SIZE != 0 {
            continue;
        }
        let allocs = cpus.div_ceil(upa);
        let wasted = allocs * upa - cpus;
        if wasted > cpus / 3 {
            continue;
        }
        if allocs > last_allocs {
            break;
        }
        last_allocs = allocs;
        best_upa = upa;
    }
    (alloc_size / best_upa, best_upa)
}

/// The per-CPU allocator's state (a field of [`Machine`]).
#[derive(Clone, Debug, Default)]
pub struct PcpuState {
    initialized: bool,
    unit_size: u64,
    unit_pages: u64,
    nr_units: u64,
    atom_size: u64,
    /// `pcpu_unit_offsets[cpu]`.
    unit_offsets: Vec<u64>,
    /// `pcpu_group_offsets[]`, `pcpu_group_sizes[]` (one group).
    group_offsets: Vec<u64>,
    group_sizes: Vec<u64>,
    /// `pcpu_base_addr`.
    base_addr: u64,
    /// `__per_cpu_start` (0 on x86_64 SMP: the per-CPU section is linked at 0).
    per_cpu_start: u64,
    chunks: Vec<Option<PcpuChunk>>,
    first_chunk: usize,
    reserved_chunk: Option<usize>,
    /// `pcpu_chunk_lists[]`.
    slots: Vec<VecDeque<usize>>,
    /// `pcpu_nr_populated`.
    nr_populated: u64,
    atomic_alloc_failed: bool,
    /// `pcpu_balance_work` is queued.
    balance_pending: bool,
    /// `pcpu_get_pages()`'s static page array (a `pcpu_mem_zalloc()` object, allocated on first use).
    pages_array: u64,
    /// `warn_limit` of `pcpu_alloc_noprof()`.
    warn_limit: u32,
}

impl PcpuState {
    fn sidelined_slot(&self) -> usize {
        size_to_slot_raw(self.unit_size) + 1
    }
    fn free_slot(&self) -> usize {
        self.sidelined_slot() + 1
    }
    fn to_depopulate_slot(&self) -> usize {
        self.free_slot() + 1
    }
    /// `pcpu_size_to_slot()`.
    fn size_to_slot(&self, size: u64) -> usize {
        if size == self.unit_size {
            self.free_slot()
        } else {
            size_to_slot_raw(size)
        }
    }
    fn chunk(&self, id: usize) -> &PcpuChunk {
        self.chunks[id].as_ref().expect("a live chunk")
    }
    fn chunk_mut(&mut self, id: usize) -> &mut PcpuChunk {
        self.chunks[id].as_mut().expect("a live chunk")
    }
    /// `pcpu_chunk_slot()`.
    fn chunk_slot(&self, id: usize) -> usize {
        let c = self.chunk(id);
        let (hint, _) = c.contig_hint();
        if c.free_bytes < PCPU_MIN_ALLOC_SIZE || hint == 0 {
            return 0;
        }
        self.size_to_slot(hint * PCPU_MIN_ALLOC_SIZE)
    }
    fn slot_of(&self, id: usize) -> Option<usize> {
        self.slots.iter().position(|l| l.contains(&id))
    }
    /// `__pcpu_chunk_move()`.
    fn chunk_move(&mut self, id: usize, slot: usize, move_front: bool) {
        if Some(id) == self.reserved_chunk {
            return;
        }
        for l in self.slots.iter_mut() {
            l.retain(|&c| c != id);
        }
        if move_front {
            self.slots[slot].push_front(id);
        } else {
            self.slots[slot].push_back(id);
        }
    }
    /// `pcpu_chunk_relocate()`.
    fn chunk_relocate(&mut self, id: usize, oslot: Option<usize>) {
        if self.chunk(id).isolated {
            return;
        }
        let nslot = self.chunk_slot(id);
        if oslot != Some(nslot) {
            let front = oslot.map(|o| o < nslot).unwrap_or(true);
            self.chunk_move(id, nslot, front);
        }
    }
    /// `pcpu_nr_empty_pop_pages`: empty populated pages of the chunks in use (not the reserved chunk, not
    /// isolated ones).
    fn nr_empty_pop_pages(&self) -> u64 {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)))
            .filter(|(i, c)| Some(*i) != self.reserved_chunk && !c.isolated)
            .map(|(_, c)| c.nr_empty_pop_pages())
            .sum()
    }
    /// `pcpu_chunk_addr(chunk, cpu, 0)`.
    fn chunk_addr(&self, id: usize, cpu: usize) -> u64 {
        self.chunk(id).base_addr + self.unit_offsets[cpu]
    }
    /// `pcpu_chunk_addr_search()`: the chunk an address of unit 0 belongs to.
    fn chunk_of_addr(&self, addr: u64) -> Option<usize> {
        self.chunks.iter().enumerate().find_map(|(i, c)| {
            let c = c.as_ref()?;
            let start = c.base_addr + c.start_offset;
            let end = c.base_addr + c.nr_pages * PAGE_SIZE - c.end_offset;
            (addr >= start && addr < end).then_some(i)
        })
    }
}

impl Machine {
    /// Whether the per-CPU allocator is set up (from `setup_per_cpu_areas()` on).
    ///
    /// Context: any.
    pub fn percpu_ready(&self) -> bool {
        self.percpu.initialized
    }

    /// `pcpu_setup_first_chunk()` for an embedded first chunk at page `base` (unit 0; the units follow at
    /// `unit_size` intervals): the static, reserved and dynamic sizes of each unit as
    /// `pcpu_embed_first_chunk()` computed them.
    ///
    /// Context: boot, before the slab allocator.
    pub(crate) fn pcpu_setup_first_chunk(&mut self, base: Pfn, static_size: u64, reserved: u64, dyn_size: u64) {
        let cpus = self.cfg.cpus.max(1) as u64;
        let atom = if self.layout.arch == Arch::X86_64 { 2 << 20 } else { PAGE_SIZE };
        let (unit_size, _) = pcpu_build_alloc_info(static_size, reserved, dyn_size, atom, cpus);
        let base_addr = self.__va(base.0 << PAGE_SHIFT);
        let per_cpu_start = match self.layout.arch {
            Arch::X86_64 => 0,
            Arch::I386 => crate::kallsyms::Symbols::kernel(Arch::I386).layout("__per_cpu_start").unwrap_or(0),
        };
        let mut st = PcpuState {
            initialized: true,
            unit_size,
            unit_pages: unit_size / PAGE_SIZE,
            nr_units: cpus,
            atom_size: atom,
            unit_offsets: (0..cpus).map(|c| c * unit_size).collect(),
            group_offsets: vec![0],
            group_sizes: vec![cpus * unit_size],
            base_addr,
            per_cpu_start,
            warn_limit: 10,
            ..Default::default()
        };
        st.slots = vec![VecDeque::new(); st.to_depopulate_slot() + 1];
        self.percpu = st;
        if reserved > 0 {
            let id = self.pcpu_alloc_first_chunk(base_addr + static_size, reserved);
            self.percpu.reserved_chunk = Some(id);
        }
        let id = self.pcpu_alloc_first_chunk(base_addr + static_size + reserved, dyn_size);
        self.percpu.first_chunk = id;
        self.percpu.chunk_relocate(id, None);
        let size_sum = static_size + reserved + dyn_size;
        self.percpu.nr_populated += size_sum.div_ceil(PAGE_SIZE);
    }

    /// `pcpu_alloc_first_chunk()`: a chunk over `[tmp_addr, tmp_addr + map_size)` of the first chunk's
    /// memory, fully populated, the rest of its pages hidden.
    fn pcpu_alloc_first_chunk(&mut self, tmp_addr: u64, map_size: u64) -> usize {
        let aligned = tmp_addr & !(PAGE_SIZE - 1);
        let start_offset = tmp_addr - aligned;
        let region = (start_offset + map_size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let nr_pages = region / PAGE_SIZE;
        let bits = region >> PCPU_MIN_ALLOC_SHIFT;
        let mut c = PcpuChunk {
            base_addr: aligned,
            nr_pages,
            start_offset,
            end_offset: region - start_offset - map_size,
            alloc_map: vec![0; bits.div_ceil(64) as usize],
            bound_map: vec![0; (bits + 1).div_ceil(64) as usize],
            populated: vec![true; nr_pages as usize],
            nr_populated: nr_pages,
            free_bytes: map_size,
            isolated: false,
            immutable: true,
            vms: Vec::new(),
            vms_array: 0,
            objs: [0; 4],
            obj_exts: 0,
        };
        if start_offset > 0 {
            let b = start_offset >> PCPU_MIN_ALLOC_SHIFT;
            PcpuChunk::set_range(&mut c.alloc_map, 0, b, true);
            PcpuChunk::set(&mut c.bound_map, 0);
            PcpuChunk::set(&mut c.bound_map, b);
        }
        if c.end_offset > 0 {
            let b = c.end_offset >> PCPU_MIN_ALLOC_SHIFT;
            PcpuChunk::set_range(&mut c.alloc_map, bits - b, b, true);
            PcpuChunk::set(&mut c.bound_map, bits - b);
            PcpuChunk::set(&mut c.bound_map, bits);
        }
        self.percpu.chunks.push(Some(c));
        self.percpu.chunks.len() - 1
    }

    /// `pcpu_mem_zalloc()`: kzalloc up to a page, `__vmalloc(__GFP_ZERO)` above. Returns the address or 0.
    fn pcpu_mem_zalloc(&mut self, size: u64, gfp: Gfp) -> u64 {
        self.with_frame("pcpu_mem_zalloc", |m| {
            if size <= PAGE_SIZE {
                m.kzalloc(size, gfp)
            } else {
                m.__vmalloc(size, gfp | Gfp::__GFP_ZERO)
            }
        })
    }

    /// `pcpu_mem_free()`: `kvfree()`.
    fn pcpu_mem_free(&mut self, p: u64) {
        if p == 0 {
        } else if self.layout.is_vmalloc_addr(p) {
            self.vfree(p);
        } else {
            self.kfree(p);
        }
    }

    /// `sizeof(struct pcpu_chunk)` + the `populated` bitmap (`pcpu_chunk_struct_size`).
    fn pcpu_chunk_struct_size(&self) -> u64 {
        let long = self.ptr_size();
        // list, free_bytes, chunk_md (8 ints), bound_map, base_addr, alloc_map, md_blocks, data, immutable,
        // isolated, start/end_offset, obj_exts (CONFIG_MEMCG), nr_pages, nr_populated, nr_empty_pop_pages.
        let fields = 2 * long + 4 + 32 + 4 * long + long + 4 + 4 + 4 + 4 + long + 4 + 4 + 4;
        let fields = fields.div_ceil(long) * long;
        fields + self.percpu.unit_pages.div_ceil(8 * long) * long
    }

    /// `pcpu_create_chunk()` (percpu-vm.c) with the inlined `pcpu_alloc_chunk()`: the chunk's bitmaps, then
    /// its vm areas. Returns the chunk or None.
    fn pcpu_create_chunk(&mut self, gfp: Gfp) -> Option<usize> {
        let depth = self.stack.frames.len();
        self.push_kframe("pcpu_create_chunk");
        let r = self.pcpu_create_chunk_inner(gfp);
        self.stack.frames.truncate(depth);
        r
    }

    fn pcpu_create_chunk_inner(&mut self, gfp: Gfp) -> Option<usize> {
        let long = self.ptr_size();
        let nr_pages = self.percpu.unit_pages;
        let region_bits = (nr_pages * PAGE_SIZE) >> PCPU_MIN_ALLOC_SHIFT;
        let mut objs = [0u64; 4];
        let sizes = [
            self.pcpu_chunk_struct_size(),
            region_bits.div_ceil(8 * long) * long,
            (region_bits + 1).div_ceil(8 * long) * long,
            nr_pages * 32, // md_blocks: one struct pcpu_block_md (8 ints) per page
        ];
        for i in 0..4 {
            objs[i] = self.pcpu_mem_zalloc(sizes[i], gfp);
            if objs[i] == 0 {
                for &o in objs[..i].iter().rev() {
                    self.pcpu_mem_free(o);
                }
                return None;
            }
        }
        // NEED_PCPUOBJ_EXT (the book's x86_64 kernel has CONFIG_MEMCG, its 32-bit one not): need_pcpuobj_ext()
        // is true unless the kernel booted with cgroup.memory=nokmem, so every chunk gets one `struct
        // pcpuobj_ext` (an obj_cgroup pointer) per allocation bit: 1 MiB for a 512 KiB unit, from vmalloc.
        let mut obj_exts = 0;
        if self.layout.arch == Arch::X86_64 {
            obj_exts = self.pcpu_mem_zalloc(region_bits * 8, gfp);
            if obj_exts == 0 {
                for &o in objs.iter().rev() {
                    self.pcpu_mem_free(o);
                }
                return None;
            }
        }
        let offsets = self.percpu.group_offsets.clone();
        let group_sizes = self.percpu.group_sizes.clone();
        let atom = self.percpu.atom_size;
        let Some((vms_array, vms)) = self.pcpu_get_vm_areas(&offsets, &group_sizes, atom) else {
            self.pcpu_mem_free(obj_exts);
            for &o in objs.iter().rev() {
                self.pcpu_mem_free(o);
            }
            return None;
        };
        let c = PcpuChunk {
            base_addr: vms[0] - offsets[0],
            nr_pages,
            start_offset: 0,
            end_offset: 0,
            alloc_map: vec![0; region_bits.div_ceil(64) as usize],
            bound_map: vec![0; (region_bits + 1).div_ceil(64) as usize],
            populated: vec![false; nr_pages as usize],
            nr_populated: 0,
            free_bytes: nr_pages * PAGE_SIZE,
            isolated: false,
            immutable: false,
            vms,
            vms_array,
            objs,
            obj_exts,
        };
        let id = match self.percpu.chunks.iter().position(|c| c.is_none()) {
            Some(i) => {
                self.percpu.chunks[i] = Some(c);
                i
            }
            None => {
                self.percpu.chunks.push(Some(c));
                self.percpu.chunks.len() - 1
            }
        };
        Some(id)
    }

    /// `pcpu_destroy_chunk()`: its vm areas (`pcpu_free_vm_areas()`), then its bitmaps and itself.
    fn pcpu_destroy_chunk(&mut self, id: usize) {
        for l in self.percpu.slots.iter_mut() {
            l.retain(|&c| c != id);
        }
        let Some(c) = self.percpu.chunks[id].take() else { return };
        for &vm in &c.vms {
            self.free_vm_area(vm);
        }
        self.kfree(c.vms_array);
        // pcpu_free_chunk(): obj_exts, md_blocks, bound_map, alloc_map, the chunk.
        for &o in [c.obj_exts, c.objs[3], c.objs[2], c.objs[1], c.objs[0]].iter() {
            self.pcpu_mem_free(o);
        }
    }

    /// `pcpu_get_pages()`: the static page array, allocated by the first call.
    fn pcpu_get_pages(&mut self) -> bool {
        if self.percpu.pages_array == 0 {
            let long = self.ptr_size();
            let size = self.percpu.nr_units * self.percpu.unit_pages * long;
            self.percpu.pages_array = self.pcpu_mem_zalloc(size, Gfp::GFP_KERNEL);
        }
        self.percpu.pages_array != 0
    }

    /// `pcpu_populate_chunk()`: a page per unit for each page of `[rs, re)` (`pcpu_alloc_pages()`, unit by
    /// unit), mapped into each unit's part of the chunk (`pcpu_map_pages()`). False on -ENOMEM.
    fn pcpu_populate_chunk(&mut self, id: usize, rs: u64, re: u64, gfp: Gfp) -> bool {
        self.with_frame("pcpu_populate_chunk", |m| {
            if !m.pcpu_get_pages() {
                return false;
            }
            let gfp = gfp | Gfp::__GFP_HIGHMEM;
            let units = m.percpu.nr_units as usize;
            let mut pages: Vec<Vec<Pfn>> = Vec::with_capacity(units);
            for _cpu in 0..units {
                let mut v = Vec::new();
                for _ in rs..re {
                    match m.alloc_pages(gfp, 0) {
                        Some(p) => v.push(p),
                        None => {
                            for p in v.into_iter().chain(pages.into_iter().flatten()) {
                                m.__free_pages(p, 0);
                            }
                            return false;
                        }
                    }
                }
                pages.push(v);
            }
            for (cpu, v) in pages.iter().enumerate() {
                let addr = m.percpu.chunk_addr(id, cpu) + rs * PAGE_SIZE;
                if !m.vmap_pages_range(addr, v) {
                    for p in pages.iter().flatten() {
                        m.__free_pages(*p, 0);
                    }
                    return false;
                }
            }
            true
        })
    }

    /// `pcpu_depopulate_chunk()`: unmaps `[rs, re)` of every unit and frees the pages.
    fn pcpu_depopulate_chunk(&mut self, id: usize, rs: u64, re: u64) {
        let _ = self.pcpu_get_pages();
        for cpu in 0..self.percpu.nr_units as usize {
            let addr = self.percpu.chunk_addr(id, cpu) + rs * PAGE_SIZE;
            for pfn in self.vunmap_range_pages(addr, (re - rs) * PAGE_SIZE) {
                self.__free_pages(pfn, 0);
            }
        }
    }

    /// `pcpu_chunk_populated()` / `pcpu_chunk_depopulated()`.
    fn pcpu_chunk_set_populated(&mut self, id: usize, rs: u64, re: u64, on: bool) {
        let c = self.percpu.chunk_mut(id);
        for p in rs..re {
            c.populated[p as usize] = on;
        }
        if on {
            c.nr_populated += re - rs;
            self.percpu.nr_populated += re - rs;
        } else {
            c.nr_populated -= re - rs;
            self.percpu.nr_populated -= re - rs;
        }
    }

    /// `pcpu_find_block_fit()`: the first bit offset of a free region of `bits` bits aligned to `align` bits
    /// (over populated pages only when `pop_only`), or None.
    fn pcpu_find_block_fit(&self, id: usize, bits: u64, align: u64, pop_only: bool) -> Option<u64> {
        let c = self.percpu.chunk(id);
        // pcpu_check_block_hint() against the chunk's contig hint.
        let (hint, hint_start) = c.contig_hint();
        let pad = hint_start.div_ceil(align) * align - hint_start;
        if pad + bits > hint {
            return None;
        }
        for (s, n) in c.free_regions() {
            let mut start = s.div_ceil(align) * align;
            while start + bits <= s + n {
                if !pop_only {
                    return Some(start);
                }
                let (ps, pe) = (
                    start * PCPU_MIN_ALLOC_SIZE / PAGE_SIZE,
                    ((start + bits) * PCPU_MIN_ALLOC_SIZE).div_ceil(PAGE_SIZE),
                );
                match (ps..pe).find(|&p| !c.populated[p as usize]) {
                    None => return Some(start),
                    // pcpu_is_populated()'s next_off: past the unpopulated page.
                    Some(p) => start = ((p + 1) * PCPU_BITMAP_BLOCK_BITS).div_ceil(align) * align,
                }
            }
        }
        None
    }

    /// `pcpu_alloc_area()`: allocates `bits` at the first fitting offset from `start`. Returns the byte offset.
    fn pcpu_alloc_area(&mut self, id: usize, bits: u64, align: u64, start: u64) -> Option<u64> {
        let oslot = self.percpu.slot_of(id);
        let c = self.percpu.chunk_mut(id);
        let end = c.map_bits();
        let mut bit = c.next_zero(start);
        let off = loop {
            if bit >= end {
                return None;
            }
            let a = bit.div_ceil(align) * align;
            if a + bits > end {
                return None;
            }
            let busy = c.next_one(a);
            if busy >= a + bits {
                break a;
            }
            bit = c.next_zero(busy);
        };
        PcpuChunk::set_range(&mut c.alloc_map, off, bits, true);
        PcpuChunk::set(&mut c.bound_map, off);
        PcpuChunk::set(&mut c.bound_map, off + bits);
        c.free_bytes -= bits * PCPU_MIN_ALLOC_SIZE;
        self.percpu.chunk_relocate(id, oslot);
        Some(off * PCPU_MIN_ALLOC_SIZE)
    }

    /// `pcpu_free_area()`: frees the allocation at byte offset `off`. Returns its size.
    fn pcpu_free_area(&mut self, id: usize, off: u64) -> u64 {
        let oslot = self.percpu.slot_of(id);
        let c = self.percpu.chunk_mut(id);
        let bit = off >> PCPU_MIN_ALLOC_SHIFT;
        let nbits = c.map_bits();
        let mut end = bit + 1;
        while end < nbits && !PcpuChunk::test(&c.bound_map, end) {
            end += 1;
        }
        let bits = end - bit;
        PcpuChunk::clear(&mut c.bound_map, bit);
        PcpuChunk::set_range(&mut c.alloc_map, bit, bits, false);
        c.free_bytes += bits * PCPU_MIN_ALLOC_SIZE;
        self.percpu.chunk_relocate(id, oslot);
        bits * PCPU_MIN_ALLOC_SIZE
    }

    /// `pcpu_alloc_noprof(size, align, reserved, gfp)` (`alloc_percpu()`, `__alloc_percpu()`,
    /// `alloc_percpu_gfp()`): `size` bytes in every CPU's unit, zeroed. Returns the `__percpu` pointer (the
    /// kernel's value: an offset against the first chunk's base, not an address) or 0.
    ///
    /// Context: process context with a blocking gfp (may create and populate chunks); with an atomic gfp from
    /// populated pages only. A size of 0 or above `PCPU_MIN_UNIT_SIZE`, or an alignment above `PAGE_SIZE` or
    /// not a power of two, is a WARN (unless `__GFP_NOWARN`) and 0; a failure prints `percpu: allocation
    /// failed, …` (ten times at most).
    pub fn pcpu_alloc(&mut self, size: u64, align: u64, reserved: bool, gfp: Gfp) -> u64 {
        if !self.percpu_ready() {
            return 0;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("pcpu_alloc_noprof");
        let r = self.pcpu_alloc_inner(size, align, reserved, gfp);
        self.stack.frames.truncate(depth);
        r
    }

    fn pcpu_alloc_inner(&mut self, size: u64, align: u64, reserved: bool, gfp: Gfp) -> u64 {
        let pcpu_gfp = gfp & (Gfp::GFP_KERNEL | Gfp::__GFP_NORETRY | Gfp::__GFP_NOWARN);
        let is_atomic = !gfp.intersects(Gfp::__GFP_DIRECT_RECLAIM);
        let do_warn = !gfp.intersects(Gfp::__GFP_NOWARN);
        let align = align.max(PCPU_MIN_ALLOC_SIZE);
        let size = size.div_ceil(PCPU_MIN_ALLOC_SIZE) * PCPU_MIN_ALLOC_SIZE;
        let bits = size >> PCPU_MIN_ALLOC_SHIFT;
        let bit_align = align >> PCPU_MIN_ALLOC_SHIFT;
        if size == 0 || size > PCPU_MIN_UNIT_SIZE || align > PAGE_SIZE || !align.is_power_of_two() {
            if do_warn {
                let msg = format!("illegal size ({size}) or align ({align}) for percpu allocation");
                self.warn_args(
                    PERCPU_C,
                    LINE_ILLEGAL_SIZE_WARN,
                    Some(&msg),
                    &[size, align, u64::from(reserved), gfp.bits() as u64],
                );
            }
            return 0;
        }
        if !is_atomic {
            // mutex_lock_killable(&pcpu_alloc_mutex)
            self.with_frame("mutex_lock_killable", |m| m.might_sleep("kernel/locking/mutex.c", 1016));
        }
        let found: Result<(usize, u64), &'static str> = 'search: {
            if reserved {
                if let Some(rc) = self.percpu.reserved_chunk {
                    let off = self
                        .pcpu_find_block_fit(rc, bits, bit_align, is_atomic)
                        .and_then(|o| self.pcpu_alloc_area(rc, bits, bit_align, o));
                    break 'search off.map(|o| (rc, o)).ok_or("alloc from reserved chunk failed");
                }
            }
            loop {
                let free_slot = self.percpu.free_slot();
                for slot in self.percpu.size_to_slot(size)..=free_slot {
                    let ids: Vec<usize> = self.percpu.slots[slot].iter().copied().collect();
                    for id in ids {
                        let Some(off) = self.pcpu_find_block_fit(id, bits, bit_align, is_atomic) else {
                            if slot < PCPU_SLOT_FAIL_THRESHOLD {
                                self.percpu.chunk_move(id, 0, false);
                            }
                            continue;
                        };
                        if let Some(off) = self.pcpu_alloc_area(id, bits, bit_align, off) {
                            self.pcpu_reintegrate_chunk(id);
                            break 'search Ok((id, off));
                        }
                    }
                }
                if is_atomic {
                    break 'search Err("atomic alloc failed, no space left");
                }
                if self.percpu.slots[free_slot].is_empty() {
                    match self.pcpu_create_chunk(pcpu_gfp) {
                        Some(id) => self.percpu.chunk_relocate(id, None),
                        None => break 'search Err("failed to allocate new chunk"),
                    }
                }
            }
        };
        let (id, off) = match found {
            Ok(f) => f,
            Err(err) => return self.pcpu_alloc_fail(size, align, is_atomic, do_warn, err),
        };
        if !is_atomic {
            let (rs, re) = (off / PAGE_SIZE, (off + size).div_ceil(PAGE_SIZE));
            let mut p = rs;
            while p < re {
                if self.percpu.chunk(id).populated[p as usize] || self.percpu.chunk(id).immutable {
                    p += 1;
                    continue;
                }
                let mut e = p;
                while e < re && !self.percpu.chunk(id).populated[e as usize] {
                    e += 1;
                }
                if !self.pcpu_populate_chunk(id, p, e, pcpu_gfp) {
                    self.pcpu_free_area(id, off);
                    return self.pcpu_alloc_fail(size, align, is_atomic, do_warn, "failed to populate");
                }
                self.pcpu_chunk_set_populated(id, p, e, true);
                p = e;
            }
        }
        if self.percpu.nr_empty_pop_pages() < PCPU_EMPTY_POP_PAGES_LOW {
            self.percpu.balance_pending = true;
        }
        let zeros = vec![0u8; size as usize];
        for cpu in 0..self.percpu.nr_units as usize {
            let a = self.percpu.chunk_addr(id, cpu) + off;
            let _ = self.write_bytes(a, &zeros);
        }
        self.pcpu_addr_to_ptr(self.percpu.chunk(id).base_addr + off)
    }

    fn pcpu_alloc_fail(&mut self, size: u64, align: u64, is_atomic: bool, do_warn: bool, err: &str) -> u64 {
        if do_warn && self.percpu.warn_limit > 0 {
            self.printk(
                LogLevel::Warning,
                &format!(
                    "percpu: allocation failed, size={size} align={align} atomic={}, {err}\n",
                    u8::from(is_atomic)
                ),
            );
            if !is_atomic {
                self.dump_stack();
            }
            self.percpu.warn_limit -= 1;
            if self.percpu.warn_limit == 0 {
                self.printk(LogLevel::Info, "percpu: limit reached, disable warning\n");
            }
        }
        if is_atomic {
            self.percpu.atomic_alloc_failed = true;
            self.percpu.balance_pending = true;
        }
        0
    }

    /// `pcpu_reintegrate_chunk()`.
    fn pcpu_reintegrate_chunk(&mut self, id: usize) {
        if self.percpu.chunk(id).isolated {
            self.percpu.chunk_mut(id).isolated = false;
            self.percpu.chunk_relocate(id, None);
        }
    }

    /// `__addr_to_pcpu_ptr()`.
    fn pcpu_addr_to_ptr(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.percpu.base_addr).wrapping_add(self.percpu.per_cpu_start)
    }

    /// `__pcpu_ptr_to_addr()`.
    fn pcpu_ptr_to_addr(&self, ptr: u64) -> u64 {
        ptr.wrapping_add(self.percpu.base_addr).wrapping_sub(self.percpu.per_cpu_start)
    }

    /// `per_cpu_ptr(ptr, cpu)`: the kernel address of CPU `cpu`'s copy (`ptr + __per_cpu_offset[cpu]`).
    ///
    /// Context: any.
    pub fn per_cpu_ptr(&self, ptr: u64, cpu: u32) -> u64 {
        ptr.wrapping_add(self.per_cpu_offset(cpu))
    }

    /// `__per_cpu_offset[cpu]`: `pcpu_base_addr - __per_cpu_start + pcpu_unit_offsets[cpu]`.
    ///
    /// Context: any.
    pub fn per_cpu_offset(&self, cpu: u32) -> u64 {
        let off = self.percpu.unit_offsets.get(cpu as usize).copied().unwrap_or(0);
        self.percpu.base_addr.wrapping_sub(self.percpu.per_cpu_start).wrapping_add(off)
    }

    /// The `__percpu` pointer whose CPU-0 copy is at kernel address `addr` (the inverse of
    /// [`Machine::per_cpu_ptr`] for CPU 0).
    ///
    /// Context: any.
    pub fn pcpu_ptr_of_cpu0_addr(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.per_cpu_offset(0))
    }

    /// `pcpu_unit_size`: bytes of each CPU's unit of every chunk.
    ///
    /// Context: any.
    pub fn pcpu_unit_size(&self) -> u64 {
        self.percpu.unit_size
    }

    /// `pcpu_nr_pages()`: populated per-CPU pages (all units), `/proc/meminfo`'s `Percpu:`.
    ///
    /// Context: any.
    pub fn pcpu_nr_pages(&self) -> u64 {
        self.percpu.nr_populated * self.percpu.nr_units
    }

    /// `free_percpu(ptr)`: frees an allocation of [`Machine::pcpu_alloc`]; NULL is ignored. A fully free chunk
    /// wakes the balance work when another free chunk exists; a chunk with many empty populated pages is
    /// isolated for depopulation (`pcpu_should_reclaim_chunk()`).
    ///
    /// Context: any (takes a spinlock; never sleeps).
    pub fn free_percpu(&mut self, ptr: u64) {
        if ptr == 0 || !self.percpu_ready() {
            return;
        }
        let addr = self.pcpu_ptr_to_addr(ptr);
        let Some(id) = self.percpu.chunk_of_addr(addr) else {
            // pcpu_chunk_addr_search() of an address no chunk serves: pcpu_get_page_chunk() reads the chunk
            // pointer from `page->index` of vmalloc_to_page(addr) — NULL for a page nobody set it on (a CPU
            // slab's freelist word, a plain page), or no page at all, whose `index` is then read at 0x20 — and
            // `off = addr - chunk->base_addr` reads offset 0x20 of that NULL chunk. Both fault at 0x20, as the
            // real kernel did for free_percpu() of a kmalloc pointer. A page whose word there is set (a partial
            // slab's freelist) would be followed as a chunk; that is not modelled.
            self.free_percpu_unknown();
            return;
        };
        let off = addr - self.percpu.chunk(id).base_addr;
        self.with_frame("free_percpu", |m| {
            m.pcpu_free_area(id, off);
        });
        let c = self.percpu.chunk(id);
        let mut need_balance = false;
        if !c.isolated && c.free_bytes == self.percpu.unit_size {
            let free_slot = self.percpu.free_slot();
            need_balance = self.percpu.slots[free_slot].iter().any(|&o| o != id);
        } else if self.pcpu_should_reclaim_chunk(id) {
            self.pcpu_isolate_chunk(id);
            need_balance = true;
        }
        if need_balance {
            self.percpu.balance_pending = true;
        }
    }

    /// `free_percpu(ptr)` of a pointer no chunk serves (see [`Machine::free_percpu`]): the oops at 0x20.
    ///
    /// Context: any.
    pub fn free_percpu_unknown(&mut self) {
        self.with_frame("free_percpu", |m| m.die_on_access(0x20));
    }

    /// `pcpu_should_reclaim_chunk()`.
    fn pcpu_should_reclaim_chunk(&self, id: usize) -> bool {
        if id == self.percpu.first_chunk || Some(id) == self.percpu.reserved_chunk {
            return false;
        }
        let c = self.percpu.chunk(id);
        let empty = c.nr_empty_pop_pages();
        (c.isolated && empty > 0)
            || (self.percpu.nr_empty_pop_pages() > PCPU_EMPTY_POP_PAGES_HIGH + empty && empty >= c.nr_pages / 4)
    }

    /// `pcpu_isolate_chunk()`.
    fn pcpu_isolate_chunk(&mut self, id: usize) {
        if !self.percpu.chunk(id).isolated {
            self.percpu.chunk_mut(id).isolated = true;
            let slot = self.percpu.to_depopulate_slot();
            self.percpu.chunk_move(id, slot, true);
        }
    }

    /// `pcpu_balance_workfn()` if it is queued: `pcpu_balance_free(false)`, `pcpu_reclaim_populated()`,
    /// `pcpu_balance_populated()`, `pcpu_balance_free(true)`, with `GFP_NOIO` allocations.
    ///
    /// Context: process context (a kworker), may sleep.
    pub fn pcpu_balance_work(&mut self) {
        if !std::mem::take(&mut self.percpu.balance_pending) {
            return;
        }
        let saved = std::mem::take(&mut self.stack.frames);
        self.push_kframe("worker_thread");
        self.push_kframe("process_one_work");
        self.push_kframe("pcpu_balance_workfn");
        self.pcpu_balance_free(false);
        self.pcpu_reclaim_populated();
        self.pcpu_balance_populated();
        self.pcpu_balance_free(true);
        self.stack.frames = saved;
    }

    /// `pcpu_balance_free()`: destroys the fully free chunks but the first of the free slot (with
    /// `empty_only`, only those without populated pages).
    fn pcpu_balance_free(&mut self, empty_only: bool) {
        let free_slot = self.percpu.free_slot();
        let list: Vec<usize> = self.percpu.slots[free_slot].iter().copied().collect();
        let to_free: Vec<usize> = list
            .iter()
            .skip(1)
            .copied()
            .filter(|&id| !empty_only || self.percpu.chunk(id).nr_empty_pop_pages() == 0)
            .collect();
        for id in to_free {
            let n = self.percpu.chunk(id).nr_pages;
            let mut p = 0;
            while p < n {
                if !self.percpu.chunk(id).populated[p as usize] {
                    p += 1;
                    continue;
                }
                let mut e = p;
                while e < n && self.percpu.chunk(id).populated[e as usize] {
                    e += 1;
                }
                self.pcpu_depopulate_chunk(id, p, e);
                self.pcpu_chunk_set_populated(id, p, e, false);
                p = e;
            }
            self.pcpu_destroy_chunk(id);
        }
    }

    /// `pcpu_reclaim_populated()`: depopulates the empty pages of isolated chunks, from the end, while more
    /// than `PCPU_EMPTY_POP_PAGES_HIGH` empty populated pages remain elsewhere.
    fn pcpu_reclaim_populated(&mut self) {
        let slot = self.percpu.to_depopulate_slot();
        while let Some(&id) = self.percpu.slots[slot].front() {
            let mut reintegrate = false;
            let n = self.percpu.chunk(id).nr_pages as i64;
            let mut end: i64 = -1;
            let mut i = n - 1;
            while i >= 0 {
                if self.percpu.chunk(id).nr_empty_pop_pages() == 0 {
                    break;
                }
                if self.percpu.nr_empty_pop_pages() < PCPU_EMPTY_POP_PAGES_HIGH {
                    reintegrate = true;
                    break;
                }
                let c = self.percpu.chunk(id);
                if c.page_empty(i as u64) && c.populated[i as usize] {
                    if end == -1 {
                        end = i;
                    }
                    if i > 0 {
                        i -= 1;
                        continue;
                    }
                    i -= 1;
                }
                if end != -1 {
                    self.pcpu_depopulate_chunk(id, (i + 1) as u64, (end + 1) as u64);
                    self.pcpu_chunk_set_populated(id, (i + 1) as u64, (end + 1) as u64, false);
                    end = -1;
                }
                i -= 1;
            }
            if reintegrate || self.percpu.chunk(id).free_bytes == self.percpu.unit_size {
                self.pcpu_reintegrate_chunk(id);
            } else {
                let side = self.percpu.sidelined_slot();
                self.percpu.chunk_move(id, side, false);
            }
        }
    }

    /// `pcpu_balance_populated()`: populates pages until `PCPU_EMPTY_POP_PAGES_HIGH` empty populated pages
    /// exist (all of them after a failed atomic allocation), creating a chunk when none has unpopulated pages.
    fn pcpu_balance_populated(&mut self) {
        let gfp = Gfp::GFP_NOIO | Gfp::__GFP_NORETRY | Gfp::__GFP_NOWARN;
        loop {
            let mut nr_to_pop = if std::mem::take(&mut self.percpu.atomic_alloc_failed) {
                PCPU_EMPTY_POP_PAGES_HIGH
            } else {
                PCPU_EMPTY_POP_PAGES_HIGH.saturating_sub(self.percpu.nr_empty_pop_pages())
            };
            let first = self.percpu.size_to_slot(PAGE_SIZE);
            for slot in first..=self.percpu.free_slot() {
                if nr_to_pop == 0 {
                    break;
                }
                let Some(id) = self.percpu.slots[slot]
                    .iter()
                    .copied()
                    .find(|&id| self.percpu.chunk(id).nr_pages > self.percpu.chunk(id).nr_populated)
                else {
                    continue;
                };
                let n = self.percpu.chunk(id).nr_pages;
                let mut p = 0;
                while p < n && nr_to_pop > 0 {
                    if self.percpu.chunk(id).populated[p as usize] {
                        p += 1;
                        continue;
                    }
                    let mut e = p;
                    while e < n && !self.percpu.chunk(id).populated[e as usize] {
                        e += 1;
                    }
                    let nr = (e - p).min(nr_to_pop);
                    if self.pcpu_populate_chunk(id, p, p + nr, gfp) {
                        nr_to_pop -= nr;
                        self.pcpu_chunk_set_populated(id, p, p + nr, true);
                    } else {
                        nr_to_pop = 0;
                    }
                    p += nr;
                }
            }
            if nr_to_pop == 0 {
                return;
            }
            // ran out of chunks to populate: create one and retry
            match self.pcpu_create_chunk(gfp) {
                Some(id) => self.percpu.chunk_relocate(id, None),
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_book_machines_units() {
        // x86_64, 4 CPUs: "pcpu-alloc: s135072 r8192 d28768 u524288 alloc=1*2097152"
        assert_eq!(pcpu_build_alloc_info(135072, 8192, 28768, 2 << 20, 4), (524288, 4));
        // i386, 1 CPU: "s71212 r0 d31188 u102400 alloc=25*4096"
        assert_eq!(pcpu_build_alloc_info(71212, 0, 31188, 4096, 1).0, 102400);
        // More CPUs share the 2 MiB atom in smaller units.
        assert_eq!(pcpu_build_alloc_info(135072, 8192, 28768, 2 << 20, 8), (262144, 8));
    }

    #[test]
    fn slots() {
        assert_eq!(size_to_slot_raw(4), 1);
        assert_eq!(size_to_slot_raw(32768), 13);
    }
}
