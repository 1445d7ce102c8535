//! The model-based driver shared by `tests/model.rs` (proptest) and `fuzz/fuzz_targets/api.rs` (libFuzzer).
//!
//! A program is a byte string: the first byte picks the machine (RAM size or the booted book's machine,
//! `slab_debug`), then each step reads
//! an opcode and its operands (missing bytes read as 0). The driver keeps a model of what it holds (live
//! allocations with the byte pattern written into each, freed ones kept for misuse) and issues calls over the
//! whole public API, misuse included. After every step it checks the properties listed in
//! `crates/kmem-sim/README.md`; a violation is returned as `Err`. A host panic is never caught. An oops or
//! panic of the simulated kernel (`kernel_stop()`) ends the program cleanly: the task died.

#![allow(dead_code)]

use kmem_sim::dmapool::DmaPoolPtr;
use kmem_sim::slab_common::{SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER};
use kmem_sim::*;

/// Reads operands from the program; exhausted input reads as zeros.
pub struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, pos: 0 }
    }
    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// An index into a collection of `n` (> 0) elements.
    pub fn idx(&mut self, n: usize) -> usize {
        self.u16() as usize % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `alloc_pages` (pfn, order).
    Pages {
        pfn: u64,
        order: u32,
    },
    Kmalloc,
    Cache(usize),
    Vmalloc,
    Kvmalloc,
    Mempool(usize),
    /// An element of a page pool: the `struct page *` it returned (the data is at the page's address).
    MempoolPage(usize, u64),
    Dma {
        handle: u64,
    },
    DmaPool {
        pool: usize,
        handle: u64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Alloc {
    pub kind: Kind,
    pub addr: u64,
    pub size: u64,
    pub tag: u8,
}

/// The bits of a program's first byte that select the booted book's machine.
pub const BOOTED: u8 = 0x38;

/// Expected report key words of a misuse.
const BAD_PAGE: &str = "BUG: Bad page state";

pub struct Model {
    pub m: Machine,
    pub live: Vec<Alloc>,
    pub freed: Vec<Alloc>,
    pub caches: Vec<Option<CacheId>>,
    pub mempools: Vec<Option<(MempoolPtr, u64)>>,
    pub dmapools: Vec<Option<DmaPoolPtr>>,
    pub dev: DeviceId,
    pub eaters: Vec<mempool::EaterId>,
    /// Atomic sections entered (0: spin lock, 1: irq disabled, 2: preempt disabled, 3: hardirq).
    pub ctx: Vec<u8>,
    /// slab_debug on: slab misuse is detected and refused, so the model stays exact.
    pub debug: bool,
    /// A misuse that the kernel does not catch happened (heap corruption): contents and disjointness are no
    /// longer the kernel's promise, only the simulator's survival and internal consistency are.
    pub corrupt: bool,
    pub tag: u8,
    pub step: usize,
    pub bad_pages: u32,
}

fn gfp_of(b: u8) -> Gfp {
    let base = match b % 8 {
        0 | 1 => Gfp::GFP_KERNEL,
        2 => Gfp::GFP_ATOMIC,
        3 => Gfp::GFP_NOWAIT,
        4 => Gfp::GFP_KERNEL | Gfp::GFP_DMA,
        5 => Gfp::GFP_KERNEL | Gfp::__GFP_ACCOUNT,
        6 => Gfp::GFP_KERNEL | Gfp::__GFP_RECLAIMABLE,
        _ => Gfp::GFP_HIGHUSER_MOVABLE,
    };
    let mut g = base;
    if b & 0x08 != 0 {
        g |= Gfp::__GFP_ZERO;
    }
    if b & 0x10 != 0 {
        g |= Gfp::__GFP_NOWARN;
    }
    if b & 0x20 != 0 {
        g |= Gfp::__GFP_COMP;
    }
    if b & 0xc0 == 0xc0 {
        g |= Gfp::__GFP_NOFAIL;
    }
    g
}

/// Sizes: mostly small, some page-sized, some large, some 0 and some absurd.
fn size_of(b: &mut Bytes) -> u64 {
    let sel = b.u8();
    let v = b.u32() as u64;
    match sel % 16 {
        0 => 0,
        1 => u64::MAX - (v & 0xfff),
        2 => 1 << (32 + v % 24),
        3..=8 => 1 + v % 512,
        9..=11 => 1 + v % 16384,
        12 | 13 => 1 + v % (256 << 10),
        _ => 1 + v % (8 << 20),
    }
}

fn overlaps(a: &Alloc, b: &Alloc) -> bool {
    a.addr < b.addr + b.size && b.addr < a.addr + a.size
}

impl Model {
    pub fn boot(sel: u8) -> Model {
        // Bits 3, 4 and 5 all set (an eighth of the programs: its checks cost four times those of the small
        // machines; no saved regression program has them): the book's machine as the recorded real boot left
        // it (256 MiB, 4 CPUs, boot caches, vmalloc areas, per-CPU lists). Otherwise a small modelled machine.
        let mut cfg = if sel & BOOTED == BOOTED {
            MachineConfig::x86_64()
        } else {
            MachineConfig::x86_64().ram_mib(if sel & 1 == 0 { 64 } else { 32 })
        };
        let debug = sel & 2 != 0;
        if debug {
            // CONFIG_SLUB_DEBUG_ON: every cache debugged, and DMAPOOL_DEBUG.
            cfg = cfg.slub_debug_on(true);
        }
        let mut m = Machine::boot(cfg).expect("boot");
        m.set_current("insmod", 1000);
        let dev = m.platform_device_register_simple("fuzzdev", -1);
        Model {
            m,
            live: Vec::new(),
            freed: Vec::new(),
            caches: Vec::new(),
            mempools: Vec::new(),
            dmapools: Vec::new(),
            dev,
            eaters: Vec::new(),
            ctx: Vec::new(),
            debug,
            corrupt: false,
            tag: 0,
            step: 0,
            bad_pages: 0,
        }
    }

    fn next_tag(&mut self) -> u8 {
        self.tag = self.tag.wrapping_add(1) | 1;
        self.tag
    }

    /// Records a new allocation: fills it with a fresh tag (first and last 64 bytes, enough to see overlaps).
    fn add(&mut self, kind: Kind, addr: u64, size: u64) -> Result<(), String> {
        if addr == 0 || addr == 16 || size == 0 {
            return Ok(());
        }
        let tag = self.next_tag();
        let a = Alloc { kind, addr, size, tag };
        self.paint(&a)?;
        self.live.push(a);
        Ok(())
    }

    fn paint(&mut self, a: &Alloc) -> Result<(), String> {
        let head = a.size.min(64);
        self.m.fill(a.addr, head, a.tag).map_err(|e| format!("write to live {a:?}: {e}"))?;
        self.m.fill(a.addr + a.size - head, head, a.tag).map_err(|e| format!("write to live {a:?}: {e}"))
    }

    fn verify(&self, a: &Alloc) -> Result<(), String> {
        if self.corrupt {
            return Ok(());
        }
        let head = a.size.min(64);
        for off in [0, a.size - head] {
            let mut buf = vec![0u8; head as usize];
            self.m.read_bytes(a.addr + off, &mut buf).map_err(|e| format!("read of live {a:?}: {e}"))?;
            if buf.iter().any(|&x| x != a.tag) {
                return Err(format!("contents of live {a:?} changed at +{off:#x}: {buf:02x?}"));
            }
        }
        Ok(())
    }

    fn take_live(&mut self, b: &mut Bytes, pred: impl Fn(&Kind) -> bool) -> Option<Alloc> {
        let idxs: Vec<usize> = (0..self.live.len()).filter(|&i| pred(&self.live[i].kind)).collect();
        if idxs.is_empty() {
            return None;
        }
        let i = idxs[b.idx(idxs.len())];
        Some(self.live.swap_remove(i))
    }

    fn pick_freed(&mut self, b: &mut Bytes, pred: impl Fn(&Kind) -> bool) -> Option<Alloc> {
        let idxs: Vec<usize> = (0..self.freed.len()).filter(|&i| pred(&self.freed[i].kind)).collect();
        if idxs.is_empty() {
            return None;
        }
        Some(self.freed[idxs[b.idx(idxs.len())]])
    }

    /// The freed object's memory may have been handed out again: drop freed records overlapping `a`.
    fn forget_freed_overlapping(&mut self) {
        let live = self.live.clone();
        self.freed.retain(|f| !live.iter().any(|l| overlaps(l, f)));
        if self.freed.len() > 64 {
            self.freed.drain(..self.freed.len() - 64);
        }
    }

    fn free_alloc(&mut self, a: Alloc) -> Result<(), String> {
        self.verify(&a)?;
        match a.kind {
            Kind::Pages { pfn, order } => self.m.__free_pages(Pfn(pfn), order),
            Kind::Kmalloc => self.m.kfree(a.addr),
            Kind::Cache(c) => match self.caches[c] {
                Some(id) => self.m.kmem_cache_free(id, a.addr),
                None => return Ok(()),
            },
            Kind::Vmalloc => self.m.vfree(a.addr),
            Kind::Kvmalloc => self.m.kvfree(a.addr),
            Kind::Mempool(p) => match self.mempools[p] {
                Some((pool, _)) => self.m.mempool_free(a.addr, pool),
                None => return Ok(()),
            },
            Kind::MempoolPage(p, page) => match self.mempools[p] {
                Some((pool, _)) => self.m.mempool_free(page, pool),
                None => return Ok(()),
            },
            Kind::Dma { handle } => self.m.dma_free_coherent(Some(self.dev), a.size, a.addr, handle),
            Kind::DmaPool { pool, handle } => match self.dmapools[pool] {
                Some(p) => self.m.dma_pool_free(p, a.addr, handle),
                None => return Ok(()),
            },
        }
        self.freed.push(a);
        Ok(())
    }

    fn in_atomic_ctx(&self) -> bool {
        !self.ctx.is_empty()
    }

    /// One step. `Ok(false)` when the simulated kernel stopped.
    pub fn step(&mut self, b: &mut Bytes) -> Result<bool, String> {
        self.step += 1;
        let seq = self.m.log_seq();
        let op = b.u8();
        let mut expect: Option<&'static [&'static str]> = None;
        match op % 40 {
            // ---------------------------------------------------------------- page allocator
            0 | 1 => {
                let gfp = gfp_of(b.u8());
                let order = match b.u8() % 16 {
                    o @ 0..=10 => o as u32 % 6,
                    o => o as u32, // 11..15: up to and beyond MAX_PAGE_ORDER
                };
                if let Some(p) = self.m.alloc_pages(gfp, order) {
                    let addr = self.m.page_address(p);
                    if addr != 0 {
                        self.add(Kind::Pages { pfn: p.0, order }, addr, 4096 << order)?;
                    } else {
                        self.m.__free_pages(p, order);
                    }
                }
            }
            2 => {
                if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Pages { .. })) {
                    self.free_alloc(a)?;
                }
            }
            3 => {
                // Double free (right after the free, so the page is still free) / wrong order of a page.
                let wrong = b.u8();
                if wrong & 1 == 0 {
                    if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Pages { .. })) {
                        let Kind::Pages { pfn, order } = a.kind else { unreachable!() };
                        self.free_alloc(a)?;
                        // The reference drops to -1 and nothing is printed (the book's kernel has no page checks;
                        // with them, the page would be reported when allocated again).
                        self.m.__free_pages(Pfn(pfn), order);
                    }
                } else if let Some(i) = (!self.live.is_empty()).then(|| b.idx(self.live.len())) {
                    // Wrong order of a live non-compound page block.
                    if let Kind::Pages { pfn, order } = self.live[i].kind {
                        if order > 0 && self.m.page_frame(Pfn(pfn)).is_some_and(|f| !f.is_head()) {
                            let a = self.live.swap_remove(i);
                            self.m.__free_pages(Pfn(pfn), order - 1);
                            self.freed.push(a);
                            self.corrupt = true; // the rest of the block is leaked (as the kernel does)
                        }
                    }
                }
            }
            4 => {
                // free_pages of a random (maybe bogus) address.
                let r = b.u32() as u64;
                let addr = self.m.layout().page_offset
                    + (r << 12) % (self.m.layout().high_memory - self.m.layout().page_offset);
                if self.live.iter().all(|a| !(a.addr..a.addr + a.size).contains(&addr))
                    && self
                        .m
                        .page_frame(self.m.virt_to_page(addr).unwrap())
                        .is_some_and(|f| f.owner() != PageOwner::Buddy)
                {
                    // Boot/reserved pages: freeing them is a bad-page report, or corruption of someone else's.
                    let owner = self.m.page_frame(self.m.virt_to_page(addr).unwrap()).unwrap().owner();
                    if owner == PageOwner::Reserved {
                        // Unchecked, the kernel would hand the reserved page out; the simulator keeps it.
                        self.m.free_pages(addr, 0);
                    }
                }
            }
            // ---------------------------------------------------------------- kmalloc
            5..=7 => {
                let size = size_of(b);
                let gfp = gfp_of(b.u8());
                let p = match op % 3 {
                    0 => self.m.kmalloc(size, gfp),
                    1 => self.m.kzalloc(size, gfp),
                    _ => self.m.kcalloc(1 + (b.u8() as u64 % 4), size, gfp),
                };
                let size = if op % 3 == 2 { 0 } else { size };
                if p != 0 && p != 16 {
                    let sz = if size == 0 { self.m.ksize(p) } else { size };
                    self.add(Kind::Kmalloc, p, sz)?;
                }
            }
            8 | 9 => {
                if let Some(a) = self.take_live(b, |k| *k == Kind::Kmalloc) {
                    if op == 9 {
                        self.verify(&a)?;
                        self.m.kfree_sensitive(a.addr);
                        self.freed.push(a);
                    } else {
                        self.free_alloc(a)?;
                    }
                }
            }
            10 => {
                // kfree twice (right after the first free).
                if let Some(a) = self.take_live(b, |k| *k == Kind::Kmalloc) {
                    let was_slab = self.m.slab_of(a.addr).is_some();
                    self.free_alloc(a)?;
                    let seq2 = self.m.log_seq();
                    self.m.kfree(a.addr);
                    if self.debug && was_slab {
                        expect = Some(&["Object already free", "kernel BUG at", "allocated objects but"]);
                    } else if !was_slab {
                        // A large kmalloc freed twice: free_large_kmalloc() of a page that is free again (its
                        // count drops to -1; WARN_ON_ONCE(order == 0) the first time only).
                    } else if !self.m.dmesg_since(seq2).contains("kernel BUG at mm/slub.c") {
                        // No debugging: the freelist now holds the object twice (the kernel's behaviour).
                        self.corrupt = true;
                    }
                }
            }
            11 => {
                // krealloc.
                if let Some(a) = self.take_live(b, |k| *k == Kind::Kmalloc) {
                    self.verify(&a)?;
                    let size = size_of(b);
                    let p = self.m.krealloc(a.addr, size, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN);
                    if size == 0 {
                        self.freed.push(a);
                    } else if p == 0 {
                        self.live.push(a);
                    } else {
                        if p != a.addr {
                            self.freed.push(a);
                        }
                        self.add(Kind::Kmalloc, p, size)?;
                    }
                }
            }
            // ---------------------------------------------------------------- slab caches
            12 => {
                let fl = b.u8();
                let size = 1 + b.u16() as u32 % 3000;
                let align = [0, 8, 64, 4096, 3][fl as usize % 5];
                let mut flags = 0;
                if fl & 0x10 != 0 {
                    flags |= SLAB_HWCACHE_ALIGN;
                }
                if fl & 0x20 != 0 {
                    flags |= SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
                }
                let name = format!("fuzz_{}", self.caches.len());
                let c = self.m.kmem_cache_create(&name, size, align, flags, None);
                if c.is_some() {
                    self.caches.push(c);
                }
            }
            13 | 14 => {
                let live: Vec<usize> = (0..self.caches.len()).filter(|&i| self.caches[i].is_some()).collect();
                if !live.is_empty() {
                    let c = live[b.idx(live.len())];
                    let id = self.caches[c].unwrap();
                    let gfp = gfp_of(b.u8());
                    let p = if op == 13 { self.m.kmem_cache_alloc(id, gfp) } else { self.m.kmem_cache_zalloc(id, gfp) };
                    let size = self.m.kmem_cache_size(id) as u64;
                    self.add(Kind::Cache(c), p, size)?;
                }
            }
            15 => {
                if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Cache(_))) {
                    self.free_alloc(a)?;
                }
            }
            16 => {
                // The wrong cache.
                let live: Vec<usize> = (0..self.caches.len()).filter(|&i| self.caches[i].is_some()).collect();
                if !live.is_empty() {
                    let c = live[b.idx(live.len())];
                    if let Some(a) =
                        self.take_live(b, |k| matches!(k, Kind::Cache(x) if *x != c) || *k == Kind::Kmalloc)
                    {
                        if self.m.slab_of(a.addr).is_some() {
                            self.verify(&a)?;
                            self.m.kmem_cache_free(self.caches[c].unwrap(), a.addr);
                            expect = Some(&["Wrong slab cache"]);
                            // cache_from_obj() frees to the object's own cache.
                            self.freed.push(a);
                        } else {
                            self.live.push(a);
                        }
                    }
                }
            }
            17 => {
                // kmem_cache_free twice (right after the first free).
                if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Cache(_))) {
                    let Kind::Cache(c) = a.kind else { unreachable!() };
                    self.free_alloc(a)?;
                    let id = self.caches[c].unwrap();
                    let seq2 = self.m.log_seq();
                    self.m.kmem_cache_free(id, a.addr);
                    if self.debug {
                        expect = Some(&["Object already free", "kernel BUG at", "allocated objects but"]);
                    } else if !self.m.dmesg_since(seq2).contains("kernel BUG at mm/slub.c") {
                        self.corrupt = true;
                    }
                }
            }
            18 => {
                // kmem_cache_destroy, maybe with objects left.
                let live: Vec<usize> = (0..self.caches.len()).filter(|&i| self.caches[i].is_some()).collect();
                if !live.is_empty() {
                    let c = live[b.idx(live.len())];
                    // A merged cache (an alias of another) is only unreferenced, without a report.
                    let merged = self.m.kmem_cache_name(self.caches[c].unwrap()) != Some(&format!("fuzz_{c}"));
                    let left = self.live.iter().any(|a| a.kind == Kind::Cache(c));
                    self.m.kmem_cache_destroy(self.caches[c]);
                    self.caches[c] = None;
                    if left {
                        if !merged {
                            expect = Some(&["Slab cache still has objects"]);
                        }
                        // Leaked with the cache: the kernel keeps the cache's slabs.
                        self.live.retain(|a| a.kind != Kind::Cache(c));
                    }
                    self.freed.retain(|a| a.kind != Kind::Cache(c));
                }
            }
            // ---------------------------------------------------------------- vmalloc
            19 | 20 => {
                let size = size_of(b);
                let v = b.u8();
                let p = match v % 5 {
                    0 => self.m.vmalloc(size),
                    1 => self.m.vzalloc(size),
                    2 => self.m.vmalloc_huge(size, Gfp::GFP_KERNEL),
                    3 => self.m.__vmalloc(size, gfp_of(b.u8())),
                    _ => self.m.vmalloc_32(size),
                };
                self.add(Kind::Vmalloc, p, size)?;
            }
            21 => {
                if let Some(a) = self.take_live(b, |k| *k == Kind::Vmalloc) {
                    if b.u8() & 1 == 0 {
                        self.free_alloc(a)?;
                    } else {
                        self.verify(&a)?;
                        self.m.vfree_atomic(a.addr);
                        self.freed.push(a);
                    }
                }
            }
            22 => {
                // vfree of a bad address: unaligned, nonexistent or already freed.
                let k = b.u8();
                let vs = self.m.layout().vmalloc_start;
                let addr = match k % 3 {
                    0 => self.live.iter().find(|a| a.kind == Kind::Vmalloc).map(|a| a.addr + 8),
                    1 => Some(vs + ((b.u32() as u64) << 12)),
                    _ => self.pick_freed(b, |k| *k == Kind::Vmalloc).map(|a| a.addr),
                };
                if let Some(addr) = addr {
                    if self.m.find_vm_area(addr & !0xfff).is_none() || addr & 0xfff != 0 {
                        if self.m.in_interrupt() && self.m.host_ptr(addr).is_some() {
                            // From interrupt context vfree() defers through vfree_atomic(), which links the
                            // address into a list *before* checking it: the kernel writes a pointer into
                            // whatever lives there (the bad-address WARN comes later, from the worker).
                            self.corrupt = true;
                        }
                        self.m.vfree(addr);
                        if !self.in_atomic_ctx() {
                            expect = Some(&["Trying to vfree() bad address", "Trying to vfree() nonexistent vm area"]);
                        }
                    }
                }
            }
            23 => {
                if let Some(a) = self.take_live(b, |k| *k == Kind::Vmalloc) {
                    self.verify(&a)?;
                    let size = size_of(b);
                    let p = self.m.vrealloc(a.addr, size, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN);
                    if size == 0 {
                        self.freed.push(a);
                    } else if p == 0 {
                        self.live.push(a);
                    } else {
                        if p != a.addr {
                            self.freed.push(a);
                        }
                        self.add(Kind::Vmalloc, p, size)?;
                    }
                }
            }
            24 => self.m.vm_unmap_aliases(),
            // ---------------------------------------------------------------- kvmalloc
            25 => {
                let size = size_of(b);
                let gfp = gfp_of(b.u8());
                let p = self.m.kvmalloc(size, gfp);
                self.add(Kind::Kvmalloc, p, size)?;
            }
            26 => {
                if let Some(a) = self.take_live(b, |k| *k == Kind::Kvmalloc) {
                    self.free_alloc(a)?;
                }
            }
            // ---------------------------------------------------------------- mempools
            27 => {
                let min_nr = (b.u8() % 8) as i32;
                let (pool, kind_size) = if b.u8() & 1 == 0 {
                    let size = 1 + b.u16() as u64 % 8192;
                    (self.m.mempool_create_kmalloc_pool(min_nr, size), size)
                } else {
                    let order = (b.u8() % 3) as u32;
                    (self.m.mempool_create_page_pool(min_nr, order), 4096 << order)
                };
                if let Some(p) = pool {
                    self.mempools.push(Some((p, kind_size)));
                }
            }
            28 => {
                let live: Vec<usize> = (0..self.mempools.len()).filter(|&i| self.mempools[i].is_some()).collect();
                if !live.is_empty() {
                    let i = live[b.idx(live.len())];
                    let (pool, size) = self.mempools[i].unwrap();
                    let gfp = gfp_of(b.u8());
                    let r = if b.u8() & 3 == 0 {
                        Ok(self.m.mempool_alloc_preallocated(pool))
                    } else {
                        self.m.mempool_alloc(pool, gfp)
                    };
                    if let Ok(p) = r {
                        match self.m.page_to_pfn(p) {
                            Some(pfn) => {
                                let addr = self.m.page_address(pfn);
                                self.add(Kind::MempoolPage(i, p), addr, size)?
                            }
                            None => self.add(Kind::Mempool(i), p, size)?,
                        }
                    }
                }
            }
            29 => {
                if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Mempool(_) | Kind::MempoolPage(..))) {
                    self.free_alloc(a)?;
                }
            }
            30 => {
                let live: Vec<usize> = (0..self.mempools.len()).filter(|&i| self.mempools[i].is_some()).collect();
                if !live.is_empty() {
                    let i = live[b.idx(live.len())];
                    let (pool, _) = self.mempools[i].unwrap();
                    if b.u8() & 1 == 0 {
                        let _ = self.m.mempool_resize(pool, (b.u8() % 10) as i32);
                    } else if !self
                        .live
                        .iter()
                        .any(|a| matches!(a.kind, Kind::Mempool(j) | Kind::MempoolPage(j, _) if j == i))
                    {
                        self.m.mempool_destroy(pool);
                        self.mempools[i] = None;
                        self.freed.retain(|a| !matches!(a.kind, Kind::Mempool(j) | Kind::MempoolPage(j, _) if j == i));
                    }
                }
            }
            // ---------------------------------------------------------------- DMA
            31 => {
                let size = size_of(b);
                let gfp = gfp_of(b.u8());
                if let Some(d) = self.m.dma_alloc_coherent(Some(self.dev), size, gfp) {
                    self.add(Kind::Dma { handle: d.dma_handle }, d.cpu_addr, size)?;
                }
            }
            32 => {
                if let Some(a) = self.take_live(b, |k| matches!(k, Kind::Dma { .. })) {
                    self.free_alloc(a)?;
                }
            }
            33 => {
                let size = b.u16() as u64 % 5000;
                let align = [0, 8, 64, 4096, 24][b.u8() as usize % 5];
                let boundary = [0, 4096, 8192, 100][b.u8() as usize % 4];
                let name = format!("fuzzpool{}", self.dmapools.len());
                if let Ok(p) = self.m.dma_pool_create(&name, Some(self.dev), size, align, boundary) {
                    self.dmapools.push(Some(p));
                }
            }
            34 => {
                let live: Vec<usize> = (0..self.dmapools.len()).filter(|&i| self.dmapools[i].is_some()).collect();
                if !live.is_empty() {
                    let i = live[b.idx(live.len())];
                    let p = self.dmapools[i].unwrap();
                    let gfp = gfp_of(b.u8());
                    let size = self.m.dma_pool(p).map(|d| d.size as u64).unwrap_or(0);
                    if let Some(d) = self.m.dma_pool_alloc(p, gfp) {
                        self.add(Kind::DmaPool { pool: i, handle: d.dma_handle }, d.cpu_addr, size)?;
                    }
                }
            }
            35 => {
                let k = b.u8();
                if k & 1 == 0 {
                    if let Some(a) = self.take_live(b, |k| matches!(k, Kind::DmaPool { .. })) {
                        self.free_alloc(a)?;
                    }
                } else if k & 2 == 0 {
                    if let Some(a) = self.take_live(b, |k| matches!(k, Kind::DmaPool { .. })) {
                        let Kind::DmaPool { pool, handle } = a.kind else { unreachable!() };
                        self.free_alloc(a)?;
                        self.m.dma_pool_free(self.dmapools[pool].unwrap(), a.addr, handle);
                        if self.debug {
                            expect = Some(&["already free"]);
                        } else {
                            self.corrupt = true; // no DMAPOOL_DEBUG: the block is on the free list twice
                        }
                    }
                } else {
                    let live: Vec<usize> = (0..self.dmapools.len()).filter(|&i| self.dmapools[i].is_some()).collect();
                    if !live.is_empty() {
                        let i = live[b.idx(live.len())];
                        let busy = self.live.iter().any(|a| matches!(a.kind, Kind::DmaPool { pool, .. } if pool == i));
                        self.m.dma_pool_destroy(self.dmapools[i]);
                        self.dmapools[i] = None;
                        if busy {
                            expect = Some(&["dma_pool_destroy", "busy"]);
                            self.live.retain(|a| !matches!(a.kind, Kind::DmaPool { pool, .. } if pool == i));
                        }
                        self.freed.retain(|a| !matches!(a.kind, Kind::DmaPool { pool, .. } if pool == i));
                    }
                }
            }
            // ---------------------------------------------------------------- context
            36 => {
                let k = b.u8();
                if k & 1 == 0 && self.ctx.len() < 4 {
                    let c = (k >> 1) % 4;
                    match c {
                        0 => self.m.spin_lock(),
                        1 => self.m.local_irq_disable(),
                        2 => self.m.preempt_disable(),
                        _ => self.m.irq_enter(),
                    }
                    self.ctx.push(c);
                } else if let Some(c) = self.ctx.pop() {
                    match c {
                        0 => self.m.spin_unlock(),
                        1 => self.m.local_irq_enable(),
                        2 => self.m.preempt_enable(),
                        _ => self.m.irq_exit(),
                    }
                }
            }
            // ---------------------------------------------------------------- fault injection, pressure
            37 => {
                let k = b.u8();
                let cfg =
                    FaultConfig::default().probability((k as u64 % 4) * 33).times(-1).interval(1).verbose(k as u32 % 3);
                match k % 5 {
                    0 => self.m.set_fail_page_alloc(Some(cfg.min_order(0))),
                    1 => self.m.set_fail_page_alloc(None),
                    2 => self.m.set_failslab(Some(cfg), k & 0x10 != 0, false),
                    3 => self.m.set_failslab(None, true, false),
                    _ => {
                        self.m.set_fail_page_alloc(None);
                        self.m.set_failslab(None, true, false);
                    }
                }
            }
            38 => {
                if b.u8() & 1 == 0 || self.eaters.is_empty() {
                    let id = self.m.eat_memory(Gfp::GFP_KERNEL, Some(1 + b.u16() as u64 * 4));
                    self.eaters.push(id);
                } else {
                    let i = b.idx(self.eaters.len());
                    let id = self.eaters.swap_remove(i);
                    self.m.release_memory(id);
                }
            }
            // ---------------------------------------------------------------- memory accessors, misuse
            _ => {
                let k = b.u8();
                match k % 4 {
                    0 => {
                        // In-bounds write keeps the model's tag.
                        if !self.live.is_empty() {
                            let a = self.live[b.idx(self.live.len())];
                            self.paint(&a)?;
                        }
                    }
                    1 => {
                        // Out of bounds by a few bytes (into the red zone or the next object).
                        if !self.live.is_empty() {
                            let a = self.live[b.idx(self.live.len())];
                            let n = 1 + b.u8() as u64 % 16;
                            let _ = self.m.fill(a.addr + a.size, n, 0xa5);
                            // Caught (at the free, as red zone damage) only by a debugged slab.
                            let caught = self.debug
                                && matches!(a.kind, Kind::Kmalloc | Kind::Cache(_))
                                && self.m.slab_of(a.addr).is_some();
                            if !caught {
                                self.corrupt = true;
                            }
                        }
                    }
                    2 => {
                        // Use after free.
                        if let Some(a) = self.pick_freed(b, |_| true) {
                            let r = self.m.write_u64(a.addr, 0x6b6b_6b6b_dead_beef);
                            if r.is_ok() {
                                self.corrupt = true;
                            }
                        }
                    }
                    _ => {
                        // Wild access: must fault, never touch host memory outside RAM.
                        let addr = (b.u32() as u64) << 16 | 0xffff_0000_0000_0000;
                        let _ = self.m.read_u64(addr);
                        let _ = self.m.write_u64(addr ^ 0x8000_0000_0000, 1);
                    }
                }
            }
        }
        self.forget_freed_overlapping();
        // Advance simulated time a little so rate limits behave like a running system.
        self.m.advance_time_ns(1_000_000);

        if let Some(keys) = expect {
            let log = self.m.dmesg_since(seq);
            if !keys.iter().any(|k| log.contains(k)) && self.m.kernel_stop().is_none() {
                return Err(format!("step {}: op {op} printed none of {keys:?}:\n{log}", self.step));
            }
        }
        if self.m.kernel_stop().is_some() {
            return Ok(false);
        }
        self.check()?;
        Ok(true)
    }

    /// The properties that hold after every step.
    pub fn check(&self) -> Result<(), String> {
        let m = &self.m;
        let s = self.step;
        m.check_consistency().map_err(|e| format!("step {s}: buddy: {e}"))?;
        m.vmap_check_invariants().map_err(|e| format!("step {s}: vmap: {e}"))?;
        // Every page accounted for exactly once.
        let counts = m.page_owner_counts();
        let total: u64 = counts.iter().map(|(_, n)| n).sum();
        if total != m.layout().max_pfn {
            return Err(format!("step {s}: {total} frames counted, max_pfn {}", m.layout().max_pfn));
        }
        let get = |o: PageOwner| counts.iter().find(|(x, _)| *x == o).map(|(_, n)| *n).unwrap_or(0);
        if get(PageOwner::Buddy) != m.nr_free_pages() {
            return Err(format!(
                "step {s}: {} Buddy frames, NR_FREE_PAGES {}",
                get(PageOwner::Buddy),
                m.nr_free_pages()
            ));
        }
        // Free pages are in the buddy allocator or on a CPU's per-CPU list, never both (check_consistency()
        // walked the lists).
        if get(PageOwner::Pcp) != m.nr_free_pcp() {
            return Err(format!(
                "step {s}: {} Pcp frames, {} pages on per-CPU lists",
                get(PageOwner::Pcp),
                m.nr_free_pcp()
            ));
        }
        if m.nr_free_pages() + m.nr_allocated_pages() + m.nr_reserved_pages() != m.total_pages() {
            return Err(format!("step {s}: free + allocated + reserved != total"));
        }
        if get(PageOwner::Vmalloc) != m.vmalloc_nr_pages() {
            return Err(format!(
                "step {s}: {} Vmalloc frames, vmalloc_nr_pages {}",
                get(PageOwner::Vmalloc),
                m.vmalloc_nr_pages()
            ));
        }
        // Slab pages and /proc/slabinfo agree with the slabs themselves.
        let mut slab_pages = 0u64;
        let infos = m.slabinfo();
        for info in &infos {
            let Some(id) = m.find_cache(&info.name) else { continue };
            let slabs = m.cache_slabs(id);
            let objs: u64 = slabs.iter().map(|(_, sl)| sl.objects as u64).sum();
            if slabs.len() as u64 != info.num_slabs || objs != info.num_objs || info.active_objs > info.num_objs {
                return Err(format!("step {s}: slabinfo {info:?} but {} slabs / {objs} objects", slabs.len()));
            }
        }
        for c in m.all_caches() {
            slab_pages += m.cache_slabs(c).iter().map(|(_, sl)| 1u64 << sl.order).sum::<u64>();
        }
        if get(PageOwner::Slab) != slab_pages {
            return Err(format!("step {s}: {} Slab frames, slabs hold {slab_pages}", get(PageOwner::Slab)));
        }
        if !self.corrupt {
            // Live allocations are disjoint and keep their contents.
            let mut v: Vec<&Alloc> = self.live.iter().collect();
            v.sort_by_key(|a| a.addr);
            for w in v.windows(2) {
                if w[0].addr + w[0].size > w[1].addr {
                    return Err(format!("step {s}: overlap {:?} {:?}", w[0], w[1]));
                }
            }
            for a in &self.live {
                self.verify(a)?;
            }
        }
        Ok(())
    }

    /// Frees everything the model still holds (at the end of a program that did not stop).
    pub fn teardown(&mut self) -> Result<(), String> {
        while let Some(c) = self.ctx.pop() {
            match c {
                0 => self.m.spin_unlock(),
                1 => self.m.local_irq_enable(),
                2 => self.m.preempt_enable(),
                _ => self.m.irq_exit(),
            }
        }
        while let Some(a) = self.live.pop() {
            self.free_alloc(a)?;
            if self.m.kernel_stop().is_some() {
                return Ok(());
            }
            self.check().map_err(|e| format!("teardown, after freeing {a:?}: {e}"))?;
        }
        for id in std::mem::take(&mut self.eaters) {
            self.m.release_memory(id);
        }
        self.check()
    }
}

/// Runs one program; returns the dmesg.
pub fn run_program(data: &[u8]) -> Result<String, String> {
    let mut b = Bytes::new(data);
    let mut model = Model::boot(b.u8());
    let mut steps = 0;
    while !b.done() && steps < 400 {
        steps += 1;
        if !model.step(&mut b)? {
            return Ok(model.m.dmesg());
        }
    }
    model.teardown()?;
    Ok(model.m.dmesg())
}
