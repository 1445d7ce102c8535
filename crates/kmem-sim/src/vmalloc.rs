//! vmalloc: mm/vmalloc.c and include/linux/vmalloc.h of Linux 6.12.117 — virtually contiguous kernel memory
//! built from order-0 page frames mapped through "kernel page tables".
//!
//! # Model
//! - **Address space.** As `vmalloc_init()`/`vmap_init_free_space()` do, the free space starts as ONE free
//!   `vmap_area` covering the whole kernel virtual address space `[1, ULONG_MAX)`; every request carries its own
//!   `[vstart, vend)` window (`VMALLOC_START`..`VMALLOC_END` for vmalloc) and the search honours it.
//! - **Free space** is an address-ordered red-black tree augmented with `subtree_max_size` (the largest free
//!   area below a node, [`crate::rbtree`]) plus the address-sorted `free_vmap_area_list`. Allocation takes the
//!   lowest address that fits (`find_vmap_lowest_match`) and clips the free area in one of the four ways of
//!   `va_clip()` (FL, LE, RE, NE fit); a release merges with the free neighbours (`merge_or_add_vmap_area`).
//!   Both are O(log n).
//! - **Busy and lazy areas** live per `vmap_node` as 6.12 does: `nr_vmap_nodes = clamp(num_possible_cpus, 1,
//!   128)` on 64-bit (one node on 32-bit), an address belongs to node `(addr / (16 pages)) % nr_vmap_nodes`,
//!   and `/proc/vmallocinfo` walks node by node — so with several CPUs its lines are NOT globally address
//!   sorted, exactly like the real file. The per-node pools of purged areas (`vmap_pool`, areas up to 256
//!   pages kept for reuse by size, decayed by a quarter at each purge) are modelled too.
//! - **Lazy purge.** `vfree()` unmaps at once (`vunmap_range_noflush`: the PTEs and the host window pages are
//!   gone, so a use-after-vfree faults) but the *address range* waits on the node's lazy tree until
//!   `vmap_lazy_nr > lazy_max_pages()` (then the drain work runs — synchronously here, where the kernel
//!   schedules a worker) or an allocation fails (`reclaim_and_purge_vmap_areas()` then one retry). The real
//!   kernel also clears the PTEs at free time and only delays the TLB flush.
//! - **Pages.** `vm_area_alloc_pages()` takes pages one by one from the buddy allocator (the bulk allocator's
//!   order-0 semantics: pages in allocation order, so the physical discontiguity shows), with
//!   `__GFP_HIGHMEM` added unless a DMA zone was asked for (on 32-bit vmalloc pages are highmem pages). Only
//!   `VM_ALLOW_HUGE_VMAP` requests (kvmalloc, vmalloc_huge) of at least `PMD_SIZE` on x86_64 first try order-9
//!   pages, split into order-0 pages, and fall back to order 0. The page array comes from kmalloc, or from a
//!   nested vmalloc when it is larger than a page (then vmallocinfo says `vpages`).
//! - **Page tables.** A map from virtual page to pfn stands for the kernel's PTEs (`vmalloc_to_page`), and every
//!   mapped page of the vmalloc window is also mapped into the host window ([`crate::hostmem`]), so a vmalloc
//!   address and the direct-map alias of its page share their bytes. Only the first `Layout::vmalloc_window`
//!   bytes of the range have host backing (1 TiB on x86_64, all of it on i386).
//! - **Metadata** is real slab memory (part 2): each `struct vm_struct` is a `kzalloc` (72 bytes on x86_64:
//!   kmalloc-96), each `struct vmap_area` an object of the `vmap_area` cache created at boot, a page array of
//!   up to a page a kmalloc; the `vmap_node` array is a boot-time kmalloc.
//! - **Callers** (`%pS` in vmallocinfo) are the innermost simulated frame when the entry point is called —
//!   the `kernel` façade pushes the module's Rust function, as the Rust helpers tail-call. `vrealloc` records
//!   its own caller (the kernel inlines `__vmalloc_noprof()` into `vrealloc_noprof()`).
//! - **BUG()s** (vmalloc/vunmap in interrupt context) go through part 2's `die()`: the oops report and
//!   [`Machine::kernel_stop`]; the call returns NULL instead of killing the task.
//!
//! - **`vm_map_ram()`** and its per-CPU vmap blocks: [`vmap_block`].
//!
//! Not modelled: KASAN, kmemleak, memcg accounting, the direct map's permission
//! changes of `VM_FLUSH_RESET_PERMS` (its `vfree()` purges the lazily freed areas, as `vm_reset_perms()` does),
//! the vmap purge notifier chain, the node shrinker.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;

use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::{PageOwner, Pfn};
use crate::panic::Frame;
use crate::printk::LogLevel;
use crate::rbtree::{self, NodeId, RbArena, RbNode, RbRoot, NIL};

pub mod vmap_block;
pub use vmap_block::VMAP_BLOCK;

const PAGE_SIZE: u64 = 4096;

/// `ioremap()` and friends.
pub const VM_IOREMAP: u64 = 0x0000_0001;
/// `vmalloc()`.
pub const VM_ALLOC: u64 = 0x0000_0002;
/// `vmap()`ed pages.
pub const VM_MAP: u64 = 0x0000_0004;
/// Suitable for `remap_vmalloc_range`.
pub const VM_USERMAP: u64 = 0x0000_0008;
/// `dma_alloc_coherent`.
pub const VM_DMA_COHERENT: u64 = 0x0000_0010;
/// The `vm_struct` is not fully initialised (hidden from `/proc/vmallocinfo`).
pub const VM_UNINITIALIZED: u64 = 0x0000_0020;
/// ***DANGEROUS*** don't add a guard page.
pub const VM_NO_GUARD: u64 = 0x0000_0040;
/// Has allocated KASAN shadow memory.
pub const VM_KASAN: u64 = 0x0000_0080;
/// Reset direct map and flush TLB on unmap.
pub const VM_FLUSH_RESET_PERMS: u64 = 0x0000_0100;
/// Put pages and free the array in vfree.
pub const VM_MAP_PUT_PAGES: u64 = 0x0000_0200;
/// Allow huge pages (x86_64: PMD mappings of 2 MiB).
pub const VM_ALLOW_HUGE_VMAP: u64 = 0x0000_0400;
/// Sparse vm_area (not all pages present).
pub const VM_SPARSE: u64 = 0x0000_1000;

/// `vmap_area->flags`: a `vm_map_ram` area.
pub const VMAP_RAM: u64 = 0x1;

/// `MAX_VA_SIZE_PAGES`: pools keep areas up to this many pages.
pub const MAX_VA_SIZE_PAGES: usize = 256;
/// `NUMA_NO_NODE`.
pub const NUMA_NO_NODE: i32 = -1;
/// x86_64 `PMD_SHIFT`.
const PMD_SHIFT: u32 = 21;

/// `GFP_RECLAIM_MASK` (mm/internal.h).
pub const GFP_RECLAIM_MASK: Gfp =
    Gfp(0x400 | 0x800 | 0x20 | 0x40 | 0x80 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x80000);

// Line numbers in Debian's 6.12.117 mm/vmalloc.c.
const VMALLOC_C: &str = "mm/vmalloc.c";
const LINE_OVERLAP_WARN: u32 = 1196;
const LINE_VA_ALLOC_WARN: u32 = 1804;
/// `WARN_ON(true)` of `pcpu_get_vm_areas()` when the areas cannot fit the space at all.
const LINE_PCPU_GET_VM_AREAS_WARN: u32 = 4746;
const LINE_POOL_DEL_WARN: u32 = 1950;
const LINE_LAZY_LIST_WARN: u32 = 2419;
const LINE_ALLOC_VMAP_MIGHT_SLEEP: u32 = 2030;
const LINE_GET_VM_AREA_BUG: u32 = 3177;
const LINE_REMOVE_VM_AREA_MIGHT_SLEEP: u32 = 3289;
const LINE_BAD_ADDRESS: u32 = 3292;
const LINE_VFREE_MIGHT_SLEEP: u32 = 3419;
const LINE_VFREE_NONEXISTENT: u32 = 3427;
const LINE_VUNMAP_BUG: u32 = 3466;
const LINE_VUNMAP_MIGHT_SLEEP: u32 = 3467;
const LINE_VUNMAP_NONEXISTENT: u32 = 3474;
const LINE_VMAP_MIGHT_SLEEP: u32 = 3503;
const LINE_VMAP_FLUSH_WARN: u32 = 3505;
const LINE_VMAP_NO_GUARD_WARN: u32 = 3512;
const LINE_ZERO_SIZE: u32 = 3838;
const LINE_VREALLOC_NONEXISTENT: u32 = 4148;
const LINE_VREALLOC_MISMATCH: u32 = 4155;

/// A page protection (`pgprot_t`); only compared with [`PgProt::PAGE_KERNEL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PgProt(pub u64);

impl PgProt {
    /// `PAGE_KERNEL` on x86_64 (present, RW, accessed, dirty, global, NX).
    pub const PAGE_KERNEL: PgProt = PgProt(0x8000_0000_0000_0163);
    /// `PAGE_KERNEL_EXEC`.
    pub const PAGE_KERNEL_EXEC: PgProt = PgProt(0x163);
}

/// Why a vmalloc-family call failed (the kernel only returns NULL; the simulator also records why, see
/// [`Machine::vmalloc_last_error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmallocError {
    /// `size == 0` (`WARN_ON_ONCE(!size)`).
    ZeroSize,
    /// More pages than the machine's RAM (`vmalloc error: size %lu, exceeds total pages`).
    ExceedsTotalPages,
    /// Bad arguments to `alloc_vmap_area` (`-EINVAL`).
    Inval,
    /// No `vmap_area`/`vm_struct` object (`-ENOMEM`).
    NoMem,
    /// No free range in `[vstart, vend)` even after purging (`-EBUSY`).
    AddressRange { size: u64, vstart: u64, vend: u64 },
    /// The page array could not be allocated.
    PageArray,
    /// Not all pages could be allocated.
    Pages { allocated: u64, wanted: u64 },
    /// `kernel BUG at mm/vmalloc.c:NNNN!` (e.g. vmalloc in interrupt context).
    Bug { file: &'static str, line: u32 },
    /// Too many pages for `vmap()`.
    TooManyPages,
    /// A page-table page for the mapping could not be allocated (`vmap_pages_range()` returned `-ENOMEM`).
    MapPages,
    /// A WARN refused the request.
    Refused,
    /// Nothing mapped at the address (`find_vm_area` failed).
    NoArea(u64),
}

impl fmt::Display for VmallocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmallocError::ZeroSize => write!(f, "zero size"),
            VmallocError::ExceedsTotalPages => write!(f, "size exceeds total pages"),
            VmallocError::Inval => write!(f, "invalid size or alignment (-EINVAL)"),
            VmallocError::NoMem => write!(f, "no memory for the area descriptors (-ENOMEM)"),
            VmallocError::AddressRange { size, vstart, vend } => {
                write!(f, "no {size}-byte range free in {vstart:#x} - {vend:#x} (-EBUSY)")
            }
            VmallocError::PageArray => write!(f, "page array allocation failed"),
            VmallocError::Pages { allocated, wanted } => {
                write!(f, "only {allocated} of {wanted} pages could be allocated")
            }
            VmallocError::Bug { file, line } => write!(f, "kernel BUG at {file}:{line}!"),
            VmallocError::TooManyPages => write!(f, "more pages than RAM"),
            VmallocError::MapPages => write!(f, "no page for a page table of the mapping"),
            VmallocError::Refused => write!(f, "refused with a warning"),
            VmallocError::NoArea(a) => write!(f, "no vm area at {a:#x}"),
        }
    }
}
impl std::error::Error for VmallocError {}

/// `struct vm_struct` (include/linux/vmalloc.h, with 6.12.117's `requested_size`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmStruct {
    /// `next`: only used for the early `vmlist`; always 0 here.
    pub next: u64,
    /// Start address.
    pub addr: u64,
    /// Size including the guard page.
    pub size: u64,
    /// `VM_*` flags.
    pub flags: u64,
    /// Kernel address of the page array (`struct page **pages`), 0 if none.
    pub pages: u64,
    /// The pages the array points to (the simulator's copy of `pages[0..nr_pages]`).
    pub page_list: Vec<Pfn>,
    /// `page_order` (x86_64 has `CONFIG_HAVE_ARCH_HUGE_VMALLOC`; always 0 on i386).
    pub page_order: u32,
    /// `nr_pages`.
    pub nr_pages: u32,
    /// `phys_addr` (ioremap only).
    pub phys_addr: u64,
    /// `caller`: the return address, as a symbol (`%pS`).
    pub caller: Option<Frame>,
    /// `requested_size` (the size asked for, before page rounding; vrealloc uses it).
    pub requested_size: u64,
    /// Kernel address of this `vm_struct` (its kmalloc object; simulator bookkeeping).
    pub obj: u64,
}

impl VmStruct {
    /// `get_vm_area_size()`: the size without the guard page.
    ///
    /// Context: any.
    pub fn get_vm_area_size(&self) -> u64 {
        if self.flags & VM_NO_GUARD == 0 {
            self.size - PAGE_SIZE
        } else {
            self.size
        }
    }
}

/// `struct vmap_area`.
#[derive(Clone, Debug)]
pub struct VmapArea {
    /// Start address.
    pub va_start: u64,
    /// End address (exclusive).
    pub va_end: u64,
    rb: RbNode,
    list_prev: NodeId,
    list_next: NodeId,
    on_list: bool,
    /// Largest free size in this node's subtree (free tree only).
    pub subtree_max_size: u64,
    /// The area descriptor (busy tree only).
    pub vm: Option<Box<VmStruct>>,
    /// `VMAP_RAM`, and the encoded vmap node id in bits 8..15.
    pub flags: u64,
    /// Kernel address of this object (its slab object), 0 if not accounted.
    pub obj: u64,
    live: bool,
}

impl VmapArea {
    fn size(&self) -> u64 {
        self.va_end - self.va_start
    }
}

/// An address-sorted list (`struct list_head`) threaded through the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VaList {
    head: NodeId,
    tail: NodeId,
    len: usize,
}

impl Default for VaList {
    fn default() -> Self {
        VaList { head: NIL, tail: NIL, len: 0 }
    }
}

/// `struct rb_list`: a tree and its sorted list.
#[derive(Clone, Copy, Debug, Default)]
struct RbList {
    root: RbRoot,
    list: VaList,
}

/// `struct vmap_pool`.
#[derive(Clone, Copy, Debug, Default)]
struct VmapPool {
    list: VaList,
    len: u64,
}

/// `struct vmap_node`.
#[derive(Clone, Debug)]
struct VmapNode {
    pool: Vec<VmapPool>,
    skip_populate: bool,
    busy: RbList,
    lazy: RbList,
    purge_list: VaList,
    nr_purged: u64,
}

