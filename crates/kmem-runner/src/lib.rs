//! The runner: the one place that knows both a module and a machine.
//!
//! [`Runner::insmod`] boots nothing itself: it takes a booted [`Machine`], makes it the machine the
//! `kernel` façade talks to, calls the module's `init` as `insmod` would (in the context of an
//! `insmod` task), and [`Runner::rmmod`] drops the module (its `Drop` is the module's exit) as `rmmod`
//! would. The dmesg lines printed in between are exactly what `dmesg` would show after
//! `dmesg -C; insmod foo.ko; rmmod foo` on a real kernel, including the kernel's own lines (the
//! out-of-tree taint message, BUG and WARNING reports).
//!
//! ```no_run
//! # fn demo(module: &'static kernel::__sim::ModuleDesc) -> Result<(), String> {
//! let manifest = kmem_runner::manifest_of(module)?;
//! let run = kmem_runner::run(module, kmem_runner::machine_from_env(&manifest)?);
//! print!("{}", run.dmesg);
//! # Ok(())
//! # }
//! ```

use kernel::__sim::{self, ModuleDesc};
use kmem_sim::sched::Syscall;
use kmem_sim::{Machine, MachineConfig};
use std::any::Any;

/// The pid of the `insmod` task: what a fresh busybox initramfs shell on the book's QEMU machine gives
/// its first command (the real-kernel comparison normalises pids anyway).
pub const INSMOD_PID: u32 = 1000;

/// What `insmod` printed on the terminal when `init` failed (kmod's wording): `errno` is what `init`
/// returned (`-ENOMEM`), which `finit_module()` returns to the guest's insmod (`xtask/src/qemu/boot.rs`),
/// and `insmod` prints it with kmod's `mod_strerror()`.
pub fn insmod_error(file: &str, errno: i32) -> String {
    format!("insmod: ERROR: could not insert module {file}: {}", mod_strerror(-errno))
}

/// kmod's `mod_strerror()`: its own words for the two errors of a module's format and symbols, glibc's
/// `strerror()` for every other.
fn mod_strerror(errno: i32) -> String {
    match errno {
        8 => "Invalid module format".into(),
        2 => "Unknown symbol in module, or unknown parameter (see dmesg)".into(),
        e => strerror(e),
    }
}

/// glibc's `strerror()` for the error codes of the `kernel` crate (`kernel::error::code`); the kernel's
/// own codes above 511 have no text in glibc.
fn strerror(errno: i32) -> String {
    let text = match errno {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        3 => "No such process",
        4 => "Interrupted system call",
        5 => "Input/output error",
        6 => "No such device or address",
        7 => "Argument list too long",
        8 => "Exec format error",
        9 => "Bad file descriptor",
        10 => "No child processes",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        15 => "Block device required",
        16 => "Device or resource busy",
        17 => "File exists",
        18 => "Invalid cross-device link",
        19 => "No such device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        23 => "Too many open files in system",
        24 => "Too many open files",
        25 => "Inappropriate ioctl for device",
        26 => "Text file busy",
        27 => "File too large",
        28 => "No space left on device",
        29 => "Illegal seek",
        30 => "Read-only file system",
        31 => "Too many links",
        32 => "Broken pipe",
        33 => "Numerical argument out of domain",
        34 => "Numerical result out of range",
        75 => "Value too large for defined data type",
        _ => return format!("Unknown error {errno}"),
    };
    text.to_string()
}

/// `__NR_finit_module` (x86_64).
const NR_FINIT_MODULE: u64 = 313;
/// `__NR_delete_module` (x86_64).
const NR_DELETE_MODULE: u64 = 176;
/// Stand-ins for the guest's user space (a static binary at 0x400000, its stack below 0x7ffffffff000); where
/// its programs enter the kernel comes from the real build ([`user_entry`]).
const USER_STACK: u64 = 0x7ffd_382d_29c8;
const USER_EMPTY_STRING: u64 = 0x0048_f83d;
const USER_MODULE_NAME: u64 = 0x7ffd_382d_3f8f;
/// What the static `insmod`/`rmmod` of the guest has touched by the time it makes its system call, and so
/// what its page tables cover: its image (text, data, bss) from 0x400000, its heap (`brk`), its stack.
const USER_RANGES: &[(u64, u64)] =
    &[(0x0040_0000, 0x004a_3000), (0x1000_2000, 0x1002_4000), (USER_STACK - 0x2_0000, USER_STACK + 0x1000)];

