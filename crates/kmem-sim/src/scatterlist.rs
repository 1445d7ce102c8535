//! Scatterlists: lib/scatterlist.c and include/linux/scatterlist.h of Linux 6.12.117 (`sg_init_table()`,
//! `sg_next()`, `sg_alloc_table()`, `sg_free_table()`), the data structure the DMA API maps with
//! `dma_map_sg()` (dma.rs).
//!
//! A `struct scatterlist` is 32 bytes on x86_64 with `CONFIG_NEED_SG_DMA_LENGTH` (which x86 selects):
//! `page_link` (the `struct page *` with `SG_CHAIN` and `SG_END` in its two low bits), `offset`, `length`,
//! `dma_address`, `dma_length`. An sg table of up to `SG_MAX_SINGLE_ALLOC` (`PAGE_SIZE / 32` = 128) entries
//! is one `kmalloc_array(nents, 32)` (`sg_kmalloc()`); a longer one is a chain of pages from
//! `__get_free_page()`, each ending in a chain entry (`SG_CHAIN`, the next array's address) that holds no
//! data, and a last `kmalloc_array()` for the rest.
//!
//! The module code that fills and walks a scatterlist is compiled for the host, so the simulator uses the
//! 64-bit layout on the 32-bit profile too (the real i386 `struct scatterlist` is 20 bytes): a table
//! allocated there is 32 bytes per entry.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::{Machine, PAGE_SHIFT};
use crate::page::Pfn;

/// `SG_CHAIN`: `page_link` points to the next scatterlist array.
pub const SG_CHAIN: u64 = 0x01;
/// `SG_END`: the last entry.
pub const SG_END: u64 = 0x02;
/// `SG_PAGE_LINK_MASK`.
pub const SG_PAGE_LINK_MASK: u64 = SG_CHAIN | SG_END;
/// `sizeof(struct scatterlist)` (x86_64).
pub const SCATTERLIST_SIZE: u64 = 32;
/// `sizeof(struct sg_table)` (x86_64): `sgl`, `nents`, `orig_nents`.
pub const SG_TABLE_SIZE: u64 = 16;
/// `SG_MAX_SINGLE_ALLOC`: `PAGE_SIZE / sizeof(struct scatterlist)`.
pub const SG_MAX_SINGLE_ALLOC: u32 = ((1u64 << PAGE_SHIFT) / SCATTERLIST_SIZE) as u32;
/// `-EINVAL`, `-ENOMEM`.
const EINVAL: i32 = -22;
const ENOMEM: i32 = -12;

/// A `struct scatterlist`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scatterlist {
    /// The `struct page *` (vmemmap address) or, with `SG_CHAIN`, the next array; `SG_END` marks the last.
    pub page_link: u64,
    /// Offset of the data in the page.
    pub offset: u32,
    /// Length of the data.
    pub length: u32,
    /// `sg_dma_address()`: set by `dma_map_sg()`.
    pub dma_address: u64,
    /// `sg_dma_len()`: set by `dma_map_sg()`.
    pub dma_length: u32,
}

impl Scatterlist {
    /// The entry as it lies in memory (x86_64 layout, little-endian, 4 bytes of padding at the end).
    ///
    /// Context: any.
    pub fn to_bytes(&self) -> [u8; SCATTERLIST_SIZE as usize] {
        let mut b = [0u8; SCATTERLIST_SIZE as usize];
        b[0..8].copy_from_slice(&self.page_link.to_le_bytes());
        b[8..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.length.to_le_bytes());
        b[16..24].copy_from_slice(&self.dma_address.to_le_bytes());
        b[24..28].copy_from_slice(&self.dma_length.to_le_bytes());
        b
    }

    /// An entry read from memory.
    ///
    /// Context: any.
    pub fn from_bytes(b: &[u8; SCATTERLIST_SIZE as usize]) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        Self {
            page_link: u64_at(0),
            offset: u32_at(8),
            length: u32_at(12),
            dma_address: u64_at(16),
            dma_length: u32_at(24),
        }
    }

    /// `sg_is_chain()`.
    pub fn is_chain(&self) -> bool {
        self.page_link & SG_CHAIN != 0
    }

    /// `sg_is_last()`.
    pub fn is_last(&self) -> bool {
        self.page_link & SG_END != 0
    }

    /// `sg_chain_ptr()`: the next array of a chain entry.
    pub fn chain_ptr(&self) -> u64 {
        self.page_link & !SG_PAGE_LINK_MASK
    }

    /// `sg_page()`: the `struct page *` address.
    pub fn page(&self) -> u64 {
        self.page_link & !SG_PAGE_LINK_MASK
    }

    /// `sg_mark_end()`: sets `SG_END`, clears `SG_CHAIN`.
    pub fn mark_end(&mut self) {
        self.page_link |= SG_END;
        self.page_link &= !SG_CHAIN;
    }
}

