//! `vm_map_ram()` and the vmap block allocator: the `vmap_block` part of mm/vmalloc.c of Linux 6.12.117
//! (`vb_alloc()`, `vb_free()`, `new_vmap_block()`, `free_vmap_block()`, `purge_fragmented_block[s]()`,
//! `_vm_unmap_aliases()`, `vm_map_ram()`, `vm_unmap_ram()`).
//!
//! # Model
//! - **Sizes.** `VMAP_MAX_ALLOC` is `BITS_PER_LONG` pages (64 on x86_64, 32 on i386); a block has
//!   `VMAP_BBMAP_BITS = min(1024, max(2 * VMAP_MAX_ALLOC, VMALLOC_PAGES / roundup_pow_of_two(NR_CPUS) / 16))`
//!   pages, where `VMALLOC_PAGES` is the constant `VMALLOC_SPACE` (128 GiB on 64-bit, 128 MiB on 32-bit)
//!   over the page size — 1024 pages (4 MiB) on x86_64 and 256 (1 MiB) on the book's i386 build (NR_CPUS 8).
//! - **A request of up to `VMAP_MAX_ALLOC` pages** is carved out of a block of this CPU's
//!   `vmap_block_queue`: `vb_alloc()` walks the queue's free list in order and takes `2^order` pages at
//!   `VMAP_BBMAP_BITS - vb->free` of the first block with that many free pages left (a bump allocator: freed
//!   space is never reused); with none, `new_vmap_block()` kmallocs a `struct vmap_block` (232 bytes on
//!   x86_64, kmalloc-256), reserves a block-aligned `VMAP_RAM|VMAP_BLOCK` area (`/proc/vmallocinfo` shows it
//!   as one `vm_map_ram` line of the whole block), files the block in the per-CPU xarray that
//!   `addr_to_vb_xa()` hashes its address to, and appends it to this CPU's free list.
//! - **`vb_free()`** clears the pages' PTEs at once and counts them as dirty; the block's area is given back
//!   (to the lazy tree, `free_vmap_area_noflush()`) only when every page of it is dirty, or when
//!   `vm_unmap_aliases()` finds a block whose pages are all free or dirty.
//! - **A larger request** gets a `vmap_area` of its own (`VMAP_RAM`, no guard page, no `vm_struct`).
//! - **Metadata.** The xarrays' nodes are objects of the boot's `radix_tree_node` cache: an xarray holds
//!   index 0 alone in its head and needs one `xa_node` per level and 64-index range otherwise (the tree
//!   `xas_store()` builds, `xas_delete_node()`/`xas_shrink()` trim). The kernel frees an `xa_node` and a
//!   `vmap_block` after an RCU grace period (`call_rcu`, `kfree_rcu`); the simulator frees them at once.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};

use super::{align_up, VMALLOC_C, VMAP_RAM};
use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, PAGE_SHIFT};
use crate::page::Pfn;
use crate::page_alloc::get_order;

const PAGE_SIZE: u64 = 4096;

/// `vmap_area->flags`: the area is a `vmap_block`'s.
pub const VMAP_BLOCK: u64 = 0x2;

// Line numbers in Debian's 6.12.117 mm/vmalloc.c.
const LINE_VB_ALLOC_ZERO: u32 = 2827;
const LINE_VM_UNMAP_RAM_MIGHT_SLEEP: u32 = 3001;
const LINE_VM_UNMAP_RAM_NULL: u32 = 3002;
const LINE_VM_UNMAP_RAM_BELOW: u32 = 3003;
const LINE_VM_UNMAP_RAM_ABOVE: u32 = 3004;
const LINE_VM_UNMAP_RAM_UNALIGNED: u32 = 3005;
const LINE_VM_UNMAP_RAM_NO_AREA: u32 = 3016;

/// `struct vmap_block`.
#[derive(Clone, Debug)]
struct VmapBlock {
    /// Kernel address of the kmalloc'ed `struct vmap_block`.
    obj: u64,
    /// `vb->va->va_start` (the block's area; its key here).
    va_start: u64,
    free: u64,
    dirty: u64,
    /// `used_map`: one bit per page of the block.
    used_map: Vec<bool>,
    dirty_min: u64,
    dirty_max: u64,
    /// The CPU whose queue has it.
    cpu: usize,
    /// On its queue's free list.
    on_free_list: bool,
}

