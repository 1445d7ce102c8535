//! Warnings, taint and stack dumps (kernel/panic.c `__warn`/`print_tainted`, lib/dump_stack.c,
//! arch/x86/kernel/dumpstack.c and process_64.c `__show_regs`, kernel/module/main.c `print_modules`).
//!
//! # The simulated call stack
//! There is no real kernel stack, so the simulator keeps the path the simulation took, as function names of the
//! kernel's source: API entry points push the kernel functions they stand for (`kmem_cache_free`, `slab_free`,
//! `free_to_partial_list` …) and pop them on return; the `kernel` façade pushes the C helper a binding calls
//! (`rust_helper_kmalloc`) and the kernel crate's own out-of-line functions; the runner pushes the system call
//! path of `insmod`/`rmmod` and the module's entry points. A report turns that path into the frames the book's
//! LLVM build has ([`crate::kallsyms`]: inlining, tail calls, real symbol sizes and return offsets) and prints
//! them innermost first as ` name+0xOFF/0xSIZE [module]`, ending, for a task in a system call, with its
//! user-mode registers, as `show_trace_log_lvl()` does. Where the build's tables say nothing (a module without
//! recorded symbols), offsets are derived from a hash of the name ([`frame_offsets`]).

#![forbid(unsafe_code)]

use std::borrow::Cow;

use crate::kallsyms::{Edge, Symbols};
use crate::machine::Machine;
use crate::printk::LogLevel;

/// Taint flags (`TAINT_*`), in the kernel's bit order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Taint {
    ProprietaryModule = 0,
    ForcedModule = 1,
    CpuOutOfSpec = 2,
    ForcedRmmod = 3,
    MachineCheck = 4,
    BadPage = 5,
    User = 6,
    Die = 7,
    OverriddenAcpiTable = 8,
    Warn = 9,
    Crap = 10,
    FirmwareWorkaround = 11,
    OotModule = 12,
    UnsignedModule = 13,
    Softlockup = 14,
    Livepatch = 15,
    Aux = 16,
    Randstruct = 17,
    Test = 18,
}

/// `taint_flags[]`: (true char, false char, name).
const TAINT_FLAGS: [(char, char, &str); 19] = [
    ('P', 'G', "PROPRIETARY_MODULE"),
    ('F', ' ', "FORCED_MODULE"),
    ('S', ' ', "CPU_OUT_OF_SPEC"),
    ('R', ' ', "FORCED_RMMOD"),
    ('M', ' ', "MACHINE_CHECK"),
    ('B', ' ', "BAD_PAGE"),
    ('U', ' ', "USER"),
    ('D', ' ', "DIE"),
    ('A', ' ', "OVERRIDDEN_ACPI_TABLE"),
    ('W', ' ', "WARN"),
    ('C', ' ', "CRAP"),
    ('I', ' ', "FIRMWARE_WORKAROUND"),
    ('O', ' ', "OOT_MODULE"),
    ('E', ' ', "UNSIGNED_MODULE"),
    ('L', ' ', "SOFTLOCKUP"),
    ('K', ' ', "LIVEPATCH"),
    ('X', ' ', "AUX"),
    ('T', ' ', "RANDSTRUCT"),
    ('N', ' ', "TEST"),
];

/// `print_tainted()` for a mask: `Not tainted` or `Tainted: ` and one column per flag.
///
/// Context: any.
pub fn format_tainted(mask: u32) -> String {
    if mask == 0 {
        return "Not tainted".into();
    }
    let mut s = String::from("Tainted: ");
    for (i, (t, f, _)) in TAINT_FLAGS.iter().enumerate() {
        s.push(if mask & (1 << i) != 0 { *t } else { *f });
    }
    s
}

/// `print_tainted_verbose()`: `Tainted: [W]=WARN, [O]=OOT_MODULE`.
///
/// Context: any.
pub fn format_tainted_verbose(mask: u32) -> String {
    if mask == 0 {
        return "Not tainted".into();
    }
    let mut s = String::from("Tainted: ");
    let mut sep = "";
    for (i, (t, _, name)) in TAINT_FLAGS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            s.push_str(&format!("{sep}[{t}]={name}"));
            sep = ", ";
        }
    }
    s
}

/// A module's state as `print_modules` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleState {
    /// Running its init: printed with `+`.
    Coming,
    /// Loaded.
    Live,
    /// Running its exit: printed with `-`.
    Going,
}

/// A loaded module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    /// Name.
    pub name: String,
    /// Out of tree (taint O).
    pub out_of_tree: bool,
    /// State.
    pub state: ModuleState,
}

