//! RCU as the allocators see it: kernel/rcu/tree.c of Linux 6.12.117 — grace periods (`synchronize_rcu()`,
//! `rcu_barrier()`) and `kvfree_call_rcu()`, the batching behind `kfree_rcu()`/`kvfree_rcu()`, with
//! `kvfree_rcu_barrier()`.
//!
//! # Model
//! - **Grace periods** are a counter of completed ones. `get_state_synchronize_rcu()` is the number of the
//!   next one, and a snapshot has elapsed when the counter reaches it (`poll_state_synchronize_rcu()`). The
//!   simulated CPUs run one task at a time and no reader ever holds a grace period up, so one completes
//!   wherever the current task sleeps while something waits for one: in `synchronize_rcu()`,
//!   `rcu_barrier()`, `kvfree_rcu_barrier()`, and in `msleep()`, where the kernel's workers also get to run
//!   ([`Machine::rcu_run_workers`]).
//! - **`kvfree_call_rcu(head, ptr)`** queues `ptr` on this CPU's `struct kfree_rcu_cpu`. Channels 1 and 2 are
//!   arrays of pointers in pages (`struct kvfree_rcu_bulk_data`, `KVFREE_BULK_MAX_ENTR` pointers a page on
//!   x86_64: 507), kmalloc and vmalloc pointers apart, each page stamped with the grace period it needs. A
//!   new page comes from the CPU's cache of pages (at most `rcu_min_cached_objs`, 5) or, for the head-less
//!   `kvfree_rcu_mightsleep()` only, from `__get_free_page()`. Without a page the object goes on channel 3,
//!   the list threaded through its own `rcu_head` (`head->func = ptr`, `head->next` the previous head:
//!   the kernel writes both words into the object), and the page-cache worker is started, which fills the
//!   cache with five pages when it runs. The head-less form without a page waits instead:
//!   `synchronize_rcu()`, then `kvfree()`.
//! - **The monitor.** Queuing arms the CPU's `monitor_work` for `KFREE_DRAIN_JIFFIES` (5 s) — 1 jiffy once
//!   `KVFREE_BULK_MAX_ENTR` pointers wait. When it runs, the pages and the list whose grace period has
//!   passed are freed at once (`kvfree_rcu_drain_ready()`); the rest becomes a batch (one of
//!   `KFREE_N_BATCHES`, 2, per CPU; `kvfree_rcu_queue_batch()`) that `kfree_rcu_work()` frees after the next
//!   grace period: `kfree_bulk()` of a page's kmalloc pointers, `vfree()` of its vmalloc ones, `kvfree()`
//!   of each object on the list; each page then goes back to the cache, or to the page allocator when the
//!   cache is full.
//! - **`kvfree_rcu_barrier()`** detaches every CPU's objects into batches and waits for them (and cancels
//!   the monitors); `kmem_cache_destroy()` calls it before it looks for objects left in the cache.
//!
//! Not modelled: `call_rcu()` callbacks, the shrinker that drains the batches under memory pressure
//! (`kfree_rcu_shrink_scan()`), the page-cache fill's back-off, expedited grace periods as a separate
//! mechanism (`synchronize_rcu_expedited()` is one grace period), the `CONFIG_DEBUG_OBJECTS_RCU_HEAD`
//! double-free check (not in the book's kernel).

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::Machine;

/// `KFREE_DRAIN_JIFFIES`: `5 * HZ`.
const KFREE_DRAIN_JIFFIES: u64 = 5 * crate::printk::HZ;
/// `KFREE_N_BATCHES`.
const KFREE_N_BATCHES: usize = 2;
/// `rcu_min_cached_objs`.
const RCU_MIN_CACHED_OBJS: usize = 5;
/// The GFP mask of the pages for pointer arrays.
const BNODE_GFP: Gfp = Gfp(Gfp::GFP_KERNEL.0 | Gfp::__GFP_NORETRY.0 | Gfp::__GFP_NOMEMALLOC.0 | Gfp::__GFP_NOWARN.0);

