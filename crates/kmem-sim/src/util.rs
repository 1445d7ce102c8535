//! The kvmalloc family: mm/util.c (`__kvmalloc_node_noprof`, `kvfree`, `kvrealloc_noprof`,
//! `kmalloc_gfp_adjust`) and include/linux/slab.h (`kvmalloc`, `kvzalloc`, `kvmalloc_array`, `kvcalloc`) of
//! Linux 6.12.117.
//!
//! kvmalloc first tries kmalloc; for more than a page it does so quietly and cheaply (`__GFP_NOWARN`,
//! `__GFP_NORETRY` unless `__GFP_RETRY_MAYFAIL`, never `__GFP_NOFAIL`) and then falls back to vmalloc —
//! but only when the gfp allows blocking (vmalloc sleeps) and the size is at most `INT_MAX`. The vmalloc
//! fallback passes `VM_ALLOW_HUGE_VMAP`, so on x86_64 a request of 2 MiB or more is first tried with 2 MiB
//! pages. `kvfree` picks `vfree` or `kfree` by `is_vmalloc_addr()`.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::panic::Frame;
use crate::vmalloc::{PgProt, NUMA_NO_NODE, VM_ALLOW_HUGE_VMAP};

const PAGE_SIZE: u64 = 4096;
/// `INT_MAX`.
pub const INT_MAX: u64 = i32::MAX as u64;
/// `ZERO_SIZE_PTR`.
pub const ZERO_SIZE_PTR: u64 = 16;
/// Line of `WARN_ON_ONCE(!(flags & __GFP_NOWARN))` in `__kvmalloc_node_noprof` (mm/util.c).
const LINE_KVMALLOC_INT_MAX: u32 = 670;

/// `kmalloc_gfp_adjust()`: for more than a page, add `__GFP_NOWARN`, add `__GFP_NORETRY` unless
/// `__GFP_RETRY_MAYFAIL`, drop `__GFP_NOFAIL` (the vmalloc fallback implements it).
///
/// Context: any.
pub fn kmalloc_gfp_adjust(flags: Gfp, size: u64) -> Gfp {
    let mut flags = flags;
    if size > PAGE_SIZE {
        flags |= Gfp::__GFP_NOWARN;
        if !flags.intersects(Gfp::__GFP_RETRY_MAYFAIL) {
            flags |= Gfp::__GFP_NORETRY;
        }
        flags &= !Gfp::__GFP_NOFAIL;
    }
    flags
}

/// Which allocator a kvmalloc served from (introspection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvBacking {
    /// kmalloc (slab or, above 8 KiB, the page allocator).
    Kmalloc,
    /// vmalloc.
    Vmalloc,
}

impl Machine {
    // ---------------------------------------------------------------- kvmalloc