/// One frame of the simulated call stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Function name.
    pub func: Cow<'static, str>,
    /// Module it belongs to (printed as ` [mod]`).
    pub module: Option<String>,
    /// Offset into the function.
    pub offset: u32,
    /// Function size.
    pub size: u32,
    /// Entered through a function pointer (an initcall, a module's exit, a constructor): never inlined.
    pub indirect: bool,
    /// A Rust function's path without crate hashes (`<hello::Hello as kernel::Module>::init`), how the real
    /// build's table finds it; `func` is then its v0 symbol with stand-in hashes, printed when no table has it.
    pub path: Option<String>,
}

impl Frame {
    /// A frame of a kernel function, offsets from [`frame_offsets`].
    ///
    /// Context: any.
    pub fn kernel(func: impl Into<Cow<'static, str>>) -> Frame {
        let func = func.into();
        let (offset, size) = frame_offsets(&func);
        Frame { func, module: None, offset, size, indirect: false, path: None }
    }
}

/// Deterministic fictional `(offset, size)` for a function name (FNV-1a based).
///
/// Context: any.
pub fn frame_offsets(name: &str) -> (u32, u32) {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    let size = 0x40 + ((h & 0x3ff) & !0xf);
    let offset = 0x10 + ((h >> 12) % (size - 0x10));
    (offset, size)
}

/// A fictional but deterministic address of the frame's instruction (`%px`): kernel text from
/// 0xffffffff81000000, module text from 0xffffffffa0000000 (MODULES_VADDR), spread by a hash of the name.
///
/// Context: any.
pub fn frame_address(f: &Frame) -> u64 {
    let (h, _) = frame_offsets(&format!("{}@addr", f.func));
    let base = if f.module.is_some() { 0xffff_ffff_a000_0000u64 } else { 0xffff_ffff_8100_0000u64 };
    base + ((h as u64) << 12) + f.offset as u64
}

/// `%pS` of a frame: `func+0xoff/0xsize [module]`.
///
/// Context: any.
pub fn frame_symbol(f: &Frame) -> String {
    match &f.module {
        Some(m) => format!("{}+{:#x}/{:#x} [{m}]", f.func, f.offset, f.size),
        None => format!("{}+{:#x}/{:#x}", f.func, f.offset, f.size),
    }
}

/// The simulated stack, the taint mask and the module list.
#[derive(Clone, Debug, Default)]
pub struct PanicState {
    /// `tainted_mask`.
    pub tainted_mask: u32,
    /// Loaded modules, newest first (the kernel's `modules` list order).
    pub modules: Vec<LoadedModule>,
    /// `last_unloaded_module` (name, flags).
    pub last_unloaded: Option<(String, String)>,
    /// `WARN_ON_ONCE` sites already fired (file, line).
    pub warned_once: Vec<(String, u32)>,
    /// The real build's symbols of loaded modules, by module name (empty for a module without a table).
    pub module_syms: std::collections::HashMap<String, crate::kallsyms::Symbols>,
    /// Modules whose `.init.text` was freed (their init returned): kallsyms no longer names it.
    pub init_freed: Vec<String>,
    /// Each loaded module's memory areas (crate::module), by module name.
    pub module_mem: std::collections::HashMap<String, Vec<crate::module::ModuleArea>>,
    /// `debug_locks` went off (lib/debug_locks.c): at the first taint that makes lockdep unreliable, or at
    /// the first oops.
    pub debug_locks_off: bool,
    /// `die_counter` (the `[#n]` of an oops).
    pub die_counter: u32,
    /// `CR2`: the last faulting address (0 until a page fault).
    pub last_cr2: u64,
    /// The stack pointer of the fault being reported, when module code faulted (the façade knows it).
    pub fault_sp: Option<u64>,
}

/// The simulated call stack.
#[derive(Clone, Debug, Default)]
pub struct CallStack {
    /// Outermost first.
    pub frames: Vec<Frame>,
    /// Stack depth at each `irq_enter`.
    pub irq_marks: Vec<usize>,
}

impl Machine {
    /// Pushes a kernel function frame named by a static string (no allocation; the simulator's own entry
    /// points use this).
    ///
    /// Context: any.
    pub fn push_kframe(&mut self, func: &'static str) {
        self.stack.frames.push(Frame::kernel(func));
    }

    /// Pushes a kernel function frame (the name is copied).
    ///
    /// Context: any.
    pub fn push_frame(&mut self, func: &str) {
        self.stack.frames.push(Frame::kernel(func.to_string()));
    }