/// Runs `f` as module code of module `module` in the current task of the installed machine (a task of its
/// own, on the kernel's stack size) and returns what it returned, or `None` when the simulated kernel
/// killed the task: an oops in a simulator call, or a fault of the module code, reported as the kernel
/// reports it (with the module's functions it happened in). After a kill, [`Machine::kernel_stop`] says
/// how; the machine goes on unless it panicked.
///
/// Context: a machine is installed on this thread (`kernel::__sim::install`); not inside another task.
pub fn run_module_code<R>(module: &str, f: impl FnOnce() -> R) -> Option<R> {
    task_outcome(module, __sim::task::run(f))
}

fn task_outcome<R>(module: &str, outcome: __sim::task::Outcome<R>) -> Option<R> {
    match outcome {
        __sim::task::Outcome::Returned(r) => Some(r),
        __sim::task::Outcome::Killed => None,
        __sim::task::Outcome::Fault(f) => {
            __sim::with_machine(|m| {
                let (fault, functions) = __sim::task::fault_report(m, module, &f);
                // The module functions the fault happened in, outermost first, above the caller's frames.
                for path in functions.iter().rev() {
                    m.push_rust_frame(path, path, Some(module), false);
                }
                m.handle_kernel_fault(fault);
            });
            None
        }
    }
}

/// What the guest's shell prints for a task an oops ended: `Killed` for SIGKILL (`page_fault_oops()`),
/// `Segmentation fault` for SIGSEGV (`die()`); nothing for a panic (the machine is gone).
fn killed_by(stop: &kmem_sim::KernelStop) -> String {
    match stop.signal() {
        Some(9) => "Killed".to_string(),
        Some(_) => "Segmentation fault".to_string(),
        None => String::new(),
    }
}

/// The kernel's entry from a `syscall` instruction (arch/x86/entry/entry_64.S, common.c).
const SYSCALL_ENTRY: &[&str] = &["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "x64_sys_call"];
/// `finit_module()` down to a module's init (kernel/module/main.c, init/main.c).
const FINIT_MODULE_PATH: &[&str] = &[
    "__x64_sys_finit_module",
    "__do_sys_finit_module",
    "idempotent_init_module",
    "init_module_from_file",
    "load_module",
    "do_init_module",
    "do_one_initcall",
];
/// `delete_module()` down to a module's exit (kernel/module/main.c).
const DELETE_MODULE_PATH: &[&str] = &["__x64_sys_delete_module", "__do_sys_delete_module"];

/// Where the guest's `program` (`insmod`, `rmmod`) enters the kernel: the instruction after its `syscall`
/// and the code bytes there, from the `u` lines of `listings/kernel/symbols/user.txt` (written by
/// `cargo xtask qemu --record` from the guest's binaries). Without a line for it: the start of a static
/// binary's image, and no bytes (the report then says it cannot read the code, as the kernel does).
///
/// Context: any; reads the file once per process.
pub fn user_entry(program: &str) -> (u64, Option<&'static str>) {
    static ENTRIES: std::sync::OnceLock<Vec<(String, u64, &'static str)>> = std::sync::OnceLock::new();
    let entries = ENTRIES.get_or_init(|| {
        let path = workspace_root().join("listings/kernel/symbols/user.txt");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut f = l.strip_prefix("u ")?.splitn(4, ' ');
                let (prog, _syscall, ip, code) = (f.next()?, f.next()?, f.next()?, f.next()?);
                let ip = u64::from_str_radix(ip.strip_prefix("0x")?, 16).ok()?;
                Some((prog.to_string(), ip, &*Box::leak(code.to_string().into_boxed_str())))
            })
            .collect()
    });
    match entries.iter().find(|(p, _, _)| p == program) {
        Some((_, ip, code)) => (*ip, Some(*code)),
        None => (0x0040_0000, None),
    }
}