/// `struct kvfree_rcu_bulk_data`: a page of pointers.
#[derive(Clone, Debug)]
struct Bnode {
    /// The page's kernel address.
    page: u64,
    records: Vec<u64>,
    /// The grace period the newest record needs.
    gp_snap: u64,
}

/// A batch of `struct kfree_rcu_cpu_work`: what waits for one grace period.
#[derive(Clone, Debug, Default)]
struct Batch {
    bulk: [Vec<Bnode>; 2],
    /// Channel 3: `(rcu_head address, object)`, newest first.
    head: Vec<(u64, u64)>,
    /// The grace period it waits for (queue_rcu_work()).
    gp: u64,
    queued: bool,
}

/// `struct kfree_rcu_cpu`.
#[derive(Clone, Debug, Default)]
struct Krc {
    /// Channels 1 (kmalloc) and 2 (vmalloc): pages, newest first.
    bulk_head: [Vec<Bnode>; 2],
    /// Channel 3, newest first, and the grace period it needs.
    head: Vec<(u64, u64)>,
    head_gp_snap: u64,
    krw_arr: [Batch; KFREE_N_BATCHES],
    /// `bkvcache`: cached pages.
    bkvcache: Vec<u64>,
    /// The jiffy `monitor_work` is due, if pending.
    monitor_due: Option<u64>,
    /// `page_cache_work` is pending (`work_in_progress`).
    page_cache_work: bool,
}

/// RCU's state (a field of [`Machine`]).
#[derive(Clone, Debug, Default)]
pub struct RcuState {
    /// Completed grace periods.
    gp_completed: u64,
    krc: Vec<Krc>,
}

impl Machine {
    fn krc_init(&mut self) {
        if self.rcu.krc.is_empty() {
            self.rcu.krc = vec![Krc::default(); self.cfg.cpus.max(1) as usize];
        }
    }

    fn this_krc(&self) -> usize {
        (self.sched.cpu as usize).min(self.rcu.krc.len().saturating_sub(1))
    }

    /// `KVFREE_BULK_MAX_ENTR`: pointers in a page after the header (list, grace-period snapshot, count).
    fn kvfree_bulk_max_entr(&self) -> usize {
        let ptr = self.ptr_size() as usize;
        (4096 - 5 * ptr) / ptr
    }

    /// `get_state_synchronize_rcu()`.
    ///
    /// Context: any.
    pub fn get_state_synchronize_rcu(&self) -> u64 {
        self.rcu.gp_completed + 1
    }

    /// `poll_state_synchronize_rcu(oldstate)`.
    ///
    /// Context: any.
    pub fn poll_state_synchronize_rcu(&self, oldstate: u64) -> bool {
        self.rcu.gp_completed >= oldstate
    }

    /// Grace periods completed since boot (introspection).
    ///
    /// Context: any.
    pub fn rcu_gp_completed(&self) -> u64 {
        self.rcu.gp_completed
    }

    /// `synchronize_rcu()`: waits for a grace period (one completes), and the workers waiting for it run.
    ///
    /// Context: process context, may sleep.
    pub fn synchronize_rcu(&mut self) {
        self.might_sleep("kernel/sched/completion.c", 111);
        self.rcu.gp_completed += 1;
        self.rcu_run_workers();
    }

    /// `rcu_barrier()`: waits for the callbacks queued so far (a grace period; no `call_rcu()` callbacks
    /// are modelled). It does not wait for `kfree_rcu()`'s batches: that is `kvfree_rcu_barrier()`.
    ///
    /// Context: process context, may sleep.
    pub fn rcu_barrier(&mut self) {
        self.might_sleep("kernel/locking/mutex.c", 283);
        self.rcu.gp_completed += 1;
        self.rcu_run_workers();
    }