    /// Pushes a frame of module `module` (printed ` func+0x../0x.. [module]`).
    ///
    /// Context: any.
    pub fn push_module_frame(&mut self, func: &str, module: &str) {
        self.stack.frames.push(Frame { module: Some(module.into()), ..Frame::kernel(func.to_string()) });
    }

    /// Pushes a frame entered through a function pointer (`do_one_initcall()` calling a module's
    /// `init_module`, `delete_module` calling its `cleanup_module`, a slab constructor): the unwinder always
    /// sees it, whatever the caller's code.
    ///
    /// Context: any.
    pub fn push_indirect_frame(&mut self, func: &str, module: Option<&str>) {
        self.stack.frames.push(Frame {
            module: module.map(Into::into),
            indirect: true,
            ..Frame::kernel(func.to_string())
        });
    }

    /// Pushes a Rust function's frame: `symbol` is its v0 mangling (with stand-in crate hashes), `path` its
    /// demangled path without hashes, by which the real build's table finds its real symbol; `module` the
    /// module it is in (`None`: the kernel crate, part of vmlinux).
    ///
    /// Context: any.
    pub fn push_rust_frame(&mut self, symbol: &str, path: &str, module: Option<&str>, indirect: bool) {
        self.stack.frames.push(Frame {
            module: module.map(Into::into),
            indirect,
            path: Some(path.into()),
            ..Frame::kernel(symbol.to_string())
        });
    }

    /// Pops frames down to `depth` (what a runner pushed for a call it made).
    ///
    /// Context: any.
    pub fn truncate_stack(&mut self, depth: usize) {
        self.stack.frames.truncate(depth);
    }

    /// `do_init_module()` freed module `name`'s `.init.text`: kallsyms no longer names addresses in it.
    ///
    /// Context: process context (insmod).
    pub fn module_init_freed(&mut self, name: &str) {
        if !self.panic.init_freed.iter().any(|m| m == name) {
            self.panic.init_freed.push(name.to_string());
        }
        self.module_free_init_memory(name);
    }

    /// Records the real build's symbols of module `name` (from `listings/kernel/symbols/modules/`), which
    /// name its frames in reports.
    ///
    /// Context: process context (insmod).
    pub fn set_module_symbols(&mut self, name: &str, syms: crate::kallsyms::Symbols) {
        self.panic.module_syms.insert(name.to_string(), syms);
    }

    /// Pushes a frame with explicit offset and size.
    ///
    /// Context: any.
    pub fn push_frame_at(&mut self, func: &str, module: Option<&str>, offset: u32, size: u32) {
        self.stack.frames.push(Frame {
            func: Cow::Owned(func.into()),
            module: module.map(Into::into),
            offset,
            size,
            indirect: false,
            path: None,
        });
    }

    /// Pops the innermost frame.
    ///
    /// Context: any, paired with a push.
    pub fn pop_frame(&mut self) {
        self.stack.frames.pop();
    }

    /// Runs `f` with `func` pushed.
    ///
    /// Context: any.
    pub fn with_frame<R>(&mut self, func: &str, f: impl FnOnce(&mut Machine) -> R) -> R {
        let depth = self.stack.frames.len();
        self.push_frame(func);
        let r = f(self);
        self.stack.frames.truncate(depth);
        r
    }

    /// The current frames, outermost first.
    ///
    /// Context: any.
    pub fn call_stack(&self) -> &[Frame] {
        &self.stack.frames
    }

    /// `add_taint(flag, LOCKDEP_STILL_OK)`.
    ///
    /// Context: any.
    pub fn add_taint(&mut self, flag: Taint) {
        self.panic.tainted_mask |= 1 << flag as u32;
    }

    /// `add_taint(flag, LOCKDEP_NOW_UNRELIABLE)`: the first such taint turns lock debugging off and says so
    /// (`__debug_locks_off()` succeeds once).
    ///
    /// Context: any.
    pub fn add_taint_lockdep_unreliable(&mut self, flag: Taint) {
        self.panic.tainted_mask |= 1 << flag as u32;
        if !self.panic.debug_locks_off {
            self.panic.debug_locks_off = true;
            self.printk(LogLevel::Warning, "Disabling lock debugging due to kernel taint\n");
        }
    }

    /// `test_taint()`.
    ///
    /// Context: any.
    pub fn test_taint(&self, flag: Taint) -> bool {
        self.panic.tainted_mask & (1 << flag as u32) != 0
    }

    /// `print_tainted()`.
    ///
    /// Context: any.
    pub fn print_tainted(&self) -> String {
        format_tainted(self.panic.tainted_mask)
    }