/// The real build's symbols of listing `name` for a machine of `arch`, when recorded: the x86_64 module
/// (`listings/kernel/symbols/modules/<name>.txt`) or the 32-bit kernel's C module of the same name
/// (`listings/kernel/symbols-i386/modules/<name>.txt`, with its layout).
pub fn module_symbols(name: &str, arch: kmem_sim::machine::Arch) -> Option<kmem_sim::kallsyms::Symbols> {
    let dir = match arch {
        kmem_sim::machine::Arch::X86_64 => "symbols",
        kmem_sim::machine::Arch::I386 => "symbols-i386",
    };
    let path = workspace_root().join(format!("listings/kernel/{dir}/modules/{name}.txt"));
    std::fs::read_to_string(path).ok().map(|t| kmem_sim::kallsyms::Symbols::parse(&t))
}

/// One module on one machine.
pub struct Runner {
    module: &'static ModuleDesc,
    instance: Option<Box<dyn Any>>,
    next_pid: u32,
}

/// The outcome of [`run`].
pub struct Run {
    /// The dmesg lines from `insmod` to the end of `rmmod`, as `dmesg` prints them.
    pub dmesg: String,
    /// What `insmod` printed on the terminal if `init` failed.
    pub insmod_error: Option<String>,
    /// Whatever the `while_loaded` callback of [`run_with`] returned (e.g. `/proc` views).
    pub while_loaded: String,
    /// The machine, after `rmmod`.
    pub machine: Machine,
}

impl Runner {
    /// Installs `machine` for this thread; the module is not loaded yet.
    pub fn new(module: &'static ModuleDesc, machine: Machine) -> Self {
        __sim::install(machine);
        Runner { module, instance: None, next_pid: INSMOD_PID }
    }

    fn ko(&self) -> String {
        format!("{}.ko", self.module.name)
    }

    /// `insmod <name>.ko`: runs `init` in the context of a fresh `insmod` task, on the system-call path the
    /// book's kernel takes: `finit_module()` → `load_module()` → `do_init_module()` → `do_one_initcall()` →
    /// the module's `init_module` (through a pointer) → `<Type as kernel::Module>::init`.
    ///
    /// Returns the terminal message of a failed `insmod`.
    pub fn insmod(&mut self) -> Result<(), String> {
        let pid = self.next_pid;
        self.next_pid += 1;
        let name = self.module.name;
        let init_symbol = __sim::symbols::module_init_first_impl(name, self.module.type_name);
        let init_path = __sim::symbols::module_init_path(name, self.module.type_name);
        let (depth, loaded) = __sim::with_machine(|m| {
            m.set_current("insmod", pid);
            // finit_module(fd, "", 0) from the guest's static insmod; its user stack and the instruction after
            // its `syscall` are where a static x86_64 binary has them (stand-ins: the simulator runs no user space).
            let (ip, code) = user_entry("insmod");
            m.set_current_syscall(Some(Syscall {
                nr: NR_FINIT_MODULE,
                args: [3, USER_EMPTY_STRING, 0],
                ip,
                sp: USER_STACK,
                code,
            }));
            m.mm_populate_user(USER_RANGES);
            let depth = m.call_stack().len();
            for f in SYSCALL_ENTRY.iter().chain(FINIT_MODULE_PATH) {
                m.push_kframe(f);
            }
            m.load_module_name(name, true);
            if let Some(syms) = module_symbols(name, m.layout().arch) {
                m.set_module_symbols(name, syms);
            }
            // load_module(): the copy of the .ko and the module's memory (crate kmem_sim::module).
            let loaded = m.load_module_memory(name);
            m.push_indirect_frame("init_module", Some(name));
            m.push_rust_frame(&init_symbol, &init_path, Some(name), false);
            (depth, loaded)
        });
        if let Err(e) = loaded {
            __sim::with_machine(|m| {
                m.truncate_stack(depth);
                m.set_current_syscall(None);
                m.mm_release_user(pid);
                m.unload_module_name(name);
            });
            return Err(insmod_error(&self.ko(), e));
        }
        let outcome = __sim::task::run(|| (self.module.init)(self.module.this_module));
        let result = self.task_result(outcome);
        __sim::with_machine(|m| m.truncate_stack(depth));
        if let Some(stop) = __sim::with_machine(|m| m.kernel_stop().cloned()) {
            // The simulated kernel oopsed in insmod's context: the task died there (`make_task_dead`), the
            // module never finished loading and cannot be unloaded. Its state is leaked, as the kernel
            // leaks it; the task's address space goes (`exit_mm()`).
            if let Some(Ok(instance)) = result {
                std::mem::forget(instance);
            }
            __sim::with_machine(|m| {
                m.set_current_syscall(None);
                m.mm_release_user(pid);
            });
            return Err(killed_by(&stop));
        }
        __sim::with_machine(|m| {
            m.set_current_syscall(None);
            m.mm_release_user(pid);
        });
        match result.expect("a task that was not killed returned") {
            Ok(instance) => {
                self.instance = Some(instance);
                __sim::with_machine(|m| {
                    m.set_module_state(name, kmem_sim::ModuleState::Live);
                    // do_init_module(): the init sections are freed once init returned.
                    m.module_init_freed(name);
                    m.run_pending_work();
                });
                Ok(())
            }
            Err(e) => {
                __sim::with_machine(|m| m.unload_module_name(name));
                Err(insmod_error(&self.ko(), e.to_errno()))
            }
        }
    }