impl VmapNode {
    fn new() -> Self {
        VmapNode {
            pool: vec![VmapPool::default(); MAX_VA_SIZE_PAGES],
            skip_populate: false,
            busy: RbList::default(),
            lazy: RbList::default(),
            purge_list: VaList::default(),
            nr_purged: 0,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct VaArena {
    v: Vec<VmapArea>,
    free_slots: Vec<NodeId>,
}

impl RbArena for VaArena {
    fn rb(&self, n: NodeId) -> &RbNode {
        &self.v[n as usize].rb
    }
    fn rb_mut(&mut self, n: NodeId) -> &mut RbNode {
        &mut self.v[n as usize].rb
    }
    fn aug_get(&self, n: NodeId) -> u64 {
        self.v[n as usize].subtree_max_size
    }
    fn aug_set(&mut self, n: NodeId, v: u64) {
        self.v[n as usize].subtree_max_size = v;
    }
    fn aug_own(&self, n: NodeId) -> u64 {
        self.v[n as usize].size()
    }
}

impl VaArena {
    fn alloc(&mut self, obj: u64) -> NodeId {
        let va = VmapArea {
            va_start: 0,
            va_end: 0,
            rb: RbNode::EMPTY,
            list_prev: NIL,
            list_next: NIL,
            on_list: false,
            subtree_max_size: 0,
            vm: None,
            flags: 0,
            obj,
            live: true,
        };
        if let Some(id) = self.free_slots.pop() {
            self.v[id as usize] = va;
            id
        } else {
            self.v.push(va);
            (self.v.len() - 1) as NodeId
        }
    }
    fn release(&mut self, id: NodeId) {
        let va = &mut self.v[id as usize];
        va.live = false;
        va.vm = None;
        self.free_slots.push(id);
    }
    fn va(&self, id: NodeId) -> &VmapArea {
        &self.v[id as usize]
    }
    fn va_mut(&mut self, id: NodeId) -> &mut VmapArea {
        &mut self.v[id as usize]
    }

    // ---- lists
    fn list_insert_after(&mut self, l: &mut VaList, pos: NodeId, n: NodeId) {
        let next = if pos == NIL { l.head } else { self.v[pos as usize].list_next };
        {
            let x = &mut self.v[n as usize];
            x.list_prev = pos;
            x.list_next = next;
            x.on_list = true;
        }
        if pos == NIL {
            l.head = n;
        } else {
            self.v[pos as usize].list_next = n;
        }
        if next == NIL {
            l.tail = n;
        } else {
            self.v[next as usize].list_prev = n;
        }
        l.len += 1;
    }
    fn list_insert_before(&mut self, l: &mut VaList, pos: NodeId, n: NodeId) {
        let prev = if pos == NIL { l.tail } else { self.v[pos as usize].list_prev };
        self.list_insert_after(l, prev, n);
    }
    /// `list_add()`: at the head.
    fn list_add(&mut self, l: &mut VaList, n: NodeId) {
        self.list_insert_after(l, NIL, n);
    }
    /// `list_add_tail()`.
    fn list_add_tail(&mut self, l: &mut VaList, n: NodeId) {
        let t = l.tail;
        self.list_insert_after(l, t, n);
    }
    fn list_del(&mut self, l: &mut VaList, n: NodeId) {
        let (p, nx) = {
            let x = &self.v[n as usize];
            (x.list_prev, x.list_next)
        };
        if p == NIL {
            l.head = nx;
        } else {
            self.v[p as usize].list_next = nx;
        }
        if nx == NIL {
            l.tail = p;
        } else {
            self.v[nx as usize].list_prev = p;
        }
        let x = &mut self.v[n as usize];
        x.list_prev = NIL;
        x.list_next = NIL;
        x.on_list = false;
        l.len -= 1;
    }
    fn list_ids(&self, l: &VaList) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(l.len);
        let mut n = l.head;
        while n != NIL {
            out.push(n);
            n = self.v[n as usize].list_next;
        }
        out
    }
}

/// Where `find_va_links` says a new node goes.
#[derive(Clone, Copy)]
struct Link {
    parent: NodeId,
    left: bool,
}

/// The vmalloc subsystem's state (a field of [`Machine`]).
#[derive(Clone, Debug)]
pub struct VmallocState {
    initialized: bool,
    arena: VaArena,
    /// `free_vmap_area_root` + `free_vmap_area_list`.
    free: RbList,
    nodes: Vec<VmapNode>,
    /// `vmap_zone_size`.
    zone_size: u64,
    /// `vmap_lazy_nr` (pages).
    vmap_lazy_nr: u64,
    /// `nr_vmalloc_pages`.
    nr_vmalloc_pages: u64,
    /// Per-CPU `ne_fit_preload_node`.
    ne_fit_preload: Vec<NodeId>,
    /// Per-CPU `vfree_deferred` llist (head first).
    vfree_deferred: Vec<Vec<u64>>,
    /// Kernel page tables of the vmap space: virtual page number -> pfn.
    pte: HashMap<u64, Pfn>,
    /// `printk_ratelimit()` state for the range failure message: (begin jiffies, printed, missed).
    ratelimit: (u64, u32, u32),
    /// Why the last vmalloc-family call failed.
    last_error: Option<VmallocError>,
    /// Number of purges run (introspection).
    pub nr_purges: u64,
    /// Oopses raised by vmalloc (`kernel BUG at ...`), oldest first.
    pub bugs: Vec<VmallocError>,
    /// `vmap_area_cachep`.
    vmap_area_cachep: Option<crate::slab_common::CacheId>,
    /// The kmalloc'ed `vmap_nodes` array (0 with one node: the static `single`).
    vmap_nodes_obj: u64,
    /// `vm_map_ram()`'s per-CPU vmap blocks.
    vb: vmap_block::VmapBlocks,
}

impl VmallocState {
    /// A fresh, uninitialised state for a machine with `cpus` CPUs (`vmalloc_init()` runs on first use).
    ///
    /// Context: boot.
    pub fn new(arch: Arch, cpus: u32) -> Self {
        // vmap_init_nodes(): 64-bit only, clamp(num_possible_cpus(), 1, 128); 16-page zones.
        let n = match arch {
            Arch::X86_64 => cpus.clamp(1, 128) as usize,
            Arch::I386 => 1,
        };
        VmallocState {
            initialized: false,
            arena: VaArena::default(),
            free: RbList::default(),
            nodes: (0..n).map(|_| VmapNode::new()).collect(),
            zone_size: if n > 1 { 16 * PAGE_SIZE } else { 1 },
            vmap_lazy_nr: 0,
            nr_vmalloc_pages: 0,
            ne_fit_preload: vec![NIL; cpus.max(1) as usize],
            vfree_deferred: vec![Vec::new(); cpus.max(1) as usize],
            pte: HashMap::new(),
            ratelimit: (0, 0, 0),
            last_error: None,
            nr_purges: 0,
            bugs: Vec::new(),
            vmap_area_cachep: None,
            vmap_nodes_obj: 0,
            vb: vmap_block::VmapBlocks::default(),
        }
    }

    fn nr_nodes(&self) -> usize {
        self.nodes.len()
    }
    fn addr_to_node_id(&self, addr: u64) -> usize {
        ((addr / self.zone_size) % self.nr_nodes() as u64) as usize
    }
    fn encode_vn_id(&self, id: usize) -> u64 {
        if id < self.nr_nodes() {
            ((id as u64) + 1) << 8
        } else {
            0
        }
    }
    fn decode_vn_id(&self, val: u64) -> usize {
        let id = ((val >> 8) as u32).wrapping_sub(1) as usize;
        if id < self.nr_nodes() {
            id
        } else {
            self.nr_nodes()
        }
    }
    fn is_vn_id_valid(&self, id: usize) -> bool {
        id < self.nr_nodes()
    }

    // ---- tree helpers (no Machine access)

    /// `find_va_links()`: where `va` goes in `root`, starting the walk at `from` if given; `Err` with the
    /// overlapping node on overlap.
    fn find_va_links(&self, va: NodeId, root: &RbRoot, from: NodeId) -> Result<Link, NodeId> {
        let a = &self.arena;
        let (s, e) = (a.va(va).va_start, a.va(va).va_end);
        let mut cur = if from != NIL { from } else { root.node };
        if cur == NIL {
            return Ok(Link { parent: NIL, left: true });
        }
        loop {
            let t = a.va(cur);
            let left = if e <= t.va_start {
                true
            } else if s >= t.va_end {
                false
            } else {
                return Err(cur);
            };
            let next = if left { t.rb.left } else { t.rb.right };
            if next == NIL {
                return Ok(Link { parent: cur, left });
            }
            cur = next;
        }
    }

    /// `__link_va()`.
    fn link_va(&mut self, va: NodeId, rl: &mut RbList, link: Link, augment: bool) {
        // Address-sorted list: after the parent for a right link, before it for a left link.
        if link.parent == NIL {
            self.arena.list_add(&mut rl.list, va);
        } else if link.left {
            self.arena.list_insert_before(&mut rl.list, link.parent, va);
        } else {
            self.arena.list_insert_after(&mut rl.list, link.parent, va);
        }
        rbtree::link_node(&mut self.arena, &mut rl.root, va, link.parent, link.left);
        rbtree::insert_color(&mut self.arena, &mut rl.root, va, augment);
    }

    /// `__unlink_va()`.
    fn unlink_va(&mut self, va: NodeId, rl: &mut RbList, augment: bool) {
        if !self.arena.va(va).rb.linked {
            return;
        }
        rbtree::erase(&mut self.arena, &mut rl.root, va, augment);
        self.arena.list_del(&mut rl.list, va);
    }

    /// `find_vmap_lowest_match()`.
    fn find_vmap_lowest_match(
        &self,
        root: &RbRoot,
        size: u64,
        align: u64,
        mut vstart: u64,
        adjust_search_size: bool,
    ) -> NodeId {
        let a = &self.arena;
        let length = if adjust_search_size { size.wrapping_add(align - 1) } else { size };
        let mut node = root.node;
        while node != NIL {
            let va = a.va(node);
            if rbtree::aug_of(a, va.rb.left) >= length && vstart < va.va_start {
                node = va.rb.left;
            } else {
                if is_within_this_va(va, size, align, vstart) {
                    return node;
                }
                if rbtree::aug_of(a, va.rb.right) >= length {
                    node = va.rb.right;
                    continue;
                }
                // Roll back to the first right subtree that can satisfy the request.
                loop {
                    node = a.va(node).rb.parent;
                    if node == NIL {
                        break;
                    }
                    let va = a.va(node);
                    if is_within_this_va(va, size, align, vstart) {
                        return node;
                    }
                    if rbtree::aug_of(a, va.rb.right) >= length && vstart <= va.va_start {
                        vstart = va.va_start + 1;
                        node = va.rb.right;
                        break;
                    }
                }
            }
        }
        NIL
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.wrapping_add(a - 1) & !(a - 1)
}

/// `is_within_this_va()`.
fn is_within_this_va(va: &VmapArea, size: u64, align: u64, vstart: u64) -> bool {
    let nva = if va.va_start > vstart { align_up(va.va_start, align) } else { align_up(vstart, align) };
    if nva.wrapping_add(size) < nva || nva < vstart {
        return false;
    }
    nva + size <= va.va_end
}

/// `enum fit_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitType {
    /// Nothing fits.
    NothingFit,
    /// Full fit: the free area disappears.
    FlFitType,
    /// Left edge fit: the free area keeps its right part.
    LeFitType,
    /// Right edge fit: the free area keeps its left part.
    ReFitType,
    /// No edge fit: the free area is split in two.
    NeFitType,
}

fn classify_va_fit_type(va: &VmapArea, nva: u64, size: u64) -> FitType {
    if nva < va.va_start || nva + size > va.va_end {
        return FitType::NothingFit;
    }
    if va.va_start == nva {
        if va.va_end == nva + size {
            FitType::FlFitType
        } else {
            FitType::LeFitType
        }
    } else if va.va_end == nva + size {
        FitType::ReFitType
    } else {
        FitType::NeFitType
    }
}

/// One area as the introspection API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaInfo {
    /// Start.
    pub va_start: u64,
    /// End (exclusive).
    pub va_end: u64,
    /// `subtree_max_size` (free tree), 0 elsewhere.
    pub subtree_max_size: u64,
    /// vmap node (busy/lazy/pool), or `None` for the free tree.
    pub node: Option<usize>,
}

/// A snapshot of the whole vmap space for tests and the book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VmapSnapshot {
    /// Free areas in address order.
    pub free: Vec<VaInfo>,
    /// Busy areas in address order.
    pub busy: Vec<VaInfo>,
    /// Lazily freed (unpurged) areas in address order.
    pub lazy: Vec<VaInfo>,
    /// Areas cached in the node pools.
    pub pooled: Vec<VaInfo>,
    /// `vmap_lazy_nr`.
    pub vmap_lazy_nr: u64,
    /// `lazy_max_pages()`.
    pub lazy_max_pages: u64,
}

// ================================================================================================ Machine

impl Machine {
    // ---------------------------------------------------------------- small helpers

