//! Memory pools: mm/mempool.c and include/linux/mempool.h of Linux 6.12.117, plus the simulator's "other
//! tasks" (a queue of scheduled events that run as kworker tasks while a task sleeps) and a memory eater
//! for memory-pressure experiments.
//!
//! # Pools
//! A pool (`mempool_t`) is named by its kernel address ([`MempoolPtr`]): `mempool_create*` kmallocs the
//! 72-byte `mempool_t` (40 bytes on i386) and the `elements` array, then preallocates `min_nr` elements with
//! GFP_KERNEL. The reserve is `elements[..curr_nr]`, used LIFO (`add_element`/`remove_element`). The pool's
//! state is inspectable with [`Machine::mempool`] for the book.
//!
//! The element allocator ([`MempoolAllocator`]) is one of the kernel's helpers, which the simulator runs
//! itself (`mempool_kmalloc`/`mempool_kfree`, `mempool_alloc_slab`/`mempool_free_slab`,
//! `mempool_alloc_pages`/`mempool_free_pages`; a page pool's elements are `struct page *` addresses), or
//! [`MempoolAllocator::Custom`]: functions of the module, named by opaque ids the façade chooses.
//!
//! # Custom callbacks: the step API
//! The simulator never calls module code itself (the caller holds `&mut Machine`). Every pool operation is a
//! small state machine: `mempool_*_start(...)` returns a [`MempoolStep`]; [`MempoolStep::Done`] carries the
//! C return value, [`MempoolStep::Call`] asks the caller to run something (the module's `alloc_fn`, its
//! `free_fn`, or a scheduled façade event) and then to pass the result back with [`Machine::mempool_resume`]
//! together with the [`MempoolCont`] it got. The simulated call stack keeps the kernel frames of the
//! operation pushed while the call runs, so a report printed by the module's function shows them.
//! [`Machine::mempool_run`] drives a step to the end with a closure that performs the calls; the plain
//! functions ([`Machine::mempool_alloc`] ...) use a closure that treats a custom allocation as failed
//! (returns NULL), a custom free as a no-op and a façade event as done — use them with built-in pools.
//!
//! ```
//! use kmem_sim::{Gfp, Machine, MachineConfig};
//! use kmem_sim::mempool::{MempoolAllocator, MempoolCall, MempoolStep};
//! let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
//! m.set_current("insmod", 95);
//! let alloc = MempoolAllocator::Custom { alloc_fn: 1, free_fn: 2 };
//! let mut step = m.mempool_create_start(2, alloc, 64, Gfp::GFP_KERNEL);
//! let pool = loop {
//!     match step {
//!         MempoolStep::Done(v) => break v,
//!         MempoolStep::Call(MempoolCall::Alloc { gfp, pool_data, .. }, cont) => {
//!             // the façade would call the module's alloc_fn(gfp, pool_data) here
//!             let e = m.kmalloc(pool_data, gfp);
//!             step = m.mempool_resume(cont, e);
//!         }
//!         MempoolStep::Call(_, cont) => step = m.mempool_resume(cont, 0),
//!         MempoolStep::Stuck { .. } => unreachable!(),
//!     }
//! };
//! assert_eq!(m.mempool(kmem_sim::mempool::MempoolPtr(pool)).unwrap().curr_nr, 2);
//! ```
//!
//! # Other tasks: scheduled events
//! [`Machine::schedule_event`] registers "at simulated time T, task `comm`/`pid` does X" ([`SimEvent`]: free an
//! element to a pool, kfree, free pages, release eaten memory, or a façade token). Events run when a task
//! sleeps: a `mempool_alloc` waiting on its pool (`io_schedule_timeout(5*HZ)`) advances the clock to the next
//! event (or to its 5 s timeout, then retries the allocator), and [`Machine::schedule_timeout_start`] /
//! [`Machine::msleep_events`] let a module's sleep run them. An event runs as its task (made current, with a
//! kworker call stack `ret_from_fork_asm` .. `process_one_work`), then the sleeper's task and stack return.
//! A waiter for which nothing is scheduled would sleep forever in the kernel (the 5 s timeout keeps the
//! hung-task detector quiet); the simulator gives up after [`MEMPOOL_STUCK_TIMEOUTS`] empty timeouts and
//! returns [`MempoolStep::Stuck`].
//!
//! # Configuration
//! Debian's 6.12 has `CONFIG_SLUB_DEBUG_ON=n`, `CONFIG_DEBUG_VM=n` and no KASAN: no element poisoning and no
//! `VM_WARN_ON_ONCE(gfp & __GFP_ZERO)`. With [`crate::SlabConfig::slub_debug_on`] the simulator poisons
//! reserve elements as 6.12 does (`POISON_FREE` 0x6b, last byte `POISON_END` 0xa5, checked and set to
//! `POISON_INUSE` 0x5a when taken) and prints `BUG: mempool element poison mismatch` on a mismatch.

#![forbid(unsafe_code)]

use std::collections::HashMap;

use crate::gfp::Gfp;
use crate::machine::{Arch, Machine, MachineConfig};
use crate::page::{PageOwner, Pfn};
use crate::panic::Frame;
use crate::printk::LogLevel;
use crate::slab_common::{CacheId, OopsKind};

/// `5*HZ` of `io_schedule_timeout(5*HZ)` in `mempool_alloc`, in ns.
pub const MEMPOOL_WAIT_TIMEOUT_NS: u64 = 5_000_000_000;
/// A waiting `mempool_alloc` with nothing scheduled gives up (returns [`MempoolStep::Stuck`]) after this many
/// 5 s timeouts (2 minutes of simulated time).
pub const MEMPOOL_STUCK_TIMEOUTS: u32 = 24;
/// `-ENOMEM`.
pub const ENOMEM: i32 = -12;

const POISON_INUSE: u8 = 0x5a;
const POISON_FREE: u8 = 0x6b;
const POISON_END: u8 = 0xa5;
const LINE_RESIZE_BUG: u32 = 334;
const LINE_RESIZE_MIGHT_SLEEP: u32 = 335;

/// A pool, by the kernel address of its `mempool_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MempoolPtr(pub u64);

/// The element allocator (`pool->alloc`/`pool->free` with `pool_data`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MempoolAllocator {
    /// `mempool_kmalloc`/`mempool_kfree`; `pool_data` is the size.
    Kmalloc,
    /// `mempool_alloc_slab`/`mempool_free_slab` on this cache (`pool_data` is the cache).
    Slab(CacheId),
    /// `mempool_alloc_pages`/`mempool_free_pages`; `pool_data` is the order; elements are `struct page *`.
    Pages,
    /// Module functions, named by ids the façade chose (e.g. their addresses); the simulator asks the caller
    /// to run them (see the module documentation).
    Custom {
        /// The `mempool_alloc_t` id.
        alloc_fn: u64,
        /// The `mempool_free_t` id.
        free_fn: u64,
    },
}