    /// Adds a module to the module list in state `Coming` (shown `(O+)` in reports while its init runs); an
    /// out-of-tree module taints the kernel with O, printing `<name>: loading out-of-tree module taints
    /// kernel.` the first time as the kernel does.
    ///
    /// Context: process context (insmod).
    pub fn load_module_name(&mut self, name: &str, out_of_tree: bool) {
        if out_of_tree {
            if !self.test_taint(Taint::OotModule) {
                self.printk(LogLevel::Warning, &format!("{name}: loading out-of-tree module taints kernel.\n"));
            }
            self.add_taint(Taint::OotModule);
        }
        self.panic.modules.retain(|m| m.name != name);
        self.panic.modules.insert(0, LoadedModule { name: name.into(), out_of_tree, state: ModuleState::Coming });
    }

    /// Sets a loaded module's state (`Live` after its init returned, `Going` while its exit runs).
    ///
    /// Context: any.
    pub fn set_module_state(&mut self, name: &str, state: ModuleState) {
        if let Some(m) = self.panic.modules.iter_mut().find(|m| m.name == name) {
            m.state = state;
        }
    }

    /// Removes a module from the list and remembers it as `[last unloaded: ...]`.
    ///
    /// Context: process context (rmmod).
    pub fn unload_module_name(&mut self, name: &str) {
        self.module_free_memory(name);
        if let Some(i) = self.panic.modules.iter().position(|m| m.name == name) {
            let m = self.panic.modules.remove(i);
            let flags = if m.out_of_tree { "(O)".to_string() } else { String::new() };
            self.panic.last_unloaded = Some((m.name, flags));
        }
    }

    /// The `Modules linked in:` line (without the level).
    ///
    /// Context: any.
    pub fn modules_linked_in(&self) -> String {
        let mut s = String::from("Modules linked in:");
        for m in &self.panic.modules {
            s.push(' ');
            s.push_str(&m.name);
            let state = match m.state {
                ModuleState::Coming => "+",
                ModuleState::Going => "-",
                ModuleState::Live => "",
            };
            if m.out_of_tree || !state.is_empty() {
                s.push('(');
                if m.out_of_tree {
                    s.push('O');
                }
                s.push_str(state);
                s.push(')');
            }
        }
        if let Some((n, f)) = &self.panic.last_unloaded {
            s.push_str(&format!(" [last unloaded: {n}{f}]"));
        }
        s
    }

    /// `print_modules()`.
    ///
    /// Context: any.
    pub fn print_modules(&mut self) {
        let s = self.modules_linked_in();
        self.printk(LogLevel::Default, &format!("{s}\n"));
    }

    /// `dump_stack_print_info()`: the `CPU: ...` line, the verbose taint line when tainted, and `Hardware name:`.
    ///
    /// Context: any.
    pub fn dump_stack_print_info(&mut self, lvl: LogLevel) {
        let t = self.current().clone();
        let line = format!(
            "CPU: {} UID: 0 PID: {} Comm: {} {} {} {} {}\n",
            self.sched.cpu,
            t.pid,
            t.comm,
            self.print_tainted(),
            self.cfg.uts_release,
            self.cfg.uts_version_tag,
            self.cfg.linux_package_id
        );
        self.printk(lvl, &line);
        if self.panic.tainted_mask != 0 {
            let v = format_tainted_verbose(self.panic.tainted_mask);
            self.printk(lvl, &format!("{v}\n"));
        }
        let hw = self.cfg.hardware_name.clone();
        self.printk(lvl, &format!("Hardware name: {hw}\n"));
    }