/// `sg_init_table(sgl, nents)`: zeroes the entries and marks the last one as the end (`sg_init_marker()`).
///
/// Context: any.
pub fn sg_init_table(sgl: &mut [Scatterlist]) {
    sgl.fill(Scatterlist::default());
    if let Some(last) = sgl.last_mut() {
        last.mark_end();
    }
}

/// What `sg_next()` does after `cur`, given the entry that follows it in memory (`following`, read only if
/// `cur` is not the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SgStep {
    /// `cur` is the last entry: NULL.
    End,
    /// The following entry.
    Next,
    /// The following entry is a chain entry: the first entry of the array at this address.
    Chain(u64),
}

/// `sg_next()`'s rule: NULL after the last entry; the next entry, or the array a chain entry points to.
///
/// Context: any.
pub fn sg_next_step(cur: &Scatterlist, following: impl FnOnce() -> Scatterlist) -> SgStep {
    if cur.is_last() {
        return SgStep::End;
    }
    let n = following();
    if n.is_chain() {
        SgStep::Chain(n.chain_ptr())
    } else {
        SgStep::Next
    }
}

/// A `struct sg_table`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SgTable {
    /// The first array (kernel address), 0 when none.
    pub sgl: u64,
    /// Entries mapped (`dma_map_sgtable()` sets it).
    pub nents: u32,
    /// Entries in the table.
    pub orig_nents: u32,
}

impl SgTable {
    /// The table as it lies in memory (x86_64 layout).
    ///
    /// Context: any.
    pub fn to_bytes(&self) -> [u8; SG_TABLE_SIZE as usize] {
        let mut b = [0u8; SG_TABLE_SIZE as usize];
        b[0..8].copy_from_slice(&self.sgl.to_le_bytes());
        b[8..12].copy_from_slice(&self.nents.to_le_bytes());
        b[12..16].copy_from_slice(&self.orig_nents.to_le_bytes());
        b
    }
}

impl Machine {
    /// The scatterlist entry at kernel address `addr` (None if the address is not simulated memory).
    ///
    /// Context: any.
    pub fn sg_read(&self, addr: u64) -> Option<Scatterlist> {
        let mut b = [0u8; SCATTERLIST_SIZE as usize];
        self.read_bytes(addr, &mut b).ok()?;
        Some(Scatterlist::from_bytes(&b))
    }

    fn sg_write(&mut self, addr: u64, sg: &Scatterlist) {
        let _ = self.write_bytes(addr, &sg.to_bytes());
    }

    /// `sg_next(sg)` of the entry at `addr`: None after the last one, the next array's first entry after a
    /// chain entry.
    ///
    /// Context: any.
    pub fn sg_next(&self, addr: u64) -> Option<u64> {
        let next = addr + SCATTERLIST_SIZE;
        match sg_next_step(&self.sg_read(addr)?, || self.sg_read(next).unwrap_or_default()) {
            SgStep::End => None,
            SgStep::Next => Some(next),
            SgStep::Chain(p) => Some(p),
        }
    }

    /// `sg_phys(sg)`: `page_to_phys(sg_page(sg)) + sg->offset` (arithmetic, as in the kernel, for any
    /// pointer).
    ///
    /// Context: any.
    pub fn sg_phys(&self, sg: &Scatterlist) -> u64 {
        let pfn = self.sg_pfn(sg);
        (pfn.0 << PAGE_SHIFT) + sg.offset as u64
    }

    /// The page frame of `sg_page(sg)`.
    pub(crate) fn sg_pfn(&self, sg: &Scatterlist) -> Pfn {
        self.pfn_of_page_struct(sg.page()).unwrap_or_else(|| self.page_to_pfn_arith(sg.page()))
    }

