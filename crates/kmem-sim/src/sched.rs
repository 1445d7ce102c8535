//! Tasks and execution context (kernel/sched/core.c, include/linux/preempt.h, include/linux/sched/mm.h): the
//! current task, the preempt count with its hardirq part, irqs-disabled, `__might_resched()` / `might_sleep()`
//! with `CONFIG_DEBUG_ATOMIC_SLEEP` semantics, and the GFP scope API (`memalloc_noio_save()` …) with
//! `current_gfp_context()`, which the page allocator applies to every request.

#![forbid(unsafe_code)]

use crate::machine::Machine;
use crate::panic::Taint;
use crate::printk::LogLevel;

/// `PREEMPT_OFFSET`.
pub const PREEMPT_OFFSET: u32 = 1;
/// `SOFTIRQ_OFFSET`.
pub const SOFTIRQ_OFFSET: u32 = 1 << 8;
/// `HARDIRQ_OFFSET`.
pub const HARDIRQ_OFFSET: u32 = 1 << 16;
/// `NMI_OFFSET`.
pub const NMI_OFFSET: u32 = 1 << 20;
/// `SOFTIRQ_MASK`.
pub const SOFTIRQ_MASK: u32 = 0xff << 8;
/// `HARDIRQ_MASK`.
pub const HARDIRQ_MASK: u32 = 0xf << 16;
/// `NMI_MASK`.
pub const NMI_MASK: u32 = 0xf << 20;

/// `PF_MEMALLOC`: allocating memory to free memory (`memalloc_noreclaim_save()`).
pub const PF_MEMALLOC: u32 = 0x0000_0800;
/// `PF_MEMALLOC_NOFS`: every allocation of the task inherits `GFP_NOFS` (`memalloc_nofs_save()`).
pub const PF_MEMALLOC_NOFS: u32 = 0x0004_0000;
/// `PF_MEMALLOC_NOIO`: every allocation of the task inherits `GFP_NOIO` (`memalloc_noio_save()`).
pub const PF_MEMALLOC_NOIO: u32 = 0x0008_0000;
/// `PF_MEMALLOC_PIN`: allocations constrained to zones that allow long-term pinning (no `__GFP_MOVABLE`).
pub const PF_MEMALLOC_PIN: u32 = 0x1000_0000;

/// A task (`struct task_struct`, the fields that get printed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// `pid`.
    pub pid: u32,
    /// `comm` (at most 15 characters, as `TASK_COMM_LEN` 16 allows).
    pub comm: String,
    /// `non_block_count`.
    pub non_block_count: i32,
    /// `rcu_read_lock_nesting`.
    pub rcu_depth: i32,
    /// `flags`: the `PF_MEMALLOC*` bits of the scope API (the others are not modelled).
    pub flags: u32,
    /// The system call the task is in (its user-mode registers, `task_pt_regs()`), if it is in one.
    pub syscall: Option<Syscall>,
}

/// A task's entry into the kernel through `syscall` (what its user-mode `struct pt_regs` holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscall {
    /// `orig_ax`: the system call number (`__NR_finit_module` = 313, `__NR_delete_module` = 176).
    pub nr: u64,
    /// `di`, `si`, `dx`: its first three arguments.
    pub args: [u64; 3],
    /// The user-mode instruction after the `syscall` instruction (`ip`, and `cx`, which `syscall` clobbers).
    pub ip: u64,
    /// The user-mode stack pointer.
    pub sp: u64,
    /// The 64 code bytes around `ip` as `show_opcodes()` prints them (`<..>` marks the byte at `ip`), when the
    /// simulator knows the program's code; `None` prints the kernel's line for unreadable code.
    pub code: Option<&'static str>,
}

/// `system_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemState {
    Booting,
    Running,
}