/// One pool (`mempool_t`), as the book shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mempool {
    /// The address of the `mempool_t`.
    pub addr: u64,
    /// `min_nr`: elements the reserve holds when full.
    pub min_nr: i32,
    /// `curr_nr`: elements in the reserve now.
    pub curr_nr: i32,
    /// `elements`: the reserve array's slots (the reserve is `elements[..curr_nr]`, the most recently
    /// returned element last); its length is the number of slots allocated.
    pub elements: Vec<u64>,
    /// The kmalloc'd address of the `elements` array.
    pub elements_addr: u64,
    /// `pool->alloc`/`pool->free`.
    pub allocator: MempoolAllocator,
    /// `pool_data` (size, order, or the module's pointer).
    pub pool_data: u64,
    /// `mempool_init` pools live in the caller's memory: `mempool_exit` does not kfree them.
    pub embedded: bool,
    /// Tasks sleeping on `pool->wait`.
    pub nr_waiters: u32,
    /// Count of `wake_up(&pool->wait)` calls.
    pub wake_seq: u64,
}

impl Mempool {
    /// The reserve, oldest first (`elements[..curr_nr]`).
    ///
    /// Context: any.
    pub fn reserve(&self) -> &[u64] {
        &self.elements[..self.curr_nr.max(0) as usize]
    }

    /// `mempool_is_saturated()`: `curr_nr >= min_nr`.
    ///
    /// Context: any.
    pub fn is_saturated(&self) -> bool {
        self.curr_nr >= self.min_nr
    }
}

/// What the caller must run for a pool operation (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MempoolCall {
    /// Call the module's `alloc_fn(gfp, pool_data)`; resume with the element (0 for NULL).
    Alloc {
        /// The pool.
        pool: MempoolPtr,
        /// The `alloc_fn` id.
        alloc_fn: u64,
        /// The mask to pass.
        gfp: Gfp,
        /// `pool_data`.
        pool_data: u64,
    },
    /// Call the module's `free_fn(element, pool_data)`; resume with 0.
    Free {
        /// The pool.
        pool: MempoolPtr,
        /// The `free_fn` id.
        free_fn: u64,
        /// The element.
        element: u64,
        /// `pool_data`.
        pool_data: u64,
    },
    /// A [`SimEvent::Facade`] event is due: run it (its task is current, its kworker stack pushed); resume with 0.
    Event {
        /// The token given to [`Machine::schedule_event`].
        token: u64,
        /// The task running it.
        pid: u32,
    },
}

/// The result of one step of a pool operation.
#[derive(Debug)]
pub enum MempoolStep {
    /// Finished with the C return value: the element (mempool_alloc, 0 = NULL), the pool address
    /// (mempool_create, 0 = NULL), `0`/`-ENOMEM` as `i64 as u64` (mempool_init, mempool_resize) or 0.
    Done(u64),
    /// Run this call, then [`Machine::mempool_resume`] with the continuation.
    Call(MempoolCall, MempoolCont),
    /// A sleeping `mempool_alloc` that nothing will ever wake (no event scheduled, [`MEMPOOL_STUCK_TIMEOUTS`]
    /// timeouts passed), or whose pool was destroyed while it slept. The kernel would hang; the operation is
    /// abandoned.
    Stuck {
        /// The pool.
        pool: MempoolPtr,
        /// Simulated time spent waiting, ns.
        waited_ns: u64,
    },
}

impl MempoolStep {
    /// The value of a finished step (None while a call is pending or when stuck).
    ///
    /// Context: any.
    pub fn done(&self) -> Option<u64> {
        match self {
            MempoolStep::Done(v) => Some(*v),
            _ => None,
        }
    }
}

/// The continuation of a pool operation waiting for a [`MempoolCall`] (opaque).
#[derive(Debug)]
pub struct MempoolCont {
    op: Op,
    depth: usize,
    event: Option<SavedCtx>,
}

#[derive(Debug)]
struct SavedCtx {
    current: usize,
    frames: Vec<Frame>,
}

