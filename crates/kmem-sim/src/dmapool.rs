//! DMA pools: mm/dmapool.c and include/linux/dmapool.h of Linux 6.12.117 (the 6.3 rewrite with one free list
//! of blocks per pool).
//!
//! A pool hands out small blocks of coherent memory carved from `allocation`-byte chunks that
//! `dma_alloc_coherent` returns. `dma_pool_create(name, dev, size, align, boundary)`: `align` 0 means 1 and must
//! otherwise be a power of two; `size` must be 1..=INT_MAX, is raised to `sizeof(struct dma_block)` (16 bytes
//! on x86_64, 8 on i386) and rounded up to `align`; `allocation = max(size, PAGE_SIZE)`; `boundary` 0 means
//! `allocation`, otherwise it must be a power of two >= size, and is capped at `allocation`. Blocks never
//! cross a `boundary`. Every failure returns NULL ([`DmaPoolCreateError`] says which rule).
//!
//! As in the kernel, a free block's first bytes hold `struct dma_block { next_block; dma; }` in the simulated
//! memory itself, the free list is LIFO, and the chunk headers (`struct dma_page`, 32 bytes) and the pool
//! (`struct dma_pool`, 128 bytes) are kmalloc'd.
//!
//! # Debugging (`DMAPOOL_DEBUG`)
//! 6.12 defines `DMAPOOL_DEBUG` only with `CONFIG_SLUB_DEBUG_ON`, which Debian's kernel does not set, and that
//! is the simulator's default: then `dma_pool_free` checks nothing — a block freed to the wrong pool or twice
//! simply goes on the free list (and is handed out again later). With [`crate::SlabConfig::slub_debug_on`]
//! (builder `MachineConfig::slub_debug_on(true)`) chunks are poisoned with `POOL_POISON_FREED` (0xa7),
//! allocated blocks with `POOL_POISON_ALLOCATED` (0xa9), and the kernel's messages appear:
//! `pool_block_err <pool>, <vaddr>/<dma> (bad dma)`, `pool_block_err <pool>, dma <dma> already free`,
//! `pool_check_block <pool>, <block> (corrupted)` with a hex dump. `dma_pool_destroy <pool> busy` is printed
//! in both configurations (and the chunks of a busy pool are leaked, not freed).

#![forbid(unsafe_code)]

use crate::device::DeviceId;
use crate::dma::DmaAlloc;
use crate::gfp::Gfp;
use crate::machine::{Arch, Machine};
use crate::printk::LogLevel;

/// `POOL_POISON_FREED`.
pub const POOL_POISON_FREED: u8 = 0xa7;
/// `POOL_POISON_ALLOCATED`.
pub const POOL_POISON_ALLOCATED: u8 = 0xa9;
const PAGE_SIZE: u64 = 4096;
const INT_MAX: u64 = i32::MAX as u64;

/// A DMA pool, by the kernel address of its `struct dma_pool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DmaPoolPtr(pub u64);

/// Why `dma_pool_create` returned NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaPoolCreateError {
    /// `dev` is NULL.
    NoDevice,
    /// `align` is not a power of two.
    BadAlign,
    /// `size` is 0 or above `INT_MAX`.
    BadSize,
    /// `boundary` is smaller than the block size or not a power of two.
    BadBoundary,
    /// The `struct dma_pool` could not be allocated.
    NoMem,
}

impl std::fmt::Display for DmaPoolCreateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            DmaPoolCreateError::NoDevice => "no device",
            DmaPoolCreateError::BadAlign => "align is not a power of two",
            DmaPoolCreateError::BadSize => "size is 0 or larger than INT_MAX",
            DmaPoolCreateError::BadBoundary => "boundary below size or not a power of two",
            DmaPoolCreateError::NoMem => "out of memory",
        };
        write!(f, "dma_pool_create: {s}")
    }
}
impl std::error::Error for DmaPoolCreateError {}

/// `struct dma_page`: one chunk of coherent memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaPage {
    /// The kmalloc'd `struct dma_page`.
    pub addr: u64,
    /// CPU address of the chunk.
    pub vaddr: u64,
    /// Bus address of the chunk.
    pub dma: u64,
}

