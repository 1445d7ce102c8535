//! Warnings, taint and stack dumps (kernel/panic.c `__warn`/`print_tainted`, lib/dump_stack.c,
//! arch/x86/kernel/dumpstack.c and process_64.c `__show_regs`, kernel/module/main.c `print_modules`).
//!
//! # The simulated call stack
//! There is no real kernel stack, so the simulator keeps a list of kernel function names: API entry points push
//! the kernel functions they stand for (`get_free_pages_noprof`, `__alloc_pages_noprof`, ...) and pop them on
//! return; the `kernel` façade pushes the calling module function (`Machine::push_module_frame("my_init",
//! "hello")`) and the runner pushes the frames of its context (e.g. `do_init_module`, `do_one_initcall`).
//! Reports print it innermost first as ` name+0xOFF/0xSIZE [module]`. Offsets and sizes are fictional but
//! deterministic: derived from a hash of the name (see [`frame_offsets`]), unless the pusher gives them.

#![forbid(unsafe_code)]

use std::borrow::Cow;

use crate::machine::{Arch, Machine};
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
/// 0xffffffff81000000, module text from 0xffffffffc0000000, spread by a hash of the name.
///
/// Context: any.
pub fn frame_address(f: &Frame) -> u64 {
    let (h, _) = frame_offsets(&format!("{}@addr", f.func));
    let base = if f.module.is_some() { 0xffff_ffff_c000_0000u64 } else { 0xffff_ffff_8100_0000u64 };
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
        let (offset, size) = frame_offsets(func);
        self.stack.frames.push(Frame { func: Cow::Borrowed(func), module: None, offset, size });
    }

    /// Pushes a kernel function frame (the name is copied).
    ///
    /// Context: any.
    pub fn push_frame(&mut self, func: &str) {
        let (offset, size) = frame_offsets(func);
        self.stack.frames.push(Frame { func: Cow::Owned(func.into()), module: None, offset, size });
    }

    /// Pushes a frame of module `module` (printed ` func+0x../0x.. [module]`).
    ///
    /// Context: any.
    pub fn push_module_frame(&mut self, func: &str, module: &str) {
        let (offset, size) = frame_offsets(func);
        self.stack.frames.push(Frame { func: Cow::Owned(func.into()), module: Some(module.into()), offset, size });
    }

    /// Pushes a frame with explicit offset and size.
    ///
    /// Context: any.
    pub fn push_frame_at(&mut self, func: &str, module: Option<&str>, offset: u32, size: u32) {
        self.stack.frames.push(Frame { func: Cow::Owned(func.into()), module: module.map(Into::into), offset, size });
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

    /// `add_taint()`.
    ///
    /// Context: any.
    pub fn add_taint(&mut self, flag: Taint) {
        self.panic.tainted_mask |= 1 << flag as u32;
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

    fn frame_line(f: &Frame, unreliable: bool) -> String {
        let q = if unreliable { "? " } else { "" };
        match &f.module {
            Some(m) => format!(" {q}{}+{:#x}/{:#x} [{m}]\n", f.func, f.offset, f.size),
            None => format!(" {q}{}+{:#x}/{:#x}\n", f.func, f.offset, f.size),
        }
    }

    /// `show_trace_log_lvl()`: `Call Trace:`, `<IRQ>`/`<TASK>` sections, `extra` innermost frames (e.g. the
    /// reporting functions themselves) then the simulated stack innermost first, and `unreliable` `? ` frames
    /// first.
    fn show_trace(&mut self, lvl: LogLevel, extra: &[&str], unreliable: &[Frame]) {
        self.printk(lvl, "Call Trace:\n");
        let frames = self.stack.frames.clone();
        let irq_start = self.stack.irq_marks.first().copied();
        let mut lines = Vec::new();
        let in_irq = irq_start.is_some();
        lines.push(if in_irq { " <IRQ>\n".to_string() } else { " <TASK>\n".to_string() });
        for f in unreliable {
            lines.push(Self::frame_line(f, true));
        }
        for name in extra.iter().rev() {
            let (offset, size) = frame_offsets(name);
            lines.push(Self::frame_line(
                &Frame { func: Cow::Owned((*name).to_string()), module: None, offset, size },
                false,
            ));
        }
        for (i, f) in frames.iter().enumerate().rev() {
            if let Some(start) = irq_start {
                if i + 1 == start {
                    lines.push(" </IRQ>\n".into());
                    lines.push(" <TASK>\n".into());
                }
            }
            lines.push(Self::frame_line(f, false));
        }
        if let Some(start) = irq_start {
            if start == 0 {
                lines.push(" </IRQ>\n".into());
                lines.push(" <TASK>\n".into());
            }
        }
        lines.push(" </TASK>\n".into());
        for l in lines {
            self.printk(lvl, &l);
        }
    }

    /// `dump_stack()`: the info lines and the call trace with `dump_stack_lvl` innermost.
    ///
    /// Context: any.
    pub fn dump_stack(&mut self) {
        self.dump_stack_with(&[]);
    }

    /// `dump_stack()` called from the functions `callers` (innermost last), e.g. `&["warn_alloc"]`.
    ///
    /// Context: any.
    pub fn dump_stack_with(&mut self, callers: &[&str]) {
        self.dump_stack_print_info(LogLevel::Default);
        // `show_trace` prints `extra` innermost first, so order it outermost..innermost.
        let mut ordered: Vec<&str> = callers.to_vec();
        ordered.push("dump_stack_lvl");
        self.show_trace(LogLevel::Default, &ordered, &[]);
    }

    /// `show_regs()` for a trap in the innermost frame: the CPU/Hardware lines, `RIP:`/`EIP:`, `Code:`, the
    /// register lines (deterministic fictional values), then the call trace.
    fn show_regs_and_trace(&mut self, rip: &Frame) {
        self.dump_stack_print_info(LogLevel::Default);
        let l = LogLevel::Default;
        let sp = self.layout.stack_pointer_hint();
        let code = "48 89 df e8 a5 f1 ff ff 48 85 c0 0f 84 4c ff ff ff 48 8b 54 24 08 48 89 c3 48 8b 7c 24 10 e9 3c ff ff ff 80 3d 1e 2a 35 01 00 75 d0";
        let rip_s = match &rip.module {
            Some(m) => format!("{}+{:#x}/{:#x} [{m}]", rip.func, rip.offset, rip.size),
            None => format!("{}+{:#x}/{:#x}", rip.func, rip.offset, rip.size),
        };
        match self.cfg.arch {
            Arch::X86_64 => {
                self.printk(l, &format!("RIP: 0010:{rip_s}\n"));
                self.printk(l, &format!("Code: {code} <0f> 0b e9 35 ff ff ff 66 90 90 90 90 90 90 90 90 90 90\n"));
                self.printk(l, &format!("RSP: 0018:{sp:016x} EFLAGS: 00010246\n"));
                let z = 0u64;
                self.printk(l, &format!("RAX: {z:016x} RBX: {z:016x} RCX: {z:016x}\n"));
                self.printk(l, &format!("RDX: {z:016x} RSI: {z:016x} RDI: {z:016x}\n"));
                self.printk(l, &format!("RBP: {z:016x} R08: {z:016x} R09: {z:016x}\n"));
                self.printk(l, &format!("R10: {z:016x} R11: {z:016x} R12: {z:016x}\n"));
                self.printk(l, &format!("R13: {z:016x} R14: {z:016x} R15: {z:016x}\n"));
                let gs = self.layout.page_offset + (self.layout.max_pfn.min(0x1000) << 12) - 0x20_0000;
                self.printk(l, &format!("FS:  {z:016x}(0000) GS:{gs:016x}(0000) knlGS:{z:016x}\n"));
                self.printk(l, "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033\n");
                self.printk(l, &format!("CR2: {z:016x} CR3: 0000000001c2a000 CR4: 00000000000006f0\n"));
            }
            Arch::I386 => {
                self.printk(l, &format!("EIP: {rip_s}\n"));
                self.printk(l, &format!("Code: {code} <0f> 0b e9 35 ff ff ff 66 90 90 90 90 90 90 90 90 90 90\n"));
                let z = 0u32;
                self.printk(l, &format!("EAX: {z:08x} EBX: {z:08x} ECX: {z:08x} EDX: {z:08x}\n"));
                self.printk(l, &format!("ESI: {z:08x} EDI: {z:08x} EBP: {:08x} ESP: {:08x}\n", sp as u32, sp as u32));
                self.printk(l, "DS: 007b ES: 007b FS: 00d8 GS: 0000 SS: 0068 EFLAGS: 00010246\n");
                self.printk(l, "CR0: 80050033 CR2: 00000000 CR3: 01c2a000 CR4: 00000690\n");
            }
        }
        let unreliable = vec![
            Frame { func: Cow::Borrowed("show_regs"), module: None, offset: 0x6c, size: 0x80 },
            Frame { func: Cow::Borrowed("__warn"), module: None, offset: 0x88, size: 0x140 },
            rip.clone(),
            Frame { func: Cow::Borrowed("report_bug"), module: None, offset: 0x182, size: 0x1b0 },
            Frame { func: Cow::Borrowed("handle_bug"), module: None, offset: 0x51, size: 0xa0 },
            Frame { func: Cow::Borrowed("exc_invalid_op"), module: None, offset: 0x18, size: 0x80 },
            Frame { func: Cow::Borrowed("asm_exc_invalid_op"), module: None, offset: 0x1a, size: 0x20 },
            rip.clone(),
        ];
        // The frame holding RIP is shown (unreliably) above; the rest of the stack follows reliably.
        let saved = self.stack.frames.pop();
        self.show_trace(l, &[], &unreliable);
        if let Some(f) = saved {
            self.stack.frames.push(f);
        }
    }

    /// `WARN()` / `WARN_ON()` fired in the innermost simulated frame at `file:line`: prints the
    /// `------------[ cut here ]------------` report (with `msg` first, as `__warn_printk` does), `WARNING: CPU:
    /// 0 PID: .. at file:line func+0x../0x..`, `Modules linked in:`, the CPU/Hardware lines, the registers, the
    /// call trace, `---[ end trace 0000000000000000 ]---`, and taints W.
    ///
    /// Context: any.
    pub fn warn(&mut self, file: &str, line: u32, msg: Option<&str>) {
        self.printk(LogLevel::Warning, "------------[ cut here ]------------\n");
        if let Some(m) = msg {
            let m = if m.ends_with('\n') { m.to_string() } else { format!("{m}\n") };
            self.printk(LogLevel::Default, &m);
        }
        let rip = self.stack.frames.last().cloned().unwrap_or(Frame {
            func: Cow::Borrowed("0x0"),
            module: None,
            offset: 0,
            size: 0,
        });
        let rip_s = match &rip.module {
            Some(m) => format!("{}+{:#x}/{:#x} [{m}]", rip.func, rip.offset, rip.size),
            None => format!("{}+{:#x}/{:#x}", rip.func, rip.offset, rip.size),
        };
        let pid = self.current().pid;
        self.printk(
            LogLevel::Warning,
            &format!("WARNING: CPU: {} PID: {pid} at {file}:{line} {rip_s}\n", self.sched.cpu),
        );
        self.print_modules();
        self.show_regs_and_trace(&rip);
        self.printk(LogLevel::Warning, "---[ end trace 0000000000000000 ]---\n");
        self.add_taint(Taint::Warn);
    }

    /// `WARN_ON_ONCE()` at `file:line`: like [`Machine::warn`] the first time only; returns whether it fired
    /// (always true: the condition is the caller's).
    ///
    /// Context: any.
    pub fn warn_once(&mut self, file: &str, line: u32, msg: Option<&str>) -> bool {
        let key = (file.to_string(), line);
        if !self.panic.warned_once.contains(&key) {
            self.panic.warned_once.push(key);
            self.warn(file, line, msg);
        }
        true
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