    /// `sg_kmalloc(nents, gfp)`: a page for a full chunk, `kmalloc_array()` otherwise. 0 on failure.
    fn sg_kmalloc(&mut self, nents: u32, gfp: Gfp) -> u64 {
        if nents == SG_MAX_SINGLE_ALLOC {
            self.__get_free_page(gfp)
        } else {
            self.kmalloc_array(nents as u64, SCATTERLIST_SIZE, gfp)
        }
    }

    /// `sg_kfree(sg, nents)`.
    fn sg_kfree(&mut self, sg: u64, nents: u32) {
        if nents == SG_MAX_SINGLE_ALLOC {
            self.free_page(sg);
        } else {
            self.kfree(sg);
        }
    }

    /// `sg_alloc_table(table, nents, gfp)` (`__sg_alloc_table()` with `sg_kmalloc()`): the table's
    /// arrays, initialised, chained and end-marked. On failure (`-EINVAL` for 0 entries, `-ENOMEM`) what
    /// was allocated is freed again (`sg_free_table()`) and the table is left empty.
    ///
    /// Context: process context with GFP_KERNEL. Returns 0 or the negative errno, and the table.
    pub fn sg_alloc_table(&mut self, nents: u32, gfp: Gfp) -> (i32, SgTable) {
        let depth = self.stack.frames.len();
        self.push_kframe("sg_alloc_table");
        let mut table = SgTable::default();
        let ret = self.__sg_alloc_table(&mut table, nents, gfp);
        if ret != 0 {
            self.sg_free_table(&mut table);
        }
        self.stack.frames.truncate(depth);
        (ret, table)
    }

    fn __sg_alloc_table(&mut self, table: &mut SgTable, nents: u32, gfp: Gfp) -> i32 {
        self.push_kframe("__sg_alloc_table");
        *table = SgTable::default();
        if nents == 0 {
            return EINVAL;
        }
        let max_ents = SG_MAX_SINGLE_ALLOC;
        let mut left = nents;
        let mut prv: Option<u64> = None;
        while left > 0 {
            let (alloc_size, sg_size) = if left > max_ents { (max_ents, max_ents - 1) } else { (left, left) };
            left -= sg_size;
            let sg = self.sg_kmalloc(alloc_size, gfp);
            if sg == 0 {
                if prv.is_some() {
                    table.orig_nents += 1;
                    table.nents = table.orig_nents;
                }
                return ENOMEM;
            }
            let mut arr = vec![Scatterlist::default(); alloc_size as usize];
            sg_init_table(&mut arr);
            for (i, e) in arr.iter().enumerate() {
                self.sg_write(sg + i as u64 * SCATTERLIST_SIZE, e);
            }
            table.orig_nents += sg_size;
            table.nents = table.orig_nents;
            match prv {
                // sg_chain(prv, prv_max_ents, sg): the previous array's last entry links to this one.
                Some(p) => {
                    let link = Scatterlist { page_link: sg | SG_CHAIN, ..Default::default() };
                    self.sg_write(p + (max_ents as u64 - 1) * SCATTERLIST_SIZE, &link);
                }
                None => table.sgl = sg,
            }
            if left == 0 {
                let at = sg + (sg_size as u64 - 1) * SCATTERLIST_SIZE;
                if let Some(mut e) = self.sg_read(at) {
                    e.mark_end();
                    self.sg_write(at, &e);
                }
            }
            prv = Some(sg);
        }
        0
    }

    /// `sg_free_table(table)` (`__sg_free_table()` with `sg_kfree()`): frees each array of the chain, then
    /// clears `table->sgl`. Nothing for an empty table.
    ///
    /// Context: any context the arrays' allocator allows (kfree(), free_page()).
    pub fn sg_free_table(&mut self, table: &mut SgTable) {
        if table.sgl == 0 {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("sg_free_table");
        let max_ents = SG_MAX_SINGLE_ALLOC;
        let mut sgl = table.sgl;
        let mut num_ents = table.orig_nents;
        while num_ents > 0 && sgl != 0 {
            let (alloc_size, sg_size, next) = if num_ents > max_ents {
                let link = self.sg_read(sgl + (max_ents as u64 - 1) * SCATTERLIST_SIZE).unwrap_or_default();
                (max_ents, max_ents - 1, link.chain_ptr())
            } else {
                (num_ents, num_ents, 0)
            };
            num_ents -= sg_size;
            self.sg_kfree(sgl, alloc_size);
            sgl = next;
        }
        table.sgl = 0;
        self.stack.frames.truncate(depth);
    }
}