#[derive(Debug)]
enum Op {
    Alloc(AllocOp),
    Free,
    Init(InitOp),
    Resize(ResizeOp),
    Exit(ExitOp),
    Sleep { until: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AllocSt {
    Try,
    AfterTry,
    Wait,
    AfterEvent,
}

#[derive(Debug)]
struct AllocOp {
    pool: u64,
    gfp_mask: Gfp,
    gfp_temp: Gfp,
    st: AllocSt,
    idle_timeouts: u32,
    deadline: u64,
    wake_seq: u64,
    wait_start: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitSt {
    Fill,
    AfterAlloc,
    Exiting,
    AfterFree,
}

#[derive(Debug)]
struct InitOp {
    pool: u64,
    gfp: Gfp,
    create: bool,
    st: InitSt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResizeSt {
    Shrink,
    AfterShrinkFree,
    Grow,
    AfterGrowAlloc,
}

#[derive(Debug)]
struct ResizeOp {
    pool: u64,
    new_min_nr: i32,
    st: ResizeSt,
}

#[derive(Debug)]
struct ExitOp {
    pool: u64,
    destroy: bool,
}

enum Progress {
    Done(u64),
    Call(MempoolCall),
    EventCall(MempoolCall, SavedCtx),
    Stuck(u64, u64),
}

/// Something another task does at a scheduled time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// `mempool_free(element, pool)`.
    MempoolFree {
        /// The pool.
        pool: MempoolPtr,
        /// The element.
        element: u64,
    },
    /// `kfree(addr)`.
    Kfree(u64),
    /// `free_pages(addr, order)`.
    FreePages {
        /// Direct-map address.
        addr: u64,
        /// Order.
        order: u32,
    },
    /// Frees everything a memory eater holds ([`Machine::release_memory`]).
    ReleaseMemory(EaterId),
    /// Module code the façade runs (returned as [`MempoolCall::Event`]).
    Facade(u64),
}

/// A scheduled event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledEvent {
    /// When (simulated ns since boot).
    pub at_ns: u64,
    /// Registration order (ties run in this order).
    pub seq: u64,
    /// The task's `comm` (e.g. `kworker/0:2`).
    pub comm: String,
    /// The task's pid.
    pub pid: u32,
    /// What it does.
    pub event: SimEvent,
}

/// A memory eater's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EaterId(pub u32);

/// Pools, scheduled events and memory eaters (a field of [`Machine`]).
#[derive(Clone, Debug, Default)]
pub struct MempoolState {
    pub(crate) pools: HashMap<u64, Mempool>,
    /// Creation order of live pools.
    pub(crate) order: Vec<u64>,
    pub(crate) events: Vec<ScheduledEvent>,
    pub(crate) next_event_seq: u64,
    pub(crate) eaters: Vec<Option<Vec<(Pfn, u32)>>>,
}

/// The kworker call stack an event runs on, outermost first.
const KWORKER_FRAMES: [&str; 5] =
    ["ret_from_fork_asm", "ret_from_fork", "kthread", "worker_thread", "process_one_work"];

impl MachineConfig {
    /// `CONFIG_SLUB_DEBUG_ON` (builder): mempool element poisoning and `DMAPOOL_DEBUG` (see
    /// [`crate::SlabConfig::slub_debug_on`]).
    ///
    /// Context: any.
    pub fn slub_debug_on(mut self, on: bool) -> Self {
        self.slab.slub_debug_on = on;
        self
    }
}

/// A closure for [`Machine::mempool_run`] that knows no module code: a custom allocation fails (NULL), a
/// custom free and a façade event do nothing.
///
/// Context: any.
pub fn no_module_code(_m: &mut Machine, _c: &MempoolCall) -> u64 {
    0
}

impl Machine {
    fn ptr_bytes(&self) -> u64 {
        match self.layout.arch {
            Arch::X86_64 => 8,
            Arch::I386 => 4,
        }
    }

    /// The pool at `pool`, if it exists.
    ///
    /// Context: any.
    pub fn mempool(&self, pool: MempoolPtr) -> Option<&Mempool> {
        self.mempools.pools.get(&pool.0)
    }

    /// Live pools, oldest first.
    ///
    /// Context: any.
    pub fn mempools(&self) -> Vec<&Mempool> {
        self.mempools.order.iter().filter_map(|a| self.mempools.pools.get(a)).collect()
    }

    /// `mempool_is_saturated(pool)` (false for an unknown pool).
    ///
    /// Context: any.
    pub fn mempool_is_saturated(&self, pool: MempoolPtr) -> bool {
        self.mempool(pool).is_some_and(|p| p.is_saturated())
    }

    /// A text dump of every pool for the book: address, allocator, `min_nr`, `curr_nr` and the reserve.
    ///
    /// Context: any.
    pub fn mempool_dump(&self) -> String {
        let mut s = String::new();
        for p in self.mempools() {
            let kind = match p.allocator {
                MempoolAllocator::Kmalloc => format!("kmalloc size={}", p.pool_data),
                MempoolAllocator::Slab(c) => format!("slab cache={}", self.kmem_cache_name(c).unwrap_or("(destroyed)")),
                MempoolAllocator::Pages => format!("pages order={}", p.pool_data),
                MempoolAllocator::Custom { alloc_fn, free_fn } => {
                    format!("custom alloc={alloc_fn:#x} free={free_fn:#x} data={:#x}", p.pool_data)
                }
            };
            s.push_str(&format!(
                "mempool {:#x}: {kind} min_nr={} curr_nr={} elements={:#x}\n",
                p.addr, p.min_nr, p.curr_nr, p.elements_addr
            ));
            for (i, e) in p.reserve().iter().enumerate() {
                s.push_str(&format!("  [{i}] {e:#x}\n"));
            }
        }
        s
    }

    // ------------------------------------------------------------------ driving

    /// Continues an operation after the caller ran the [`MempoolCall`] it asked for; `result` is the element
    /// the module's `alloc_fn` returned (0 for NULL), ignored for the other calls.
    ///
    /// Context: as the operation that was started.
    pub fn mempool_resume(&mut self, mut cont: MempoolCont, result: u64) -> MempoolStep {
        if let Some(saved) = cont.event.take() {
            self.restore_ctx(saved);
            return self.run_op(cont, None);
        }
        self.run_op(cont, Some(result))
    }

    /// Drives `step` to its end, running each [`MempoolCall`] with `f` (which gets the machine and returns
    /// the call's result). Returns the final step: [`MempoolStep::Done`] or [`MempoolStep::Stuck`].
    ///
    /// Context: as the operation that was started.
    pub fn mempool_run(
        &mut self,
        mut step: MempoolStep,
        f: &mut dyn FnMut(&mut Machine, &MempoolCall) -> u64,
    ) -> MempoolStep {
        loop {
            match step {
                MempoolStep::Call(call, cont) => {
                    let r = f(self, &call);
                    step = self.mempool_resume(cont, r);
                }
                other => return other,
            }
        }
    }

    fn start_op(&mut self, op: Op, frames: &[&'static str]) -> MempoolStep {
        let depth = self.stack.frames.len();
        for f in frames {
            self.push_kframe(f);
        }
        self.run_op(MempoolCont { op, depth, event: None }, None)
    }

    fn run_op(&mut self, mut cont: MempoolCont, input: Option<u64>) -> MempoolStep {
        let p = match &mut cont.op {
            Op::Alloc(a) => self.alloc_op(a, input),
            // The only call a free makes is the custom free_fn: once it ran, the free is done.
            Op::Free => Progress::Done(0),
            Op::Init(i) => self.init_op(i, input),
            Op::Resize(r) => self.resize_op(r, input),
            Op::Exit(e) => self.exit_op(e, input),
            Op::Sleep { until } => {
                let until = *until;
                self.sleep_op(until)
            }
        };
        match p {
            Progress::Done(v) => {
                self.stack.frames.truncate(cont.depth);
                MempoolStep::Done(v)
            }
            Progress::Call(c) => MempoolStep::Call(c, cont),
            Progress::EventCall(c, saved) => {
                cont.event = Some(saved);
                MempoolStep::Call(c, cont)
            }
            Progress::Stuck(pool, waited_ns) => {
                self.stack.frames.truncate(cont.depth);
                MempoolStep::Stuck { pool: MempoolPtr(pool), waited_ns }
            }
        }
    }

    fn restore_ctx(&mut self, saved: SavedCtx) {
        self.sched.current = saved.current;
        self.stack.frames = saved.frames;
    }

    // ------------------------------------------------------------------ element helpers

    /// Runs the pool's built-in allocator; None for a custom pool (the caller must ask the module).
    fn pool_alloc_builtin(&mut self, pool: u64, gfp: Gfp) -> Option<u64> {
        let p = self.mempools.pools.get(&pool)?;
        let (alloc, data) = (p.allocator, p.pool_data);
        let depth = self.stack.frames.len();
        let r = match alloc {
            MempoolAllocator::Kmalloc => {
                self.push_kframe("mempool_kmalloc");
                Some(self.do_kmalloc(data, gfp, "__kmalloc_noprof"))
            }
            MempoolAllocator::Slab(c) => {
                self.push_kframe("mempool_alloc_slab");
                Some(self.kmem_cache_alloc(c, gfp))
            }
            MempoolAllocator::Pages => {
                self.push_kframe("mempool_alloc_pages");
                Some(self.alloc_pages(gfp, data as u32).map(|p| self.page_struct_addr(p)).unwrap_or(0))
            }
            MempoolAllocator::Custom { .. } => None,
        };
        self.stack.frames.truncate(depth);
        r
    }

    fn alloc_call(&self, pool: u64, gfp: Gfp) -> MempoolCall {
        let p = &self.mempools.pools[&pool];
        let alloc_fn = match p.allocator {
            MempoolAllocator::Custom { alloc_fn, .. } => alloc_fn,
            _ => 0,
        };
        MempoolCall::Alloc { pool: MempoolPtr(pool), alloc_fn, gfp, pool_data: p.pool_data }
    }

    /// Frees to the pool's built-in allocator, or returns the call a custom pool needs.
    fn pool_free_element(&mut self, pool: u64, element: u64) -> Option<MempoolCall> {
        let p = self.mempools.pools.get(&pool)?;
        let (alloc, data) = (p.allocator, p.pool_data);
        let depth = self.stack.frames.len();
        let r = match alloc {
            MempoolAllocator::Kmalloc => {
                self.push_kframe("mempool_kfree");
                self.kfree(element);
                None
            }
            MempoolAllocator::Slab(c) => {
                self.push_kframe("mempool_free_slab");
                self.kmem_cache_free(c, element);
                None
            }
            MempoolAllocator::Pages => {
                self.push_kframe("mempool_free_pages");
                match self.pfn_of_page_struct(element) {
                    Some(pfn) => {
                        self.set_page_owner(pfn, data as u32, PageOwner::PageAlloc);
                        self.__free_pages(pfn, data as u32);
                    }
                    None => self.die_on_access(element),
                }
                None
            }
            MempoolAllocator::Custom { free_fn, .. } => {
                Some(MempoolCall::Free { pool: MempoolPtr(pool), free_fn, element, pool_data: data })
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// The bytes an element of a built-in pool covers (for poisoning): (address, size, is_page).
    fn element_extent(&self, p: &Mempool, element: u64) -> Option<(u64, u64, bool)> {
        match p.allocator {
            MempoolAllocator::Kmalloc => Some((element, p.pool_data, false)),
            MempoolAllocator::Slab(c) => Some((element, self.kmem_cache_size(c) as u64, false)),
            MempoolAllocator::Pages => {
                let pfn = self.pfn_of_page_struct(element)?;
                Some((pfn.0 << 12, 4096u64 << p.pool_data, true))
            }
            MempoolAllocator::Custom { .. } => None,
        }
    }

    fn poison_element(&mut self, pool: u64, element: u64) {
        let Some(p) = self.mempools.pools.get(&pool) else {
            return;
        };
        let Some((addr, size, is_page)) = self.element_extent(p, element) else {
            return;
        };
        if size == 0 {
            return;
        }
        let mut buf = vec![POISON_FREE; size as usize];
        buf[size as usize - 1] = POISON_END;
        let _ = if is_page { self.write_phys(addr, &buf) } else { self.write_bytes(addr, &buf) };
    }

    fn check_element(&mut self, pool: u64, element: u64) {
        let Some(p) = self.mempools.pools.get(&pool) else {
            return;
        };
        let (pool_addr, nr) = (p.addr, p.curr_nr);
        let Some((addr, size, is_page)) = self.element_extent(p, element) else {
            return;
        };
        if size == 0 {
            return;
        }
        let mut buf = vec![0u8; size as usize];
        let ok = if is_page { self.read_phys(addr, &mut buf) } else { self.read_bytes(addr, &mut buf) };
        if ok.is_err() {
            return;
        }
        let bad = buf.iter().enumerate().position(|(i, &b)| {
            let exp = if i + 1 < buf.len() { POISON_FREE } else { POISON_END };
            b != exp
        });
        if let Some(byte) = bad {
            let w = self.ptr_bytes() as usize;
            let start = byte.saturating_sub(w);
            let end = (byte + w).min(buf.len());
            let shown = if is_page { self.__va(addr) } else { addr };
            self.printk(LogLevel::Err, "BUG: mempool element poison mismatch\n");
            let pp = self.format_ptr(pool_addr);
            self.printk(LogLevel::Err, &format!("Mempool {pp} size {size}\n"));
            let ep = self.format_ptr(shown);
            let dots = if start > 0 { "... " } else { "" };
            self.printk(LogLevel::Err, &format!(" nr={nr} @ {ep}: {dots}0x"));
            let mut cont = String::new();
            for b in &buf[start..end] {
                cont.push_str(&format!("{b:x} "));
            }
            cont.push_str(if end < buf.len() { "...\n" } else { "\n" });
            self.pr_cont(&cont);
            self.dump_stack();
            return;
        }
        let buf = vec![POISON_INUSE; size as usize];
        let _ = if is_page { self.write_phys(addr, &buf) } else { self.write_bytes(addr, &buf) };
    }

    /// `add_element()`: stores the element in the next reserve slot (and in the simulated `elements` array).
    fn add_element(&mut self, pool: u64, element: u64) {
        if self.cfg.slab.slub_debug_on {
            self.poison_element(pool, element);
        }
        let pb = self.ptr_bytes();
        let Some(p) = self.mempools.pools.get_mut(&pool) else {
            return;
        };
        let idx = p.curr_nr as usize;
        if idx >= p.elements.len() {
            p.elements.resize(idx + 1, 0);
        }
        p.elements[idx] = element;
        p.curr_nr += 1;
        let (arr, alloc, order) = (p.elements_addr, p.allocator, p.pool_data as u32);
        if arr > 16 {
            let bytes = element.to_le_bytes();
            let _ = self.write_bytes(arr + idx as u64 * pb, &bytes[..pb as usize]);
        }
        if alloc == MempoolAllocator::Pages {
            if let Some(pfn) = self.pfn_of_page_struct(element) {
                self.set_page_owner(pfn, order, PageOwner::Mempool);
            }
        }
    }

    /// `remove_element()`: takes the most recently added element (LIFO).
    fn remove_element(&mut self, pool: u64) -> u64 {
        let Some(p) = self.mempools.pools.get_mut(&pool) else {
            return 0;
        };
        p.curr_nr -= 1;
        let element = p.elements[p.curr_nr as usize];
        let (alloc, order) = (p.allocator, p.pool_data as u32);
        if alloc == MempoolAllocator::Pages {
            if let Some(pfn) = self.pfn_of_page_struct(element) {
                self.set_page_owner(pfn, order, PageOwner::PageAlloc);
            }
        }
        if self.cfg.slab.slub_debug_on {
            self.check_element(pool, element);
        }
        element
    }

    /// `mempool_free`'s body on a known pool: refill or free; a custom free is returned.
    fn mempool_free_inner(&mut self, pool: u64, element: u64) -> Option<MempoolCall> {
        if element == 0 {
            return None;
        }
        let Some(p) = self.mempools.pools.get(&pool) else {
            // Use after mempool_destroy: the kernel reads freed memory; the simulator ignores the call.
            return None;
        };
        if p.curr_nr < p.min_nr {
            self.add_element(pool, element);
            if let Some(p) = self.mempools.pools.get_mut(&pool) {
                p.wake_seq += 1;
            }
            return None;
        }
        self.pool_free_element(pool, element)
    }

    // ------------------------------------------------------------------ create / init

    /// `mempool_create_node(min_nr, alloc_fn, free_fn, pool_data, gfp_mask, node_id)` (`mempool_create` passes
    /// GFP_KERNEL): kmallocs the `mempool_t` (zeroed) and the `elements` array, then fills the reserve with
    /// `min_nr` elements allocated with `gfp_mask`; if one fails the elements are freed again and NULL is
    /// returned. Done value: the pool address or 0.
    ///
    /// Context: process context with GFP_KERNEL (may sleep).
    pub fn mempool_create_start(
        &mut self,
        min_nr: i32,
        allocator: MempoolAllocator,
        pool_data: u64,
        gfp_mask: Gfp,
    ) -> MempoolStep {
        let depth = self.stack.frames.len();
        self.push_kframe("mempool_create_node_noprof");
        let size = match self.layout.arch {
            Arch::X86_64 => 72,
            Arch::I386 => 40,
        };
        let addr = self.do_kmalloc(size, gfp_mask | Gfp::__GFP_ZERO, "__kmalloc_cache_node_noprof");
        self.stack.frames.truncate(depth);
        if addr == 0 {
            return MempoolStep::Done(0);
        }
        self.mempool_init_common(addr, min_nr, allocator, pool_data, gfp_mask, true)
    }

    /// `mempool_init(pool, min_nr, alloc_fn, free_fn, pool_data)` for a `mempool_t` embedded at `pool_addr` in
    /// the caller's memory (`mempool_init_node` with GFP_KERNEL). Done value: 0 or `-ENOMEM` (as `i64 as u64`).
    ///
    /// Context: process context (may sleep).
    pub fn mempool_init_start(
        &mut self,
        pool_addr: u64,
        min_nr: i32,
        allocator: MempoolAllocator,
        pool_data: u64,
    ) -> MempoolStep {
        self.mempool_init_common(pool_addr, min_nr, allocator, pool_data, Gfp::GFP_KERNEL, false)
    }

    fn mempool_init_common(
        &mut self,
        addr: u64,
        min_nr: i32,
        allocator: MempoolAllocator,
        pool_data: u64,
        gfp: Gfp,
        create: bool,
    ) -> MempoolStep {
        let depth = self.stack.frames.len();
        if create {
            self.push_kframe("mempool_create_node_noprof");
        } else {
            self.push_kframe("mempool_init_noprof");
        }
        self.push_kframe("mempool_init_node");
        // kmalloc_array_node(min_nr, sizeof(void *)): a negative min_nr overflows size_t and fails.
        let pb = self.ptr_bytes();
        let arr = if min_nr < 0 { 0 } else { self.do_kmalloc(min_nr as u64 * pb, gfp, "__kmalloc_node_noprof") };
        if arr == 0 {
            self.stack.frames.truncate(depth);
            if create {
                self.push_kframe("mempool_create_node_noprof");
                self.kfree(addr);
                self.stack.frames.truncate(depth);
                return MempoolStep::Done(0);
            }
            return MempoolStep::Done(ENOMEM as i64 as u64);
        }
        self.mempools.pools.insert(
            addr,
            Mempool {
                addr,
                min_nr,
                curr_nr: 0,
                elements: vec![0; min_nr as usize],
                elements_addr: arr,
                allocator,
                pool_data,
                embedded: !create,
                nr_waiters: 0,
                wake_seq: 0,
            },
        );
        self.mempools.order.retain(|a| *a != addr);
        self.mempools.order.push(addr);
        self.run_op(
            MempoolCont { op: Op::Init(InitOp { pool: addr, gfp, create, st: InitSt::Fill }), depth, event: None },
            None,
        )
    }

    fn init_op(&mut self, i: &mut InitOp, mut input: Option<u64>) -> Progress {
        loop {
            match i.st {
                InitSt::Fill => {
                    let p = &self.mempools.pools[&i.pool];
                    if p.curr_nr >= p.min_nr {
                        return Progress::Done(if i.create { i.pool } else { 0 });
                    }
                    i.st = InitSt::AfterAlloc;
                    match self.pool_alloc_builtin(i.pool, i.gfp) {
                        Some(e) => input = Some(e),
                        None => return Progress::Call(self.alloc_call(i.pool, i.gfp)),
                    }
                }
                InitSt::AfterAlloc => {
                    let e = input.take().unwrap_or(0);
                    if e == 0 {
                        i.st = InitSt::Exiting;
                    } else {
                        self.add_element(i.pool, e);
                        i.st = InitSt::Fill;
                    }
                }
                InitSt::Exiting => {
                    if self.mempools.pools[&i.pool].curr_nr > 0 {
                        let e = self.remove_element(i.pool);
                        i.st = InitSt::AfterFree;
                        if let Some(c) = self.pool_free_element(i.pool, e) {
                            return Progress::Call(c);
                        }
                    } else {
                        let p = self.forget_pool(i.pool);
                        if let Some(p) = p {
                            self.kfree(p.elements_addr);
                        }
                        if i.create {
                            self.kfree(i.pool);
                            return Progress::Done(0);
                        }
                        return Progress::Done(ENOMEM as i64 as u64);
                    }
                }
                InitSt::AfterFree => i.st = InitSt::Exiting,
            }
        }
    }

    fn forget_pool(&mut self, pool: u64) -> Option<Mempool> {
        self.mempools.order.retain(|a| *a != pool);
        self.mempools.pools.remove(&pool)
    }

    /// `mempool_create(min_nr, mempool_kmalloc, mempool_kfree, size)` = `mempool_create_kmalloc_pool`.
    /// Returns the pool or None (NULL).
    ///
    /// Context: process context (GFP_KERNEL, may sleep).
    pub fn mempool_create_kmalloc_pool(&mut self, min_nr: i32, size: u64) -> Option<MempoolPtr> {
        let s = self.mempool_create_start(min_nr, MempoolAllocator::Kmalloc, size, Gfp::GFP_KERNEL);
        self.finish_create(s)
    }

    /// `mempool_create_slab_pool(min_nr, cache)`.
    ///
    /// Context: process context (GFP_KERNEL, may sleep).
    pub fn mempool_create_slab_pool(&mut self, min_nr: i32, cache: CacheId) -> Option<MempoolPtr> {
        let s = self.mempool_create_start(min_nr, MempoolAllocator::Slab(cache), cache.0 as u64, Gfp::GFP_KERNEL);
        self.finish_create(s)
    }

    /// `mempool_create_page_pool(min_nr, order)`: elements are `struct page *` of `2^order` pages.
    ///
    /// Context: process context (GFP_KERNEL, may sleep).
    pub fn mempool_create_page_pool(&mut self, min_nr: i32, order: u32) -> Option<MempoolPtr> {
        let s = self.mempool_create_start(min_nr, MempoolAllocator::Pages, order as u64, Gfp::GFP_KERNEL);
        self.finish_create(s)
    }

    /// `mempool_create_node(min_nr, ..., gfp_mask, node)` with a built-in allocator (the node is ignored: one
    /// node).
    ///
    /// Context: process context if `gfp_mask` may sleep.
    pub fn mempool_create_node(
        &mut self,
        min_nr: i32,
        allocator: MempoolAllocator,
        pool_data: u64,
        gfp_mask: Gfp,
    ) -> Option<MempoolPtr> {
        let s = self.mempool_create_start(min_nr, allocator, pool_data, gfp_mask);
        self.finish_create(s)
    }

    fn finish_create(&mut self, s: MempoolStep) -> Option<MempoolPtr> {
        match self.mempool_run(s, &mut no_module_code) {
            MempoolStep::Done(v) if v != 0 => Some(MempoolPtr(v)),
            _ => None,
        }
    }

    /// `mempool_init()` with a built-in allocator for a `mempool_t` at `pool_addr`; `Err(-ENOMEM)` on failure.
    ///
    /// Context: process context (may sleep).
    pub fn mempool_init(
        &mut self,
        pool_addr: u64,
        min_nr: i32,
        allocator: MempoolAllocator,
        pool_data: u64,
    ) -> Result<(), i32> {
        let s = self.mempool_init_start(pool_addr, min_nr, allocator, pool_data);
        match self.mempool_run(s, &mut no_module_code) {
            MempoolStep::Done(0) => Ok(()),
            _ => Err(ENOMEM),
        }
    }

    // ------------------------------------------------------------------ alloc

    /// `mempool_alloc(pool, gfp_mask)` (the kernel's algorithm): `might_alloc`; adds `__GFP_NOMEMALLOC |
    /// __GFP_NORETRY | __GFP_NOWARN`; tries the allocator without `__GFP_DIRECT_RECLAIM | __GFP_IO`; on failure
    /// takes the most recently returned reserve element; with the reserve empty retries once with the full
    /// mask; a mask that cannot sleep then gets NULL; otherwise the task waits on the pool (running scheduled
    /// events, up to 5 s) and tries again. Done value: the element or 0.
    ///
    /// Context: any with GFP_ATOMIC/GFP_NOWAIT; process context when the mask may sleep (it can wait).
    pub fn mempool_alloc_start(&mut self, pool: MempoolPtr, gfp_mask: Gfp) -> MempoolStep {
        let depth = self.stack.frames.len();
        self.push_kframe("mempool_alloc_noprof");
        self.might_alloc(gfp_mask);
        if !self.mempools.pools.contains_key(&pool.0) {
            // A stale or bogus pool pointer: the first field mempool_alloc_noprof() reads is `pool->pool_data`
            // (after `lock`, `min_nr`, `curr_nr` and `elements`: 0x18 on x86_64, 0x10 on i386), where the real
            // kernel faulted for a NULL pool.
            let off = if self.ptr_size() == 8 { 0x18 } else { 0x10 };
            self.die_on_access(pool.0.wrapping_add(off));
            self.stack.frames.truncate(depth);
            return MempoolStep::Done(0);
        }
        let gfp_mask = gfp_mask | Gfp::__GFP_NOMEMALLOC | Gfp::__GFP_NORETRY | Gfp::__GFP_NOWARN;
        let gfp_temp = gfp_mask & !(Gfp::__GFP_DIRECT_RECLAIM | Gfp::__GFP_IO);
        self.run_op(
            MempoolCont {
                op: Op::Alloc(AllocOp {
                    pool: pool.0,
                    gfp_mask,
                    gfp_temp,
                    st: AllocSt::Try,
                    idle_timeouts: 0,
                    deadline: 0,
                    wake_seq: 0,
                    wait_start: self.clock_ns,
                }),
                depth,
                event: None,
            },
            None,
        )
    }

    fn alloc_op(&mut self, a: &mut AllocOp, mut input: Option<u64>) -> Progress {
        loop {
            match a.st {
                AllocSt::Try => {
                    if !self.mempools.pools.contains_key(&a.pool) {
                        return Progress::Stuck(a.pool, self.clock_ns.saturating_sub(a.wait_start));
                    }
                    a.st = AllocSt::AfterTry;
                    match self.pool_alloc_builtin(a.pool, a.gfp_temp) {
                        Some(e) => input = Some(e),
                        None => return Progress::Call(self.alloc_call(a.pool, a.gfp_temp)),
                    }
                }
                AllocSt::AfterTry => {
                    let e = input.take().unwrap_or(0);
                    if e != 0 {
                        return Progress::Done(e);
                    }
                    let Some(p) = self.mempools.pools.get(&a.pool) else {
                        return Progress::Stuck(a.pool, 0);
                    };
                    if p.curr_nr > 0 {
                        return Progress::Done(self.remove_element(a.pool));
                    }
                    if a.gfp_temp != a.gfp_mask {
                        a.gfp_temp = a.gfp_mask;
                        a.st = AllocSt::Try;
                        continue;
                    }
                    if !a.gfp_mask.gfpflags_allow_blocking() {
                        return Progress::Done(0);
                    }
                    if a.idle_timeouts == 0 {
                        a.wait_start = self.clock_ns;
                    }
                    if self.mempools.events.is_empty() && a.idle_timeouts >= MEMPOOL_STUCK_TIMEOUTS {
                        return Progress::Stuck(a.pool, self.clock_ns.saturating_sub(a.wait_start));
                    }
                    let p = self.mempools.pools.get_mut(&a.pool).expect("checked");
                    p.nr_waiters += 1;
                    a.wake_seq = p.wake_seq;
                    a.deadline = self.clock_ns + MEMPOOL_WAIT_TIMEOUT_NS;
                    a.st = AllocSt::Wait;
                }
                AllocSt::Wait => match self.pop_due_event(a.deadline) {
                    None => {
                        self.clock_ns = self.clock_ns.max(a.deadline);
                        if self.mempools.events.is_empty() {
                            a.idle_timeouts += 1;
                        }
                        if let Some(p) = self.mempools.pools.get_mut(&a.pool) {
                            p.nr_waiters = p.nr_waiters.saturating_sub(1);
                        }
                        a.st = AllocSt::Try;
                    }
                    Some(ev) => {
                        a.st = AllocSt::AfterEvent;
                        if let Some((c, saved)) = self.start_event(ev) {
                            return Progress::EventCall(c, saved);
                        }
                    }
                },
                AllocSt::AfterEvent => {
                    let woken = self.mempools.pools.get(&a.pool).is_none_or(|p| p.wake_seq != a.wake_seq);
                    if woken {
                        if let Some(p) = self.mempools.pools.get_mut(&a.pool) {
                            p.nr_waiters = p.nr_waiters.saturating_sub(1);
                        }
                        a.idle_timeouts = 0;
                        a.st = AllocSt::Try;
                    } else {
                        a.st = AllocSt::Wait;
                    }
                }
            }
        }
    }

    /// `mempool_alloc()` for built-in pools (see [`no_module_code`]); `Ok(0)` is NULL, `Err` a task that would
    /// sleep forever ([`MempoolStep::Stuck`]).
    ///
    /// Context: as [`Machine::mempool_alloc_start`].
    pub fn mempool_alloc(&mut self, pool: MempoolPtr, gfp_mask: Gfp) -> Result<u64, MempoolStuck> {
        let s = self.mempool_alloc_start(pool, gfp_mask);
        match self.mempool_run(s, &mut no_module_code) {
            MempoolStep::Done(v) => Ok(v),
            MempoolStep::Stuck { pool, waited_ns } => Err(MempoolStuck { pool, waited_ns }),
            MempoolStep::Call(..) => unreachable!("mempool_run returns finished steps"),
        }
    }

    /// `mempool_alloc_preallocated(pool)`: only the reserve; 0 when it is empty.
    ///
    /// Context: any.
    pub fn mempool_alloc_preallocated(&mut self, pool: MempoolPtr) -> u64 {
        match self.mempools.pools.get(&pool.0) {
            Some(p) if p.curr_nr > 0 => {
                let depth = self.stack.frames.len();
                self.push_kframe("mempool_alloc_preallocated");
                let e = self.remove_element(pool.0);
                self.stack.frames.truncate(depth);
                e
            }
            _ => 0,
        }
    }

    // ------------------------------------------------------------------ free

    /// `mempool_free(element, pool)`: NULL is ignored; while `curr_nr < min_nr` the element refills the
    /// reserve and waiters are woken, else it goes back to the allocator. Done value: 0.
    ///
    /// Context: any (it never sleeps).
    pub fn mempool_free_start(&mut self, element: u64, pool: MempoolPtr) -> MempoolStep {
        let depth = self.stack.frames.len();
        self.push_kframe("mempool_free");
        let c = self.mempool_free_inner(pool.0, element);
        match c {
            None => {
                self.stack.frames.truncate(depth);
                MempoolStep::Done(0)
            }
            Some(call) => MempoolStep::Call(call, MempoolCont { op: Op::Free, depth, event: None }),
        }
    }

    /// `mempool_free()` for built-in pools.
    ///
    /// Context: any.
    pub fn mempool_free(&mut self, element: u64, pool: MempoolPtr) {
        let s = self.mempool_free_start(element, pool);
        self.mempool_run(s, &mut no_module_code);
    }

    // ------------------------------------------------------------------ resize

    /// `mempool_resize(pool, new_min_nr)`: shrinking frees reserve elements above the new minimum; growing
    /// kmallocs a new `elements` array (`-ENOMEM` if that fails) and allocates elements with GFP_KERNEL until
    /// the reserve is full (a failing element allocation still returns 0, as in the kernel).
    /// `new_min_nr <= 0` is `BUG_ON` (an oops). Done value: 0 or `-ENOMEM`.
    ///
    /// Context: process context (may sleep).
    pub fn mempool_resize_start(&mut self, pool: MempoolPtr, new_min_nr: i32) -> MempoolStep {
        let depth = self.stack.frames.len();
        self.push_kframe("mempool_resize");
        if new_min_nr <= 0 {
            self.die(OopsKind::Bug { file: "mm/mempool.c".into(), line: LINE_RESIZE_BUG });
            self.stack.frames.truncate(depth);
            return MempoolStep::Done(0);
        }
        self.might_sleep("mm/mempool.c", LINE_RESIZE_MIGHT_SLEEP);
        let Some(p) = self.mempools.pools.get(&pool.0) else {
            self.die_on_access(pool.0);
            self.stack.frames.truncate(depth);
            return MempoolStep::Done(0);
        };
        let st = if new_min_nr <= p.min_nr {
            ResizeSt::Shrink
        } else {
            let old = (p.elements_addr, p.curr_nr);
            let pb = self.ptr_bytes();
            let arr = self.do_kmalloc(new_min_nr as u64 * pb, Gfp::GFP_KERNEL, "__kmalloc_noprof");
            if arr == 0 {
                self.stack.frames.truncate(depth);
                return MempoolStep::Done(ENOMEM as i64 as u64);
            }
            let mut buf = vec![0u8; (old.1.max(0) as u64 * pb) as usize];
            if old.0 > 16 && !buf.is_empty() {
                let _ = self.read_bytes(old.0, &mut buf);
                let _ = self.write_bytes(arr, &buf);
            }
            self.kfree(old.0);
            let p = self.mempools.pools.get_mut(&pool.0).expect("checked");
            p.elements_addr = arr;
            p.elements.resize(new_min_nr as usize, 0);
            p.min_nr = new_min_nr;
            ResizeSt::Grow
        };
        self.run_op(MempoolCont { op: Op::Resize(ResizeOp { pool: pool.0, new_min_nr, st }), depth, event: None }, None)
    }

    fn resize_op(&mut self, r: &mut ResizeOp, mut input: Option<u64>) -> Progress {
        loop {
            let Some(p) = self.mempools.pools.get(&r.pool) else {
                return Progress::Done(0);
            };
            let (curr, min) = (p.curr_nr, p.min_nr);
            match r.st {
                ResizeSt::Shrink => {
                    if r.new_min_nr < curr {
                        let e = self.remove_element(r.pool);
                        r.st = ResizeSt::AfterShrinkFree;
                        if let Some(c) = self.pool_free_element(r.pool, e) {
                            return Progress::Call(c);
                        }
                    } else {
                        self.mempools.pools.get_mut(&r.pool).expect("checked").min_nr = r.new_min_nr;
                        return Progress::Done(0);
                    }
                }
                ResizeSt::AfterShrinkFree => r.st = ResizeSt::Shrink,
                ResizeSt::Grow => {
                    if curr >= min {
                        return Progress::Done(0);
                    }
                    r.st = ResizeSt::AfterGrowAlloc;
                    match self.pool_alloc_builtin(r.pool, Gfp::GFP_KERNEL) {
                        Some(e) => input = Some(e),
                        None => return Progress::Call(self.alloc_call(r.pool, Gfp::GFP_KERNEL)),
                    }
                }
                ResizeSt::AfterGrowAlloc => {
                    let e = input.take().unwrap_or(0);
                    if e == 0 {
                        return Progress::Done(0);
                    }
                    if curr < min {
                        self.add_element(r.pool, e);
                        r.st = ResizeSt::Grow;
                    } else {
                        r.st = ResizeSt::Grow;
                        if let Some(c) = self.pool_free_element(r.pool, e) {
                            return Progress::Call(c);
                        }
                    }
                }
            }
        }
    }

    /// `mempool_resize()` for built-in pools: `Err(-ENOMEM)` when the new `elements` array cannot be allocated.
    ///
    /// Context: process context (may sleep).
    pub fn mempool_resize(&mut self, pool: MempoolPtr, new_min_nr: i32) -> Result<(), i32> {
        let s = self.mempool_resize_start(pool, new_min_nr);
        match self.mempool_run(s, &mut no_module_code) {
            MempoolStep::Done(0) => Ok(()),
            _ => Err(ENOMEM),
        }
    }

    // ------------------------------------------------------------------ exit / destroy

    /// `mempool_exit(pool)` (`destroy == false`) or `mempool_destroy(pool)`: frees the `curr_nr` elements of the
    /// reserve to the allocator and the `elements` array (and, for destroy, the `mempool_t`). Elements still
    /// out are not touched: they belong to the caller, who leaks them. NULL/unknown pools are ignored. Done: 0.
    ///
    /// Context: process context (the element free functions may need it).
    pub fn mempool_exit_start(&mut self, pool: MempoolPtr, destroy: bool) -> MempoolStep {
        if pool.0 == 0 || !self.mempools.pools.contains_key(&pool.0) {
            return MempoolStep::Done(0);
        }
        let frames: &[&'static str] = if destroy { &["mempool_destroy", "mempool_exit"] } else { &["mempool_exit"] };
        self.start_op(Op::Exit(ExitOp { pool: pool.0, destroy }), frames)
    }

    fn exit_op(&mut self, e: &mut ExitOp, _input: Option<u64>) -> Progress {
        loop {
            let Some(p) = self.mempools.pools.get(&e.pool) else {
                return Progress::Done(0);
            };
            if p.curr_nr > 0 {
                let el = self.remove_element(e.pool);
                if let Some(c) = self.pool_free_element(e.pool, el) {
                    return Progress::Call(c);
                }
            } else {
                let p = self.forget_pool(e.pool).expect("present");
                self.kfree(p.elements_addr);
                if e.destroy && !p.embedded {
                    self.kfree(e.pool);
                }
                return Progress::Done(0);
            }
        }
    }

    /// `mempool_destroy(pool)` for built-in pools.
    ///
    /// Context: process context.
    pub fn mempool_destroy(&mut self, pool: MempoolPtr) {
        let s = self.mempool_exit_start(pool, true);
        self.mempool_run(s, &mut no_module_code);
    }

    /// `mempool_exit(pool)` for built-in pools.
    ///
    /// Context: process context.
    pub fn mempool_exit(&mut self, pool: MempoolPtr) {
        let s = self.mempool_exit_start(pool, false);
        self.mempool_run(s, &mut no_module_code);
    }

    // ------------------------------------------------------------------ other tasks

    /// Registers "at `at_ns` (simulated ns since boot), task `comm`/`pid` does `event`". The task is created if
    /// needed. Events run in time order (ties in registration order) while a task sleeps (see the module
    /// documentation).
    ///
    /// Context: any.
    pub fn schedule_event(&mut self, at_ns: u64, comm: &str, pid: u32, event: SimEvent) {
        self.spawn_task(comm, pid);
        let seq = self.mempools.next_event_seq;
        self.mempools.next_event_seq += 1;
        self.mempools.events.push(ScheduledEvent { at_ns, seq, comm: comm.into(), pid, event });
    }

    /// Events not yet run, in the order they will run.
    ///
    /// Context: any.
    pub fn scheduled_events(&self) -> Vec<ScheduledEvent> {
        let mut v = self.mempools.events.clone();
        v.sort_by_key(|e| (e.at_ns, e.seq));
        v
    }

    fn pop_due_event(&mut self, limit: u64) -> Option<ScheduledEvent> {
        let i = self
            .mempools
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.at_ns <= limit)
            .min_by_key(|(_, e)| (e.at_ns, e.seq))
            .map(|(i, _)| i)?;
        let ev = self.mempools.events.remove(i);
        self.clock_ns = self.clock_ns.max(ev.at_ns);
        Some(ev)
    }

    /// Runs one event as its task; a call the caller must run comes back with the saved context.
    fn start_event(&mut self, ev: ScheduledEvent) -> Option<(MempoolCall, SavedCtx)> {
        let saved = SavedCtx { current: self.sched.current, frames: std::mem::take(&mut self.stack.frames) };
        self.spawn_task(&ev.comm, ev.pid);
        self.switch_to(ev.pid);
        for f in KWORKER_FRAMES {
            self.push_kframe(f);
        }
        let call = match ev.event {
            SimEvent::MempoolFree { pool, element } => {
                self.push_kframe("mempool_free");
                self.mempool_free_inner(pool.0, element)
            }
            SimEvent::Kfree(a) => {
                self.kfree(a);
                None
            }
            SimEvent::FreePages { addr, order } => {
                self.free_pages(addr, order);
                None
            }
            SimEvent::ReleaseMemory(id) => {
                self.release_memory(id);
                None
            }
            SimEvent::Facade(token) => Some(MempoolCall::Event { token, pid: ev.pid }),
        };
        match call {
            Some(c) => Some((c, saved)),
            None => {
                self.restore_ctx(saved);
                None
            }
        }
    }

    fn sleep_op(&mut self, until: u64) -> Progress {
        loop {
            match self.pop_due_event(until) {
                None => {
                    self.clock_ns = self.clock_ns.max(until);
                    return Progress::Done(0);
                }
                Some(ev) => {
                    if let Some((c, saved)) = self.start_event(ev) {
                        return Progress::EventCall(c, saved);
                    }
                }
            }
        }
    }

    /// Sleeps the current task for `ns` (like `schedule_timeout`), running the events that fall due meanwhile;
    /// the clock ends at least `ns` later. Done value: 0.
    ///
    /// Context: process context (no `might_sleep` check here: see [`Machine::msleep_events`]).
    pub fn schedule_timeout_start(&mut self, ns: u64) -> MempoolStep {
        let until = self.clock_ns + ns;
        self.start_op(Op::Sleep { until }, &[])
    }

    /// `msleep(ms)` that lets scheduled events run (built-in events only; see [`no_module_code`]).
    ///
    /// Context: process context, may sleep (calls `might_sleep`).
    pub fn msleep_events(&mut self, ms: u64) {
        self.might_sleep("kernel/time/sleep_timeout.c", 363);
        let s = self.schedule_timeout_start(ms * 1_000_000);
        self.mempool_run(s, &mut no_module_code);
    }

    // ------------------------------------------------------------------ memory pressure

    /// Eats free memory: allocates with `gfp | __GFP_NOWARN | __GFP_NORETRY`, largest orders first, until the
    /// allocator refuses or `max_pages` pages are held. The pages stay allocated (owner `PageAlloc`) until
    /// [`Machine::release_memory`]. Nothing is printed.
    ///
    /// Context: process context if `gfp` may sleep.
    pub fn eat_memory(&mut self, gfp: Gfp, max_pages: Option<u64>) -> EaterId {
        let gfp = gfp | Gfp::__GFP_NOWARN | Gfp::__GFP_NORETRY;
        let mut held = Vec::new();
        let mut n = 0u64;
        let limit = max_pages.unwrap_or(u64::MAX);
        for order in (0..=crate::zone::MAX_PAGE_ORDER).rev() {
            while n + (1 << order) <= limit {
                match self.try_alloc_pages(gfp, order) {
                    Ok(p) => {
                        held.push((p, order));
                        n += 1 << order;
                    }
                    Err(_) => break,
                }
            }
        }
        self.mempools.eaters.push(Some(held));
        EaterId(self.mempools.eaters.len() as u32 - 1)
    }

    /// Pages an eater holds.
    ///
    /// Context: any.
    pub fn eaten_pages(&self, id: EaterId) -> u64 {
        match self.mempools.eaters.get(id.0 as usize) {
            Some(Some(v)) => v.iter().map(|(_, o)| 1u64 << o).sum(),
            _ => 0,
        }
    }

    /// Frees what an eater holds; returns the number of pages (0 for an unknown or released eater).
    ///
    /// Context: any.
    pub fn release_memory(&mut self, id: EaterId) -> u64 {
        let Some(slot) = self.mempools.eaters.get_mut(id.0 as usize) else {
            return 0;
        };
        let Some(v) = slot.take() else {
            return 0;
        };
        let mut n = 0;
        for (p, o) in v {
            self.__free_pages(p, o);
            n += 1u64 << o;
        }
        n
    }
}

/// A `mempool_alloc` that would sleep forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolStuck {
    /// The pool.
    pub pool: MempoolPtr,
    /// Simulated time waited, ns.
    pub waited_ns: u64,
}

impl std::fmt::Display for MempoolStuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mempool_alloc on {:#x} waits forever (waited {} ms, nothing scheduled frees an element)",
            self.pool.0,
            self.waited_ns / 1_000_000
        )
    }
}
impl std::error::Error for MempoolStuck {}
