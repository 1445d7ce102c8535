//! The module-side fault driver shared by `tests/faults.rs` (fixed and seeded random programs) and the
//! libFuzzer target `crates/kmem-sim/fuzz/fuzz_targets/module_faults.rs`.
//!
//! A program is a byte string of steps. Each step is module code, run as a task of its own
//! (`kmem_runner::run_module_code`, the path a listing's `init` takes): it allocates (`kmalloc`,
//! `vmalloc`), frees, or touches memory — in bounds, one past the end, the first byte after the last
//! page (a vmalloc guard page), after the free, at NULL plus an offset — or recurses with 1 KiB frames
//! until the 16 KiB stack may run out. The oracle after every step:
//!
//! - the host process survives (a fault never escapes; a Rust panic is a finding);
//! - an access faults exactly when the simulated page tables do not map its address
//!   (`Machine::vmalloc_to_page` for vmalloc addresses; the direct map is always mapped), and the report
//!   names that address (`BUG: kernel NULL pointer dereference, address: …` below 4096,
//!   `BUG: unable to handle page fault for address: …` above);
//! - a stack overflow ends in `traps: PANIC: double fault` and `Kernel panic - not syncing: Fatal exception
//!   in interrupt`, and only a recursion deeper than the stack can hold ends so;
//! - after a kill the next task runs on the same machine; after a panic the machine boots again.

#![allow(dead_code)]

use kernel::bindings;
use kernel::ffi::c_void;
use kmem_sim::{Machine, MachineConfig};

/// Reads operands from the program; exhausted input reads as zeros.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Kmalloc,
    Vmalloc,
}

#[derive(Clone, Copy, Debug)]
struct Obj {
    ptr: *mut u8,
    size: usize,
    kind: Kind,
    live: bool,
}

const MODULE: &str = "fault_fuzz";
const PAGE: usize = 4096;

fn boot() -> Result<(), String> {
    let m = Machine::boot(MachineConfig::x86_64().cmdline(kmem_truth::book::CMDLINE)).map_err(|e| e.to_string())?;
    kernel::__sim::install(m);
    kernel::__sim::with_machine(|m| m.set_current("insmod", 1000));
    Ok(())
}

/// The log from `seq` on.
fn log_since(seq: u64) -> String {
    kernel::__sim::with_machine(|m| m.dmesg_since(seq))
}

/// The simulated kernel address of a host pointer module code holds.
fn kaddr(p: *const u8) -> u64 {
    kernel::__sim::with_machine(|m| kernel::__sim::to_kaddr(m, p.cast()))
}

/// Whether the simulated page tables map kernel address `a` (what decides whether an access faults).
fn mapped(a: u64) -> bool {
    kernel::__sim::with_machine(|m| {
        if a < 4096 {
            false
        } else if m.is_vmalloc_addr(a) {
            m.vmalloc_to_page(a).is_some()
        } else {
            m.host_ptr(a).is_some()
        }
    })
}

#[inline(never)]
fn burn(depth: u32) -> u32 {
    let mut frame = [0u8; 1024];
    frame[0] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth == 0 {
        return u32::from(frame[0]);
    }
    burn(depth - 1).wrapping_add(u32::from(frame[1023]))
}

/// After a task ended: `Ok(true)` if the machine went on (the next task is a fresh one), `Ok(false)` after a
/// panic (the caller boots again).
fn after_kill(pid: &mut u32) -> bool {
    let stop = kernel::__sim::with_machine(|m| m.take_kernel_stop());
    let panicked = matches!(stop, Some(kmem_sim::KernelStop::Panic(_)));
    if !panicked {
        *pid += 1;
        let p = *pid;
        kernel::__sim::with_machine(|m| m.set_current("insmod", p));
    }
    !panicked
}

