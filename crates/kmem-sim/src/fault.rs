//! Faults of kernel-mode code: arch/x86/mm/fault.c (`handle_page_fault()`, `page_fault_oops()`,
//! `show_fault_oops()`, `dump_pagetable()` in pgtable.rs) and arch/x86/kernel/traps.c
//! (`exc_double_fault()`, `handle_stack_overflow()`, `exc_general_protection()`).
//!
//! The simulator's own code never faults: it checks every access it makes. A fault comes from module code
//! that dereferenced something the page tables do not map — a vmalloc guard page, an area after `vfree()`,
//! NULL, a hole — or that ran off the end of its stack. The `kernel` façade catches the host's signal and
//! describes the access as the CPU would have ([`KernelFault`]); [`Machine::handle_kernel_fault`] then does
//! what the kernel does:
//!
//! - the stack pointer itself left the task's stack: the CPU cannot push the page fault's exception frame
//!   and raises a double fault (`exc_double_fault()`: `PANIC: double fault`, the oops, and, as the handler
//!   runs in NMI context, `panic("Fatal exception in interrupt")`);
//! - the address is the guard page below the task's stack (`CONFIG_VMAP_STACK`): `handle_stack_overflow()`
//!   on the double-fault stack, an oops that kills the task;
//! - a non-canonical address: a general protection fault (`die_addr()`), SIGSEGV;
//! - anything else: `page_fault_oops()`, SIGKILL. For an address in the kernel half the handler still runs
//!   with interrupts off (`do_kern_addr_fault()` never enables them), so `make_task_dead()` notes that the
//!   task exited with interrupts disabled; `do_user_addr_fault()` enables them first.
//!
//! Every kind ends the current task ([`Machine::kernel_stop`]); the runner ends `insmod`/`rmmod` as the
//! kernel's signal ends them.

#![forbid(unsafe_code)]

use crate::machine::{Arch, Machine};
use crate::panic::Frame;
use crate::pgtable::is_kernel_half;
use crate::printk::LogLevel;
use crate::slab_common::{KernelStop, Oops, OopsKind};

/// `X86_PF_PROT`: the page was present (a protection violation, not a missing page).
pub const X86_PF_PROT: u64 = 1 << 0;
/// `X86_PF_WRITE`: a write access.
pub const X86_PF_WRITE: u64 = 1 << 1;
/// `X86_PF_USER`: from user mode.
pub const X86_PF_USER: u64 = 1 << 2;
/// `X86_PF_RSVD`: a reserved bit was set in a paging entry.
pub const X86_PF_RSVD: u64 = 1 << 3;
/// `X86_PF_INSTR`: an instruction fetch.
pub const X86_PF_INSTR: u64 = 1 << 4;
/// `X86_PF_PK`: a protection-key violation.
pub const X86_PF_PK: u64 = 1 << 5;

/// A memory access of kernel-mode code that the hardware did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelFault {
    /// The address accessed (`CR2` for a page fault).
    pub address: u64,
    /// The page-fault error code (`X86_PF_*`), as for an access in kernel mode.
    pub error_code: u64,
    /// The stack pointer at the access, when it is not somewhere inside the current task's stack (the
    /// façade reports a stack pointer that left the stack as the first word below it).
    pub sp: Option<u64>,
    /// The address is not canonical (bits 63..47 differ): no page fault, a general protection fault.
    pub non_canonical: bool,
}

impl Machine {
    /// The current task's kernel stack, `[begin, end)`: `THREAD_SIZE` (16 KiB on x86_64, 8 KiB on i386)
    /// in the vmalloc area (`CONFIG_VMAP_STACK`), with a guard page below.
    ///
    /// Context: any.
    pub fn task_stack(&self) -> (u64, u64) {
        let pid = self.current().pid as u64;
        let size = match self.layout.arch {
            Arch::X86_64 => 0x4000,
            Arch::I386 => 0x2000,
        };
        let begin = self.layout.vmalloc_start + 0x0010_0000 + ((pid & 0xff) << 15);
        (begin, begin + size)
    }

    /// What the CPU and the kernel do with `fault` in the current task (see the module documentation).
    /// Prints the report and records the stop state.
    ///
    /// Context: the current task's context, in module code.
    pub fn handle_kernel_fault(&mut self, fault: KernelFault) {
        let (begin, end) = self.task_stack();
        self.panic.fault_sp = fault.sp;
        // The exception frame is pushed at the stack pointer: outside the stack, it cannot be.
        if let Some(sp) = fault.sp.filter(|&sp| sp < begin || sp > end) {
            self.double_fault(fault.address, sp);
        } else if self.is_vmalloc_addr(fault.address) && fault.address < begin && fault.address >= begin - 4096 {
            self.handle_stack_overflow(fault.address);
        } else if fault.non_canonical {
            self.general_protection_fault(fault.address);
        } else {
            self.page_fault_oops(fault.address, fault.error_code);
        }
        self.panic.fault_sp = None;
    }

    fn fault_rip(&self) -> Frame {
        self.realized_stack().last().cloned().unwrap_or_else(|| Frame::kernel("0x0"))
    }

    fn set_oops_stop(&mut self, kind: OopsKind) {
        let function = self.fault_rip().func.to_string();
        if self.slab.stop.is_none() {
            self.slab.stop = Some(KernelStop::Oops(Oops { kind, function }));
        }
    }