    /// What a task's module code came to: its return value, or `None` when the simulated kernel killed the
    /// task.
    fn task_result<R>(&self, outcome: __sim::task::Outcome<R>) -> Option<R> {
        task_outcome(self.module.name, outcome)
    }

    /// `rmmod <name>`: drops the module (its exit), in the context of a fresh `rmmod` task, on the path
    /// `delete_module()` → the module's `cleanup_module` (through a pointer) → its `Drop`.
    pub fn rmmod(&mut self) {
        let Some(instance) = self.instance.take() else {
            return;
        };
        let pid = self.next_pid;
        self.next_pid += 1;
        let name = self.module.name;
        let drop_symbol = __sim::symbols::module_drop(name, self.module.type_name);
        let drop_path = __sim::symbols::module_drop_path(name, self.module.type_name);
        let depth = __sim::with_machine(|m| {
            m.set_current("rmmod", pid);
            // delete_module(name, O_NONBLOCK | O_EXCL), as busybox's rmmod calls it.
            let (ip, code) = user_entry("rmmod");
            m.set_current_syscall(Some(Syscall {
                nr: NR_DELETE_MODULE,
                args: [USER_MODULE_NAME, 0x880, 0],
                ip,
                sp: USER_STACK - 0x210,
                code,
            }));
            m.mm_populate_user(USER_RANGES);
            m.set_module_state(name, kmem_sim::ModuleState::Going);
            let depth = m.call_stack().len();
            for f in SYSCALL_ENTRY.iter().chain(DELETE_MODULE_PATH) {
                m.push_kframe(f);
            }
            m.push_indirect_frame("cleanup_module", Some(name));
            m.push_rust_frame(&drop_symbol, &drop_path, Some(name), false);
            depth
        });
        let outcome = __sim::task::run(move || drop(instance));
        let _ = self.task_result(outcome);
        __sim::with_machine(|m| {
            m.truncate_stack(depth);
            m.set_current_syscall(None);
            m.mm_release_user(pid);
            if m.kernel_stop().is_none() {
                m.unload_module_name(name);
                m.run_pending_work();
            }
        });
    }

    /// Runs `f` on the machine (e.g. to read `/proc` while the module is loaded).
    pub fn with_machine<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> R {
        __sim::with_machine(f)
    }

    /// Unloads the module if needed and gives the machine back.
    pub fn finish(mut self) -> Machine {
        self.rmmod();
        __sim::uninstall().expect("the runner's machine")
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if self.instance.is_some() && __sim::has_machine() {
            self.rmmod();
        }
        __sim::uninstall();
    }
}

/// Boots a machine with `cfg`, loads and unloads `module`, and returns the dmesg of that.
pub fn run(module: &'static ModuleDesc, cfg: MachineConfig) -> Run {
    run_with(module, cfg, |_| String::new())
}