/// Runs one program; `Err` names the first violated expectation.
pub fn run_program(data: &[u8]) -> Result<(), String> {
    boot()?;
    let mut b = Bytes { data, pos: 0 };
    let mut objs: Vec<Obj> = Vec::new();
    let mut pid = 1000;
    let mut step = 0;
    while !b.done() && step < 64 {
        step += 1;
        let seq = kernel::__sim::with_machine(|m| m.log_seq());
        let op = b.u8() % 7;
        match op {
            0 | 1 => {
                let size = if op == 0 { 1 + b.u16() as usize % 8192 } else { PAGE * (1 + b.u8() as usize % 4) };
                let got = kmem_runner::run_module_code(MODULE, || {
                    // SAFETY: process context of the task; the result is checked.
                    unsafe {
                        if op == 0 {
                            bindings::kmalloc(size, bindings::GFP_KERNEL)
                        } else {
                            bindings::vmalloc(size as _)
                        }
                    }
                });
                match got {
                    Some(p) if !p.is_null() => objs.push(Obj {
                        ptr: p.cast(),
                        size,
                        kind: if op == 0 { Kind::Kmalloc } else { Kind::Vmalloc },
                        live: true,
                    }),
                    Some(_) => {}
                    None => {
                        if !after_kill(&mut pid) {
                            boot()?;
                            objs.clear();
                        }
                    }
                }
            }
            2 => {
                if objs.is_empty() {
                    continue;
                }
                let i = b.u16() as usize % objs.len();
                let o = objs[i];
                if !o.live {
                    continue;
                }
                objs[i].live = false;
                let done = kmem_runner::run_module_code(MODULE, || {
                    // SAFETY: a live allocation of this kind, freed once.
                    unsafe {
                        match o.kind {
                            Kind::Kmalloc => bindings::kfree(o.ptr as *const c_void),
                            Kind::Vmalloc => bindings::vfree(o.ptr as *const c_void),
                        }
                    }
                });
                if done.is_none() && !after_kill(&mut pid) {
                    boot()?;
                    objs.clear();
                }
            }
            3 | 4 => {
                // An access: to an object (class in bounds / past the end / past the last page / after free),
                // or to NULL plus an offset.
                let (p, what) = if op == 4 || objs.is_empty() {
                    let off = b.u8() as usize;
                    (off as *mut u8, format!("NULL+{off:#x}"))
                } else {
                    let i = b.u16() as usize % objs.len();
                    let o = objs[i];
                    let class = b.u8() % 3;
                    let off = match class {
                        0 => b.u16() as usize % o.size,
                        1 => o.size,
                        _ => o.size.div_ceil(PAGE) * PAGE,
                    };
                    (o.ptr.wrapping_add(off), format!("{:?} object {i} (+{off:#x}, live {})", o.kind, o.live))
                };
                let write = b.u8() & 1 == 1;
                let target = kaddr(p);
                let expect_fault = !mapped(target);
                let r = kmem_runner::run_module_code(MODULE, || {
                    // SAFETY: NOT SAFE on purpose -- the access may be out of bounds, after free or at NULL;
                    // the simulated kernel handles what the page tables refuse.
                    unsafe {
                        if write {
                            core::ptr::write_volatile(p, 0x5a);
                            0
                        } else {
                            core::ptr::read_volatile(p)
                        }
                    }
                });
                let log = log_since(seq);
                match (r.is_none(), expect_fault) {
                    (false, false) => {}
                    (true, true) => {
                        let head = if target < 4096 {
                            format!("BUG: kernel NULL pointer dereference, address: {target:016x}")
                        } else {
                            format!("BUG: unable to handle page fault for address: {target:016x}")
                        };
                        if !log.contains(&head) {
                            return Err(format!("step {step}: {what}: the report does not say `{head}`:\n{log}"));
                        }
                        if !after_kill(&mut pid) {
                            return Err(format!("step {step}: {what}: a page fault panicked the machine:\n{log}"));
                        }
                    }
                    (faulted, _) => {
                        return Err(format!(
                            "step {step}: {what} at {target:#x}: faulted {faulted}, but the page tables say mapped {}:\n{log}",
                            !expect_fault
                        ));
                    }
                }
            }
            5 => {
                let depth = u32::from(b.u8() % 32);
                let r = kmem_runner::run_module_code(MODULE, || burn(depth));
                if r.is_none() {
                    let log = log_since(seq);
                    if !log.contains("traps: PANIC: double fault")
                        || !log.contains("Kernel panic - not syncing: Fatal exception in interrupt")
                    {
                        return Err(format!("step {step}: burn({depth}) ended without the double fault:\n{log}"));
                    }
                    if depth < 8 {
                        return Err(format!("step {step}: burn({depth}) overflowed {} KiB of frames", depth + 1));
                    }
                    if after_kill(&mut pid) {
                        return Err(format!("step {step}: a double fault did not stop the machine"));
                    }
                    boot()?;
                    objs.clear();
                } else if depth >= 16 {
                    return Err(format!("step {step}: burn({depth}) fit {} KiB of frames in 16 KiB", depth + 1));
                }
            }
            _ => {
                // Unload-like end of a task: the module frees everything it still holds.
                for o in objs.iter_mut().filter(|o| o.live) {
                    o.live = false;
                    let o = *o;
                    let _ = kmem_runner::run_module_code(MODULE, || unsafe {
                        // SAFETY: a live allocation, freed once.
                        match o.kind {
                            Kind::Kmalloc => bindings::kfree(o.ptr as *const c_void),
                            Kind::Vmalloc => bindings::vfree(o.ptr as *const c_void),
                        }
                    });
                }
            }
        }
    }
    kernel::__sim::uninstall();
    Ok(())
}