    /// The frames of `frames` (source-level path, outermost first) that the book's kernel build really has on
    /// its stack, outermost first, with their real symbols, sizes and return offsets ([`crate::kallsyms`]).
    ///
    /// Context: any.
    pub fn realize(&self, frames: &[Frame]) -> Vec<Frame> {
        let k = Symbols::kernel(self.layout.arch);
        let table = |f: &Frame| -> Option<&Symbols> {
            match &f.module {
                Some(m) => self.panic.module_syms.get(m).filter(|t| !t.is_empty()),
                None => Some(k),
            }
        };
        let mut out: Vec<Frame> = Vec::new();
        for f in frames {
            let Some(t) = table(f) else {
                // A module without a recorded table: every frame its runner and façade push is shown.
                out.push(f.clone());
                continue;
            };
            let Some(real) = t.lookup(&f.func).or_else(|| f.path.as_deref().and_then(|p| t.lookup(p))) else {
                // No symbol in the build: inlined wherever it is called.
                continue;
            };
            let mut g = f.clone();
            g.func = Cow::Owned(real.name.clone());
            g.size = real.size;
            g.offset = g.offset.min(real.size.saturating_sub(1));
            let Some(caller) = out.last_mut() else {
                out.push(g);
                continue;
            };
            if f.indirect {
                out.push(g);
                continue;
            }
            let caller_table = if caller.module.is_some() { table(caller) } else { Some(k) };
            let edge = match caller_table {
                // A module without a recorded table: what its code calls is not known, so every call shows.
                None => Some(Edge::Call(caller.offset)),
                Some(t) => t.edge(&caller.func, &real.name).or_else(|| {
                    // A module function calling into the kernel: the module's table has the edge; the kernel
                    // calling a module function only happens through a pointer (handled above).
                    if caller.module.is_none() {
                        None
                    } else {
                        k.edge(&caller.func, &real.name)
                    }
                }),
            };
            // A module function that reaches the callee through a helper of its own (which has no frame
            // here): the helper's frame is realised too, or, when it tail-calls, only its call site.
            let via = match (edge, caller_table) {
                (None, Some(t)) if caller.module.is_some() => {
                    t.edge_via_local(&caller.func, &real.name).map(|(mid, off, e)| (mid.to_string(), off, e))
                }
                _ => None,
            };
            match (edge, via) {
                (Some(Edge::Call(off)), _) => {
                    caller.offset = off;
                    out.push(g);
                }
                (Some(Edge::Tail), _) => {
                    out.pop();
                    out.push(g);
                }
                (None, Some((mid, off, e))) => {
                    caller.offset = off;
                    if let (Edge::Call(off2), Some(t)) = (e, caller_table) {
                        let size = t.lookup(&mid).map_or(0, |x| x.size);
                        let module = caller.module.clone();
                        out.push(Frame { func: Cow::Owned(mid), module, offset: off2, size, ..g.clone() });
                    }
                    out.push(g);
                }
                // Not called directly: inlined into the caller.
                (None, None) => {}
            }
        }
        out
    }

    /// The current stack as the build has it, outermost first.
    ///
    /// Context: any.
    pub fn realized_stack(&self) -> Vec<Frame> {
        self.realize(&self.stack.frames)
    }

    /// `%pS` of a frame: ` func+0xoff/0xsize [module]`; a frame of a module's freed `.init.text` has no
    /// symbol any more and prints as its address.
    pub(crate) fn frame_text(&self, f: &Frame) -> String {
        if self.in_freed_init(f) {
            return format!("{:#x}", self.module_frame_address(f).unwrap_or_else(|| frame_address(f)));
        }
        frame_symbol(f)
    }

    /// The address of a module frame's instruction where the module was loaded with its layout
    /// (crate::module): its section's place plus the function's offset there plus the frame's offset.
    pub(crate) fn module_frame_address(&self, f: &Frame) -> Option<u64> {
        let m = f.module.as_deref()?;
        let func = self.panic.module_syms.get(m)?.lookup(&f.func)?;
        Some(self.module_section_address(m, &func.section)? + func.value + f.offset as u64)
    }

    /// Whether `f` is in the `.init.text` of a module whose init sections were freed.
    pub(crate) fn in_freed_init(&self, f: &Frame) -> bool {
        let Some(m) = &f.module else { return false };
        self.panic.init_freed.iter().any(|x| x == m)
            && self.panic.module_syms.get(m).and_then(|t| t.lookup(&f.func)).is_some_and(|x| x.section == ".init.text")
    }

    /// `show_trace_log_lvl()`: `Call Trace:`, `<IRQ>`/`<TASK>` sections with the realised frames innermost
    /// first (the frame of `skip_innermost`, the function `RIP` is in, is not repeated), `extra` innermost
    /// frames (e.g. `dump_stack_lvl`), and, for a task in a system call, its user-mode registers.
    fn show_trace(&mut self, lvl: LogLevel, extra: &[&str], skip_innermost: Option<&str>) {
        self.printk(lvl, "Call Trace:\n");
        let irq_start = self.stack.irq_marks.first().copied().unwrap_or(self.stack.frames.len());
        let in_irq = irq_start < self.stack.frames.len();
        let with_extra = |frames: &[Frame]| -> Vec<Frame> {
            let mut path = frames.to_vec();
            path.extend(extra.iter().map(|name| Frame::kernel(name.to_string())));
            path
        };
        let (mut task, mut irq) = if in_irq {
            (self.realize(&self.stack.frames[..irq_start]), self.realize(&with_extra(&self.stack.frames[irq_start..])))
        } else {
            (self.realize(&with_extra(&self.stack.frames)), Vec::new())
        };
        let inner = if in_irq { &mut irq } else { &mut task };
        if let (Some(skip), Some(last)) = (skip_innermost, inner.last()) {
            if last.func == skip {
                inner.pop();
            }
        }
        let mut lines = Vec::new();
        if in_irq {
            lines.push(" <IRQ>\n".to_string());
            for f in irq.iter().rev() {
                lines.push(format!(" {}\n", self.frame_text(f)));
            }
            lines.push(" </IRQ>\n".to_string());
        }
        lines.push(" <TASK>\n".to_string());
        for f in task.iter().rev() {
            lines.push(format!(" {}\n", self.frame_text(f)));
        }
        for l in lines {
            self.printk(lvl, &l);
        }
        let user = self.current().syscall;
        if let Some(sc) = user.filter(|_| task.first().is_some_and(|f| f.func == "entry_SYSCALL_64_after_hwframe")) {
            self.show_user_regs(lvl, &sc);
        }
        self.printk(lvl, " </TASK>\n");
    }