/// `struct vmap_block_queue`.
#[derive(Clone, Debug, Default)]
pub(crate) struct VmapBlockQueue {
    /// `free`: blocks with free pages, by their area's start, in list order.
    free: Vec<u64>,
    /// `vmap_blocks`: the xarray (index → block start) this CPU's slot of the hash holds.
    vmap_blocks: BTreeMap<u64, u64>,
    /// The `xa_node` objects of that xarray.
    xa_nodes: Vec<u64>,
}

/// The vmap blocks of the machine (part of [`super::VmallocState`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct VmapBlocks {
    vbq: Vec<VmapBlockQueue>,
    blocks: HashMap<u64, VmapBlock>,
}

/// How many `xa_node`s an xarray holding exactly the indices `idx` has: none for index 0 alone, else one
/// per distinct `idx >> (6 * l)` on each level `l` from the leaves (64 slots each) to the top.
fn xa_nodes_needed(idx: &BTreeMap<u64, u64>) -> usize {
    let Some((&max, _)) = idx.last_key_value() else {
        return 0;
    };
    if max == 0 {
        return 0;
    }
    let mut levels = 1;
    while levels < 11 && (max >> (6 * levels)) != 0 {
        levels += 1;
    }
    let mut n = 0;
    for l in 1..=levels {
        let mut last = None;
        for &i in idx.keys() {
            let p = i >> (6 * l);
            if last != Some(p) {
                n += 1;
                last = Some(p);
            }
        }
    }
    n
}