    /// `kvfree_call_rcu(head, ptr)`: frees `ptr` (a kmalloc, kmem_cache or vmalloc object) after a grace
    /// period, in a batch; `head` is the object's `rcu_head`, or 0 for the head-less form, which may sleep
    /// (see the module documentation).
    ///
    /// Context: any context for the two-argument form (`head` != 0); process context for the head-less one.
    pub fn kvfree_call_rcu(&mut self, head: u64, ptr: u64) {
        if head == 0 {
            self.might_sleep("kernel/rcu/tree.c", 3822);
        }
        if ptr == 0 {
            return;
        }
        self.krc_init();
        let cpu = self.this_krc();
        let idx = usize::from(self.is_vmalloc_addr(ptr));
        let success = self.add_ptr_to_bulk_krc(cpu, idx, ptr, head == 0);
        let mut queued = success;
        if !success {
            // run_page_cache_worker()
            self.rcu.krc[cpu].page_cache_work = true;
            if head != 0 {
                // Channel 3: head->func = ptr; head->next = krcp->head.
                let ps = self.ptr_size() as usize;
                let next = self.rcu.krc[cpu].head.first().map(|&(h, _)| h).unwrap_or(0);
                let mut words = next.to_le_bytes()[..ps].to_vec();
                words.extend_from_slice(&ptr.to_le_bytes()[..ps]);
                let _ = self.vm_write(head, &words);
                self.rcu.krc[cpu].head.insert(0, (head, ptr));
                self.rcu.krc[cpu].head_gp_snap = self.get_state_synchronize_rcu();
                queued = true;
            }
        }
        if queued {
            self.schedule_delayed_monitor_work(cpu);
            return;
        }
        // The head-less form without a page: synchronize_rcu(), then kvfree() inline.
        self.synchronize_rcu();
        self.kvfree(ptr);
    }

    /// `add_ptr_to_bulk_krc_lock()`: records `ptr` in the newest page of channel `idx`, taking a new page from
    /// the cache (or, when `can_alloc`, the page allocator) when that one is full or missing.
    fn add_ptr_to_bulk_krc(&mut self, cpu: usize, idx: usize, ptr: u64, can_alloc: bool) -> bool {
        let max = self.kvfree_bulk_max_entr();
        let full = self.rcu.krc[cpu].bulk_head[idx].first().is_none_or(|b| b.records.len() == max);
        if full {
            let page = match self.rcu.krc[cpu].bkvcache.pop() {
                Some(p) => p,
                None if can_alloc => self.__get_free_page(BNODE_GFP),
                None => 0,
            };
            if page == 0 {
                return false;
            }
            self.rcu.krc[cpu].bulk_head[idx].insert(0, Bnode { page, records: Vec::new(), gp_snap: 0 });
        }
        let gp = self.get_state_synchronize_rcu();
        let b = &mut self.rcu.krc[cpu].bulk_head[idx][0];
        b.records.push(ptr);
        b.gp_snap = gp;
        true
    }

    fn krc_count(&self, cpu: usize) -> usize {
        let k = &self.rcu.krc[cpu];
        k.head.len() + k.bulk_head.iter().flatten().map(|b| b.records.len()).sum::<usize>()
    }

    /// `__schedule_delayed_monitor_work()`: arms the monitor, or brings it forward to the next jiffy once a
    /// page's worth of pointers waits.
    fn schedule_delayed_monitor_work(&mut self, cpu: usize) {
        let delay = if self.krc_count(cpu) >= self.kvfree_bulk_max_entr() { 1 } else { KFREE_DRAIN_JIFFIES };
        let due = self.jiffies() + delay;
        let k = &mut self.rcu.krc[cpu];
        k.monitor_due = Some(k.monitor_due.map_or(due, |d| d.min(due)));
    }

    fn need_offload_krc(&self, cpu: usize) -> bool {
        let k = &self.rcu.krc[cpu];
        k.bulk_head.iter().any(|b| !b.is_empty()) || !k.head.is_empty()
    }

