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

/// What `insmod` printed on the terminal when `init` failed (kmod's wording).
pub fn insmod_error(file: &str, errno: i32) -> String {
    format!("insmod: ERROR: could not insert module {file}: {}", strerror(-errno))
}

fn strerror(errno: i32) -> &'static str {
    match errno {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        5 => "Input/output error",
        11 => "Resource temporarily unavailable",
        12 => "Cannot allocate memory",
        14 => "Bad address",
        16 => "Device or resource busy",
        17 => "File exists",
        19 => "No such device",
        22 => "Invalid argument",
        28 => "No space left on device",
        _ => "Unknown error",
    }
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

/// The real build's symbols of listing `name` (`listings/kernel/symbols/modules/<name>.txt`), when recorded.
pub fn module_symbols(name: &str) -> Option<kmem_sim::kallsyms::Symbols> {
    let path = workspace_root().join(format!("listings/kernel/symbols/modules/{name}.txt"));
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
        let depth = __sim::with_machine(|m| {
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
            if let Some(syms) = module_symbols(name) {
                m.set_module_symbols(name, syms);
            }
            m.push_indirect_frame("init_module", Some(name));
            m.push_rust_frame(&init_symbol, &init_path, Some(name), false);
            depth
        });
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
    let cfg = cfg.unwrap_or_else(|| listing_machine(manifest));
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
/// `KMEM_RAM_MIB` overrides the RAM, `KMEM_CPUS` the CPU count, and `KMEM_CMDLINE` adds kernel command-line
/// words (`-word` removes one of the book's).
///
/// Returns a message naming the bad value and the accepted ones when a variable is wrong.
pub fn machine_from_env(manifest: &kmem_truth::Manifest) -> Result<MachineConfig, String> {
    let mut manifest = manifest.clone();
    if let Ok(extra) = std::env::var("KMEM_CMDLINE") {
        manifest.cmdline.extend(extra.split_whitespace().map(str::to_string));
    }
    let mut cfg = match std::env::var("KMEM_MACHINE").as_deref() {
        Err(_) | Ok("x86_64") => listing_machine(&manifest),
        Ok("i386") | Ok("i386-160m") => MachineConfig::i386().ram_mib(160).cmdline(&manifest.kernel_cmdline()),
        Ok(other) => {
            return Err(format!("KMEM_MACHINE={other:?} is not a machine: use x86_64 (the default), i386 or i386-160m"))
        }
    };
    if let Ok(v) = std::env::var("KMEM_RAM_MIB") {
        let mib: u64 = v.trim().parse().map_err(|_| format!("KMEM_RAM_MIB={v:?} is not a number of MiB (e.g. 256)"))?;
        cfg = cfg.ram_mib(mib);
    }
    if let Ok(v) = std::env::var("KMEM_CPUS") {
        let n: u32 = v.trim().parse().map_err(|_| format!("KMEM_CPUS={v:?} is not a CPU count (e.g. 4)"))?;
        cfg = cfg.cpus(n);
    }
    Ok(cfg)
}

/// `main` of a listing run as `cargo run --example <name>`: prints the session as a terminal would
/// show it. A bad environment or a machine that cannot boot ends it with a message and exit status 2.
pub fn module_main(module: &'static ModuleDesc) {
    let fail = |msg: String| -> ! {
        eprintln!("error: {msg}");
        std::process::exit(2)
    };
    let manifest = manifest_of(module).unwrap_or_else(|e| fail(e));
    let cfg = machine_from_env(&manifest).unwrap_or_else(|e| fail(e));
    if let Err(e) = Machine::boot(cfg.clone()) {
        fail(format!("the simulated machine does not boot: {e}"));
    }
    let run = run_listing(module, &manifest, Some(cfg));
    println!("$ insmod {}.ko", module.name);
    if let Some(e) = &run.insmod_error {
        // A panic leaves no terminal message: the machine is gone.
        if !e.is_empty() {
            println!("{e}");
        }
    } else {
        for s in &manifest.show {
            println!("$ {}", s.command());
            if let Some((_, text)) = run.outputs.iter().find(|(stem, _)| *stem == s.stem()) {
                print!("{text}");
            }
        }
        println!("$ rmmod {}", module.name);
    }
    println!("$ dmesg");
    if let Some((_, dmesg)) = run.outputs.iter().find(|(stem, _)| stem == "dmesg") {
        print!("{dmesg}");
    }
}