    /// `dump_stack()`: the info lines and the call trace with `dump_stack_lvl` innermost.
    ///
    /// Context: any.
    pub fn dump_stack(&mut self) {
        self.dump_stack_with(&[]);
    }

    /// `dump_stack()` called from the functions `callers` (outermost first), e.g. `&["warn_alloc"]`.
    ///
    /// Context: any.
    pub fn dump_stack_with(&mut self, callers: &[&str]) {
        self.dump_stack_print_info(LogLevel::Default);
        let mut ordered: Vec<&str> = callers.to_vec();
        // dump_stack() tail-calls dump_stack_lvl(KERN_DEFAULT) (lib/dump_stack.c).
        ordered.push("dump_stack");
        ordered.push("dump_stack_lvl");
        self.show_trace(LogLevel::Default, &ordered, None);
    }

    /// The kernel stack pointer of the current task at the innermost frame: inside its 16 KiB stack in the
    /// vmalloc area (`CONFIG_VMAP_STACK`), lower for each frame.
    fn kernel_sp(&self) -> u64 {
        if let Some(sp) = self.panic.fault_sp {
            return sp;
        }
        // Without a known stack pointer: below the frames of the path, in the task's stack.
        let (_, top) = self.task_stack();
        top - 0x100 - 0x48 * self.stack.frames.len() as u64
    }

    /// `__show_regs(regs, SHOW_REGS_ALL)` for a trap at `rip` in kernel mode: `RIP:`, `Code:`, the general
    /// registers (the C arguments `args` of the function in RDI, RSI, RDX, RCX, R8, R9 where the report knows
    /// them; registers the simulator does not model print as 0), `FS`/`GS`, `CS`/`CR0`, `CR2`/`CR3`/`CR4`.
    fn show_kernel_regs(&mut self, l: LogLevel, rip: &Frame, code: Option<&str>, args: &[u64], flags: u64) {
        let a = |i: usize| args.get(i).copied().unwrap_or(0);
        self.printk(l, &format!("RIP: 0010:{}\n", frame_symbol(rip)));
        match code {
            Some(c) => self.printk(l, &format!("Code: {c}\n")),
            // show_opcodes() reads from RIP - PROLOGUE_SIZE (42); the simulator has no machine code of a
            // module (it runs as host code), so it prints what the kernel prints when it cannot read it.
            None => self.printk(
                l,
                &format!("Code: Unable to access opcode bytes at {:#x}.\n", frame_address(rip).wrapping_sub(42)),
            ),
        }
        let sp = self.kernel_sp();
        self.printk(l, &format!("RSP: 0018:{sp:016x} EFLAGS: {flags:08x}\n"));
        self.printk(l, &format!("RAX: {:016x} RBX: {:016x} RCX: {:016x}\n", 0, 0, a(3)));
        self.printk(l, &format!("RDX: {:016x} RSI: {:016x} RDI: {:016x}\n", a(2), a(1), a(0)));
        self.printk(l, &format!("RBP: {:016x} R08: {:016x} R09: {:016x}\n", sp + 0x40, a(4), a(5)));
        self.printk(l, &format!("R10: {:016x} R11: {:016x} R12: {:016x}\n", 0, 0, 0));
        self.printk(l, &format!("R13: {:016x} R14: {:016x} R15: {:016x}\n", 0, 0, 0));
        let user = self.current().syscall;
        let fs = if user.is_some() { 0x0000_0000_1000_3380 } else { 0 };
        let gs = self.per_cpu_offset(self.sched.cpu);
        self.printk(l, &format!("FS:  {fs:016x}(0000) GS:{gs:016x}(0000) knlGS:{:016x}\n", 0));
        self.printk(l, "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033\n");
        let cr3 = self.cr3();
        self.printk(l, &format!("CR2: {:016x} CR3: {cr3:016x} CR4: 00000000000006b0\n", self.panic.last_cr2));
    }