impl Machine {
    /// `VMAP_MAX_ALLOC`: `BITS_PER_LONG` pages.
    ///
    /// Context: any.
    pub fn vmap_max_alloc(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => 64,
            Arch::I386 => 32,
        }
    }

    /// `VMAP_BBMAP_BITS`: the pages of a vmap block.
    ///
    /// Context: any.
    pub fn vmap_bbmap_bits(&self) -> u64 {
        let vmalloc_space: u64 = match self.layout.arch {
            Arch::X86_64 => 128 << 30,
            Arch::I386 => 128 << 20,
        };
        let pages = vmalloc_space / PAGE_SIZE;
        let nr_cpus = u64::from(self.cfg.nr_cpus_config.max(1)).next_power_of_two();
        (pages / nr_cpus / 16).max(2 * self.vmap_max_alloc()).min(1024)
    }

    fn vmap_block_size(&self) -> u64 {
        self.vmap_bbmap_bits() * PAGE_SIZE
    }

    fn vbq_init(&mut self) {
        if self.vmalloc.vb.vbq.is_empty() {
            self.vmalloc.vb.vbq = vec![VmapBlockQueue::default(); self.cfg.cpus.max(1) as usize];
        }
    }

    /// `addr_to_vb_xa()`: the CPU slot of the hash whose xarray files the block at `addr`.
    fn addr_to_vb_xa(&self, addr: u64) -> usize {
        ((addr / self.vmap_block_size()) % u64::from(self.cfg.cpus.max(1))) as usize
    }

    /// `addr_to_vb_idx()`.
    fn addr_to_vb_idx(&self, addr: u64) -> u64 {
        let bs = self.vmap_block_size();
        (addr - (self.vmalloc_start() & !(bs - 1))) / bs
    }

    /// Brings xarray `xa`'s `xa_node` objects to what its indices need (`xas_create()` allocates them from
    /// `radix_tree_node` with the caller's flags; erasing frees the emptied ones). False when one could not
    /// be allocated (`-ENOMEM`).
    fn xa_sync_nodes(&mut self, xa: usize, gfp: Gfp) -> bool {
        let need = xa_nodes_needed(&self.vmalloc.vb.vbq[xa].vmap_blocks);
        let cache = self.find_cache("radix_tree_node");
        while self.vmalloc.vb.vbq[xa].xa_nodes.len() > need {
            let n = self.vmalloc.vb.vbq[xa].xa_nodes.pop().unwrap_or(0);
            if let Some(c) = cache {
                self.kmem_cache_free(c, n);
            }
        }
        while self.vmalloc.vb.vbq[xa].xa_nodes.len() < need {
            let Some(c) = cache else {
                return true;
            };
            let n = self.kmem_cache_alloc(c, gfp);
            if n == 0 {
                return false;
            }
            self.vmalloc.vb.vbq[xa].xa_nodes.push(n);
        }
        true
    }

    /// `new_vmap_block(order, gfp_mask)`: a block for this CPU with its first `2^order` pages taken;
    /// returns their address, or None.
    fn new_vmap_block(&mut self, order: u32, gfp: Gfp) -> Option<u64> {
        let bits = self.vmap_bbmap_bits();
        let ptr = self.ptr_size();
        // struct vmap_block: lock (padded to a word), va, free, dirty, used_map, dirty_min/max, free_list,
        // rcu_head, purge (two words each), cpu — rounded to a word.
        let size = align_up(ptr + ptr + 2 * ptr + bits / 8 + 2 * ptr + 6 * ptr + 4, ptr);
        let obj = self.kmalloc(size, gfp & super::GFP_RECLAIM_MASK);
        if obj == 0 {
            return None;
        }
        let bs = self.vmap_block_size();
        let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
        let va = match self.alloc_vmap_area(bs, bs, s, e, gfp, VMAP_RAM | VMAP_BLOCK, None) {
            Ok(va) => va,
            Err(err) => {
                self.kfree(obj);
                self.vm_set_error(err);
                return None;
            }
        };
        let va_start = self.vmalloc.arena.va(va).va_start;
        let cpu = (self.sched.cpu as usize).min(self.vmalloc.vb.vbq.len() - 1);
        let n = 1u64 << order;
        let mut used_map = vec![false; bits as usize];
        used_map[..n as usize].fill(true);
        let xa = self.addr_to_vb_xa(va_start);
        let idx = self.addr_to_vb_idx(va_start);
        self.vmalloc.vb.vbq[xa].vmap_blocks.insert(idx, va_start);
        if !self.xa_sync_nodes(xa, gfp) {
            self.vmalloc.vb.vbq[xa].vmap_blocks.remove(&idx);
            self.xa_sync_nodes(xa, gfp);
            self.kfree(obj);
            self.free_vmap_area(va);
            return None;
        }
        let vb = VmapBlock {
            obj,
            va_start,
            free: bits - n,
            dirty: 0,
            used_map,
            dirty_min: bits,
            dirty_max: 0,
            cpu,
            on_free_list: true,
        };
        self.vmalloc.vb.blocks.insert(va_start, vb);
        self.vmalloc.vb.vbq[cpu].free.push(va_start);
        Some(va_start)
    }

    /// `free_vmap_block()`: takes the block out of its xarray and its area out of the busy tree, and frees
    /// the area lazily; the `struct vmap_block` is freed (by `kfree_rcu()` in the kernel).
    fn free_vmap_block(&mut self, va_start: u64) {
        let xa = self.addr_to_vb_xa(va_start);
        let idx = self.addr_to_vb_idx(va_start);
        self.vmalloc.vb.vbq[xa].vmap_blocks.remove(&idx);
        self.xa_sync_nodes(xa, Gfp::GFP_KERNEL);
        let Some(vb) = self.vmalloc.vb.blocks.remove(&va_start) else {
            return;
        };
        let va = self.find_unlink_vmap_area(va_start);
        if va != crate::rbtree::NIL {
            self.free_vmap_area_noflush(va);
        }
        self.kfree(vb.obj);
    }

    /// Takes block `key` off its CPU's free list (`list_del_rcu(&vb->free_list)`).
    fn vb_del_free_list(&mut self, key: u64) {
        let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) else {
            return;
        };
        if !vb.on_free_list {
            return;
        }
        vb.on_free_list = false;
        let cpu = vb.cpu;
        self.vmalloc.vb.vbq[cpu].free.retain(|&k| k != key);
    }

    /// `purge_fragmented_block(vb, purge_list, force_purge)`: whether the block, all of whose pages are free
    /// or dirty (but not all dirty), goes to the purge list — always when forced, else only when less than a
    /// quarter of it is free (`VMAP_PURGE_THRESHOLD`).
    fn purge_fragmented_block(&mut self, key: u64, force_purge: bool) -> bool {
        let bits = self.vmap_bbmap_bits();
        let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) else {
            return false;
        };
        if vb.free + vb.dirty != bits || vb.dirty == bits {
            return false;
        }
        if !(force_purge || vb.free < bits / 4) {
            return false;
        }
        vb.free = 0;
        vb.dirty = bits;
        vb.dirty_min = 0;
        vb.dirty_max = bits;
        self.vb_del_free_list(key);
        true
    }

    /// `vb_alloc(size, gfp_mask)`: `size` bytes (a page multiple of at most `VMAP_MAX_ALLOC` pages) from this
    /// CPU's blocks, or a new block. None on failure (`WARN_ON(size == 0)` for an empty request).
    fn vb_alloc(&mut self, size: u64, gfp: Gfp) -> Option<u64> {
        if size == 0 {
            self.warn(VMALLOC_C, LINE_VB_ALLOC_ZERO, None);
            return None;
        }
        self.vbq_init();
        let order = get_order(size);
        let n = 1u64 << order;
        let bits = self.vmap_bbmap_bits();
        let cpu = (self.sched.cpu as usize).min(self.vmalloc.vb.vbq.len() - 1);
        let list = self.vmalloc.vb.vbq[cpu].free.clone();
        for key in list {
            let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) else {
                continue;
            };
            if vb.free < n {
                continue;
            }
            let pages_off = bits - vb.free;
            vb.free -= n;
            vb.used_map[pages_off as usize..(pages_off + n) as usize].fill(true);
            let empty = vb.free == 0;
            if empty {
                self.vb_del_free_list(key);
            }
            return Some(key + (pages_off << PAGE_SHIFT));
        }
        self.new_vmap_block(order, gfp)
    }

    /// `vb_free(addr, size)`: unmaps the pages and marks them dirty; frees the block when all of it is dirty.
    /// An address no block has: the kernel's `vb` is NULL and `spin_lock(&vb->lock)` faults.
    fn vb_free(&mut self, addr: u64, size: u64) {
        let order = get_order(size);
        let n = 1u64 << order;
        let bs = self.vmap_block_size();
        let offset = (addr & (bs - 1)) >> PAGE_SHIFT;
        let bits = self.vmap_bbmap_bits();
        self.vbq_init();
        let xa = self.addr_to_vb_xa(addr);
        let idx = self.addr_to_vb_idx(addr);
        let Some(&key) = self.vmalloc.vb.vbq[xa].vmap_blocks.get(&idx) else {
            // xa_load() returned NULL: spin_lock(&vb->lock) writes the lock word at offset 0.
            self.push_kframe("_raw_spin_lock");
            // The lock's cmpxchg faults after preempt_disable().
            self.preempt_disable();
            self.page_fault_oops(0, crate::fault::X86_PF_WRITE);
            self.pop_frame();
            return;
        };
        if let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) {
            let end = (offset + n).min(bits) as usize;
            vb.used_map[offset as usize..end].fill(false);
        }
        self.vunmap_range(addr, addr + size);
        let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) else {
            return;
        };
        vb.dirty_min = vb.dirty_min.min(offset);
        vb.dirty_max = vb.dirty_max.max(offset + n);
        vb.dirty += n;
        if vb.dirty == bits {
            self.free_vmap_block(key);
        }
    }

    /// `_vm_unmap_aliases()`'s vmap block part: purges every block whose pages are all free or dirty (when
    /// less than a quarter is free: `force_purge` is false here) and forgets the dirty ranges of the others
    /// (they are flushed with the lazy areas).
    pub(super) fn vb_unmap_aliases(&mut self) {
        let bits = self.vmap_bbmap_bits();
        let mut purge = Vec::new();
        for xa in 0..self.vmalloc.vb.vbq.len() {
            let keys: Vec<u64> = self.vmalloc.vb.vbq[xa].vmap_blocks.values().copied().collect();
            for key in keys {
                if self.purge_fragmented_block(key, false) {
                    purge.push(key);
                } else if let Some(vb) = self.vmalloc.vb.blocks.get_mut(&key) {
                    if vb.dirty_max != 0 && vb.dirty != bits {
                        vb.dirty_min = bits;
                        vb.dirty_max = 0;
                    }
                }
            }
        }
        for key in purge {
            self.free_vmap_block(key);
        }
    }

    /// `purge_fragmented_blocks_allcpus()`: the blocks of every CPU whose pages are all free or dirty (and not
    /// all dirty) are freed — the lazy purge runs this first (`__purge_vmap_area_lazy()`).
    pub(super) fn purge_fragmented_blocks_allcpus(&mut self) {
        let mut purge = Vec::new();
        for cpu in 0..self.vmalloc.vb.vbq.len() {
            for key in self.vmalloc.vb.vbq[cpu].free.clone() {
                if self.purge_fragmented_block(key, true) {
                    purge.push(key);
                }
            }
        }
        for key in purge {
            self.free_vmap_block(key);
        }
    }

    /// `vm_map_ram(pages, count, node)`: maps `pages` at consecutive addresses of the vmalloc area — up to
    /// [`Machine::vmap_max_alloc`] pages inside a per-CPU vmap block, more in an area of their own. Returns
    /// the address, or 0 on failure.
    ///
    /// Context: process context, may sleep (only when a new block or area is needed).
    pub fn vm_map_ram(&mut self, pages: &[Pfn], node: i32) -> u64 {
        let _ = node;
        let depth = self.stack.frames.len();
        self.push_kframe("vm_map_ram");
        let r = self.vm_map_ram_inner(pages);
        self.stack.frames.truncate(depth);
        r
    }

    fn vm_map_ram_inner(&mut self, pages: &[Pfn]) -> u64 {
        let count = pages.len() as u64;
        let size = count << PAGE_SHIFT;
        let addr = if count <= self.vmap_max_alloc() {
            match self.vb_alloc(size, Gfp::GFP_KERNEL) {
                Some(a) => a,
                None => return 0,
            }
        } else {
            let (s, e) = (self.vmalloc_start(), self.vmalloc_end());
            match self.alloc_vmap_area(size, PAGE_SIZE, s, e, Gfp::GFP_KERNEL, VMAP_RAM, None) {
                Ok(va) => self.vmalloc.arena.va(va).va_start,
                Err(err) => {
                    self.vm_set_error(err);
                    return 0;
                }
            }
        };
        if !self.vmap_pages_range(addr, pages) {
            self.vm_unmap_ram_inner(addr, count as u32);
            return 0;
        }
        addr
    }

    /// `vm_unmap_ram(mem, count)`: removes a `vm_map_ram()` mapping of `count` pages (the count of that
    /// call: a mapping cannot be unmapped in part). NULL, an address outside the vmalloc area or not page
    /// aligned is a `BUG()`; an unknown large mapping `WARN_ON_ONCE`s.
    ///
    /// Context: process context, may sleep.
    pub fn vm_unmap_ram(&mut self, mem: u64, count: u32) {
        let depth = self.stack.frames.len();
        self.push_kframe("vm_unmap_ram");
        self.vm_unmap_ram_inner(mem, count);
        self.stack.frames.truncate(depth);
    }

    fn vm_unmap_ram_inner(&mut self, addr: u64, count: u32) {
        let size = u64::from(count) << PAGE_SHIFT;
        self.might_sleep(VMALLOC_C, LINE_VM_UNMAP_RAM_MIGHT_SLEEP);
        let bug = if addr == 0 {
            Some(LINE_VM_UNMAP_RAM_NULL)
        } else if addr < self.vmalloc_start() {
            Some(LINE_VM_UNMAP_RAM_BELOW)
        } else if addr > self.vmalloc_end() {
            Some(LINE_VM_UNMAP_RAM_ABOVE)
        } else if addr % PAGE_SIZE != 0 {
            Some(LINE_VM_UNMAP_RAM_UNALIGNED)
        } else {
            None
        };
        if let Some(line) = bug {
            self.vm_bug(line);
            return;
        }
        if u64::from(count) <= self.vmap_max_alloc() {
            self.vb_free(addr, size);
            return;
        }
        let va = self.find_unlink_vmap_area(addr);
        if va == crate::rbtree::NIL {
            self.warn_once(VMALLOC_C, LINE_VM_UNMAP_RAM_NO_AREA, None);
            return;
        }
        // free_unmap_vmap_area()
        let (s, e) = (self.vmalloc.arena.va(va).va_start, self.vmalloc.arena.va(va).va_end);
        self.vunmap_range(s, e);
        self.free_vmap_area_noflush(va);
    }

    /// The vmap blocks: `(start, free, dirty, pages in use)` of each, in address order (introspection).
    ///
    /// Context: any.
    pub fn vmap_blocks(&self) -> Vec<(u64, u64, u64, u64)> {
        let mut v: Vec<_> = self
            .vmalloc
            .vb
            .blocks
            .values()
            .map(|b| (b.va_start, b.free, b.dirty, b.used_map.iter().filter(|&&u| u).count() as u64))
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(idx: &[u64]) -> BTreeMap<u64, u64> {
        idx.iter().map(|&i| (i, i)).collect()
    }

    #[test]
    fn xa_nodes() {
        assert_eq!(xa_nodes_needed(&set(&[])), 0);
        assert_eq!(xa_nodes_needed(&set(&[0])), 0);
        assert_eq!(xa_nodes_needed(&set(&[1])), 1);
        assert_eq!(xa_nodes_needed(&set(&[0, 63])), 1);
        // Two leaves under one root.
        assert_eq!(xa_nodes_needed(&set(&[1, 64])), 3);
        assert_eq!(xa_nodes_needed(&set(&[64])), 2);
    }
}