    /// `__kvmalloc_node_noprof(size, flags, node)` with an explicit caller (for the vmalloc fallback's
    /// `/proc/vmallocinfo` line). Returns the address or 0.
    ///
    /// Context: as kmalloc with `flags`; the vmalloc fallback only with a blocking gfp (process context).
    pub fn __kvmalloc_node(&mut self, size: u64, flags: Gfp, node: i32, caller: Option<Frame>) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("__kvmalloc_node_noprof");
        let r = self.kvmalloc_inner(size, flags, node, caller);
        self.stack.frames.truncate(depth);
        r
    }

    fn kvmalloc_inner(&mut self, size: u64, flags: Gfp, node: i32, caller: Option<Frame>) -> u64 {
        let ret = self.do_kmalloc(size, kmalloc_gfp_adjust(flags, size), "__kmalloc_node_noprof");
        if ret != 0 || size <= PAGE_SIZE {
            return ret;
        }
        // Non-sleeping allocations are not supported by vmalloc.
        if !flags.gfpflags_allow_blocking() {
            return 0;
        }
        if size > INT_MAX {
            if !flags.intersects(Gfp::__GFP_NOWARN) {
                self.warn_once("mm/util.c", LINE_KVMALLOC_INT_MAX, None);
            }
            return 0;
        }
        let (s, e) = (self.layout.vmalloc_start, self.layout.vmalloc_end);
        self.__vmalloc_node_range(size, 1, s, e, flags, PgProt::PAGE_KERNEL, VM_ALLOW_HUGE_VMAP, node, caller)
    }

    /// `kvmalloc(size, flags)`: kmalloc, else (more than a page, blocking gfp) vmalloc. Returns the address or 0.
    ///
    /// Context: as kmalloc with `flags`.
    pub fn kvmalloc(&mut self, size: u64, flags: Gfp) -> u64 {
        let caller = Some(self.caller_frame_of("__kvmalloc_node_noprof"));
        self.__kvmalloc_node(size, flags, NUMA_NO_NODE, caller)
    }

    /// `kvzalloc(size, flags)`: `kvmalloc` with `__GFP_ZERO`.
    ///
    /// Context: as kmalloc with `flags`.
    pub fn kvzalloc(&mut self, size: u64, flags: Gfp) -> u64 {
        self.kvmalloc(size, flags | Gfp::__GFP_ZERO)
    }

    /// `kvmalloc_node(size, flags, node)` (one node).
    ///
    /// Context: as kmalloc with `flags`.
    pub fn kvmalloc_node(&mut self, size: u64, flags: Gfp, node: i32) -> u64 {
        let caller = Some(self.caller_frame_of("__kvmalloc_node_noprof"));
        self.__kvmalloc_node(size, flags, node, caller)
    }

    /// `kvmalloc_array(n, size, flags)`: 0 if `n * size` overflows (`size_t`: 64 or 32 bits).
    ///
    /// Context: as kmalloc with `flags`.
    pub fn kvmalloc_array(&mut self, n: u64, size: u64, flags: Gfp) -> u64 {
        let bytes = match n.checked_mul(size) {
            Some(b) if b <= self.size_max() => b,
            _ => return 0,
        };
        self.kvmalloc(bytes, flags)
    }

    /// `kvcalloc(n, size, flags)`: zeroed `kvmalloc_array`.
    ///
    /// Context: as kmalloc with `flags`.
    pub fn kvcalloc(&mut self, n: u64, size: u64, flags: Gfp) -> u64 {
        self.kvmalloc_array(n, size, flags | Gfp::__GFP_ZERO)
    }

    fn size_max(&self) -> u64 {
        match self.layout.arch {
            crate::machine::Arch::X86_64 => u64::MAX,
            crate::machine::Arch::I386 => u32::MAX as u64,
        }
    }

    /// `kvfree(addr)`: `vfree` for a vmalloc address, else `kfree`.
    ///
    /// Context: process context or (not NMI) interrupt; vfree from interrupt context defers.
    pub fn kvfree(&mut self, addr: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("kvfree");
        if self.is_vmalloc_addr(addr) {
            self.vfree(addr);
        } else {
            self.kfree(addr);
        }
        self.stack.frames.truncate(depth);
    }

    /// `kvfree_sensitive(addr, len)`: zeroes `len` bytes, then `kvfree`.
    ///
    /// Context: as [`Machine::kvfree`].
    pub fn kvfree_sensitive(&mut self, addr: u64, len: u64) {
        if addr > ZERO_SIZE_PTR {
            let buf = vec![0u8; len as usize];
            let _ = self.write_bytes(addr, &buf);
            self.kvfree(addr);
        }
    }

    /// `kvrealloc(p, size, flags)` (6.12.117): a vmalloc `p` goes to [`Machine::vrealloc`]; otherwise
    /// `krealloc` with [`kmalloc_gfp_adjust`], falling back to `kvmalloc` (caller `kvrealloc_noprof+0x..`:
    /// not yet checked against the real kernel, which may inline `__kvmalloc_node_noprof()` and then record
    /// kvrealloc's caller as it does for vrealloc), copying `ksize(p)` bytes and freeing `p`. Used by Rust's
    /// `KVBox`/`KVVec`.
    ///
    /// Context: as kvmalloc with `flags`.
    pub fn kvrealloc(&mut self, p: u64, size: u64, flags: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("kvrealloc_noprof");
        let r = self.kvrealloc_inner(p, size, flags);
        self.stack.frames.truncate(depth);
        r
    }

    fn kvrealloc_inner(&mut self, p: u64, size: u64, flags: Gfp) -> u64 {
        if self.is_vmalloc_addr(p) {
            return self.vrealloc(p, size, flags);
        }
        let n = self.krealloc(p, size, kmalloc_gfp_adjust(flags, size));
        if n != 0 {
            return n;
        }
        let caller = Some(self.caller_frame_of("__kvmalloc_node_noprof"));
        let n = self.__kvmalloc_node(size, flags, NUMA_NO_NODE, caller);
        if n == 0 {
            return 0;
        }
        if p > ZERO_SIZE_PTR {
            let ks = self.ksize(p);
            let mut buf = vec![0u8; ks as usize];
            let _ = self.read_bytes(p, &mut buf);
            let _ = self.vm_write(n, &buf);
            self.kfree(p);
        }
        n
    }

    /// Where a kvmalloc'ed address came from.
    ///
    /// Context: any.
    pub fn kv_backing(&self, addr: u64) -> KvBacking {
        if self.is_vmalloc_addr(addr) {
            KvBacking::Vmalloc
        } else {
            KvBacking::Kmalloc
        }
    }
}