    /// `__show_regs(regs, SHOW_REGS_USER)` of a task's system call entry: `RIP: 0033:`, `Code:` (the program's
    /// bytes when the syscall carries them, else the kernel's line for code it cannot read), the stack pointer
    /// and `ORIG_RAX` (the system call number), the general registers: `RAX` is `-ENOSYS` as the entry code
    /// sets it, `RDI`/`RSI`/`RDX` the arguments, `RCX`/`R11` the return address and flags `syscall` saved.
    fn show_user_regs(&mut self, l: LogLevel, sc: &crate::sched::Syscall) {
        self.printk(l, &format!("RIP: 0033:{:#x}\n", sc.ip));
        match sc.code {
            Some(code) => self.printk(l, &format!("Code: {code}\n")),
            None => self.printk(l, &format!("Code: Unable to access opcode bytes at {:#x}.\n", sc.ip.wrapping_sub(42))),
        }
        self.printk(l, &format!("RSP: 002b:{:016x} EFLAGS: 00000246 ORIG_RAX: {:016x}\n", sc.sp, sc.nr));
        self.printk(l, &format!("RAX: {:016x} RBX: {:016x} RCX: {:016x}\n", -38i64 as u64, 0, sc.ip));
        self.printk(l, &format!("RDX: {:016x} RSI: {:016x} RDI: {:016x}\n", sc.args[2], sc.args[1], sc.args[0]));
        self.printk(l, &format!("RBP: {:016x} R08: {:016x} R09: {:016x}\n", 0, 0, 0));
        self.printk(l, &format!("R10: {:016x} R11: {:016x} R12: {:016x}\n", 0, 0x246, 0));
        self.printk(l, &format!("R13: {:016x} R14: {:016x} R15: {:016x}\n", 0, 0, 0));
    }

    /// The site a `WARN()`/`BUG()` at `file:line` traps at: its function and offset, from the build's
    /// `__bug_table`, in the innermost frame of the stack that has such a site (a site inlined into several
    /// functions has one entry per function); else, when the build has one site for `file:line`, that one
    /// (the realised stack can lack the path to it); else the innermost frame.
    fn trap_site(&self, file: &str, line: u32) -> (Frame, Option<String>) {
        let real = self.realized_stack();
        let k = Symbols::kernel(self.layout.arch);
        for f in real.iter().rev() {
            if f.module.is_some() {
                break;
            }
            if let Some(b) = k.bug_site_in(file, line, &f.func) {
                let mut g = f.clone();
                g.offset = b.offset;
                return (g, Some(b.code.clone()));
            }
        }
        if let Some(b) = k.bug_site(file, line) {
            let unique = k.bug_sites(file, line).count() == 1;
            if let (true, Some(func)) = (unique, k.lookup(&b.func)) {
                let mut g = Frame::kernel(func.name.clone());
                (g.offset, g.size) = (b.offset, func.size);
                return (g, Some(b.code.clone()));
            }
        }
        (real.last().cloned().unwrap_or_else(|| Frame::kernel("0x0")), None)
    }

    /// `WARN()` / `WARN_ON()` fired at `file:line`: prints the `------------[ cut here ]------------` report
    /// (with `msg` first, as `__warn_printk` does), `WARNING: CPU: 0 PID: .. at file:line func+0x../0x..`,
    /// `Modules linked in:`, the CPU/Hardware lines, the registers (`args`: the C arguments of the warning
    /// function, where the caller knows them), the call trace, `---[ end trace 0000000000000000 ]---`, and
    /// taints W.
    ///
    /// Context: any.
    pub fn warn_args(&mut self, file: &str, line: u32, msg: Option<&str>, args: &[u64]) {
        self.printk(LogLevel::Warning, "------------[ cut here ]------------\n");
        if let Some(m) = msg {
            let m = if m.ends_with('\n') { m.to_string() } else { format!("{m}\n") };
            self.printk(LogLevel::Default, &m);
        }
        let (rip, code) = self.trap_site(file, line);
        let rip_s = frame_symbol(&rip);
        let pid = self.current().pid;
        self.printk(
            LogLevel::Warning,
            &format!("WARNING: CPU: {} PID: {pid} at {file}:{line} {rip_s}\n", self.sched.cpu),
        );
        self.print_modules();
        self.dump_stack_print_info(LogLevel::Default);
        self.show_kernel_regs(LogLevel::Default, &rip, code.as_deref(), args, 0x246);
        self.show_trace(LogLevel::Default, &[], Some(&rip.func));
        self.printk(LogLevel::Warning, "---[ end trace 0000000000000000 ]---\n");
        self.add_taint(Taint::Warn);
    }