    fn ulong_max(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => u64::MAX,
            Arch::I386 => u32::MAX as u64,
        }
    }

    pub(crate) fn ptr_size(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => 8,
            Arch::I386 => 4,
        }
    }

    /// `sizeof(struct vm_struct)`: 72 on x86_64 (kmalloc-96), 36 on i386.
    fn sizeof_vm_struct(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => 72,
            Arch::I386 => 36,
        }
    }

    /// `sizeof(struct vmap_area)`: 72 on x86_64, 36 on i386.
    fn sizeof_vmap_area(&self) -> u64 {
        self.sizeof_vm_struct()
    }

    /// `VMALLOC_START`.
    pub(crate) fn vmalloc_start(&self) -> u64 {
        self.layout.vmalloc_start
    }

    /// `VMALLOC_END` as the kernel's macro has it (x86_64: the last byte, 0xffffe8ffffffffff).
    pub(crate) fn vmalloc_end(&self) -> u64 {
        self.layout.vmalloc_end
    }

    /// `%p` (and `%pK` as root with `kptr_restrict=0`): part 2's [`Machine::format_ptr`] — raw with
    /// `no_hash_pointers` (how the book's kernels boot), else the 32-bit hash; 8 digits on i386.
    pub(crate) fn fmt_p(&self, addr: u64) -> String {
        let s = self.format_ptr(addr);
        match self.layout.arch {
            Arch::X86_64 => s,
            Arch::I386 => s[s.len() - 8..].to_string(),
        }
    }

    /// `%pS` of a caller.
    /// `__builtin_return_address(0)` of the exported entry point `entry`: the real frame that calls it.
    fn vm_caller(&self, entry: &str) -> Option<Frame> {
        (!self.stack.frames.is_empty()).then(|| self.caller_frame_of(entry))
    }

    /// `lazy_max_pages()`: `fls(num_online_cpus()) * (32 MiB / PAGE_SIZE)`.
    ///
    /// Context: any.
    pub fn lazy_max_pages(&self) -> u64 {
        let cpus = self.cfg.cpus.max(1);
        let fls = 32 - cpus.leading_zeros();
        fls as u64 * (32 * 1024 * 1024 / PAGE_SIZE)
    }

    fn vm_set_error(&mut self, e: VmallocError) {
        self.vmalloc.last_error = Some(e);
    }

    /// Why the last failed vmalloc-family call failed (cleared by the next successful one).
    ///
    /// Context: any.
    pub fn vmalloc_last_error(&self) -> Option<&VmallocError> {
        self.vmalloc.last_error.as_ref()
    }

    /// `kernel BUG at <file>:<line>!` raised by vmalloc: the oops text, the taint, and a typed record in
    /// [`VmallocState::bugs`]. The simulated task would die here; the simulator returns to the caller instead.
    fn vm_bug(&mut self, line: u32) -> VmallocError {
        let e = VmallocError::Bug { file: VMALLOC_C, line };
        self.vm_kernel_bug(VMALLOC_C, line);
        self.vmalloc.bugs.push(e.clone());
        self.vm_set_error(e.clone());
        e
    }

    /// The report of a `BUG()`: part 2's `die()` (oops text, taint D, [`Machine::kernel_stop`]), then
    /// `oops_end()`'s `Kernel panic - not syncing: Fatal exception in interrupt` in interrupt context.
    fn vm_kernel_bug(&mut self, file: &'static str, line: u32) {
        self.die(crate::slab_common::OopsKind::Bug { file: file.into(), line });
        if self.in_interrupt() {
            self.kernel_panic("Fatal exception in interrupt");
        }
    }

    /// `printk_ratelimit()`: 10 messages per 5 s.
    fn vm_printk_ratelimit(&mut self) -> bool {
        let j = self.jiffies();
        let (begin, printed, missed) = self.vmalloc.ratelimit;
        let interval = 5 * crate::printk::HZ;
        if begin == 0 && printed == 0 {
            self.vmalloc.ratelimit = (j.max(1), 1, 0);
            return true;
        }
        if j >= begin + interval {
            if missed > 0 {
                self.printk(LogLevel::Warning, &format!("alloc_vmap_area: {missed} callbacks suppressed\n"));
            }
            self.vmalloc.ratelimit = (j.max(1), 1, 0);
            return true;
        }
        if printed < 10 {
            self.vmalloc.ratelimit.1 += 1;
            true
        } else {
            self.vmalloc.ratelimit.2 += 1;
            false
        }
    }

    // ---------------------------------------------------------------- metadata through kmalloc

    /// Allocates `size` bytes of vmalloc metadata (`kzalloc` of a `vm_struct`, a `vmap_area` object, a small
    /// page array) and returns its kernel address, 0 on failure. The one place that calls the slab allocator.
    ///
    /// Context: as kmalloc with `gfp`.
    pub(crate) fn vm_meta_alloc(&mut self, size: u64, gfp: Gfp) -> u64 {
        self.do_kmalloc(size, gfp, "__kmalloc_node_noprof")
    }

    /// `kzalloc_node(sizeof(struct vm_struct), …)`: a constant size, so the kmalloc inline goes straight to
    /// its cache (`__kmalloc_cache_node_noprof()`).
    fn vm_struct_alloc(&mut self, gfp: Gfp) -> u64 {
        self.do_kmalloc(self.sizeof_vm_struct(), gfp, "__kmalloc_cache_node_noprof")
    }

    /// Frees vmalloc metadata from [`Machine::vm_meta_alloc`].
    ///
    /// Context: any.
    pub(crate) fn vm_meta_free(&mut self, addr: u64) {
        if addr != 0 {
            self.kfree(addr);
        }
    }

    /// `kmem_cache_alloc(vmap_area_cachep, gfp)`: a new arena slot with its accounted object.
    fn va_obj_alloc(&mut self, gfp: Gfp) -> Option<NodeId> {
        let obj = match self.vmalloc.vmap_area_cachep {
            Some(c) => self.kmem_cache_alloc(c, gfp),
            None => self.vm_meta_alloc(self.sizeof_vmap_area(), gfp),
        };
        if obj == 0 {
            return None;
        }
        Some(self.vmalloc.arena.alloc(obj))
    }

    /// `kmem_cache_free(vmap_area_cachep, va)`.
    fn va_obj_free(&mut self, va: NodeId) {
        let obj = self.vmalloc.arena.va(va).obj;
        self.vmalloc.arena.release(va);
        match self.vmalloc.vmap_area_cachep {
            Some(c) => self.kmem_cache_free(c, obj),
            None => self.vm_meta_free(obj),
        }
    }

    // ---------------------------------------------------------------- init

    /// `vmalloc_init()`: the `vmap_area` cache (`KMEM_CACHE(vmap_area, SLAB_PANIC)`), the vmap node array
    /// (`kmalloc_array(nr_vmap_nodes, sizeof(struct vmap_node))` when there are several), and
    /// `vmap_init_free_space()`: one free area `[1, ULONG_MAX)`. Boot calls it right after the slab
    /// allocator is up, as `mm_core_init()` does.
    ///
    /// Context: boot.
    pub(crate) fn vmalloc_init(&mut self) {
        if self.vmalloc.initialized {
            return;
        }
        self.vmalloc.initialized = true;
        // fail_page_alloc/failslab are armed after boot in the simulator (as the book's kernels arm them through
        // debugfs), so boot-time allocations never consume their budget.
        let fpa = self.fail_page_alloc.attr.take();
        let depth = self.stack.frames.len();
        self.push_kframe("vmalloc_init");
        let align = self.ptr_size() as u32;
        let size = self.sizeof_vmap_area() as u32;
        self.vmalloc.vmap_area_cachep =
            self.kmem_cache_create("vmap_area", size, align, crate::slab_common::SLAB_PANIC, None);
        let n = self.vmalloc.nr_nodes() as u64;
        if n > 1 {
            // sizeof(struct vmap_node) on x86_64: 256 pools of 24 bytes, lock, flag, two rb_lists, the purge
            // list, a work_struct and a counter.
            let bytes = n * 6272;
            let a = self.kmalloc(bytes, Gfp::GFP_NOWAIT | Gfp::__GFP_NOWARN);
            self.vmalloc.vmap_nodes_obj = a;
            // A boot-time allocation the kernel keeps forever: account it with the other boot pages.
            if bytes > 8192 {
                if let Some(p) = self.virt_to_page(a) {
                    self.set_page_owner(p, crate::page_alloc::get_order(bytes), PageOwner::Boot);
                }
            }
        }
        if let Some(va) = self.va_obj_alloc(Gfp::GFP_NOWAIT | Gfp::__GFP_ZERO) {
            let end = self.ulong_max();
            {
                let v = self.vmalloc.arena.va_mut(va);
                v.va_start = 1;
                v.va_end = end;
            }
            let mut free = self.vmalloc.free;
            self.insert_vmap_area_augment(va, NIL, &mut free);
            self.vmalloc.free = free;
        }
        self.stack.frames.truncate(depth);
        self.fail_page_alloc.attr = fpa;
    }

    // ---------------------------------------------------------------- tree operations needing the machine

    fn warn_overlap(&mut self, va: NodeId, other: NodeId) {
        let a = &self.vmalloc.arena;
        let msg = format!(
            "vmalloc bug: {:#x}-{:#x} overlaps with {:#x}-{:#x}\n",
            a.va(va).va_start,
            a.va(va).va_end,
            a.va(other).va_start,
            a.va(other).va_end
        );
        self.warn(VMALLOC_C, LINE_OVERLAP_WARN, Some(&msg));
    }

    /// `insert_vmap_area()` (busy and lazy trees, no augmentation).
    fn insert_vmap_area(&mut self, va: NodeId, rl: &mut RbList) {
        match self.vmalloc.find_va_links(va, &rl.root, NIL) {
            Ok(link) => self.vmalloc.link_va(va, rl, link, false),
            Err(o) => self.warn_overlap(va, o),
        }
    }

    /// `insert_vmap_area_augment()`.
    fn insert_vmap_area_augment(&mut self, va: NodeId, from: NodeId, rl: &mut RbList) {
        match self.vmalloc.find_va_links(va, &rl.root, from) {
            Ok(link) => {
                self.vmalloc.link_va(va, rl, link, true);
                rbtree::propagate(&mut self.vmalloc.arena, va, true);
            }
            Err(o) => self.warn_overlap(va, o),
        }
    }

    /// `__merge_or_add_vmap_area()`: returns the area `va` ended up in, `NIL` on overlap.
    fn merge_or_add_vmap_area(&mut self, va: NodeId, rl: &mut RbList, augment: bool) -> NodeId {
        let link = match self.vmalloc.find_va_links(va, &rl.root, NIL) {
            Ok(l) => l,
            Err(o) => {
                self.warn_overlap(va, o);
                return NIL;
            }
        };
        let mut va = va;
        let mut merged = false;
        if link.parent != NIL {
            // get_va_next_sibling(): NIL means "the list head".
            let a = &self.vmalloc.arena;
            let next = if link.left { link.parent } else { a.va(link.parent).list_next };
            if next != NIL && a.va(next).va_start == a.va(va).va_end {
                let s = a.va(va).va_start;
                self.vmalloc.arena.va_mut(next).va_start = s;
                self.va_obj_free(va);
                va = next;
                merged = true;
            }
            let a = &self.vmalloc.arena;
            let prev = if next == NIL { rl.list.tail } else { a.va(next).list_prev };
            if prev != NIL && a.va(prev).va_end == a.va(va).va_start {
                if merged {
                    self.vmalloc.unlink_va(va, rl, augment);
                }
                let e = self.vmalloc.arena.va(va).va_end;
                self.vmalloc.arena.va_mut(prev).va_end = e;
                self.va_obj_free(va);
                va = prev;
                merged = true;
            }
        }
        if !merged {
            self.vmalloc.link_va(va, rl, link, augment);
        }
        if augment {
            rbtree::propagate(&mut self.vmalloc.arena, va, true);
        }
        va
    }

    /// `va_clip()`: carves `[nva, nva+size)` out of free area `va`.
    fn va_clip(&mut self, va: NodeId, nva: u64, size: u64) -> Result<(), ()> {
        let ty = classify_va_fit_type(self.vmalloc.arena.va(va), nva, size);
        let mut lva = NIL;
        match ty {
            FitType::FlFitType => {
                let mut free = self.vmalloc.free;
                self.vmalloc.unlink_va(va, &mut free, true);
                self.vmalloc.free = free;
                self.va_obj_free(va);
            }
            FitType::LeFitType => self.vmalloc.arena.va_mut(va).va_start += size,
            FitType::ReFitType => self.vmalloc.arena.va_mut(va).va_end = nva,
            FitType::NeFitType => {
                let cpu = self.sched.cpu as usize % self.vmalloc.ne_fit_preload.len();
                lva = std::mem::replace(&mut self.vmalloc.ne_fit_preload[cpu], NIL);
                if lva == NIL {
                    match self.va_obj_alloc(Gfp::GFP_NOWAIT) {
                        Some(l) => lva = l,
                        None => return Err(()),
                    }
                }
                let s = self.vmalloc.arena.va(va).va_start;
                let l = self.vmalloc.arena.va_mut(lva);
                l.va_start = s;
                l.va_end = nva;
                self.vmalloc.arena.va_mut(va).va_start = nva + size;
            }
            FitType::NothingFit => return Err(()),
        }
        if ty != FitType::FlFitType {
            rbtree::propagate(&mut self.vmalloc.arena, va, true);
            if lva != NIL {
                let mut free = self.vmalloc.free;
                self.insert_vmap_area_augment(lva, va, &mut free);
                self.vmalloc.free = free;
            }
        }
        Ok(())
    }

    /// `va_alloc()`: returns the start or `vend` on failure.
    fn va_alloc(&mut self, va: NodeId, size: u64, align: u64, vstart: u64, vend: u64) -> u64 {
        let s = self.vmalloc.arena.va(va).va_start;
        let nva = if s > vstart { align_up(s, align) } else { align_up(vstart, align) };
        if nva.wrapping_add(size) > vend || nva.wrapping_add(size) < nva {
            return vend;
        }
        if self.va_clip(va, nva, size).is_err() {
            self.warn_once(VMALLOC_C, LINE_VA_ALLOC_WARN, None);
            return vend;
        }
        nva
    }

    /// `__alloc_vmap_area()`.
    fn __alloc_vmap_area(&mut self, size: u64, align: u64, vstart: u64, vend: u64) -> u64 {
        let adjust = !(align <= PAGE_SIZE || vend.wrapping_sub(vstart) == size);
        let root = self.vmalloc.free.root;
        let va = self.vmalloc.find_vmap_lowest_match(&root, size, align, vstart, adjust);
        if va == NIL {
            return vend;
        }
        self.va_alloc(va, size, align, vstart, vend)
    }

    /// `preload_this_cpu_lock()`: makes sure this CPU holds a spare `vmap_area` for an NE-fit split.
    fn preload_this_cpu(&mut self, gfp: Gfp) {
        let cpu = self.sched.cpu as usize % self.vmalloc.ne_fit_preload.len();
        if self.vmalloc.ne_fit_preload[cpu] == NIL {
            if let Some(va) = self.va_obj_alloc(gfp) {
                self.vmalloc.ne_fit_preload[cpu] = va;
            }
        }
    }

    // ---------------------------------------------------------------- node pools

    fn node_pool_add_va(&mut self, n: usize, va: NodeId) -> bool {
        let idx = ((self.vmalloc.arena.va(va).size() - 1) / PAGE_SIZE) as usize;
        if idx >= MAX_VA_SIZE_PAGES {
            return false;
        }
        let mut l = self.vmalloc.nodes[n].pool[idx].list;
        self.vmalloc.arena.list_add(&mut l, va);
        let p = &mut self.vmalloc.nodes[n].pool[idx];
        p.list = l;
        p.len += 1;
        true
    }

    fn node_pool_del_va(&mut self, n: usize, size: u64, align: u64, vstart: u64, vend: u64) -> NodeId {
        let idx = ((size - 1) / PAGE_SIZE) as usize;
        if idx >= MAX_VA_SIZE_PAGES || self.vmalloc.nodes[n].pool[idx].list.head == NIL {
            return NIL;
        }
        let mut l = self.vmalloc.nodes[n].pool[idx].list;
        let va = l.head;
        let v = self.vmalloc.arena.va(va);
        let mut out = NIL;
        if v.va_start % align == 0 {
            let err = v.size() != size || v.va_start < vstart || v.va_end > vend;
            if err {
                self.warn_once(VMALLOC_C, LINE_POOL_DEL_WARN, None);
            } else {
                self.vmalloc.arena.list_del(&mut l, va);
                self.vmalloc.nodes[n].pool[idx].len -= 1;
                out = va;
            }
        } else {
            self.vmalloc.arena.list_del(&mut l, va);
            self.vmalloc.arena.list_add_tail(&mut l, va);
        }
        self.vmalloc.nodes[n].pool[idx].list = l;
        out
    }

    /// `node_alloc()`: (area from a pool or NIL, its start or `vend`, encoded node id).
    fn node_alloc(&mut self, size: u64, align: u64, vstart: u64, vend: u64) -> (NodeId, u64, u64) {
        if vstart != self.vmalloc_start() || vend != self.vmalloc_end() || self.vmalloc.nr_nodes() == 1 {
            return (NIL, vend, 0);
        }
        let id = self.sched.cpu as usize % self.vmalloc.nr_nodes();
        let va = self.node_pool_del_va(id, size, align, vstart, vend);
        let vn_id = self.vmalloc.encode_vn_id(id);
        let addr = if va != NIL { self.vmalloc.arena.va(va).va_start } else { vend };
        (va, addr, vn_id)
    }

    // ---------------------------------------------------------------- alloc_vmap_area

    /// `alloc_vmap_area()`: reserves `size` bytes (page multiple) at `align` inside `[vstart, vend)`, binds
    /// `vm` to it and puts it in its node's busy tree. Purges lazily freed areas and retries once on failure.
    #[allow(clippy::too_many_arguments)]
    fn alloc_vmap_area(
        &mut self,
        size: u64,
        align: u64,
        vstart: u64,
        vend: u64,
        gfp: Gfp,
        va_flags: u64,
        vm: Option<Box<VmStruct>>,
    ) -> Result<NodeId, VmallocError> {
        if size == 0 || size % PAGE_SIZE != 0 || !align.is_power_of_two() {
            return Err(VmallocError::Inval);
        }
        let gfp = gfp & GFP_RECLAIM_MASK;
        self.might_sleep(VMALLOC_C, LINE_ALLOC_VMAP_MIGHT_SLEEP);

        let (mut va, mut addr, vn_id) = self.node_alloc(size, align, vstart, vend);
        if va == NIL {
            va = self.va_obj_alloc(gfp).ok_or(VmallocError::NoMem)?;
        }
        let mut purged = false;
        loop {
            if addr == vend {
                self.preload_this_cpu(gfp);
                addr = self.__alloc_vmap_area(size, align, vstart, vend);
            }
            if addr != vend {
                break;
            }
            // overflow:
            if !purged {
                self.reclaim_and_purge_vmap_areas();
                purged = true;
                continue;
            }
            // The purge notifier chain frees nothing in the simulator.
            if !gfp.intersects(Gfp::__GFP_NOWARN) && self.vm_printk_ratelimit() {
                let m = format!(
                    "vmalloc_node_range for size {size} failed: Address range restricted to {vstart:#x} - {vend:#x}\n"
                );
                self.printk(LogLevel::Warning, &m);
            }
            self.va_obj_free(va);
            return Err(VmallocError::AddressRange { size, vstart, vend });
        }
        {
            let v = self.vmalloc.arena.va_mut(va);
            v.va_start = addr;
            v.va_end = addr + size;
            v.subtree_max_size = 0;
            v.flags = va_flags | vn_id;
            v.vm = vm;
            if let Some(vm) = v.vm.as_mut() {
                vm.addr = addr;
                vm.size = size;
            }
        }
        let n = self.vmalloc.addr_to_node_id(addr);
        let mut busy = self.vmalloc.nodes[n].busy;
        self.insert_vmap_area(va, &mut busy);
        self.vmalloc.nodes[n].busy = busy;
        Ok(va)
    }

    // ---------------------------------------------------------------- purge

    /// `decay_va_pool_node()`.
    fn decay_va_pool_node(&mut self, n: usize, full_decay: bool) {
        let mut decay = RbList::default();
        for i in 0..MAX_VA_SIZE_PAGES {
            if self.vmalloc.nodes[n].pool[i].list.head == NIL {
                continue;
            }
            let mut tmp = std::mem::take(&mut self.vmalloc.nodes[n].pool[i].list);
            if full_decay {
                self.vmalloc.nodes[n].pool[i].len = 0;
            }
            let mut n_decay = self.vmalloc.nodes[n].pool[i].len >> 2;
            while tmp.head != NIL {
                let va = tmp.head;
                self.vmalloc.arena.list_del(&mut tmp, va);
                self.merge_or_add_vmap_area(va, &mut decay, false);
                if !full_decay {
                    self.vmalloc.nodes[n].pool[i].len -= 1;
                    n_decay = n_decay.wrapping_sub(1);
                    if n_decay == 0 {
                        break;
                    }
                }
            }
            if !full_decay && tmp.head != NIL {
                self.vmalloc.nodes[n].pool[i].list = tmp;
            }
        }
        self.reclaim_list_global(&mut decay.list);
    }

    /// `reclaim_list_global()`: merges every area of `list` into the free tree.
    fn reclaim_list_global(&mut self, list: &mut VaList) {
        let ids = self.vmalloc.arena.list_ids(list);
        for va in ids {
            self.vmalloc.arena.list_del(list, va);
            // The area may still sit in a temporary tree (decay); that tree is dropped with the list.
            self.vmalloc.arena.va_mut(va).rb = RbNode::EMPTY;
            let mut free = self.vmalloc.free;
            self.merge_or_add_vmap_area(va, &mut free, true);
            self.vmalloc.free = free;
        }
    }

    /// `purge_vmap_node()`.
    fn purge_vmap_node(&mut self, n: usize) {
        let mut local = VaList::default();
        let mut nr_purged_pages = 0;
        self.vmalloc.nodes[n].nr_purged = 0;
        let mut pl = std::mem::take(&mut self.vmalloc.nodes[n].purge_list);
        while pl.head != NIL {
            let va = pl.head;
            self.vmalloc.arena.list_del(&mut pl, va);
            let v = self.vmalloc.arena.va(va);
            nr_purged_pages += v.size() >> PAGE_SHIFT;
            let vn_id = self.vmalloc.decode_vn_id(v.flags);
            self.vmalloc.nodes[n].nr_purged += 1;
            if self.vmalloc.is_vn_id_valid(vn_id)
                && !self.vmalloc.nodes[n].skip_populate
                && self.node_pool_add_va(n, va)
            {
                continue;
            }
            self.vmalloc.arena.list_add(&mut local, va);
        }
        self.vmalloc.vmap_lazy_nr -= nr_purged_pages;
        self.reclaim_list_global(&mut local);
    }

    /// `__purge_vmap_area_lazy()`: returns whether anything was purged.
    fn __purge_vmap_area_lazy(&mut self, full_pool_decay: bool) -> bool {
        let mut purge_nodes = Vec::new();
        for n in 0..self.vmalloc.nr_nodes() {
            self.vmalloc.nodes[n].purge_list = VaList::default();
            self.vmalloc.nodes[n].skip_populate = full_pool_decay;
            self.decay_va_pool_node(n, full_pool_decay);
            if self.vmalloc.nodes[n].lazy.root.is_empty() {
                continue;
            }
            // The lazy tree is simply dropped; the list becomes the purge list.
            let lazy = std::mem::take(&mut self.vmalloc.nodes[n].lazy);
            for va in self.vmalloc.arena.list_ids(&lazy.list) {
                self.vmalloc.arena.va_mut(va).rb = RbNode::EMPTY;
            }
            self.vmalloc.nodes[n].purge_list = lazy.list;
            purge_nodes.push(n);
        }
        let mut nr_purged_areas = 0;
        // flush_tlb_kernel_range(start, end): nothing to do, the host window was unmapped at free time.
        for n in purge_nodes {
            self.purge_vmap_node(n);
            nr_purged_areas += self.vmalloc.nodes[n].nr_purged;
        }
        if nr_purged_areas > 0 {
            self.vmalloc.nr_purges += 1;
        }
        nr_purged_areas > 0
    }

    /// `reclaim_and_purge_vmap_areas()`: the allocation-failure purge — the fragmented vmap blocks, then the
    /// lazily freed areas (pools fully decayed).
    fn reclaim_and_purge_vmap_areas(&mut self) {
        self.purge_fragmented_blocks_allcpus();
        self.__purge_vmap_area_lazy(true);
    }

    /// `vm_unmap_aliases()` (`_vm_unmap_aliases()`): frees the vmap blocks that are all free or dirty with
    /// less than a quarter free, forgets the other blocks' dirty ranges, and purges the lazily freed areas
    /// now (the kernel does it to flush stale aliases from the TLBs).
    ///
    /// Context: process context, may sleep.
    pub fn vm_unmap_aliases(&mut self) {
        // mutex_lock(&vmap_purge_lock)
        self.might_sleep("kernel/locking/mutex.c", 283);
        self.vb_unmap_aliases();
        self.__purge_vmap_area_lazy(false);
    }

    /// `free_vmap_area()`: takes `va` out of its node's busy tree and merges it back into the free space at once.
    fn free_vmap_area(&mut self, va: NodeId) {
        let n = self.busy_node_of(va);
        let mut busy = self.vmalloc.nodes[n].busy;
        self.vmalloc.unlink_va(va, &mut busy, false);
        self.vmalloc.nodes[n].busy = busy;
        self.vmalloc.arena.va_mut(va).rb = RbNode::EMPTY;
        let mut free = self.vmalloc.free;
        self.merge_or_add_vmap_area(va, &mut free, true);
        self.vmalloc.free = free;
    }

    /// `IOREMAP_MAX_ORDER` (arch/x86/include/asm/page_types.h): `PUD_SHIFT` on x86_64, `PMD_SHIFT` on
    /// 32-bit (22: the book's i386 build has no PAE).
    fn ioremap_max_order(&self) -> u32 {
        match self.layout.arch {
            Arch::X86_64 => 30,
            Arch::I386 => 22,
        }
    }

    /// `free_vmap_area_noflush()`: puts `va` on its node's lazy tree; runs the drain when the lazy total
    /// exceeds [`Machine::lazy_max_pages`].
    fn free_vmap_area_noflush(&mut self, va: NodeId) {
        let nr_lazy_max = self.lazy_max_pages();
        if self.vmalloc.arena.va(va).on_list {
            self.warn_once(VMALLOC_C, LINE_LAZY_LIST_WARN, None);
            return;
        }
        let v = self.vmalloc.arena.va(va);
        let (start, size, flags) = (v.va_start, v.size(), v.flags);
        self.vmalloc.vmap_lazy_nr += size >> PAGE_SHIFT;
        let nr_lazy = self.vmalloc.vmap_lazy_nr;
        let vn_id = self.vmalloc.decode_vn_id(flags);
        let n = if self.vmalloc.is_vn_id_valid(vn_id) { vn_id } else { self.vmalloc.addr_to_node_id(start) };
        let mut lazy = self.vmalloc.nodes[n].lazy;
        self.insert_vmap_area(va, &mut lazy);
        self.vmalloc.nodes[n].lazy = lazy;
        if nr_lazy > nr_lazy_max {
            // schedule_work(&drain_vmap_work): run at once.
            self.__purge_vmap_area_lazy(false);
        }
    }

    /// `vunmap_range_noflush()` of `[addr, addr + len)` for the per-CPU allocator's `pcpu_unmap_pages()`:
    /// returns the pages that were mapped there (the caller frees them).
    pub(crate) fn vunmap_range_pages(&mut self, addr: u64, len: u64) -> Vec<Pfn> {
        let pages: Vec<Pfn> =
            (0..len / PAGE_SIZE).filter_map(|i| self.vmalloc.pte.get(&((addr >> PAGE_SHIFT) + i)).copied()).collect();
        self.vunmap_range(addr, addr + len);
        pages
    }

    /// `pcpu_get_vm_areas(offsets, sizes, nr_vms, align)`: `offsets.len()` areas at the same distances from
    /// one base, `align`ed, taken from the top of the vmalloc space down (the highest base whose every area
    /// fits a free range), each a `VM_ALLOC` area whose caller is `pcpu_get_vm_areas` itself and whose pages
    /// the per-CPU allocator maps later. Returns the kmalloc'ed `vm_struct *` array and the areas' addresses,
    /// or None (a lazy purge is tried once first).
    ///
    /// Context: process context, may sleep.
    pub(crate) fn pcpu_get_vm_areas(&mut self, offsets: &[u64], sizes: &[u64], align: u64) -> Option<(u64, Vec<u64>)> {
        let depth = self.stack.frames.len();
        self.push_kframe("pcpu_get_vm_areas");
        let r = self.pcpu_get_vm_areas_inner(offsets, sizes, align);
        self.stack.frames.truncate(depth);
        r
    }

    fn pcpu_get_vm_areas_inner(&mut self, offsets: &[u64], sizes: &[u64], align: u64) -> Option<(u64, Vec<u64>)> {
        let vmalloc_start = align_up(self.vmalloc_start(), align);
        let vmalloc_end = self.vmalloc_end() & !(align - 1);
        let nr = offsets.len();
        let last_area = (0..nr).fold(0, |l, a| if offsets[a] > offsets[l] { a } else { l });
        let last_end = offsets[last_area] + sizes[last_area];
        if vmalloc_end - vmalloc_start < last_end {
            self.warn(VMALLOC_C, LINE_PCPU_GET_VM_AREAS_WARN, None);
            return None;
        }
        let ptr = self.ptr_size();
        let vms_obj = self.kcalloc(nr as u64, ptr, Gfp::GFP_KERNEL);
        let vas_obj = self.kcalloc(nr as u64, ptr, Gfp::GFP_KERNEL);
        let mut vas = Vec::new();
        let mut vm_objs = Vec::new();
        let mut ok = vms_obj != 0 && vas_obj != 0;
        for _ in 0..nr {
            if !ok {
                break;
            }
            let va = self.va_obj_alloc(Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
            let vm = self.kzalloc(self.sizeof_vm_struct(), Gfp::GFP_KERNEL);
            if let Some(va) = va {
                vas.push(va);
            }
            if vm != 0 {
                vm_objs.push(vm);
            }
            ok = va.is_some() && vm != 0;
        }
        let mut purged = false;
        let base = loop {
            if !ok {
                break None;
            }
            match self.pvm_find_base(offsets, sizes, align, last_area, vmalloc_start, vmalloc_end) {
                Some(b) => break Some(b),
                None if !purged => {
                    self.reclaim_and_purge_vmap_areas();
                    purged = true;
                }
                None => break None,
            }
        };
        let Some(base) = base else {
            for va in vas {
                self.va_obj_free(va);
            }
            for vm in vm_objs {
                self.kfree(vm);
            }
            self.kfree(vas_obj);
            self.kfree(vms_obj);
            return None;
        };
        let mut addrs = Vec::with_capacity(nr);
        for area in 0..nr {
            let start = base + offsets[area];
            let free = self.pvm_find_va_enclose_addr(start)?;
            if self.va_clip(free, start, sizes[area]).is_err() {
                self.warn_once(VMALLOC_C, LINE_VA_ALLOC_WARN, None);
                return None;
            }
            addrs.push(start);
        }
        let size = self.symbols_size("pcpu_get_vm_areas");
        for area in 0..nr {
            let va = vas[area];
            let vm = Box::new(VmStruct {
                next: 0,
                addr: addrs[area],
                size: sizes[area],
                flags: VM_ALLOC,
                pages: 0,
                page_list: Vec::new(),
                page_order: 0,
                nr_pages: 0,
                phys_addr: 0,
                caller: Some(Frame {
                    func: "pcpu_get_vm_areas".into(),
                    module: None,
                    offset: 0,
                    size,
                    indirect: false,
                    path: None,
                }),
                requested_size: sizes[area],
                obj: vm_objs[area],
            });
            let n = self.vmalloc.addr_to_node_id(addrs[area]);
            let vn_id = self.vmalloc.encode_vn_id(n);
            {
                let v = self.vmalloc.arena.va_mut(va);
                v.va_start = addrs[area];
                v.va_end = addrs[area] + sizes[area];
                v.subtree_max_size = 0;
                v.flags = vn_id;
                v.vm = Some(vm);
            }
            let mut busy = self.vmalloc.nodes[n].busy;
            self.insert_vmap_area(va, &mut busy);
            self.vmalloc.nodes[n].busy = busy;
        }
        self.kfree(vas_obj);
        Some((vms_obj, addrs))
    }

    /// The size of kernel function `name` as kallsyms prints it (for a `%pS` of its own address).
    fn symbols_size(&self, name: &str) -> u32 {
        crate::kallsyms::Symbols::kernel(self.layout.arch)
            .lookup(name)
            .map(|f| f.size)
            .unwrap_or_else(|| crate::panic::frame_offsets(name).1)
    }

    /// The free areas (start, end, id) in address order.
    fn free_areas(&self) -> Vec<(u64, u64, NodeId)> {
        self.vmalloc
            .arena
            .list_ids(&self.vmalloc.free.list)
            .into_iter()
            .map(|id| {
                let v = self.vmalloc.arena.va(id);
                (v.va_start, v.va_end, id)
            })
            .collect()
    }

    /// `pvm_find_va_enclose_addr()`: the free area with the highest start at or below `addr`.
    fn pvm_find_va_enclose_addr(&self, addr: u64) -> Option<NodeId> {
        self.free_areas().into_iter().rev().find(|&(s, _, _)| s <= addr).map(|(_, _, id)| id)
    }

    /// The base search of `pcpu_get_vm_areas()` with `pvm_determine_end_from_reverse()`: from the top of
    /// the space, move the base down until every area fits one free range. None on overflow.
    fn pvm_find_base(
        &self,
        offsets: &[u64],
        sizes: &[u64],
        align: u64,
        last_area: usize,
        vmalloc_start: u64,
        vmalloc_end: u64,
    ) -> Option<u64> {
        let free = self.free_areas();
        let nr = offsets.len();
        let enclose = |addr: u64| free.iter().rposition(|&(s, _, _)| s <= addr);
        let determine_end = |idx: &mut Option<usize>| -> u64 {
            while let Some(i) = *idx {
                let addr = (free[i].1 & !(align - 1)).min(vmalloc_end);
                if free[i].0 < addr {
                    return addr;
                }
                *idx = i.checked_sub(1);
            }
            0
        };
        let mut area = last_area;
        let mut term_area = last_area;
        let (mut start, mut end) = (offsets[area], offsets[area] + sizes[area]);
        let mut va = enclose(vmalloc_end);
        let mut base = determine_end(&mut va).wrapping_sub(end);
        let last_end = offsets[last_area] + sizes[last_area];
        loop {
            if base.wrapping_add(last_end) < vmalloc_start + last_end {
                return None;
            }
            let i = va?;
            if base + end > free[i].1 {
                base = determine_end(&mut va).wrapping_sub(end);
                term_area = area;
                continue;
            }
            if base + start < free[i].0 {
                va = i.checked_sub(1);
                base = determine_end(&mut va).wrapping_sub(end);
                term_area = area;
                continue;
            }
            area = (area + nr - 1) % nr;
            if area == term_area {
                return Some(base);
            }
            start = offsets[area];
            end = start + sizes[area];
            va = enclose(base + end);
        }
    }

    /// `vunmap_range_noflush()`: clears the PTEs and the host window of `[start, end)`.
    fn vunmap_range(&mut self, start: u64, end: u64) {
        let mut a = start;
        let mut mapped = 0usize;
        while a < end {
            mapped += usize::from(self.vmalloc.pte.remove(&(a >> PAGE_SHIFT)).is_some());
            a += PAGE_SIZE;
        }
        // Only touch the host window when something was mapped (a bare get_vm_area() maps nothing). A range
        // lies in one of the two host windows or in neither (machine.rs, `Layout::window_offset`).
        if mapped > 0 {
            if let (Some(s), Some(_)) = (self.layout.window_offset(start), self.layout.window_offset(end - 1)) {
                let _ = self.mem.unmap_window(s, end - start);
            }
        }
    }

    /// `vmap_pages_range()`: the page-table pages the range needs (pgtable.rs), then PTEs (and host window
    /// pages) for `pages` from `addr` on. False when a page-table page could not be allocated (`-ENOMEM`).
    pub(crate) fn vmap_pages_range(&mut self, addr: u64, pages: &[Pfn]) -> bool {
        if !self.pgtable_populate_kernel(addr, addr + pages.len() as u64 * PAGE_SIZE) {
            return false;
        }
        for (i, p) in pages.iter().enumerate() {
            self.vmalloc.pte.insert((addr >> PAGE_SHIFT) + i as u64, *p);
        }
        // The host window: each run of pages whose frames follow each other is one mmap.
        let mut i = 0;
        while i < pages.len() {
            let mut n = 1;
            while i + n < pages.len() && pages[i + n].0 == pages[i].0 + n as u64 {
                n += 1;
            }
            let a = addr + i as u64 * PAGE_SIZE;
            if let Some(off) = self.layout.window_offset(a) {
                if self.layout.window_offset(a + (n as u64 - 1) * PAGE_SIZE) == Some(off + (n as u64 - 1) * PAGE_SIZE) {
                    let _ = self.mem.map_frames_into_window(off, pages[i].0, n as u64);
                } else {
                    for k in 0..n {
                        if let Some(o) = self.layout.window_offset(a + k as u64 * PAGE_SIZE) {
                            let _ = self.mem.map_frame_into_window(o, pages[i + k].0);
                        }
                    }
                }
            }
            i += n;
        }
        true
    }

    // ---------------------------------------------------------------- busy lookups

    /// `find_vmap_area()`: the busy area containing `addr`.
    fn find_vmap_area_id(&self, addr: u64) -> NodeId {
        let nn = self.vmalloc.nr_nodes();
        let start = self.vmalloc.addr_to_node_id(addr);
        for k in 0..nn {
            let n = (start + k) % nn;
            let mut cur = self.vmalloc.nodes[n].busy.root.node;
            while cur != NIL {
                let v = self.vmalloc.arena.va(cur);
                if addr < v.va_start {
                    cur = v.rb.left;
                } else if addr >= v.va_end {
                    cur = v.rb.right;
                } else {
                    return cur;
                }
            }
        }
        NIL
    }

    /// `find_unlink_vmap_area()`.
    fn find_unlink_vmap_area(&mut self, addr: u64) -> NodeId {
        let va = self.find_vmap_area_id(addr);
        if va != NIL {
            let n = self.busy_node_of(va);
            let mut busy = self.vmalloc.nodes[n].busy;
            self.vmalloc.unlink_va(va, &mut busy, false);
            self.vmalloc.nodes[n].busy = busy;
        }
        va
    }

    fn busy_node_of(&self, va: NodeId) -> usize {
        // Busy areas are filed under addr_to_node(va_start).
        self.vmalloc.addr_to_node_id(self.vmalloc.arena.va(va).va_start)
    }

    /// `find_vm_area()`: the `vm_struct` of the busy area containing `addr`.
    ///
    /// Context: any.
    pub fn find_vm_area(&self, addr: u64) -> Option<&VmStruct> {
        let va = self.find_vmap_area_id(addr);
        if va == NIL {
            return None;
        }
        self.vmalloc.arena.va(va).vm.as_deref()
    }

    fn find_vm_area_mut(&mut self, addr: u64) -> Option<&mut VmStruct> {
        let va = self.find_vmap_area_id(addr);
        if va == NIL {
            return None;
        }
        self.vmalloc.arena.va_mut(va).vm.as_deref_mut()
    }

    /// `remove_vm_area()`: unlinks and unmaps the busy area containing `addr` (the kernel looks the address up
    /// inside areas, not only at their start), queues its range for the lazy purge and returns its `vm_struct`.
    fn remove_vm_area(&mut self, addr: u64) -> Option<Box<VmStruct>> {
        self.might_sleep(VMALLOC_C, LINE_REMOVE_VM_AREA_MIGHT_SLEEP);
        if addr % PAGE_SIZE != 0 {
            let msg = format!("Trying to vfree() bad address ({})\n", self.fmt_p(addr));
            self.warn(VMALLOC_C, LINE_BAD_ADDRESS, Some(&msg));
            return None;
        }
        let va = self.find_unlink_vmap_area(addr);
        if va == NIL {
            return None;
        }
        let vm = self.vmalloc.arena.va_mut(va).vm.take()?;
        let (s, e) = (self.vmalloc.arena.va(va).va_start, self.vmalloc.arena.va(va).va_end);
        self.vunmap_range(s, e);
        self.free_vmap_area_noflush(va);
        Some(vm)
    }

    // ---------------------------------------------------------------- get_vm_area

    /// `__get_vm_area_node()`.
    #[allow(clippy::too_many_arguments)]
    fn __get_vm_area_node(
        &mut self,
        size: u64,
        align: u64,
        shift: u32,
        flags: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        caller: Option<Frame>,
    ) -> Result<NodeId, VmallocError> {
        let depth = self.stack.frames.len();
        self.push_kframe("__get_vm_area_node");
        let r = self.get_vm_area_node_inner(size, align, shift, flags, start, end, gfp, caller);
        self.stack.frames.truncate(depth);
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn get_vm_area_node_inner(
        &mut self,
        size: u64,
        align: u64,
        shift: u32,
        flags: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        caller: Option<Frame>,
    ) -> Result<NodeId, VmallocError> {
        if self.in_interrupt() {
            return Err(self.vm_bug(LINE_GET_VM_AREA_BUG));
        }
        let requested_size = size;
        let mut size = align_up(size, 1u64 << shift);
        if size == 0 {
            return Err(VmallocError::ZeroSize);
        }
        let mut align = align;
        if flags & VM_IOREMAP != 0 {
            let order = 64 - (size - 1).leading_zeros(); // get_count_order_long
            align = 1u64 << order.clamp(PAGE_SHIFT, self.ioremap_max_order());
        }
        let area_obj = self.vm_struct_alloc((gfp & GFP_RECLAIM_MASK) | Gfp::__GFP_ZERO);
        if area_obj == 0 {
            return Err(VmallocError::NoMem);
        }
        if flags & VM_NO_GUARD == 0 {
            size += PAGE_SIZE;
        }
        let vm = Box::new(VmStruct {
            next: 0,
            addr: 0,
            size: 0,
            flags,
            pages: 0,
            page_list: Vec::new(),
            page_order: 0,
            nr_pages: 0,
            phys_addr: 0,
            caller,
            requested_size,
            obj: 0,
        });
        match self.alloc_vmap_area(size, align, start, end, gfp, 0, Some(vm)) {
            Ok(va) => {
                if let Some(vm) = self.vmalloc.arena.va_mut(va).vm.as_mut() {
                    vm.obj = area_obj;
                }
                Ok(va)
            }
            Err(e) => {
                self.vm_meta_free(area_obj);
                Err(e)
            }
        }
    }
}

impl Machine {
    // ---------------------------------------------------------------- pages

    /// `split_page()`: every page of a non-compound high-order allocation becomes an order-0 page with its own
    /// reference.
    fn vm_split_page(&mut self, page: Pfn, order: u32) {
        for i in 0..(1u64 << order) {
            if let Some(f) = self.pages.get_mut((page.0 + i) as usize) {
                f.refcount = 1;
                f.order = 0;
                // A caller's __GFP_COMP made a compound page, which split_page() must not see (a DEBUG_VM
                // VM_BUG_ON_PAGE): the simulator splits it anyway, so each page can be freed on its own.
                f.clear(crate::page::pg::PG_HEAD);
                f.compound_head = crate::page::NIL;
            }
        }
    }

    /// `vm_area_alloc_pages()`: fills `pages` with up to `nr_pages` pages, order-0 pages one by one (the bulk
    /// allocator), or `2^order` blocks split into order-0 pages; returns how many it got.
    fn vm_area_alloc_pages(&mut self, gfp: Gfp, order: u32, nr_pages: u64, pages: &mut Vec<Pfn>) -> u64 {
        let depth = self.stack.frames.len();
        if order == 0 {
            self.push_kframe("alloc_pages_bulk_noprof");
            while (pages.len() as u64) < nr_pages {
                match self.alloc_pages(gfp, 0) {
                    Some(p) => pages.push(p),
                    None => break,
                }
            }
            self.stack.frames.truncate(depth);
        }
        while (pages.len() as u64) < nr_pages {
            let Some(p) = self.alloc_pages(gfp, order) else {
                break;
            };
            if order > 0 {
                self.vm_split_page(p, order);
            }
            for i in 0..(1u64 << order) {
                pages.push(Pfn(p.0 + i));
            }
        }
        for p in pages.iter() {
            self.set_page_owner(*p, 0, PageOwner::Vmalloc);
        }
        pages.len() as u64
    }

    /// Writes `struct page *` values of `pages` into the page array at `array` (kernel memory).
    fn vm_write_page_array(&mut self, array: u64, from: usize, pages: &[Pfn]) {
        if array == 0 {
            return;
        }
        let ps = self.ptr_size();
        for (i, p) in pages.iter().enumerate().skip(from) {
            let v = self.page_struct_addr(*p);
            let a = array + i as u64 * ps;
            let _ =
                if ps == 8 { self.vm_write(a, &v.to_le_bytes()) } else { self.vm_write(a, &(v as u32).to_le_bytes()) };
        }
    }

    /// `__vmalloc_area_node()`: page array, pages, mappings. On failure the area is freed and `Err` returned.
    fn __vmalloc_area_node(&mut self, va: NodeId, gfp: Gfp, shift: u32) -> Result<u64, VmallocError> {
        let nested_gfp = (gfp & GFP_RECLAIM_MASK) | Gfp::__GFP_ZERO;
        let nofail = gfp.intersects(Gfp::__GFP_NOFAIL);
        let (addr, size, caller) = {
            let vm = self.vmalloc.arena.va(va).vm.as_ref().expect("busy area has a vm_struct");
            (vm.addr, vm.get_vm_area_size(), vm.caller.clone())
        };
        let nr_small_pages = size >> PAGE_SHIFT;
        let array_size = nr_small_pages * self.ptr_size();
        let mut gfp = gfp;
        if !gfp.intersects(Gfp(Gfp::GFP_DMA.0 | Gfp::GFP_DMA32.0)) {
            gfp |= Gfp::__GFP_HIGHMEM;
        }
        let pages_addr = if array_size > PAGE_SIZE {
            self.__vmalloc_node(array_size, 1, nested_gfp, NUMA_NO_NODE, caller)
        } else {
            self.push_kframe("__kmalloc_node_noprof");
            let a = self.vm_meta_alloc(array_size, nested_gfp);
            self.pop_frame();
            a
        };
        if pages_addr == 0 {
            self.warn_alloc(
                gfp,
                &format!(
                    "vmalloc error: size {}, failed to allocated page array size {array_size}",
                    nr_small_pages * PAGE_SIZE
                ),
            );
            self.free_vm_area(addr);
            return Err(VmallocError::PageArray);
        }
        let page_order = match self.layout.arch {
            Arch::X86_64 => shift - PAGE_SHIFT,
            Arch::I386 => 0,
        };
        let mut pages = Vec::with_capacity(nr_small_pages as usize);
        let page_gfp = if page_order > 0 { gfp & !Gfp::__GFP_NOFAIL } else { gfp } | Gfp::__GFP_NOWARN;
        let _ = nofail;
        let nr = self.vm_area_alloc_pages(page_gfp, page_order, nr_small_pages, &mut pages);
        self.vm_write_page_array(pages_addr, 0, &pages);
        self.vmalloc.nr_vmalloc_pages += nr;
        self.vmstat.vmalloc_pages = self.vmalloc.nr_vmalloc_pages;
        {
            let vm = self.vmalloc.arena.va_mut(va).vm.as_mut().expect("busy area has a vm_struct");
            vm.pages = pages_addr;
            vm.page_order = page_order;
            vm.nr_pages = nr as u32;
            vm.page_list = pages;
        }
        if nr != nr_small_pages {
            if page_order == 0 {
                self.warn_alloc(gfp, &format!("vmalloc error: size {}, failed to allocate pages", nr * PAGE_SIZE));
            }
            self.vfree(addr);
            return Err(VmallocError::Pages { allocated: nr, wanted: nr_small_pages });
        }
        let pages = self.vmalloc.arena.va(va).vm.as_ref().map(|v| v.page_list.clone()).unwrap_or_default();
        if !self.vmap_pages_range(addr, &pages) {
            self.warn_alloc(gfp, &format!("vmalloc error: size {}, failed to map pages", nr * PAGE_SIZE));
            self.vfree(addr);
            return Err(VmallocError::MapPages);
        }
        Ok(addr)
    }

    /// `free_vm_area()`: `remove_vm_area()` + `kfree()` of the descriptor.
    pub(crate) fn free_vm_area(&mut self, addr: u64) {
        if let Some(vm) = self.remove_vm_area(addr) {
            self.vm_meta_free(vm.obj);
        }
    }

    // ---------------------------------------------------------------- the allocation API

    /// `__vmalloc_node_range()`: allocates `size` bytes of virtually contiguous memory inside `[start, end)`,
    /// aligned to `align`, with pages from `gfp` and extra `vm_flags`; `caller` is recorded for
    /// `/proc/vmallocinfo`. Returns the address or 0 (the reason is in [`Machine::vmalloc_last_error`]).
    ///
    /// Context: process context, may sleep (`might_sleep()`); in interrupt context it hits
    /// `BUG_ON(in_interrupt())` (`kernel BUG at mm/vmalloc.c:3177!`) and returns 0.
    #[allow(clippy::too_many_arguments)]
    pub fn __vmalloc_node_range(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        prot: PgProt,
        vm_flags: u64,
        node: i32,
        caller: Option<Frame>,
    ) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("__vmalloc_node_range_noprof");
        let r = self.vmalloc_node_range_inner(size, align, start, end, gfp, prot, vm_flags, node, caller);
        self.stack.frames.truncate(depth);
        match r {
            Ok(a) => {
                self.vmalloc.last_error = None;
                a
            }
            Err(e) => {
                self.vm_set_error(e);
                0
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn vmalloc_node_range_inner(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        prot: PgProt,
        vm_flags: u64,
        _node: i32,
        caller: Option<Frame>,
    ) -> Result<u64, VmallocError> {
        let _ = prot;
        self.flush_vfree_deferred();
        if size == 0 {
            self.warn_once(VMALLOC_C, LINE_ZERO_SIZE, None);
            return Err(VmallocError::ZeroSize);
        }
        if (size >> PAGE_SHIFT) > self.totalram_pages() {
            self.warn_alloc(gfp, &format!("vmalloc error: size {size}, exceeds total pages"));
            return Err(VmallocError::ExceedsTotalPages);
        }
        let real_size = size;
        let real_align = align;
        let mut shift = PAGE_SHIFT;
        let mut align = align;
        // vmap_allow_huge: CONFIG_HAVE_ARCH_HUGE_VMALLOC (x86_64 only), arch_vmap_pmd_supported() (PSE).
        if self.layout.arch == Arch::X86_64 && vm_flags & VM_ALLOW_HUGE_VMAP != 0 {
            let size_per_node = size; // NUMA_NO_NODE: size / num_online_nodes() with one node
            if size_per_node >= 1 << PMD_SHIFT {
                shift = PMD_SHIFT;
            }
            align = real_align.max(1u64 << shift);
        }
        loop {
            let area = self.__get_vm_area_node(
                real_size,
                align,
                shift,
                VM_ALLOC | VM_UNINITIALIZED | vm_flags,
                start,
                end,
                gfp,
                caller.clone(),
            );
            let va = match area {
                Ok(va) => va,
                Err(e @ VmallocError::Bug { .. }) => return Err(e),
                Err(e) => {
                    let nofail = gfp.intersects(Gfp::__GFP_NOFAIL);
                    self.warn_alloc(
                        gfp,
                        &format!(
                            "vmalloc error: size {real_size}, vm_struct allocation failed{}",
                            if nofail { ". Retrying." } else { "" }
                        ),
                    );
                    // __GFP_NOFAIL would retry forever; the simulator gives up after the message.
                    if shift > PAGE_SHIFT {
                        shift = PAGE_SHIFT;
                        align = real_align;
                        continue;
                    }
                    return Err(e);
                }
            };
            match self.__vmalloc_area_node(va, gfp, shift) {
                Ok(addr) => {
                    if let Some(vm) = self.vmalloc.arena.va_mut(va).vm.as_mut() {
                        vm.flags &= !VM_UNINITIALIZED; // clear_vm_uninitialized_flag()
                    }
                    return Ok(addr);
                }
                Err(e) => {
                    if shift > PAGE_SHIFT {
                        shift = PAGE_SHIFT;
                        align = real_align;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// `__vmalloc_node()`: [`Machine::__vmalloc_node_range`] over `VMALLOC_START..VMALLOC_END` with
    /// `PAGE_KERNEL`.
    ///
    /// Context: process context, may sleep.
    pub fn __vmalloc_node(&mut self, size: u64, align: u64, gfp: Gfp, node: i32, caller: Option<Frame>) -> u64 {
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        self.__vmalloc_node_range(size, align, s, e, gfp, PgProt::PAGE_KERNEL, 0, node, caller)
    }

    fn vmalloc_entry(&mut self, func: &'static str, size: u64, align: u64, gfp: Gfp, vm_flags: u64) -> u64 {
        let caller = self.vm_caller(func);
        let depth = self.stack.frames.len();
        self.push_frame(func);
        // mm/vmalloc.c: these go through __vmalloc_node_noprof(); vmalloc_user, vmalloc_32_user and
        // vmalloc_huge call __vmalloc_node_range_noprof() themselves.
        if !matches!(func, "vmalloc_user_noprof" | "vmalloc_32_user_noprof" | "vmalloc_huge_noprof") {
            self.push_kframe("__vmalloc_node_noprof");
        }
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        let r = self.__vmalloc_node_range(size, align, s, e, gfp, PgProt::PAGE_KERNEL, vm_flags, NUMA_NO_NODE, caller);
        self.stack.frames.truncate(depth);
        r
    }

    /// `vmalloc(size)`: `GFP_KERNEL` pages, one guard page; the caller (innermost stack frame) is recorded.
    /// Returns the address or 0.
    ///
    /// Context: process context, may sleep. Not from interrupt context (BUG).
    pub fn vmalloc(&mut self, size: u64) -> u64 {
        self.vmalloc_entry("vmalloc_noprof", size, 1, Gfp::GFP_KERNEL, 0)
    }

    /// `vzalloc(size)`: zeroed `vmalloc`.
    ///
    /// Context: process context, may sleep.
    pub fn vzalloc(&mut self, size: u64) -> u64 {
        self.vmalloc_entry("vzalloc_noprof", size, 1, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, 0)
    }

    /// `vmalloc_user(size)`: zeroed, `VM_USERMAP`, `SHMLBA` (page) aligned.
    ///
    /// Context: process context, may sleep.
    pub fn vmalloc_user(&mut self, size: u64) -> u64 {
        self.vmalloc_entry("vmalloc_user_noprof", size, PAGE_SIZE, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, VM_USERMAP)
    }

    /// `GFP_VMALLOC32`: `GFP_DMA32 | GFP_KERNEL` (x86_64 has ZONE_DMA32; on 32-bit `GFP_DMA32` falls back to
    /// ZONE_NORMAL, i.e. lowmem).
    fn gfp_vmalloc32(&self) -> Gfp {
        Gfp::GFP_DMA32 | Gfp::GFP_KERNEL
    }

    /// `vmalloc_32(size)`: pages below 4 GiB (x86_64: ZONE_DMA32) or lowmem (i386).
    ///
    /// Context: process context, may sleep.
    pub fn vmalloc_32(&mut self, size: u64) -> u64 {
        let g = self.gfp_vmalloc32();
        self.vmalloc_entry("vmalloc_32_noprof", size, 1, g, 0)
    }

    /// `vmalloc_32_user(size)`.
    ///
    /// Context: process context, may sleep.
    pub fn vmalloc_32_user(&mut self, size: u64) -> u64 {
        let g = self.gfp_vmalloc32() | Gfp::__GFP_ZERO;
        self.vmalloc_entry("vmalloc_32_user_noprof", size, PAGE_SIZE, g, VM_USERMAP)
    }

    /// `vmalloc_huge(size, gfp)`: `VM_ALLOW_HUGE_VMAP` (x86_64: 2 MiB pages for sizes >= 2 MiB).
    ///
    /// Context: process context, may sleep.
    pub fn vmalloc_huge(&mut self, size: u64, gfp: Gfp) -> u64 {
        self.vmalloc_entry("vmalloc_huge_noprof", size, 1, gfp, VM_ALLOW_HUGE_VMAP)
    }

    /// `vmalloc_node(size, node)` (one node: same as vmalloc).
    ///
    /// Context: process context, may sleep.
    pub fn vmalloc_node(&mut self, size: u64, _node: i32) -> u64 {
        self.vmalloc_entry("vmalloc_node_noprof", size, 1, Gfp::GFP_KERNEL, 0)
    }

    /// `__vmalloc(size, gfp)`.
    ///
    /// Context: process context, may sleep (the gfp must allow blocking; GFP_NOWAIT/ATOMIC are not supported by
    /// the kernel either).
    pub fn __vmalloc(&mut self, size: u64, gfp: Gfp) -> u64 {
        self.vmalloc_entry("__vmalloc_noprof", size, 1, gfp, 0)
    }

    /// `vrealloc(p, size, gfp)` (6.12.117 `vrealloc_noprof`): `p == 0` allocates, `size == 0` frees; shrinking
    /// or growing within the allocated pages only updates `requested_size` (zeroing the tail with
    /// `__GFP_ZERO` or init_on_alloc/free); growing further allocates a new area, copies `requested_size`
    /// bytes and frees the old one. Used by Rust's `VBox`/`VVec`.
    ///
    /// The new area's caller is **the caller of vrealloc** (the innermost frame at entry): `__vmalloc_noprof()`
    /// is inlined into `vrealloc_noprof()`, so its `__builtin_return_address(0)` is vrealloc's own return
    /// address — measured on the book's kernel, where VBox memory is recorded as
    /// `kernel::alloc::allocator::ReallocFunc::call` (see listings/kernel/BINDINGS.md), not `vrealloc_noprof`.
    ///
    /// Context: process context, may sleep.
    pub fn vrealloc(&mut self, p: u64, size: u64, gfp: Gfp) -> u64 {
        let caller = self.vm_caller("vrealloc_noprof");
        let depth = self.stack.frames.len();
        self.push_kframe("vrealloc_noprof");
        let r = self.vrealloc_inner(p, size, gfp, caller);
        self.stack.frames.truncate(depth);
        r
    }

    fn vrealloc_inner(&mut self, p: u64, size: u64, gfp: Gfp, caller: Option<Frame>) -> u64 {
        if size == 0 {
            self.vfree(p);
            return 0;
        }
        let (mut alloced_size, mut old_size) = (0, 0);
        if p != 0 {
            let Some(vm) = self.find_vm_area(p) else {
                let msg = format!("Trying to vrealloc() nonexistent vm area ({})\n", self.fmt_p(p));
                self.warn(VMALLOC_C, LINE_VREALLOC_NONEXISTENT, Some(&msg));
                self.vm_set_error(VmallocError::NoArea(p));
                return 0;
            };
            alloced_size = vm.get_vm_area_size();
            old_size = vm.requested_size;
            if alloced_size < old_size {
                let msg = format!("vrealloc() has mismatched area vs requested sizes ({})\n", self.fmt_p(p));
                self.warn(VMALLOC_C, LINE_VREALLOC_MISMATCH, Some(&msg));
                return 0;
            }
        }
        if size <= old_size {
            if self.want_init_on_alloc(gfp) || self.slab.cfg.init_on_free {
                let _ = self.vm_fill(p + size, old_size - size, 0);
            }
            if let Some(vm) = self.find_vm_area_mut(p) {
                vm.requested_size = size;
            }
            return p;
        }
        if size <= alloced_size {
            if let Some(vm) = self.find_vm_area_mut(p) {
                vm.requested_size = size;
            }
            return p;
        }
        // __vmalloc_noprof(size, flags), inlined: the caller is vrealloc's caller.
        self.push_kframe("__vmalloc_noprof");
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        let n = self.__vmalloc_node_range(size, 1, s, e, gfp, PgProt::PAGE_KERNEL, 0, NUMA_NO_NODE, caller);
        self.pop_frame();
        if n == 0 {
            return 0;
        }
        if p != 0 {
            let mut buf = vec![0u8; old_size as usize];
            let _ = self.vm_read(p, &mut buf);
            let _ = self.vm_write(n, &buf);
            self.vfree(p);
        }
        n
    }

    // ---------------------------------------------------------------- free

    /// `vfree(addr)`: unmaps the area containing `addr` at once, returns its pages to the buddy allocator, frees
    /// the page array and the descriptor, and queues the address range for the lazy purge. `addr == 0` does
    /// nothing (after `might_sleep()`); an unaligned address WARNs `Trying to vfree() bad address`, an unknown
    /// one `Trying to vfree() nonexistent vm area`.
    ///
    /// Context: may sleep in process context; from interrupt context it defers to [`Machine::vfree_atomic`].
    pub fn vfree(&mut self, addr: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("vfree");
        self.vfree_inner(addr);
        self.stack.frames.truncate(depth);
    }

    fn vfree_inner(&mut self, addr: u64) {
        if self.in_interrupt() {
            self.vfree_atomic_inner(addr);
            return;
        }
        self.might_sleep(VMALLOC_C, LINE_VFREE_MIGHT_SLEEP);
        if addr == 0 {
            return;
        }
        self.push_kframe("remove_vm_area");
        let vm = self.remove_vm_area(addr);
        self.pop_frame();
        let Some(vm) = vm else {
            let msg = format!("Trying to vfree() nonexistent vm area ({})\n", self.fmt_p(addr));
            self.warn(VMALLOC_C, LINE_VFREE_NONEXISTENT, Some(&msg));
            return;
        };
        if vm.flags & VM_FLUSH_RESET_PERMS != 0 {
            // vm_reset_perms() → _vm_unmap_aliases(): the direct map's aliases are flushed, which purges every
            // lazily freed area now (this one included: remove_vm_area() just queued it).
            self.push_kframe("vm_reset_perms");
            self.vb_unmap_aliases();
            self.__purge_vmap_area_lazy(false);
            self.pop_frame();
        }
        for p in &vm.page_list {
            self.__free_page(*p);
        }
        if vm.flags & VM_MAP_PUT_PAGES == 0 {
            self.vmalloc.nr_vmalloc_pages -= vm.nr_pages as u64;
            self.vmstat.vmalloc_pages = self.vmalloc.nr_vmalloc_pages;
        }
        // kvfree(vm->pages)
        if vm.pages != 0 {
            if self.is_vmalloc_addr(vm.pages) {
                self.vfree_inner(vm.pages);
            } else {
                self.vm_meta_free(vm.pages);
            }
        }
        self.vm_meta_free(vm.obj);
    }

    /// `vfree_atomic(addr)`: queues `addr` on this CPU's deferred list (the kernel links it through the first
    /// word of the area) for a worker to `vfree()` later — see [`Machine::flush_vfree_deferred`].
    ///
    /// Context: any except NMI.
    pub fn vfree_atomic(&mut self, addr: u64) {
        self.vfree_atomic_inner(addr);
    }

    fn vfree_atomic_inner(&mut self, addr: u64) {
        if addr == 0 {
            return;
        }
        let cpu = self.sched.cpu as usize % self.vmalloc.vfree_deferred.len();
        let head = self.vmalloc.vfree_deferred[cpu].last().copied().unwrap_or(0);
        // llist_add(): the node is the freed memory itself.
        let ps = self.ptr_size();
        let bytes = head.to_le_bytes();
        let _ = self.vm_write(addr, &bytes[..ps as usize]);
        self.vmalloc.vfree_deferred[cpu].push(addr);
    }

    /// Runs the deferred-vfree work (`delayed_vfree_work()`), newest first like `llist_del_all()`. The simulator
    /// also runs it at the start of every vmalloc-family allocation from process context.
    ///
    /// Context: process context.
    pub fn flush_vfree_deferred(&mut self) {
        if self.in_interrupt() {
            return;
        }
        for cpu in 0..self.vmalloc.vfree_deferred.len() {
            let list = std::mem::take(&mut self.vmalloc.vfree_deferred[cpu]);
            if list.is_empty() {
                continue;
            }
            let saved = std::mem::take(&mut self.stack.frames);
            self.push_kframe("worker_thread");
            self.push_kframe("process_one_work");
            self.push_kframe("delayed_vfree_work");
            for a in list.into_iter().rev() {
                self.vfree(a);
            }
            self.stack.frames = saved;
        }
    }

    /// `vmap(pages, count, flags, prot)`: maps existing pages into a new virtually contiguous area
    /// (`VM_MAP` is the usual flag). With `VM_MAP_PUT_PAGES` the pages become the area's and `vfree` frees
    /// them. Returns the address or 0.
    ///
    /// Context: process context, may sleep.
    pub fn vmap(&mut self, pages: &[Pfn], flags: u64, prot: PgProt) -> u64 {
        let _ = prot;
        let caller = self.vm_caller("vmap");
        let depth = self.stack.frames.len();
        self.push_kframe("vmap");
        let r = self.vmap_inner(pages, flags, caller);
        self.stack.frames.truncate(depth);
        match r {
            Ok(a) => a,
            Err(e) => {
                self.vm_set_error(e);
                0
            }
        }
    }

    fn vmap_inner(&mut self, pages: &[Pfn], mut flags: u64, caller: Option<Frame>) -> Result<u64, VmallocError> {
        self.might_sleep(VMALLOC_C, LINE_VMAP_MIGHT_SLEEP);
        if flags & VM_FLUSH_RESET_PERMS != 0 {
            self.warn_once(VMALLOC_C, LINE_VMAP_FLUSH_WARN, None);
            return Err(VmallocError::Refused);
        }
        if flags & VM_NO_GUARD != 0 {
            self.warn_once(VMALLOC_C, LINE_VMAP_NO_GUARD_WARN, None);
            flags &= !VM_NO_GUARD;
        }
        let count = pages.len() as u64;
        if count > self.totalram_pages() {
            return Err(VmallocError::TooManyPages);
        }
        let size = count << PAGE_SHIFT;
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        let va = self.__get_vm_area_node(size, 1, PAGE_SHIFT, flags, s, e, Gfp::GFP_KERNEL, caller)?;
        let addr = self.vmalloc.arena.va(va).va_start;
        if !self.vmap_pages_range(addr, pages) {
            self.vunmap(addr);
            return Err(VmallocError::MapPages);
        }
        if flags & VM_MAP_PUT_PAGES != 0 {
            if let Some(vm) = self.vmalloc.arena.va_mut(va).vm.as_mut() {
                vm.page_list = pages.to_vec();
                vm.nr_pages = count as u32;
            }
        }
        Ok(addr)
    }

    /// `vunmap(addr)`: releases a `vmap()` mapping (the pages stay with their owner).
    ///
    /// Context: process context, may sleep; not from interrupt context (BUG).
    pub fn vunmap(&mut self, addr: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("vunmap");
        if self.in_interrupt() {
            self.vm_bug(LINE_VUNMAP_BUG);
            self.stack.frames.truncate(depth);
            return;
        }
        self.might_sleep(VMALLOC_C, LINE_VUNMAP_MIGHT_SLEEP);
        if addr != 0 {
            self.push_kframe("remove_vm_area");
            let vm = self.remove_vm_area(addr);
            self.pop_frame();
            match vm {
                Some(vm) => self.vm_meta_free(vm.obj),
                None => {
                    let msg = format!("Trying to vunmap() nonexistent vm area ({})\n", self.fmt_p(addr));
                    self.warn(VMALLOC_C, LINE_VUNMAP_NONEXISTENT, Some(&msg));
                }
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `get_vm_area(size, flags)`: reserves address space only (no pages); returns its start or 0.
    ///
    /// Context: process context, may sleep.
    pub fn get_vm_area(&mut self, size: u64, flags: u64) -> u64 {
        let caller = self.vm_caller("get_vm_area");
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        match self.__get_vm_area_node(size, 1, PAGE_SHIFT, flags, s, e, Gfp::GFP_KERNEL, caller) {
            Ok(va) => self.vmalloc.arena.va(va).va_start,
            Err(e) => {
                self.vm_set_error(e);
                0
            }
        }
    }

    /// `get_vm_area_caller(size, flags, caller)` in `[start, end)`, the area's `phys_addr` set to `phys`
    /// (ioremap): returns its start or None.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn get_vm_area_phys(
        &mut self,
        size: u64,
        flags: u64,
        phys: u64,
        start: u64,
        end: u64,
        gfp: Gfp,
        caller: Option<Frame>,
    ) -> Option<u64> {
        match self.__get_vm_area_node(size, 1, PAGE_SHIFT, flags, start, end, gfp, caller) {
            Ok(va) => {
                if let Some(vm) = self.vmalloc.arena.va_mut(va).vm.as_mut() {
                    vm.phys_addr = phys;
                }
                Some(self.vmalloc.arena.va(va).va_start)
            }
            Err(e) => {
                self.vm_set_error(e);
                None
            }
        }
    }

    /// An area of the recorded boot placed where the real boot had it (crate::qemu_boot): `[start, start +
    /// size)` with its guard page, of `flags` (`VM_MAP` of memory the simulator does not track, `VM_IOREMAP`
    /// of `phys`), recorded with `caller`. Returns whether it could be placed.
    ///
    /// Context: boot.
    pub(crate) fn boot_vm_area(&mut self, start: u64, size: u64, flags: u64, phys: u64, caller: Option<Frame>) -> bool {
        let Ok(va) = self.__get_vm_area_node(
            size - PAGE_SIZE,
            PAGE_SIZE,
            PAGE_SHIFT,
            flags,
            start,
            start + size,
            Gfp::GFP_KERNEL,
            caller,
        ) else {
            return false;
        };
        if let Some(vm) = self.vmalloc.arena.va_mut(va).vm.as_mut() {
            vm.phys_addr = phys;
        }
        // ioremap_page_range() / vmap_pages_range() of the boot's mapping: its page tables.
        self.pgtable_populate_kernel(start, start + size - PAGE_SIZE)
    }

    // ---------------------------------------------------------------- translation

    /// `is_vmalloc_addr()`: `VMALLOC_START <= addr < VMALLOC_END`.
    ///
    /// Context: any.
    pub fn is_vmalloc_addr(&self, addr: u64) -> bool {
        addr >= self.vmalloc_start() && addr < self.vmalloc_end()
    }

    /// `vmalloc_to_page()`: walks the kernel page tables; `None` where nothing is mapped (guard pages, freed
    /// areas).
    ///
    /// Context: any.
    pub fn vmalloc_to_page(&self, addr: u64) -> Option<Pfn> {
        if let Some(&p) = self.vmalloc.pte.get(&(addr >> PAGE_SHIFT)) {
            return Some(p);
        }
        // The walk of the kernel's page tables does not care which region the address is in (the
        // VIRTUAL_BUG_ON() that would is compiled out): a direct-map address is mapped by a leaf entry (2 MiB
        // or 1 GiB pages on x86_64), and pud_page()/pmd_page() plus the offset is its own struct page.
        if self.layout.arch == Arch::X86_64 && self.layout.is_direct_map_addr(addr) {
            return self.virt_to_page(addr).filter(|p| self.pfn_valid(*p));
        }
        None
    }

    /// `vmalloc_to_pfn()`.
    ///
    /// Context: any.
    pub fn vmalloc_to_pfn(&self, addr: u64) -> Option<u64> {
        self.vmalloc_to_page(addr).map(|p| p.0)
    }

    /// How many lazy purges have run so far (introspection).
    ///
    /// Context: any.
    pub fn vmalloc_nr_purges(&self) -> u64 {
        self.vmalloc.nr_purges
    }

    /// `vmalloc_nr_pages()`: pages currently backing vmalloc areas.
    ///
    /// Context: any.
    pub fn vmalloc_nr_pages(&self) -> u64 {
        self.vmalloc.nr_vmalloc_pages
    }

    /// Reads kernel memory through the vmalloc page tables (or the direct map), page by page.
    fn vm_read(&self, addr: u64, buf: &mut [u8]) -> Result<(), crate::machine::MemFault> {
        if !self.vmalloc.pte.contains_key(&(addr >> PAGE_SHIFT)) {
            return self.read_bytes(addr, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr + done as u64;
            let pfn = self.vmalloc_to_page(a).ok_or(crate::machine::MemFault::Unmapped(a))?;
            let off = a % PAGE_SIZE;
            let n = ((PAGE_SIZE - off) as usize).min(buf.len() - done);
            self.read_phys((pfn.0 << PAGE_SHIFT) + off, &mut buf[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Writes kernel memory through the vmalloc page tables (or the direct map).
    pub(crate) fn vm_write(&mut self, addr: u64, data: &[u8]) -> Result<(), crate::machine::MemFault> {
        if !self.vmalloc.pte.contains_key(&(addr >> PAGE_SHIFT)) {
            return self.write_bytes(addr, data);
        }
        let mut done = 0usize;
        while done < data.len() {
            let a = addr + done as u64;
            let pfn = self.vmalloc_to_page(a).ok_or(crate::machine::MemFault::Unmapped(a))?;
            let off = a % PAGE_SIZE;
            let n = ((PAGE_SIZE - off) as usize).min(data.len() - done);
            self.write_phys((pfn.0 << PAGE_SHIFT) + off, &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    fn vm_fill(&mut self, addr: u64, len: u64, byte: u8) -> Result<(), crate::machine::MemFault> {
        let buf = vec![byte; len as usize];
        self.vm_write(addr, &buf)
    }

    // ---------------------------------------------------------------- views

    fn vm_line(&self, v: &VmStruct) -> String {
        let p = |a: u64| self.fmt_p(a);
        let mut s = format!("0x{}-0x{} {:7}", p(v.addr), p(v.addr + v.size), v.size);
        if let Some(c) = &v.caller {
            // %pS: a module's freed .init.text has no symbol any more and prints as its address.
            let _ = write!(s, " {}", self.frame_text(c));
        }
        if v.nr_pages != 0 {
            let _ = write!(s, " pages={}", v.nr_pages);
        }
        if v.phys_addr != 0 {
            let w = if self.layout.arch == Arch::X86_64 { 16 } else { 8 };
            let _ = write!(s, " phys=0x{:0w$x}", v.phys_addr);
        }
        for (flag, word) in [
            (VM_IOREMAP, " ioremap"),
            (VM_SPARSE, " sparse"),
            (VM_ALLOC, " vmalloc"),
            (VM_MAP, " vmap"),
            (VM_USERMAP, " user"),
            (VM_DMA_COHERENT, " dma-coherent"),
        ] {
            if v.flags & flag != 0 {
                s.push_str(word);
            }
        }
        if self.is_vmalloc_addr(v.pages) {
            s.push_str(" vpages");
        }
        // show_numa_info() with CONFIG_NUMA: counts per node of N_HIGH_MEMORY, all on node 0.
        if self.cfg.numa && v.nr_pages != 0 {
            let step = 1u32 << v.page_order;
            let _ = write!(s, " N0={}", v.nr_pages.div_ceil(step) * step);
        }
        s.push('\n');
        s
    }

    /// `/proc/vmallocinfo` (`vmalloc_info_show()`): the busy areas node by node, then the unpurged ones.
    /// Addresses print as `%pK` does for root with `kptr_restrict=0`: raw with `no_hash_pointers`, else hashed.
    ///
    /// Context: any.
    pub fn vmallocinfo(&self) -> String {
        let mut out = String::new();
        for node in &self.vmalloc.nodes {
            for id in self.vmalloc.arena.list_ids(&node.busy.list) {
                let va = self.vmalloc.arena.va(id);
                let Some(v) = va.vm.as_deref() else {
                    if va.flags & VMAP_RAM != 0 {
                        let _ = writeln!(
                            out,
                            "0x{}-0x{} {:7} vm_map_ram",
                            self.fmt_p(va.va_start),
                            self.fmt_p(va.va_end),
                            va.size()
                        );
                    }
                    continue;
                };
                if v.flags & VM_UNINITIALIZED != 0 {
                    continue;
                }
                out.push_str(&self.vm_line(v));
            }
        }
        for node in &self.vmalloc.nodes {
            for id in self.vmalloc.arena.list_ids(&node.lazy.list) {
                let va = self.vmalloc.arena.va(id);
                let _ = writeln!(
                    out,
                    "0x{}-0x{} {:7} unpurged vm_area",
                    self.fmt_p(va.va_start),
                    self.fmt_p(va.va_end),
                    va.size()
                );
            }
        }
        out
    }

    fn va_info(&self, id: NodeId, node: Option<usize>, free: bool) -> VaInfo {
        let v = self.vmalloc.arena.va(id);
        VaInfo {
            va_start: v.va_start,
            va_end: v.va_end,
            subtree_max_size: if free { v.subtree_max_size } else { 0 },
            node,
        }
    }

    /// Every area of the vmap space: free, busy, lazy and pooled, each in address order.
    ///
    /// Context: any.
    pub fn vmap_snapshot(&self) -> VmapSnapshot {
        let a = &self.vmalloc.arena;
        let mut s = VmapSnapshot {
            free: a.list_ids(&self.vmalloc.free.list).into_iter().map(|i| self.va_info(i, None, true)).collect(),
            vmap_lazy_nr: self.vmalloc.vmap_lazy_nr,
            lazy_max_pages: self.lazy_max_pages(),
            ..VmapSnapshot::default()
        };
        for (n, node) in self.vmalloc.nodes.iter().enumerate() {
            s.busy.extend(a.list_ids(&node.busy.list).into_iter().map(|i| self.va_info(i, Some(n), false)));
            s.lazy.extend(a.list_ids(&node.lazy.list).into_iter().map(|i| self.va_info(i, Some(n), false)));
            for p in &node.pool {
                s.pooled.extend(a.list_ids(&p.list).into_iter().map(|i| self.va_info(i, Some(n), false)));
            }
        }
        s.busy.sort_by_key(|v| v.va_start);
        s.lazy.sort_by_key(|v| v.va_start);
        s.pooled.sort_by_key(|v| v.va_start);
        s
    }

    fn tree_roots(&self, which: VmapTree) -> Vec<(Option<usize>, RbRoot)> {
        match which {
            VmapTree::Free => vec![(None, self.vmalloc.free.root)],
            VmapTree::Busy => self.vmalloc.nodes.iter().enumerate().map(|(i, n)| (Some(i), n.busy.root)).collect(),
            VmapTree::Lazy => self.vmalloc.nodes.iter().enumerate().map(|(i, n)| (Some(i), n.lazy.root)).collect(),
        }
    }

    /// One of the trees as indented text, one node per line (`[B]`/`[R]` colour, range, size and, for the
    /// free tree, `subtree_max_size`), right subtree above, left below (a tree lying on its side).
    ///
    /// Context: any.
    pub fn vmap_tree_text(&self, which: VmapTree) -> String {
        self.vmap_tree_text_above(which, 0)
    }

    /// [`Machine::vmap_tree_text`] with every left subtree that lies wholly below `low` (its node ends at or
    /// below `low`, so everything to its left does too) and holds more than one area drawn as one line: how many areas it holds and its
    /// root's `subtree_max_size`, which is all `find_vmap_lowest_match()` looks at before it skips it. Used to
    /// show a booted machine's free tree without its dozens of boot-time holes. `low == 0` collapses nothing.
    ///
    /// Context: any.
    pub fn vmap_tree_text_above(&self, which: VmapTree, low: u64) -> String {
        let a = &self.vmalloc.arena;
        let mut out = String::new();
        for (node, root) in self.tree_roots(which) {
            if let Some(n) = node {
                if root.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "vmap_node {n}:");
            }
            // Reverse in-order walk with depth, iterative; `collapsed` marks a subtree drawn as one line.
            let mut stack: Vec<(NodeId, usize, bool, bool)> = vec![(root.node, 0, false, false)];
            while let Some((id, d, visited, collapsed)) = stack.pop() {
                if id == NIL {
                    continue;
                }
                let v = a.va(id);
                let indent = "    ".repeat(d);
                if collapsed {
                    let n = self.vmap_subtree_len(id);
                    let last = self.vmap_subtree_last(id);
                    let _ = write!(out, "{indent}[... {n} areas {:#x}-{:#x}]", v_first(a, id), last);
                    if which == VmapTree::Free {
                        let _ = write!(out, " subtree_max_size={:#x}", v.subtree_max_size);
                    }
                    out.push('\n');
                } else if visited {
                    let c = if v.rb.color == rbtree::Color::Red { 'R' } else { 'B' };
                    let _ = write!(out, "{indent}[{c}] {:#x}-{:#x} size={:#x}", v.va_start, v.va_end, v.size());
                    if which == VmapTree::Free {
                        let _ = write!(out, " subtree_max_size={:#x}", v.subtree_max_size);
                    }
                    out.push('\n');
                } else {
                    let collapse_left = low != 0 && v.va_end <= low && self.vmap_subtree_len(v.rb.left) > 1;
                    stack.push((v.rb.left, d + 1, false, collapse_left));
                    stack.push((id, d, true, false));
                    stack.push((v.rb.right, d + 1, false, false));
                }
            }
        }
        if out.is_empty() {
            out.push_str("(empty)\n");
        }
        out
    }

    /// The number of areas in the subtree rooted at `id`.
    fn vmap_subtree_len(&self, id: NodeId) -> usize {
        let a = &self.vmalloc.arena;
        let (mut n, mut stack) = (0, vec![id]);
        while let Some(id) = stack.pop() {
            if id != NIL {
                n += 1;
                let v = a.va(id);
                stack.push(v.rb.left);
                stack.push(v.rb.right);
            }
        }
        n
    }

    /// The end of the highest area in the subtree rooted at `id`.
    fn vmap_subtree_last(&self, mut id: NodeId) -> u64 {
        let a = &self.vmalloc.arena;
        while a.va(id).rb.right != NIL {
            id = a.va(id).rb.right;
        }
        a.va(id).va_end
    }

    /// One of the trees as a Mermaid `graph TD` diagram with quoted labels (`A["0x...-0x..."]`); left edges
    /// are labelled `L`, right edges `R`; red nodes get the `red` class.
    ///
    /// Context: any.
    pub fn vmap_tree_mermaid(&self, which: VmapTree) -> String {
        self.vmap_tree_mermaid_above(which, 0)
    }

    /// [`Machine::vmap_tree_mermaid`] with the left subtrees wholly below `low` drawn as one node each, as in
    /// [`Machine::vmap_tree_text_above`].
    ///
    /// Context: any.
    pub fn vmap_tree_mermaid_above(&self, which: VmapTree, low: u64) -> String {
        let a = &self.vmalloc.arena;
        let mut out = String::from("graph TD\n");
        let mut reds = Vec::new();
        for (node, root) in self.tree_roots(which) {
            let name_of = |id: NodeId| match node {
                Some(n) => format!("N{n}_{id}"),
                None => format!("V{id}"),
            };
            let mut stack = vec![(root.node, false)];
            while let Some((id, collapsed)) = stack.pop() {
                if id == NIL {
                    continue;
                }
                let v = a.va(id);
                let name = name_of(id);
                if collapsed {
                    let mut label = format!(
                        "{} areas<br/>{:#x}-{:#x}",
                        self.vmap_subtree_len(id),
                        v_first(a, id),
                        self.vmap_subtree_last(id)
                    );
                    if which == VmapTree::Free {
                        let _ = write!(label, "<br/>max {:#x}", v.subtree_max_size);
                    }
                    let _ = writeln!(out, "    {name}[[\"{label}\"]]");
                    continue;
                }
                let mut label = format!("{:#x}-{:#x}<br/>size {:#x}", v.va_start, v.va_end, v.size());
                if which == VmapTree::Free {
                    let _ = write!(label, "<br/>max {:#x}", v.subtree_max_size);
                }
                let _ = writeln!(out, "    {name}[\"{label}\"]");
                if v.rb.color == rbtree::Color::Red {
                    reds.push(name.clone());
                }
                for (child, tag) in [(v.rb.left, 'L'), (v.rb.right, 'R')] {
                    if child != NIL {
                        let _ = writeln!(out, "    {name} -->|{tag}| {}", name_of(child));
                    }
                }
                let collapse_left = low != 0 && v.va_end <= low && self.vmap_subtree_len(v.rb.left) > 1;
                stack.push((v.rb.right, false));
                stack.push((v.rb.left, collapse_left));
            }
        }
        if !reds.is_empty() {
            out.push_str("    classDef red fill:#f99,stroke:#900\n");
            let _ = writeln!(out, "    class {} red", reds.join(","));
        }
        out
    }

    /// The lazy (unpurged) areas as text, node by node, with `vmap_lazy_nr` and `lazy_max_pages()`.
    ///
    /// Context: any.
    pub fn vmap_lazy_text(&self) -> String {
        let mut out = format!(
            "vmap_lazy_nr={} pages, lazy_max_pages()={} pages\n",
            self.vmalloc.vmap_lazy_nr,
            self.lazy_max_pages()
        );
        for (n, node) in self.vmalloc.nodes.iter().enumerate() {
            for id in self.vmalloc.arena.list_ids(&node.lazy.list) {
                let v = self.vmalloc.arena.va(id);
                let _ = writeln!(out, "node {n}: {:#x}-{:#x} {}", v.va_start, v.va_end, v.size());
            }
        }
        out
    }

    /// Checks every invariant of the vmap space: red-black properties and exact `subtree_max_size` in the free
    /// tree, lists sorted and equal to the in-order walks, no overlaps, and free + busy + lazy + pooled (+ the
    /// spare preloaded objects, which hold no range) tiling `[1, ULONG_MAX)` exactly.
    ///
    /// Context: any; O(n log n).
    pub fn vmap_check_invariants(&self) -> Result<(), String> {
        if !self.vmalloc.initialized {
            return Ok(());
        }
        let a = &self.vmalloc.arena;
        let check_tree = |rl: &RbList, augment: bool, what: &str| -> Result<Vec<(u64, u64)>, String> {
            let (_, count) = rbtree::check(a, &rl.root, augment).map_err(|e| format!("{what}: {e:?}"))?;
            let ids = a.list_ids(&rl.list);
            if ids.len() != count || rl.list.len != count {
                return Err(format!("{what}: list has {} entries, tree {count}", ids.len()));
            }
            let mut n = rbtree::first(a, &rl.root);
            for id in &ids {
                if *id != n {
                    return Err(format!("{what}: list order differs from the tree order"));
                }
                n = rbtree::next(a, n);
            }
            let mut out = Vec::new();
            for id in ids {
                let v = a.va(id);
                if v.va_start >= v.va_end {
                    return Err(format!("{what}: empty area {:#x}-{:#x}", v.va_start, v.va_end));
                }
                if let Some(&(_, pe)) = out.last() {
                    if pe > v.va_start {
                        return Err(format!("{what}: unsorted or overlapping at {:#x}", v.va_start));
                    }
                }
                out.push((v.va_start, v.va_end));
            }
            Ok(out)
        };
        let mut all = check_tree(&self.vmalloc.free, true, "free")?;
        // Adjacent free areas must have been merged.
        for w in all.windows(2) {
            if w[0].1 == w[1].0 {
                return Err(format!("free: unmerged neighbours at {:#x}", w[0].1));
            }
        }
        for (i, node) in self.vmalloc.nodes.iter().enumerate() {
            all.extend(check_tree(&node.busy, false, &format!("busy[{i}]"))?);
            all.extend(check_tree(&node.lazy, false, &format!("lazy[{i}]"))?);
            for p in &node.pool {
                let ids = a.list_ids(&p.list);
                if ids.len() as u64 != p.len && !ids.is_empty() {
                    return Err(format!("pool of node {i}: len {} but {} entries", p.len, ids.len()));
                }
                all.extend(ids.into_iter().map(|id| (a.va(id).va_start, a.va(id).va_end)));
            }
        }
        all.sort_unstable();
        let mut at = 1u64;
        for (s, e) in all {
            if s != at {
                return Err(format!("tiling: expected an area at {at:#x}, found {s:#x}-{e:#x}"));
            }
            at = e;
        }
        if at != self.ulong_max() {
            return Err(format!("tiling: areas end at {at:#x}"));
        }
        Ok(())
    }
}

impl Machine {
    /// `find_vmap_lowest_match_check()` (the kernel's `DEBUG_AUGMENT_LOWEST_MATCH_CHECK`): the tree search and
    /// a linear walk of the free list must find the same free area for `(size, align, vstart)`.
    ///
    /// Context: any; O(n).
    pub fn vmap_lowest_match_check(&self, size: u64, align: u64, vstart: u64) -> Result<(), String> {
        let st = &self.vmalloc;
        let root = st.free.root;
        let t = st.find_vmap_lowest_match(&root, size, align, vstart, false);
        let l = st
            .arena
            .list_ids(&st.free.list)
            .into_iter()
            .find(|&id| is_within_this_va(st.arena.va(id), size, align, vstart))
            .unwrap_or(NIL);
        if t == l {
            Ok(())
        } else {
            Err(format!("not lowest: tree {t}, list {l}, size {size:#x} align {align:#x} vstart {vstart:#x}"))
        }
    }
}

/// Which tree the introspection functions show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapTree {
    /// `free_vmap_area_root` (augmented with `subtree_max_size`).
    Free,
    /// The busy trees of the vmap nodes.
    Busy,
    /// The lazy (purge) trees of the vmap nodes.
    Lazy,
}

/// The start of the lowest area in the subtree rooted at `id`.
fn v_first(a: &VaArena, mut id: NodeId) -> u64 {
    while a.va(id).rb.left != NIL {
        id = a.va(id).rb.left;
    }
    a.va(id).va_start
}