    /// `kvfree_rcu_queue_batch()`: moves what waits into a free batch; false when both are in flight.
    fn kvfree_rcu_queue_batch(&mut self, cpu: usize) -> bool {
        let gp = self.get_state_synchronize_rcu();
        let k = &mut self.rcu.krc[cpu];
        for i in 0..KFREE_N_BATCHES {
            if k.krw_arr[i].queued {
                continue;
            }
            if k.bulk_head.iter().any(|b| !b.is_empty()) || !k.head.is_empty() {
                let bulk = std::mem::take(&mut k.bulk_head);
                let head = std::mem::take(&mut k.head);
                k.krw_arr[i] = Batch { bulk, head, gp, queued: true };
                return true;
            }
        }
        false
    }

    /// `kfree_rcu_work()` of batch `i` of CPU `cpu`, whose grace period has passed.
    fn kfree_rcu_work(&mut self, cpu: usize, i: usize) {
        let batch = std::mem::take(&mut self.rcu.krc[cpu].krw_arr[i]);
        let saved = std::mem::take(&mut self.stack.frames);
        self.push_kframe("worker_thread");
        self.push_kframe("process_one_work");
        self.push_kframe("kfree_rcu_work");
        for (idx, bnodes) in batch.bulk.into_iter().enumerate() {
            for b in bnodes {
                self.kvfree_rcu_bulk(cpu, b, idx);
            }
        }
        self.kvfree_rcu_list(&batch.head);
        self.stack.frames = saved;
    }

    /// `kvfree_rcu_bulk()`: frees a page's pointers, then keeps the page in the cache or frees it.
    fn kvfree_rcu_bulk(&mut self, cpu: usize, b: Bnode, idx: usize) {
        if idx == 0 {
            self.push_kframe("kfree_bulk");
            for &p in &b.records {
                self.kfree(p);
            }
            self.pop_frame();
        } else {
            for &p in &b.records {
                self.vfree(p);
            }
        }
        // put_cached_bnode()
        if self.rcu.krc[cpu].bkvcache.len() < RCU_MIN_CACHED_OBJS {
            self.rcu.krc[cpu].bkvcache.push(b.page);
        } else {
            self.free_page(b.page);
        }
    }

    /// `kvfree_rcu_list()`: `kvfree()` of each object of channel 3, oldest last as the list runs.
    fn kvfree_rcu_list(&mut self, head: &[(u64, u64)]) {
        for &(_, ptr) in head {
            self.kvfree(ptr);
        }
    }

    /// `kvfree_rcu_drain_ready()`: frees the pages and the list of CPU `cpu` whose grace period has passed.
    fn kvfree_rcu_drain_ready(&mut self, cpu: usize) {
        for idx in 0..2 {
            // From the oldest page on, while their grace period has passed.
            loop {
                let ready =
                    self.rcu.krc[cpu].bulk_head[idx].last().is_some_and(|b| self.poll_state_synchronize_rcu(b.gp_snap));
                if !ready {
                    break;
                }
                let b = self.rcu.krc[cpu].bulk_head[idx].pop().expect("present");
                self.kvfree_rcu_bulk(cpu, b, idx);
            }
        }
        if !self.rcu.krc[cpu].head.is_empty() && self.poll_state_synchronize_rcu(self.rcu.krc[cpu].head_gp_snap) {
            let head = std::mem::take(&mut self.rcu.krc[cpu].head);
            self.kvfree_rcu_list(&head);
        }
    }

    /// `kfree_rcu_monitor()`.
    fn kfree_rcu_monitor(&mut self, cpu: usize) {
        self.rcu.krc[cpu].monitor_due = None;
        self.kvfree_rcu_drain_ready(cpu);
        self.kvfree_rcu_queue_batch(cpu);
        if self.need_offload_krc(cpu) {
            self.schedule_delayed_monitor_work(cpu);
        }
    }