/// As [`run`], calling `while_loaded` between `insmod` and `rmmod`.
pub fn run_with(
    module: &'static ModuleDesc,
    cfg: MachineConfig,
    while_loaded: impl FnOnce(&mut Machine) -> String,
) -> Run {
    let machine = match Machine::boot(cfg) {
        Ok(m) => m,
        Err(e) => panic!("the simulated machine does not boot: {e}"),
    };
    run_on(module, machine, &[], while_loaded)
}

fn run_on(
    module: &'static ModuleDesc,
    mut machine: Machine,
    setup: &[kmem_truth::manifest::Setup],
    while_loaded: impl FnOnce(&mut Machine) -> String,
) -> Run {
    for s in setup {
        if let Err(e) = machine.write_file(&s.path, &s.value) {
            // As the guest's shell reports a failed `echo value > path`.
            eprintln!("sh: can't write {}: error {}", s.path, -e);
        }
    }
    let seq = machine.log_seq();
    let mut runner = Runner::new(module, machine);
    let insmod_error = runner.insmod().err();
    let loaded = if insmod_error.is_none() { runner.with_machine(while_loaded) } else { String::new() };
    runner.rmmod();
    let machine = runner.finish();
    Run { dmesg: machine.dmesg_since(seq), insmod_error, while_loaded: loaded, machine }
}

/// The outcome of [`run_listing`]: every output the book shows of a listing.
pub struct ListingRun {
    /// `(stem, text)` for each output of `kmem_truth::observed::outputs()`: `dmesg`, `insmod` (when the
    /// manifest says it does not load), each shown file.
    pub outputs: Vec<(String, String)>,
    /// What `insmod` printed when `init` failed.
    pub insmod_error: Option<String>,
    /// The machine after `rmmod`.
    pub machine: Machine,
}

/// The book's machine for a listing: the x86_64 guest of `cargo xtask qemu`, booted with the book's
/// command line as the listing's manifest changes it.
pub fn listing_machine(manifest: &kmem_truth::Manifest) -> MachineConfig {
    let cfg = MachineConfig::x86_64();
    debug_assert_eq!((cfg.ram_mib, cfg.cpus), (kmem_truth::book::RAM_MIB, kmem_truth::book::CPUS));
    cfg.cmdline(&manifest.kernel_cmdline())
}

/// Runs a listing as the book does, in the simulated world: boots [`listing_machine`] (or `cfg`), applies the
/// manifest's set-up writes, insmods, reads the files the manifest shows while the module is loaded, rmmods.
pub fn run_listing(
    module: &'static ModuleDesc,
    manifest: &kmem_truth::Manifest,
    cfg: Option<MachineConfig>,
) -> ListingRun {
    let cfg = with_recorded_initrd(module.name, cfg.unwrap_or_else(|| listing_machine(manifest)));
    let machine = match Machine::boot(cfg) {
        Ok(m) => m,
        Err(e) => panic!("the simulated machine does not boot: {e}"),
    };
    let shows = manifest.show.clone();
    let run = run_on(module, machine, &manifest.setup, move |m| {
        let mut out = String::new();
        for s in &shows {
            let text = if s.is_dir() { grep_dir(m, &s.file) } else { m.read_file(&s.file) }
                .unwrap_or_else(|e| format!("cat: can't open '{}': error {}\n", s.file, -e));
            out.push_str(&format!("\u{0}{}\u{0}{}", s.stem(), s.select(&text)));
        }
        out
    });
    let mut shown: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let mut parts = run.while_loaded.split('\u{0}').skip(1);
    while let (Some(stem), Some(text)) = (parts.next(), parts.next()) {
        shown.insert(stem.to_string(), text.to_string());
    }
    let mut outputs = Vec::new();
    for o in kmem_truth::observed::outputs(module.name, manifest) {
        let text = match o.stem.as_str() {
            "dmesg" => run.dmesg.clone(),
            "insmod" => run.insmod_error.clone().map(|e| format!("{e}\n")).unwrap_or_default(),
            stem => shown.remove(stem).unwrap_or_default(),
        };
        outputs.push((o.stem, text));
    }
    ListingRun { outputs, insmod_error: run.insmod_error, machine: run.machine }
}