/// Scheduler/context state of the (single simulated) CPU 0.
#[derive(Clone, Debug)]
pub struct Sched {
    /// Known tasks.
    pub tasks: Vec<Task>,
    /// Index of `current` in `tasks`.
    pub current: usize,
    /// `preempt_count()`.
    pub preempt_count: u32,
    /// Nesting of `local_irq_disable` (irqs are off while > 0).
    pub irq_disable_depth: u32,
    /// `__might_resched`'s `prev_jiffy`.
    pub prev_jiffy: u64,
    /// `system_state`.
    pub system_state: SystemState,
    /// The CPU we run on (`raw_smp_processor_id()`).
    pub cpu: u32,
    /// The frame that disabled preemption first (`get_preempt_disable_ip()`).
    pub preempt_disable_ip: Option<crate::panic::Frame>,
}

impl Default for Sched {
    fn default() -> Self {
        Sched {
            tasks: vec![Task {
                pid: 0,
                comm: "swapper/0".into(),
                non_block_count: 0,
                rcu_depth: 0,
                flags: 0,
                syscall: None,
            }],
            current: 0,
            preempt_count: 0,
            irq_disable_depth: 0,
            prev_jiffy: 0,
            system_state: SystemState::Booting,
            cpu: 0,
            preempt_disable_ip: None,
        }
    }
}

fn comm15(s: &str) -> String {
    s.chars().take(15).collect()
}

impl Machine {
    /// The current task.
    ///
    /// Context: any.
    pub fn current(&self) -> &Task {
        &self.sched.tasks[self.sched.current]
    }

    /// `memalloc_flags_save(flags)`: sets `flags` in `current->flags` and returns those of them that were
    /// clear, for [`Machine::memalloc_flags_restore`] (so that nested scopes restore only their own).
    fn memalloc_flags_save(&mut self, flags: u32) -> u32 {
        let t = &mut self.sched.tasks[self.sched.current];
        let old = !t.flags & flags;
        t.flags |= flags;
        old
    }

    /// `memalloc_flags_restore(flags)`: clears `flags` in `current->flags`.
    fn memalloc_flags_restore(&mut self, flags: u32) {
        self.sched.tasks[self.sched.current].flags &= !flags;
    }

    /// `memalloc_noio_save()`: starts a `GFP_NOIO` scope for the current task: until the matching restore,
    /// every allocation it makes drops `__GFP_IO` and `__GFP_FS`.
    ///
    /// Context: process context. Returns the value to pass to [`Machine::memalloc_noio_restore`]
    /// (`PF_MEMALLOC_NOIO`, or 0 inside another NOIO scope).
    pub fn memalloc_noio_save(&mut self) -> u32 {
        self.memalloc_flags_save(PF_MEMALLOC_NOIO)
    }

    /// `memalloc_noio_restore(flags)`: ends the scope `flags` came from.
    ///
    /// Context: process context.
    pub fn memalloc_noio_restore(&mut self, flags: u32) {
        self.memalloc_flags_restore(flags)
    }

    /// `memalloc_nofs_save()`: starts a `GFP_NOFS` scope (every allocation drops `__GFP_FS`).
    ///
    /// Context: process context. Returns `PF_MEMALLOC_NOFS` or 0 (nested), for
    /// [`Machine::memalloc_nofs_restore`].
    pub fn memalloc_nofs_save(&mut self) -> u32 {
        self.memalloc_flags_save(PF_MEMALLOC_NOFS)
    }

    /// `memalloc_nofs_restore(flags)`.
    ///
    /// Context: process context.
    pub fn memalloc_nofs_restore(&mut self, flags: u32) {
        self.memalloc_flags_restore(flags)
    }