    /// [`Machine::warn_args`] without known arguments.
    ///
    /// Context: any.
    pub fn warn(&mut self, file: &str, line: u32, msg: Option<&str>) {
        self.warn_args(file, line, msg, &[]);
    }

    /// `WARN_ON_ONCE()` at `file:line`: like [`Machine::warn`] the first time only; returns whether it fired
    /// (always true: the condition is the caller's).
    ///
    /// Context: any.
    pub fn warn_once(&mut self, file: &str, line: u32, msg: Option<&str>) -> bool {
        self.warn_once_args(file, line, msg, &[])
    }

    /// [`Machine::warn_once`] with the warning function's arguments for the register dump.
    ///
    /// Context: any.
    pub fn warn_once_args(&mut self, file: &str, line: u32, msg: Option<&str>, args: &[u64]) -> bool {
        let key = (file.to_string(), line);
        if !self.panic.warned_once.contains(&key) {
            self.panic.warned_once.push(key);
            self.warn_args(file, line, msg, args);
        }
        true
    }

    /// The oops of a `BUG()` at `file:line` (`do_trap()` → `die("invalid opcode")`, `__die_header()`,
    /// `__die_body()`, `oops_end()`): `kernel BUG at file:line!`, `Oops: invalid opcode: 0000 [#n] PREEMPT SMP`,
    /// the CPU/Hardware lines, the registers, the call trace, `Modules linked in:`, the end marker and, as the
    /// executive summary, the registers again. Taints D; lock debugging was already turned off by
    /// `oops_enter()`.
    ///
    /// Context: any.
    pub fn bug_oops(&mut self, file: &str, line: u32, args: &[u64]) {
        self.printk(LogLevel::Warning, "------------[ cut here ]------------\n");
        self.printk(LogLevel::Crit, &format!("kernel BUG at {file}:{line}!\n"));
        let (rip, code) = self.trap_site(file, line);
        self.oops_report("invalid opcode: 0000", &rip, code.as_deref(), args);
    }

    /// The common part of an oops after its header lines (`__die()` and `oops_end()`).
    pub(crate) fn oops_report(&mut self, what: &str, rip: &Frame, code: Option<&str>, args: &[u64]) {
        self.oops_report_with(what, rip, code, args, None, true);
    }

    /// [`Machine::oops_report`] with what differs between the kinds of oops: `after_modules`, a line the
    /// caller prints between `Modules linked in:` and the end marker (`page_fault_oops()`'s `CR2:`), and
    /// whether the unwinder finds a stack to walk (`trace`: a double fault's stack pointer is in no stack,
    /// so `Call Trace:` stays empty).
    pub(crate) fn oops_report_with(
        &mut self,
        what: &str,
        rip: &Frame,
        code: Option<&str>,
        args: &[u64],
        after_modules: Option<String>,
        trace: bool,
    ) {
        self.panic.debug_locks_off = true;
        self.panic.die_counter += 1;
        let n = self.panic.die_counter;
        let l = LogLevel::Default;
        // __die_header(): CONFIG_PREEMPTION, CONFIG_SMP, then debug_pagealloc_enabled() (no KASAN, no PTI option).
        let dpa = if self.debug_pagealloc_enabled() { " DEBUG_PAGEALLOC" } else { "" };
        self.printk(l, &format!("Oops: {what} [#{n}] PREEMPT SMP{dpa}\n"));
        self.dump_stack_print_info(l);
        self.show_kernel_regs(l, rip, code, args, 0x10246);
        if trace {
            self.show_trace(l, &[], Some(&rip.func));
        } else {
            self.printk(l, "Call Trace:\n");
        }
        self.print_modules();
        if let Some(line) = after_modules {
            self.printk(l, &line);
        }
        self.printk(LogLevel::Warning, "---[ end trace 0000000000000000 ]---\n");
        self.show_kernel_regs(l, rip, code, args, 0x10246);
        self.add_taint(Taint::Die);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tainted_format() {
        assert_eq!(format_tainted(0), "Not tainted");
        let m = (1 << Taint::Warn as u32) | (1 << Taint::OotModule as u32);
        assert_eq!(format_tainted(m), "Tainted: G        W  O      ");
        assert_eq!(format_tainted_verbose(m), "Tainted: [W]=WARN, [O]=OOT_MODULE");
    }
}