/// `cfg` with the initramfs where the real boot of `listing` had it (`kmem_truth::observed::initrd_of`), when `cfg`
/// is the machine that real boot was (the book's x86_64 guest, whose boot the simulator is calibrated from);
/// `cfg` unchanged otherwise, or when the listing's boot was not recorded.
///
/// Context: any (reads the committed file).
pub fn with_recorded_initrd(listing: &str, mut cfg: MachineConfig) -> MachineConfig {
    let book_guest =
        cfg.arch == kmem_sim::machine::Arch::X86_64 && kmem_sim::qemu_boot::Recording::for_config(&cfg).is_some();
    if book_guest && cfg.initrd.is_none() {
        cfg.initrd = kmem_truth::observed::initrd_of(&workspace_root(), listing);
    }
    cfg
}

/// `cd <dir>; grep . *` on the machine: every readable file of the directory in `ls` order (what cannot
/// be read is left out, as the guest's `2>/dev/null` leaves grep's complaint out).
fn grep_dir(m: &Machine, dir: &str) -> Result<String, i32> {
    let dir = dir.trim_end_matches('/');
    let files: Vec<(String, String)> = m
        .read_dir(dir)?
        .into_iter()
        .filter_map(|name| m.read_file(&format!("{dir}/{name}")).ok().map(|text| (name, text)))
        .collect();
    Ok(kmem_truth::manifest::Show::grep_dir(&files))
}

/// The workspace root, where `listings/` lives (the runner is `crates/kmem-runner`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The manifest of a listing, read beside its source (`ModuleDesc::file`, relative to the workspace root).
pub fn manifest_of(module: &ModuleDesc) -> Result<kmem_truth::Manifest, String> {
    kmem_truth::Manifest::for_listing(&workspace_root().join(module.file))
}

/// The machine `cargo run --example` uses: `KMEM_MACHINE=x86_64` (default: the book's QEMU guest, 256 MiB,
/// 4 CPUs, the book's command line) or `KMEM_MACHINE=i386` / `i386-160m` (the classic 32-bit machine, 160 MiB);
/// `KMEM_RAM_MIB` overrides the RAM (MiB, or `512M`, `1G`), `KMEM_CPUS` the CPU count, and `KMEM_CMDLINE` adds
/// kernel command-line words (`-word` removes one of the book's). `cargo xtask run --machine/--ram/--cpus/--cmdline`
/// sets these variables. The values are parsed by [`kmem_truth::machine`].
///
/// Returns a message naming the bad value and the accepted ones when a variable is wrong.
pub fn machine_from_env(manifest: &kmem_truth::Manifest) -> Result<MachineConfig, String> {
    machine_from_vars(manifest, &env_var)
}