    /// `current_gfp_context(flags)`: the mask the current task's scopes leave of `flags` — NOIO drops
    /// `__GFP_IO | __GFP_FS` (and takes precedence over NOFS, which drops `__GFP_FS`), PIN drops
    /// `__GFP_MOVABLE`. In interrupt context `current` is the interrupted task, as in the kernel.
    ///
    /// Context: any.
    pub fn current_gfp_context(&self, mut flags: crate::gfp::Gfp) -> crate::gfp::Gfp {
        use crate::gfp::Gfp;
        let pflags = self.current().flags;
        if pflags & (PF_MEMALLOC_NOIO | PF_MEMALLOC_NOFS | PF_MEMALLOC_PIN) != 0 {
            if pflags & PF_MEMALLOC_NOIO != 0 {
                flags &= !(Gfp::__GFP_IO | Gfp::__GFP_FS);
            } else if pflags & PF_MEMALLOC_NOFS != 0 {
                flags &= !Gfp::__GFP_FS;
            }
            if pflags & PF_MEMALLOC_PIN != 0 {
                flags &= !Gfp::__GFP_MOVABLE;
            }
        }
        flags
    }

    /// Makes the task `pid` current, creating it with `comm` if it does not exist (its comm is updated
    /// otherwise), e.g. `set_current("insmod", 95)` before a module's init runs.
    ///
    /// Context: process context (not inside irq_enter/irq_exit).
    pub fn set_current(&mut self, comm: &str, pid: u32) {
        let comm = comm15(comm);
        if let Some(i) = self.sched.tasks.iter().position(|t| t.pid == pid) {
            self.sched.tasks[i].comm = comm;
            self.sched.current = i;
        } else {
            self.sched.tasks.push(Task { pid, comm, non_block_count: 0, rcu_depth: 0, flags: 0, syscall: None });
            self.sched.current = self.sched.tasks.len() - 1;
        }
    }

    /// Records that the current task entered the kernel through the system call `sc` (`None`: it is a kernel
    /// thread, or back in user mode); its user-mode registers end its call traces.
    ///
    /// Context: process context.
    pub fn set_current_syscall(&mut self, sc: Option<Syscall>) {
        let i = self.sched.current;
        self.sched.tasks[i].syscall = sc;
    }

    /// Creates a task without switching to it.
    ///
    /// Context: any.
    pub fn spawn_task(&mut self, comm: &str, pid: u32) {
        if !self.sched.tasks.iter().any(|t| t.pid == pid) {
            self.sched.tasks.push(Task {
                pid,
                comm: comm15(comm),
                non_block_count: 0,
                rcu_depth: 0,
                flags: 0,
                syscall: None,
            });
        }
    }

    /// Switches to task `pid`; false if there is no such task.
    ///
    /// Context: process context.
    pub fn switch_to(&mut self, pid: u32) -> bool {
        match self.sched.tasks.iter().position(|t| t.pid == pid) {
            Some(i) => {
                self.sched.current = i;
                true
            }
            None => false,
        }
    }

    /// `preempt_count()`.
    ///
    /// Context: any.
    pub fn preempt_count(&self) -> u32 {
        self.sched.preempt_count
    }

    /// `preempt_disable()`.
    ///
    /// Context: any.
    pub fn preempt_disable(&mut self) {
        if self.sched.preempt_count == 0 {
            // preempt_latency_start(): remember where preemption got disabled (CONFIG_DEBUG_PREEMPT).
            self.sched.preempt_disable_ip = self.stack.frames.last().cloned();
        }
        self.sched.preempt_count += PREEMPT_OFFSET;
    }

    /// `preempt_enable()` (an unbalanced call is ignored).
    ///
    /// Context: any.
    pub fn preempt_enable(&mut self) {
        if self.sched.preempt_count & 0xff != 0 {
            self.sched.preempt_count -= PREEMPT_OFFSET;
        }
    }

    /// `spin_lock()`: on a preemptible (non-RT) kernel, taking a spinlock disables preemption.
    ///
    /// Context: any.
    pub fn spin_lock(&mut self) {
        self.preempt_disable();
    }

    /// `spin_unlock()`.
    ///
    /// Context: any, with the lock held.
    pub fn spin_unlock(&mut self) {
        self.preempt_enable();
    }