    /// `fill_page_cache_func()`: fills CPU `cpu`'s page cache up to `rcu_min_cached_objs` pages.
    fn fill_page_cache_func(&mut self, cpu: usize) {
        while self.rcu.krc[cpu].bkvcache.len() < RCU_MIN_CACHED_OBJS {
            let p = self.__get_free_page(BNODE_GFP);
            if p == 0 {
                break;
            }
            self.rcu.krc[cpu].bkvcache.push(p);
        }
        self.rcu.krc[cpu].page_cache_work = false;
    }

    /// The kernel's workers while the current task sleeps: the page-cache fills and the due monitors run, a
    /// grace period completes if a batch waits for one, and the batches whose grace period has passed are
    /// freed.
    ///
    /// Context: process context (a sleeping point of the current task).
    pub fn rcu_run_workers(&mut self) {
        if self.rcu.krc.is_empty() || self.in_interrupt() {
            return;
        }
        let now = self.jiffies();
        for cpu in 0..self.rcu.krc.len() {
            if self.rcu.krc[cpu].page_cache_work {
                self.fill_page_cache_func(cpu);
            }
            if self.rcu.krc[cpu].monitor_due.is_some_and(|d| d <= now) {
                self.kfree_rcu_monitor(cpu);
            }
        }
        let waiting = self.rcu.krc.iter().any(|k| k.krw_arr.iter().any(|b| b.queued && b.gp > self.rcu.gp_completed));
        if waiting {
            self.rcu.gp_completed += 1;
        }
        for cpu in 0..self.rcu.krc.len() {
            for i in 0..KFREE_N_BATCHES {
                let b = &self.rcu.krc[cpu].krw_arr[i];
                if b.queued && self.poll_state_synchronize_rcu(b.gp) {
                    self.kfree_rcu_work(cpu, i);
                }
            }
        }
    }

    /// `kvfree_rcu_barrier()`: waits until every object queued by `kvfree_call_rcu()` so far is freed.
    ///
    /// Context: process context, may sleep.
    pub fn kvfree_rcu_barrier(&mut self) {
        // cancel_delayed_work_sync() of each monitor.
        self.might_sleep("kernel/workqueue.c", 4393);
        if self.rcu.krc.is_empty() {
            return;
        }
        for cpu in 0..self.rcu.krc.len() {
            while self.need_offload_krc(cpu) {
                if self.kvfree_rcu_queue_batch(cpu) {
                    break;
                }
                // Both batches in flight: flush them (a grace period), then try again.
                self.kvfree_rcu_flush_batches(cpu);
            }
        }
        for cpu in 0..self.rcu.krc.len() {
            // cancel_delayed_work_sync(&krcp->monitor_work)
            self.rcu.krc[cpu].monitor_due = None;
            self.kvfree_rcu_flush_batches(cpu);
        }
    }

    /// `flush_rcu_work()` of both batches of CPU `cpu`.
    fn kvfree_rcu_flush_batches(&mut self, cpu: usize) {
        for i in 0..KFREE_N_BATCHES {
            let b = &self.rcu.krc[cpu].krw_arr[i];
            if !b.queued {
                continue;
            }
            if !self.poll_state_synchronize_rcu(b.gp) {
                self.rcu.gp_completed = b.gp;
            }
            self.kfree_rcu_work(cpu, i);
        }
    }

    /// Objects `kvfree_call_rcu()` queued that are not freed yet (introspection).
    ///
    /// Context: any.
    pub fn kfree_rcu_pending(&self) -> usize {
        (0..self.rcu.krc.len())
            .map(|c| {
                self.krc_count(c)
                    + self.rcu.krc[c]
                        .krw_arr
                        .iter()
                        .map(|b| b.head.len() + b.bulk.iter().flatten().map(|n| n.records.len()).sum::<usize>())
                        .sum::<usize>()
            })
            .sum()
    }
}