/// `manifest` as the environment changes it: `KMEM_CMDLINE` adds command-line words, `KMEM_SHOW` (a
/// comma-separated list of `/proc` and `/sys` files, set by `cargo xtask run --show`) files to show whole
/// while the module is loaded.
///
/// Returns a message naming the bad value when a variable is wrong.
pub fn manifest_from_env(manifest: &kmem_truth::Manifest) -> Result<kmem_truth::Manifest, String> {
    manifest_from_vars(manifest, &env_var)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// [`manifest_from_env`] with the variables read through `var`.
fn manifest_from_vars(
    manifest: &kmem_truth::Manifest,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<kmem_truth::Manifest, String> {
    let show: Vec<String> = var("KMEM_SHOW")
        .map(|files| files.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    manifest.with_options(var("KMEM_CMDLINE").as_deref(), &show).map_err(|e| format!("KMEM_SHOW: {e}"))
}

/// [`machine_from_env`] with the variables read through `var`.
fn machine_from_vars(
    manifest: &kmem_truth::Manifest,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<MachineConfig, String> {
    let manifest = manifest_from_vars(manifest, &|name| if name == "KMEM_CMDLINE" { var(name) } else { None })?;
    machine_of(&manifest, var)
}

/// The machine of `KMEM_MACHINE`, `KMEM_RAM_MIB` and `KMEM_CPUS` (read through `var`) with `manifest`'s
/// command line (already changed by `KMEM_CMDLINE`).
fn machine_of(manifest: &kmem_truth::Manifest, var: &dyn Fn(&str) -> Option<String>) -> Result<MachineConfig, String> {
    use kmem_truth::machine::{parse_cpus, parse_machine, parse_ram_mib, Profile};
    let profile = match var("KMEM_MACHINE") {
        None => Profile::X86_64,
        Some(v) => parse_machine(&v).map_err(|e| e.for_variable("KMEM_MACHINE"))?,
    };
    let mut cfg = match profile {
        Profile::X86_64 => listing_machine(manifest),
        Profile::I386 => MachineConfig::i386().ram_mib(160).cmdline(&manifest.kernel_cmdline()),
    };
    if let Some(v) = var("KMEM_RAM_MIB") {
        cfg = cfg.ram_mib(parse_ram_mib(&v).map_err(|e| e.for_variable("KMEM_RAM_MIB"))?);
    }
    if let Some(v) = var("KMEM_CPUS") {
        cfg = cfg.cpus(parse_cpus(&v).map_err(|e| e.for_variable("KMEM_CPUS"))?);
    }
    Ok(cfg)
}

/// `main` of a listing run as `cargo run --example <name>`: prints the session as a terminal would
/// show it. A bad environment or a machine that cannot boot ends it with a message and exit status 2.
///
/// With `KMEM_OUTPUTS=<dir>` (set by `cargo xtask run` and `cargo xtask qemu --module`), it also writes each
/// output the book would show of it into that directory under its capture's name (`dmesg.txt`, `<stem>.txt`
/// for each shown file; `kmem_truth::observed`), and `insmod.txt` with insmod's message whenever `insmod`
/// failed.
pub fn module_main(module: &'static ModuleDesc) {
    let fail = |msg: String| -> ! {
        eprintln!("error: {msg}");
        std::process::exit(2)
    };
    let manifest = manifest_of(module).and_then(|m| manifest_from_env(&m)).unwrap_or_else(|e| fail(e));
    let cfg = machine_of(&manifest, &env_var).unwrap_or_else(|e| fail(e));
    if let Err(e) = Machine::boot(cfg.clone()) {
        fail(format!("the simulated machine does not boot: {e}"));
    }
    let run = run_listing(module, &manifest, Some(cfg));
    print!("{}", session(module.name, &manifest, &run));
    if let Some(dir) = std::env::var_os("KMEM_OUTPUTS") {
        let dir = std::path::PathBuf::from(dir);
        write_outputs(&dir, module.name, &manifest, &run)
            .unwrap_or_else(|e| fail(format!("KMEM_OUTPUTS: writing {}: {e}", dir.display())));
    }
}

/// The terminal session of a run: `$ insmod`, insmod's message when it failed, the shown files, `$ rmmod`, then
/// `$ dmesg` and the kernel log.
fn session(name: &str, manifest: &kmem_truth::Manifest, run: &ListingRun) -> String {
    let mut out = format!("$ insmod {name}.ko\n");
    if let Some(e) = &run.insmod_error {
        // A panic leaves no terminal message: the machine is gone.
        if !e.is_empty() {
            out.push_str(&format!("{e}\n"));
        }
    } else {
        for s in &manifest.show {
            out.push_str(&format!("$ {}\n", s.command()));
            if let Some((_, text)) = run.outputs.iter().find(|(stem, _)| *stem == s.stem()) {
                out.push_str(text);
            }
        }
        out.push_str(&format!("$ rmmod {name}\n"));
    }
    out.push_str("$ dmesg\n");
    if let Some((_, dmesg)) = run.outputs.iter().find(|(stem, _)| stem == "dmesg") {
        out.push_str(dmesg);
    }
    out
}

/// Writes the outputs of `run` into `dir` (see [`module_main`]).
fn write_outputs(
    dir: &std::path::Path,
    name: &str,
    manifest: &kmem_truth::Manifest,
    run: &ListingRun,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for ((_, text), o) in run.outputs.iter().zip(kmem_truth::observed::outputs(name, manifest)) {
        std::fs::write(dir.join(o.capture), text)?;
    }
    if let Some(e) = &run.insmod_error {
        std::fs::write(dir.join("insmod.txt"), if e.is_empty() { String::new() } else { format!("{e}\n") })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn insmod_errors_are_kmods() {
        assert_eq!(insmod_error("m.ko", -12), "insmod: ERROR: could not insert module m.ko: Cannot allocate memory");
        assert_eq!(insmod_error("m.ko", -22), "insmod: ERROR: could not insert module m.ko: Invalid argument");
        assert!(insmod_error("m.ko", -2).ends_with(": Unknown symbol in module, or unknown parameter (see dmesg)"));
        assert!(insmod_error("m.ko", -8).ends_with(": Invalid module format"));
        assert!(insmod_error("m.ko", -524).ends_with(": Unknown error 524"));
    }

    #[test]
    fn machine_variables() {
        let m = kmem_truth::Manifest::default();
        let cfg = machine_from_vars(&m, &vars(&[])).unwrap();
        assert_eq!((cfg.ram_mib, cfg.cpus), (kmem_truth::book::RAM_MIB, kmem_truth::book::CPUS));
        let cfg = machine_from_vars(&m, &vars(&[("KMEM_MACHINE", "i386-160m")])).unwrap();
        assert_eq!((cfg.arch, cfg.ram_mib), (kmem_sim::Arch::I386, 160));
        let cfg = machine_from_vars(&m, &vars(&[("KMEM_RAM_MIB", "1G"), ("KMEM_CPUS", "2")])).unwrap();
        assert_eq!((cfg.ram_mib, cfg.cpus), (1024, 2));
        for (k, v, msg) in [
            (
                "KMEM_MACHINE",
                "bogus",
                "KMEM_MACHINE=\"bogus\" is not a machine: use x86_64 (the default), i386 or i386-160m",
            ),
            ("KMEM_RAM_MIB", "abc", "KMEM_RAM_MIB=\"abc\" is not a RAM size: use MiB (256)"),
            ("KMEM_RAM_MIB", "0", "KMEM_RAM_MIB=\"0\" is not a RAM size the simulator boots: use MiB (256)"),
            ("KMEM_CPUS", "0", "KMEM_CPUS=\"0\" is not a CPU count the simulator boots: use 1 to 64"),
        ] {
            let e = machine_from_vars(&m, &vars(&[(k, v)])).unwrap_err();
            assert!(e.starts_with(msg), "{e}");
        }
    }

    #[test]
    fn the_parsers_limits_are_the_simulators() {
        assert_eq!(kmem_truth::machine::RAM_MIB, MachineConfig::RAM_MIB);
        assert_eq!(kmem_truth::machine::CPUS, MachineConfig::CPUS);
        let i386 = |mib| Machine::boot(MachineConfig::i386().ram_mib(mib)).map(|_| ());
        assert!(i386(kmem_truth::machine::I386_MAX_RAM_MIB + 1).is_err());
    }

    #[test]
    fn command_line_and_shown_files() {
        let m = kmem_truth::Manifest::default();
        let got = manifest_from_vars(
            &m,
            &vars(&[
                ("KMEM_CMDLINE", "slub_debug=FZPU -slab_nomerge"),
                ("KMEM_SHOW", "/proc/slabinfo, /proc/vmallocinfo,"),
            ]),
        )
        .unwrap();
        assert!(got.kernel_cmdline().ends_with(" slub_debug=FZPU"), "{}", got.kernel_cmdline());
        assert!(!got.kernel_cmdline().contains("slab_nomerge"));
        let files: Vec<&str> = got.show.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(files, ["/proc/slabinfo", "/proc/vmallocinfo"]);
        assert_eq!(
            manifest_from_vars(&m, &vars(&[("KMEM_SHOW", "/etc/passwd")])).unwrap_err(),
            "KMEM_SHOW: show `/etc/passwd`: only /proc and /sys files can be shown"
        );
        // The machine reads the command line once.
        let cfg = machine_from_vars(&m, &vars(&[("KMEM_CMDLINE", "slub_debug=FZPU")])).unwrap();
        let again =
            machine_of(&manifest_from_vars(&m, &vars(&[("KMEM_CMDLINE", "slub_debug=FZPU")])).unwrap(), &vars(&[]))
                .unwrap();
        assert_eq!(cfg, again);
    }
}