    /// `spin_lock_irqsave()`: irqs off, then the lock.
    ///
    /// Context: any.
    pub fn spin_lock_irqsave(&mut self) {
        self.local_irq_disable();
        self.preempt_disable();
    }

    /// `spin_unlock_irqrestore()`.
    ///
    /// Context: any, with the lock held.
    pub fn spin_unlock_irqrestore(&mut self) {
        self.preempt_enable();
        self.local_irq_enable();
    }

    /// `local_irq_disable()` (nests here, unlike the kernel, so save/restore pairs work).
    ///
    /// Context: any.
    pub fn local_irq_disable(&mut self) {
        self.sched.irq_disable_depth += 1;
    }

    /// `local_irq_enable()`.
    ///
    /// Context: any.
    pub fn local_irq_enable(&mut self) {
        self.sched.irq_disable_depth = self.sched.irq_disable_depth.saturating_sub(1);
    }

    /// `irqs_disabled()`.
    ///
    /// Context: any.
    pub fn irqs_disabled(&self) -> bool {
        self.sched.irq_disable_depth > 0
    }

    /// `irq_enter()`: enter hardirq context (preempt count += `HARDIRQ_OFFSET`, irqs off). Pushes the interrupt
    /// entry frames so stack dumps show an `<IRQ>` section.
    ///
    /// Context: any.
    pub fn irq_enter(&mut self) {
        if self.sched.preempt_count == 0 {
            self.sched.preempt_disable_ip = self.stack.frames.last().cloned();
        }
        self.sched.preempt_count += HARDIRQ_OFFSET;
        self.sched.irq_disable_depth += 1;
        self.stack.irq_marks.push(self.stack.frames.len());
    }

    /// `irq_exit()`.
    ///
    /// Context: hardirq, paired with [`Machine::irq_enter`].
    pub fn irq_exit(&mut self) {
        if self.sched.preempt_count & HARDIRQ_MASK != 0 {
            self.sched.preempt_count -= HARDIRQ_OFFSET;
            self.sched.irq_disable_depth = self.sched.irq_disable_depth.saturating_sub(1);
            if let Some(mark) = self.stack.irq_marks.pop() {
                self.stack.frames.truncate(mark);
            }
        }
    }

    /// `local_bh_disable()`: softirq-disabled section (counts as atomic, not as interrupt context).
    ///
    /// Context: any.
    pub fn local_bh_disable(&mut self) {
        self.sched.preempt_count += 2 * SOFTIRQ_OFFSET;
    }

    /// `local_bh_enable()`.
    ///
    /// Context: any.
    pub fn local_bh_enable(&mut self) {
        if self.sched.preempt_count & SOFTIRQ_MASK != 0 {
            self.sched.preempt_count -= 2 * SOFTIRQ_OFFSET;
        }
    }

    /// `rcu_read_lock()` (counted for the `RCU nest depth` line; PREEMPT_RCU).
    ///
    /// Context: any.
    pub fn rcu_read_lock(&mut self) {
        let c = self.sched.current;
        self.sched.tasks[c].rcu_depth += 1;
    }

    /// `rcu_read_unlock()`.
    ///
    /// Context: inside rcu_read_lock.
    pub fn rcu_read_unlock(&mut self) {
        let c = self.sched.current;
        if self.sched.tasks[c].rcu_depth > 0 {
            self.sched.tasks[c].rcu_depth -= 1;
        }
    }

    /// `in_atomic()`: `preempt_count() != 0`.
    ///
    /// Context: any.
    pub fn in_atomic(&self) -> bool {
        self.sched.preempt_count != 0
    }

    /// `in_interrupt()`: hardirq, softirq or NMI context (or bh disabled).
    ///
    /// Context: any.
    pub fn in_interrupt(&self) -> bool {
        self.sched.preempt_count & (HARDIRQ_MASK | SOFTIRQ_MASK | NMI_MASK) != 0
    }