    /// `page_fault_oops()`: `show_fault_oops()` (the address, the access, the error code, the page-table
    /// walk), `__die("Oops")`, `CR2:`, `oops_end()` with SIGKILL.
    ///
    /// Context: the current task's context.
    pub fn page_fault_oops(&mut self, address: u64, error_code: u64) {
        let width = if self.layout.arch == Arch::X86_64 { 16 } else { 8 };
        self.panic.last_cr2 = address;
        if address < 4096 {
            self.printk(
                LogLevel::Alert,
                &format!("BUG: kernel NULL pointer dereference, address: {address:0width$x}\n"),
            );
        } else {
            self.printk(
                LogLevel::Alert,
                &format!("BUG: unable to handle page fault for address: {address:0width$x}\n"),
            );
        }
        let access = if error_code & X86_PF_INSTR != 0 {
            "instruction fetch"
        } else if error_code & X86_PF_WRITE != 0 {
            "write access"
        } else {
            "read access"
        };
        let who = if error_code & X86_PF_USER != 0 { "user" } else { "supervisor" };
        self.printk(LogLevel::Alert, &format!("#PF: {who} {access} in kernel mode\n"));
        let why = if error_code & X86_PF_PROT == 0 {
            "not-present page"
        } else if error_code & X86_PF_RSVD != 0 {
            "reserved bit violation"
        } else if error_code & X86_PF_PK != 0 {
            "protection keys violation"
        } else {
            "permissions violation"
        };
        self.printk(LogLevel::Alert, &format!("#PF: error_code(0x{error_code:04x}) - {why}\n"));
        let walk = self.dump_pagetable(address);
        self.printk(LogLevel::Info, &format!("{walk}\n"));
        let rip = self.fault_rip();
        let cr2 = format!("CR2: {address:016x}\n");
        self.oops_report_with(&format!("Oops: {:04x}", error_code & 0xffff), &rip, None, &[], Some(cr2), true);
        self.set_oops_stop(OopsKind::PageFault { addr: address });
        // make_task_dead(): interrupts are still off after a fault on a kernel address (do_kern_addr_fault()
        // never enables them), when the faulting code had them off (a spin_lock_irqsave() …), and when
        // do_user_addr_fault() gives up before local_irq_enable(): an instruction fetch, or
        // faulthandler_disabled() — in an atomic section (a spin_lock() …). A task that dies in an atomic
        // section also says its preempt count.
        let (comm, pid) = (self.current().comm.clone(), self.current().pid);
        let user_fault_irqs_off =
            error_code & (X86_PF_USER | X86_PF_INSTR) == X86_PF_INSTR || self.preempt_count() != 0;
        if is_kernel_half(self.layout.arch, address) || self.irqs_disabled() || user_fault_irqs_off {
            self.printk(LogLevel::Info, &format!("note: {comm}[{pid}] exited with irqs disabled\n"));
        }
        let pc = self.preempt_count();
        if pc != 0 {
            self.printk(LogLevel::Info, &format!("note: {comm}[{pid}] exited with preempt_count {pc}\n"));
        }
        // ... and then puts both right (local_irq_enable(), preempt_count_set(PREEMPT_ENABLED)), in task context.
        if self.sched.preempt_count & crate::sched::HARDIRQ_MASK == 0 {
            self.sched.irq_disable_depth = 0;
            self.sched.preempt_count = 0;
        }
    }

    /// `exc_general_protection()` → `die_addr()`: `general protection fault, probably for non-canonical
    /// address …`, SIGSEGV.
    ///
    /// Context: the current task's context.
    pub fn general_protection_fault(&mut self, address: u64) {
        self.panic.last_cr2 = 0;
        let rip = self.fault_rip();
        let what = format!("general protection fault, probably for non-canonical address {address:#x}: 0000");
        self.oops_report(&what, &rip, None, &[]);
        self.set_oops_stop(OopsKind::GeneralProtection { addr: address });
    }

    /// `handle_stack_overflow()`: the access hit the guard page below the task's stack while the stack
    /// pointer was still inside it. `die("stack guard page")`, SIGSEGV.
    ///
    /// Context: the current task's context.
    pub fn handle_stack_overflow(&mut self, address: u64) {
        let (begin, end) = self.task_stack();
        self.panic.last_cr2 = address;
        self.printk(
            LogLevel::Emerg,
            &format!("BUG: TASK stack guard page was hit at {address:#x} (stack is {begin:#x}..{end:#x})\n"),
        );
        let rip = self.fault_rip();
        self.oops_report("stack guard page: 0000", &rip, None, &[]);
        self.set_oops_stop(OopsKind::GeneralProtection { addr: address });
    }

    /// `exc_double_fault()`: the page fault at `cr2` could not be delivered, because the stack pointer `sp`
    /// is outside the task's stack. `PANIC: double fault`, `die("double fault")` with no stack to unwind,
    /// and, in the handler's NMI context, `panic("Fatal exception in interrupt")`.
    ///
    /// Context: the current task's context; the machine stops.
    pub fn double_fault(&mut self, cr2: u64, sp: u64) {
        let _ = sp;
        self.panic.last_cr2 = cr2;
        self.printk(LogLevel::Emerg, "traps: PANIC: double fault, error_code: 0x0\n");
        let rip = self.fault_rip();
        self.oops_report_with("double fault: 0000", &rip, None, &[], None, false);
        self.kernel_panic("Fatal exception in interrupt");
    }
}