/// `struct dma_pool`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaPool {
    /// Address of the `struct dma_pool`.
    pub addr: u64,
    /// `name` (at most 31 characters, as `strscpy` into `char[32]` keeps).
    pub name: String,
    /// `dev`.
    pub dev: DeviceId,
    /// `size`: the block size.
    pub size: u32,
    /// `allocation`: the chunk size.
    pub allocation: u32,
    /// `boundary`.
    pub boundary: u32,
    /// `next_block`: the first free block (0: none).
    pub next_block: u64,
    /// `nr_blocks`.
    pub nr_blocks: u64,
    /// `nr_active` (a `size_t`: an unbalanced free wraps it).
    pub nr_active: u64,
    /// `nr_pages`.
    pub nr_pages: u64,
    /// `page_list`, newest first.
    pub page_list: Vec<DmaPage>,
}

fn hex_dump_offset(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, row) in data.chunks(16).enumerate() {
        let line = crate::printk::hex_dump_row(row);
        out.push(format!("{:08x}: {line}\n", i * 16));
    }
    out
}

impl Machine {
    fn dma_block_size(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => 16,
            Arch::I386 => 8,
        }
    }

    fn word(&self) -> u64 {
        self.dma_block_size() / 2
    }

    fn read_word(&self, addr: u64) -> Option<u64> {
        let w = self.word() as usize;
        let mut b = [0u8; 8];
        self.read_bytes(addr, &mut b[..w]).ok()?;
        Some(u64::from_le_bytes(b))
    }

    fn write_word(&mut self, addr: u64, v: u64) -> bool {
        let w = self.word() as usize;
        self.write_bytes(addr, &v.to_le_bytes()[..w]).is_ok()
    }

    /// `%pad`: `0x` and the `dma_addr_t` in hex, zero-padded to its width.
    fn format_pad(&self, dma: u64) -> String {
        match self.layout.arch {
            Arch::X86_64 => format!("0x{dma:016x}"),
            Arch::I386 => format!("0x{:08x}", dma as u32),
        }
    }

    /// The pool.
    ///
    /// Context: any.
    pub fn dma_pool(&self, pool: DmaPoolPtr) -> Option<&DmaPool> {
        self.dma.pools.get(&pool.0)
    }

    /// `dma_pool_create(name, dev, size, align, boundary)`; see the module documentation for the rules.
    ///
    /// Context: process context (may sleep).
    pub fn dma_pool_create(
        &mut self,
        name: &str,
        dev: Option<DeviceId>,
        size: u64,
        align: u64,
        boundary: u64,
    ) -> Result<DmaPoolPtr, DmaPoolCreateError> {
        let dev = dev.filter(|d| self.device(*d).is_some()).ok_or(DmaPoolCreateError::NoDevice)?;
        let align = match align {
            0 => 1,
            a if a & (a - 1) != 0 => return Err(DmaPoolCreateError::BadAlign),
            a => a,
        };
        if size == 0 || size > INT_MAX {
            return Err(DmaPoolCreateError::BadSize);
        }
        let size = size.max(self.dma_block_size());
        let size = size.div_ceil(align) * align;
        let allocation = size.max(PAGE_SIZE);
        let boundary = match boundary {
            0 => allocation,
            b if b < size || b & (b - 1) != 0 => return Err(DmaPoolCreateError::BadBoundary),
            b => b,
        };
        let boundary = boundary.min(allocation);
        let struct_size = match self.layout.arch {
            Arch::X86_64 => 128,
            Arch::I386 => 84,
        };
        let depth = self.stack.frames.len();
        self.push_kframe("dma_pool_create");
        let addr = self.do_kmalloc(struct_size, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO, "__kmalloc_cache_noprof");
        self.stack.frames.truncate(depth);
        if addr == 0 {
            return Err(DmaPoolCreateError::NoMem);
        }
        let name: String = name.chars().take(31).collect();
        self.dma.pools.insert(
            addr,
            DmaPool {
                addr,
                name,
                dev,
                size: size as u32,
                allocation: allocation as u32,
                boundary: boundary as u32,
                next_block: 0,
                nr_blocks: 0,
                nr_active: 0,
                nr_pages: 0,
                page_list: Vec::new(),
            },
        );
        if let Some(d) = self.device_mut(dev) {
            d.dma_pools.insert(0, addr);
        }
        Ok(DmaPoolPtr(addr))
    }

    /// `pool_alloc_page()` + `pool_initialise_page()`: a new chunk carved into blocks that go in front of the
    /// free list. False if the memory could not be allocated.
    fn dma_pool_grow(&mut self, pool: u64, mem_flags: Gfp) -> bool {
        let (dev, allocation, size, boundary) = {
            let p = &self.dma.pools[&pool];
            (p.dev, p.allocation as u64, p.size as u64, p.boundary as u64)
        };
        let hdr = match self.layout.arch {
            Arch::X86_64 => 32,
            Arch::I386 => 16,
        };
        let depth = self.stack.frames.len();
        self.push_kframe("pool_alloc_page");
        let page_addr = self.do_kmalloc(hdr, mem_flags, "__kmalloc_cache_noprof");
        if page_addr == 0 {
            self.stack.frames.truncate(depth);
            return false;
        }
        let Some(DmaAlloc { cpu_addr, dma_handle }) = self.dma_alloc_coherent(Some(dev), allocation, mem_flags) else {
            self.kfree(page_addr);
            self.stack.frames.truncate(depth);
            return false;
        };
        self.stack.frames.truncate(depth);
        if self.cfg.slab.slub_debug_on {
            let _ = self.fill(cpu_addr, allocation, POOL_POISON_FREED);
        }
        let w = self.word();
        let mut offset = 0u64;
        let mut next_boundary = boundary;
        let mut blocks = Vec::new();
        while offset + size <= allocation {
            if offset + size > next_boundary {
                offset = next_boundary;
                next_boundary += boundary;
                continue;
            }
            blocks.push(offset);
            offset += size;
        }
        let old_head = self.dma.pools[&pool].next_block;
        for (i, off) in blocks.iter().enumerate() {
            let b = cpu_addr + off;
            let next = blocks.get(i + 1).map(|o| cpu_addr + o).unwrap_or(old_head);
            self.write_word(b, next);
            self.write_word(b + w, dma_handle + off);
        }
        let p = self.dma.pools.get_mut(&pool).expect("present");
        p.nr_blocks += blocks.len() as u64;
        if let Some(first) = blocks.first() {
            p.next_block = cpu_addr + first;
        }
        p.page_list.insert(0, DmaPage { addr: page_addr, vaddr: cpu_addr, dma: dma_handle });
        p.nr_pages += 1;
        true
    }

    /// `dma_pool_alloc(pool, mem_flags, &handle)`: pops the first free block (growing the pool by one chunk
    /// when there is none); None (NULL) when memory runs out. `__GFP_ZERO` (or `init_on_alloc`) zeroes the
    /// block.
    ///
    /// Context: process context with GFP_KERNEL, any context with GFP_ATOMIC.
    pub fn dma_pool_alloc(&mut self, pool: DmaPoolPtr, mem_flags: Gfp) -> Option<DmaAlloc> {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_pool_alloc");
        let r = self.dma_pool_alloc_inner(pool.0, mem_flags);
        self.stack.frames.truncate(depth);
        r
    }

    fn pool_block_pop(&mut self, pool: u64) -> Option<u64> {
        let block = self.dma.pools[&pool].next_block;
        if block == 0 {
            return None;
        }
        let next = match self.read_word(block) {
            Some(n) => n,
            None => {
                self.die_on_access(block);
                return None;
            }
        };
        let p = self.dma.pools.get_mut(&pool).expect("present");
        p.next_block = next;
        p.nr_active = p.nr_active.wrapping_add(1);
        Some(block)
    }

    fn dma_pool_alloc_inner(&mut self, pool: u64, mem_flags: Gfp) -> Option<DmaAlloc> {
        self.might_alloc(mem_flags);
        if !self.dma.pools.contains_key(&pool) {
            // spin_lock_irqsave(&pool->lock): a write to the lock after `page_list` (0x10 on x86_64, 8 on
            // i386), in _raw_spin_lock_irqsave, as the real kernel's oops for a NULL pool shows.
            let off = if self.ptr_size() == 8 { 0x10 } else { 0x8 };
            self.push_kframe("_raw_spin_lock_irqsave");
            // The lock's cmpxchg faults after local_irq_save() and preempt_disable().
            self.local_irq_disable();
            self.preempt_disable();
            self.page_fault_oops(pool.wrapping_add(off), crate::fault::X86_PF_WRITE);
            self.pop_frame();
            return None;
        }
        let had_free = self.dma.pools[&pool].next_block != 0;
        let block = match self.pool_block_pop(pool) {
            Some(b) => b,
            None => {
                if had_free {
                    // The free list pointed at unmapped memory: pool_block_pop oopsed.
                    return None;
                }
                if !self.dma_pool_grow(pool, mem_flags & !Gfp::__GFP_ZERO) {
                    return None;
                }
                self.pool_block_pop(pool)?
            }
        };
        let w = self.word();
        let handle = self.read_word(block + w).unwrap_or(0);
        let size = self.dma.pools[&pool].size as u64;
        if self.cfg.slab.slub_debug_on {
            self.pool_check_block(pool, block, size, mem_flags);
        }
        if self.want_init_on_alloc(mem_flags) {
            let _ = self.fill(block, size, 0);
        }
        Some(DmaAlloc { cpu_addr: block, dma_handle: handle })
    }

    fn pool_check_block(&mut self, pool: u64, block: u64, size: u64, mem_flags: Gfp) {
        let mut data = vec![0u8; size as usize];
        if self.read_bytes(block, &mut data).is_ok() {
            let hdr = self.dma_block_size() as usize;
            if data.iter().skip(hdr).any(|&b| b != POOL_POISON_FREED) {
                let (dev, name) = {
                    let p = &self.dma.pools[&pool];
                    (p.dev, p.name.clone())
                };
                let bp = self.format_ptr(block);
                self.dev_err(Some(dev), &format!("pool_check_block {name}, {bp} (corrupted)\n"));
                for l in hex_dump_offset(&data) {
                    self.printk(LogLevel::Err, &l);
                }
            }
        }
        if !self.want_init_on_alloc(mem_flags) {
            let _ = self.fill(block, size, POOL_POISON_ALLOCATED);
        }
    }

    /// `dma_pool_zalloc(pool, mem_flags, &handle)`: `dma_pool_alloc` with `__GFP_ZERO`.
    ///
    /// Context: as [`Machine::dma_pool_alloc`].
    pub fn dma_pool_zalloc(&mut self, pool: DmaPoolPtr, mem_flags: Gfp) -> Option<DmaAlloc> {
        self.dma_pool_alloc(pool, mem_flags | Gfp::__GFP_ZERO)
    }

    /// `dma_pool_free(pool, vaddr, dma)`: pushes the block on the pool's free list (recording `dma` in it) and
    /// decrements `nr_active`. Without `DMAPOOL_DEBUG` nothing is checked; with it, an unknown `dma` prints
    /// `(bad dma)` and a block already on the free list `already free`, and the block is not freed.
    ///
    /// Context: any.
    pub fn dma_pool_free(&mut self, pool: DmaPoolPtr, vaddr: u64, dma: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("dma_pool_free");
        self.dma_pool_free_inner(pool.0, vaddr, dma);
        self.stack.frames.truncate(depth);
    }

    fn dma_pool_free_inner(&mut self, pool: u64, vaddr: u64, dma: u64) {
        let Some(p) = self.dma.pools.get(&pool) else {
            self.die_on_access(pool);
            return;
        };
        let (dev, name, size, allocation, head, nr_blocks) =
            (p.dev, p.name.clone(), p.size as u64, p.allocation as u64, p.next_block, p.nr_blocks);
        // pool_block_err()
        if self.cfg.slab.slub_debug_on {
            let found = self.dma.pools[&pool].page_list.iter().any(|pg| dma >= pg.dma && dma - pg.dma < allocation);
            if !found {
                let vp = self.format_ptr(vaddr);
                let pad = self.format_pad(dma);
                self.dev_err(Some(dev), &format!("pool_block_err {name}, {vp}/{pad} (bad dma)\n"));
                return;
            }
            let mut block = head;
            let mut steps = 0;
            while block != 0 && steps <= nr_blocks {
                if block == vaddr {
                    let pad = self.format_pad(dma);
                    self.dev_err(Some(dev), &format!("pool_block_err {name}, dma {pad} already free\n"));
                    return;
                }
                block = self.read_word(block).unwrap_or(0);
                steps += 1;
            }
            if self.fill(vaddr, size, POOL_POISON_FREED).is_err() {
                self.die_on_access(vaddr);
                return;
            }
        } else if self.slab.cfg.init_on_free && self.fill(vaddr, size, 0).is_err() {
            self.die_on_access(vaddr);
            return;
        }
        // pool_block_push()
        let w = self.word();
        if !self.write_word(vaddr + w, dma) || !self.write_word(vaddr, head) {
            self.die_on_access(vaddr);
            return;
        }
        let p = self.dma.pools.get_mut(&pool).expect("present");
        p.next_block = vaddr;
        p.nr_active = p.nr_active.wrapping_sub(1);
    }

    /// `dma_pool_destroy(pool)`: NULL is ignored. If blocks are still allocated, prints
    /// `dma_pool_destroy <name> busy` (dev_err) and leaks the chunks; otherwise frees them with
    /// `dma_free_coherent`. The chunk headers and the pool are kfreed either way.
    ///
    /// Context: process context.
    pub fn dma_pool_destroy(&mut self, pool: Option<DmaPoolPtr>) {
        let Some(pool) = pool else {
            return;
        };
        let depth = self.stack.frames.len();
        self.push_kframe("dma_pool_destroy");
        let Some(p) = self.dma.pools.remove(&pool.0) else {
            self.die_on_access(pool.0);
            self.stack.frames.truncate(depth);
            return;
        };
        if let Some(d) = self.device_mut(p.dev) {
            d.dma_pools.retain(|a| *a != pool.0);
        }
        let busy = p.nr_active != 0;
        if busy {
            self.dev_err(Some(p.dev), &format!("dma_pool_destroy {} busy\n", p.name));
        }
        for pg in &p.page_list {
            if !busy {
                self.dma_free_coherent(Some(p.dev), p.allocation as u64, pg.vaddr, pg.dma);
            }
            self.kfree(pg.addr);
        }
        self.kfree(pool.0);
        self.stack.frames.truncate(depth);
    }

    /// The device's `pools` sysfs file (`/sys/devices/.../pools`): `poolinfo - 0.1` then one line per pool,
    /// newest first: name, active blocks, total blocks, block size, chunks. None when the device has no pool
    /// (the file does not exist).
    ///
    /// Context: any.
    pub fn dma_pools_show(&self, dev: DeviceId) -> Option<String> {
        let d = self.device(dev)?;
        if d.dma_pools.is_empty() {
            return None;
        }
        let mut s = String::from("poolinfo - 0.1\n");
        for a in &d.dma_pools {
            if let Some(p) = self.dma.pools.get(a) {
                s.push_str(&format!(
                    "{:<16} {:4} {:4} {:4} {:2}\n",
                    p.name, p.nr_active, p.nr_blocks, p.size, p.nr_pages
                ));
            }
        }
        Some(s)
    }

    /// The free list of a pool, first block first (read from the simulated memory, at most `nr_blocks + 1`
    /// entries so a corrupted list cannot loop).
    ///
    /// Context: any.
    pub fn dma_pool_free_list(&self, pool: DmaPoolPtr) -> Vec<u64> {
        let Some(p) = self.dma.pools.get(&pool.0) else {
            return Vec::new();
        };
        let mut v = Vec::new();
        let mut b = p.next_block;
        while b != 0 && v.len() as u64 <= p.nr_blocks {
            v.push(b);
            b = self.read_word(b).unwrap_or(0);
        }
        v
    }
}