    /// `in_hardirq()`.
    ///
    /// Context: any.
    pub fn in_hardirq(&self) -> bool {
        self.sched.preempt_count & HARDIRQ_MASK != 0
    }

    /// `in_task()`.
    ///
    /// Context: any.
    pub fn in_task(&self) -> bool {
        self.sched.preempt_count & (HARDIRQ_MASK | NMI_MASK | SOFTIRQ_OFFSET) == 0
    }

    /// `might_sleep()` = `__might_sleep(file, line)` -> `__might_resched(file, line, 0)`: if the context cannot
    /// sleep (preempt count != 0, irqs disabled, or the idle task), prints the `BUG: sleeping function called
    /// from invalid context` report with a stack dump and taints W. Rate limited like the kernel: at most once
    /// per `HZ` jiffies (`prev_jiffy`); silent while the system is booting.
    ///
    /// Context: any (that is the point).
    pub fn might_sleep(&mut self, file: &str, line: u32) {
        // The common case reports nothing: decide it before pushing the frame a report would show.
        if self.may_resched(0) {
            return;
        }
        // might_sleep() -> __might_sleep() (kernel/sched/core.c), which tail-calls __might_resched().
        self.push_kframe("__might_sleep");
        self.__might_resched(file, line, 0);
        self.pop_frame();
    }

    /// Whether `__might_resched()` with `offsets` stays silent: the expected preempt count, interrupts on, a
    /// task that is not the idle task and not in a non-blocking section — or the system still booting.
    fn may_resched(&self, offsets: u32) -> bool {
        let cur = self.current();
        (self.sched.preempt_count == offsets & 0xff
            && !self.irqs_disabled()
            && cur.pid != 0
            && cur.non_block_count == 0)
            || self.sched.system_state == SystemState::Booting
    }

    /// `__might_resched(file, line, offsets)` with an expected preempt count (`offsets` low byte) as
    /// `cond_resched_lock()` & co. use.
    ///
    /// Context: any.
    #[allow(non_snake_case)]
    pub fn __might_resched(&mut self, file: &str, line: u32, offsets: u32) {
        let expected = offsets & 0xff;
        if self.may_resched(offsets) {
            return;
        }
        let cur = self.current().clone();
        let j = self.jiffies();
        if self.sched.prev_jiffy != 0 && j < self.sched.prev_jiffy + HZ_JIFFIES {
            return;
        }
        self.sched.prev_jiffy = j.max(1);
        self.printk(LogLevel::Err, &format!("BUG: sleeping function called from invalid context at {file}:{line}\n"));
        self.printk(
            LogLevel::Err,
            &format!(
                "in_atomic(): {}, irqs_disabled(): {}, non_block: {}, pid: {}, name: {}\n",
                self.in_atomic() as u32,
                self.irqs_disabled() as u32,
                cur.non_block_count,
                cur.pid,
                cur.comm
            ),
        );
        self.printk(
            LogLevel::Err,
            &format!("preempt_count: {:x}, expected: {:x}\n", self.sched.preempt_count, expected),
        );
        if self.cfg.preempt_rcu {
            self.printk(LogLevel::Err, &format!("RCU nest depth: {}, expected: {}\n", cur.rcu_depth, offsets >> 8));
        }
        // print_preempt_disable_ip() (CONFIG_DEBUG_PREEMPT)
        if self.cfg.debug_preempt && self.sched.preempt_count != expected {
            let ip = self.sched.preempt_disable_ip.clone();
            self.printk(LogLevel::Err, "Preemption disabled at:");
            let line = match ip {
                Some(f) => format!("[<{:016x}>] {}\n", crate::panic::frame_address(&f), crate::panic::frame_symbol(&f)),
                None => "[<0000000000000000>] 0x0\n".to_string(),
            };
            self.printk(LogLevel::Err, &line);
        }
        self.dump_stack_with(&["__might_resched"]);
        self.add_taint(Taint::Warn);
    }
}

const HZ_JIFFIES: u64 = crate::printk::HZ;
