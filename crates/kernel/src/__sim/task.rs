//! Module code as a task of the simulated kernel: on a kernel-sized stack, killed where the kernel would
//! kill it, and never able to take the host process down.
//!
//! - **The stack.** [`run`] runs module code (a module's `init` or its `Drop`) on a stack of
//!   `THREAD_SIZE` (16 KiB) with an inaccessible region below it, as `CONFIG_VMAP_STACK` gives every task.
//!   Every call into the simulator ([`super::with_machine`]) switches to a large stack of its own and back
//!   ([`on_sim_stack`]), so only module code (and the façade code it calls directly, which in the kernel
//!   runs on the same stack) counts against the 16 KiB.
//! - **Killed by an oops.** When a call into the simulator ends with the simulated kernel having killed
//!   the current task (an oops: a `BUG()`, a fault) or stopped (a panic), the façade does not return to
//!   the module: [`abort`] returns to [`run`]'s recovery point. The module's frames are abandoned without
//!   running anything, as the kernel abandons the stack of a task it kills (nothing is dropped, its
//!   allocations stay allocated).
//! - **Faults.** A host fault (SIGSEGV/SIGBUS) while module code runs ends it the same way; [`run`] returns
//!   [`Outcome::Fault`] with what the CPU saw, and [`fault_report`] hands the simulator the access as the
//!   kernel's page-fault handler sees it (the simulated address, the error code, whether the stack
//!   pointer left the stack) with the module's functions it happened in, named from the host executable's
//!   symbols. A fault outside module code is a bug of the host program and takes the default action.
//!
//! The recovery point and the handler are C (`csrc/task.c`): `sigsetjmp()` returns twice, which Rust cannot
//! express. Stacks are switched with `psm`.

use std::cell::Cell;
use std::ffi::c_void;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// `THREAD_SIZE` of x86_64 (`arch/x86/include/asm/page_64_types.h`: 16 KiB with `KASAN` off).
pub const THREAD_SIZE: usize = 16 << 10;
/// The inaccessible region below the module stack: any access there is a stack overflow.
const GUARD: usize = 64 << 10;
/// The simulator's stack while module code calls it.
const SIM_STACK: usize = 64 << 20;
/// The alternate signal stack the fault handler runs on.
const ALT_STACK: usize = 64 << 10;

const FAULT_IPS: usize = 64;

/// What the host saw of a fault in module code (`struct kmem_fault` of `csrc/task.c`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostFault {
    /// `si_addr`: the address accessed.
    pub addr: usize,
    /// The faulting instruction.
    pub ip: usize,
    /// The stack pointer at the fault.
    pub sp: usize,
    /// The x86 page-fault error code (`REG_ERR`).
    pub error_code: i64,
    /// SIGSEGV or SIGBUS.
    pub signo: i32,
    /// `si_code` (`SEGV_MAPERR`, `SEGV_ACCERR`, `SI_KERNEL` for a general protection fault).
    pub si_code: i32,
    nr_ips: i32,
    ips: [usize; FAULT_IPS],
}

impl Default for HostFault {
    fn default() -> Self {
        HostFault { addr: 0, ip: 0, sp: 0, error_code: 0, signo: 0, si_code: 0, nr_ips: 0, ips: [0; FAULT_IPS] }
    }
}

impl HostFault {
    /// The host return addresses from the fault outwards (the handler's own frames first).
    pub fn ips(&self) -> &[usize] {
        &self.ips[..(self.nr_ips.max(0) as usize).min(FAULT_IPS)]
    }
}

extern "C" {
    fn kmem_task_install() -> i32;
    fn kmem_task_run(f: extern "C" fn(*mut c_void), arg: *mut c_void, fault: *mut HostFault) -> i32;
    fn kmem_task_abort() -> !;
    fn kmem_task_active() -> i32;
    fn kmem_task_set_in_module(on: i32) -> i32;
}

/// A region of host memory: `len` bytes at `base`, the lowest `guard` of them inaccessible.
struct Region {
    base: *mut u8,
    len: usize,
    guard: usize,
}

impl Region {
    fn map(len: usize, guard: usize) -> Option<Region> {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let base = base.cast::<u8>();
        // SAFETY: the range lies inside the mapping just made.
        let r = unsafe { libc::mprotect(base.add(guard).cast(), len - guard, libc::PROT_READ | libc::PROT_WRITE) };
        if r != 0 {
            // SAFETY: our own mapping, unused.
            unsafe { libc::munmap(base.cast(), len) };
            return None;
        }
        Some(Region { base, len, guard })
    }

    /// The usable part: `(lowest address, size)`.
    fn stack(&self) -> (*mut u8, usize) {
        // SAFETY: inside the mapping.
        (unsafe { self.base.add(self.guard) }, self.len - self.guard)
    }

    fn contains(&self, addr: usize) -> bool {
        addr >= self.base as usize && addr < self.base as usize + self.len
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: our own mapping; no task runs on it any more (the thread is exiting).
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

struct Stacks {
    module: Region,
    sim: Region,
    _alt: Option<Region>,
}

thread_local! {
    static STACKS: std::cell::OnceCell<Option<Stacks>> = const { std::cell::OnceCell::new() };
    /// Inside [`run`], on the module stack (and not in a simulator call).
    static IN_MODULE: Cell<bool> = const { Cell::new(false) };
}

/// Sets up this thread's stacks and the alternate signal stack; installs the fault handler once.
fn stacks<R>(f: impl FnOnce(&Stacks) -> R) -> Option<R> {
    STACKS.with(|s| {
        let s = s.get_or_init(|| {
            // SAFETY: installs a SIGSEGV/SIGBUS handler (once per process), chaining to the previous one.
            if unsafe { kmem_task_install() } != 0 {
                return None;
            }
            let module = Region::map(GUARD + THREAD_SIZE, GUARD)?;
            let sim = Region::map(SIM_STACK + 4096, 4096)?;
            // The handler needs room to unwind; Rust's own alternate stack may be small.
            let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
            // SAFETY: queries this thread's alternate stack.
            unsafe { libc::sigaltstack(std::ptr::null(), &mut old) };
            let alt = if old.ss_flags & libc::SS_DISABLE != 0 || old.ss_size < ALT_STACK {
                let r = Region::map(ALT_STACK + 4096, 4096)?;
                let (lo, size) = r.stack();
                let ss = libc::stack_t { ss_sp: lo.cast(), ss_flags: 0, ss_size: size };
                // SAFETY: the region lives as long as the thread (this thread-local).
                unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) };
                Some(r)
            } else {
                None
            };
            Some(Stacks { module, sim, _alt: alt })
        });
        s.as_ref().map(f)
    })
}

/// How a task ended.
#[derive(Debug)]
pub enum Outcome<R> {
    /// The module code returned.
    Returned(R),
    /// The simulated kernel killed the task or stopped ([`abort`]); the module code did not finish.
    Killed,
    /// The module code faulted.
    Fault(Box<HostFault>),
}

struct Call<F, R> {
    f: Option<F>,
    out: Option<std::thread::Result<R>>,
    stack: (*mut u8, usize),
}

extern "C" fn trampoline<F: FnOnce() -> R, R>(arg: *mut c_void) {
    // SAFETY: `run` passes a `Call<F, R>` it keeps alive until kmem_task_run returns.
    let call = unsafe { &mut *arg.cast::<Call<F, R>>() };
    let f = call.f.take().expect("a task runs once");
    let (base, size) = call.stack;
    // SAFETY: `base..base+size` is this thread's module stack, 16-byte aligned and unused (tasks do not
    // nest); the closure does not unwind (it catches panics).
    let r = unsafe {
        psm::on_stack(base, size, move || {
            IN_MODULE.with(|c| c.set(true));
            kmem_task_set_in_module(1);
            let r = catch_unwind(AssertUnwindSafe(f));
            kmem_task_set_in_module(0);
            IN_MODULE.with(|c| c.set(false));
            r
        })
    };
    call.out = Some(r);
}

/// Runs module code `f` as a task: on the 16 KiB stack, with the recovery point set. A Rust panic in `f`
/// propagates. Falls back to calling `f` directly where the host gives no stacks (no `mmap`).
///
/// Context: not inside another task.
pub fn run<F: FnOnce() -> R, R>(f: F) -> Outcome<R> {
    let _statics =
        super::has_machine().then(|| super::StaticsGuard::enter(super::with_machine(|m| super::kernel_statics(m))));
    let Some(stack) = stacks(|s| s.module.stack()) else {
        return Outcome::Returned(f());
    };
    let mut fault = Box::<HostFault>::default();
    let mut call = Call { f: Some(f), out: None, stack };
    // SAFETY: the trampoline gets `call` of the matching type; `fault` outlives the task.
    let rc = unsafe {
        kmem_task_run(trampoline::<F, R>, (&mut call as *mut Call<F, R>).cast(), &mut *fault as *mut HostFault)
    };
    IN_MODULE.with(|c| c.set(false));
    match rc {
        0 => match call.out.take().expect("the task returned") {
            Ok(r) => Outcome::Returned(r),
            Err(p) => resume_unwind(p),
        },
        1 => Outcome::Killed,
        _ => Outcome::Fault(fault),
    }
}

/// Whether module code is running now (inside [`run`], not in a simulator call).
pub fn in_module() -> bool {
    IN_MODULE.with(|c| c.get())
}

/// Runs simulator code `f` on the simulator's stack (module code must not spend its 16 KiB on it).
pub fn on_sim_stack<R>(f: impl FnOnce() -> R) -> R {
    let Some((base, size)) = stacks(|s| s.sim.stack()) else { return f() };
    IN_MODULE.with(|c| c.set(false));
    // SAFETY: tasks do not nest and the simulator does not call back into module code, so the simulator
    // stack is unused; the closure catches panics instead of unwinding through the switch.
    let r = unsafe {
        psm::on_stack(base, size, move || {
            kmem_task_set_in_module(0);
            let r = catch_unwind(AssertUnwindSafe(f));
            kmem_task_set_in_module(1);
            r
        })
    };
    IN_MODULE.with(|c| c.set(true));
    match r {
        Ok(v) => v,
        Err(p) => resume_unwind(p),
    }
}

/// Ends the current task: [`run`] returns [`Outcome::Killed`]. Nothing between here and there runs.
///
/// Context: inside [`run`].
pub fn abort() -> ! {
    IN_MODULE.with(|c| c.set(false));
    // SAFETY: only called inside a task (kmem_task_active), whose recovery point is live.
    unsafe { kmem_task_abort() }
}

/// Whether a task is running on this thread.
pub fn active() -> bool {
    // SAFETY: reads a thread-local of the shim.
    unsafe { kmem_task_active() != 0 }
}

/// The module stack of this thread, `(lowest usable address, size)`, and whether `addr` is in its
/// region (usable part or the inaccessible part below).
fn module_stack_of(addr: usize) -> Option<((usize, usize), bool)> {
    stacks(|s| {
        let (lo, size) = s.module.stack();
        ((lo as usize, size), s.module.contains(addr))
    })
}

/// The fault as the simulated CPU and kernel see it, and the module functions it happened in (the paths
/// of the host's symbols, innermost first, with the module's crate name as the first segment).
pub fn fault_report(m: &kmem_sim::Machine, module: &str, f: &HostFault) -> (kmem_sim::fault::KernelFault, Vec<String>) {
    use kmem_sim::fault::{KernelFault, X86_PF_USER};
    // Inside the module stack, how deep the host's frames reach depends on the host compiler, not on the
    // kernel: the report keeps what is the kernel's -- in the stack, or below it -- and no host depth. An
    // access or a stack pointer below the stack is the first word below it, where the kernel's next push
    // would go.
    let (stack_begin, _) = m.task_stack();
    let below_stack = |host: usize| -> Option<bool> {
        let ((lo, _), inside) = module_stack_of(host)?;
        inside.then_some(host < lo)
    };
    let address = match below_stack(f.addr) {
        Some(true) => stack_begin - 8,
        _ => super::to_kaddr_opt(m, f.addr).unwrap_or(f.addr as u64),
    };
    let sp = match below_stack(f.sp) {
        Some(true) => Some(stack_begin - 8),
        _ => None,
    };
    // SI_KERNEL: the CPU raised #GP (a non-canonical address); si_addr is 0 then.
    let non_canonical = f.signo == libc::SIGSEGV && f.si_code == 0x80;
    let fault = KernelFault { address, error_code: (f.error_code as u64) & !X86_PF_USER & 0xffff, sp, non_canonical };
    (fault, module_functions(module, f.ips()))
}

/// The module's own functions among the host return addresses `ips`, innermost first, up to (not
/// including) its `init` or `drop`, which the runner's frames name.
fn module_functions(module: &str, ips: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    for &ip in ips {
        let Some(path) = symbolize(ip) else { continue };
        let Some(path) = module_path(module, &path) else { continue };
        if path.starts_with('<') {
            // `<Type as kernel::Module>::init`, `<Type as Drop>::drop`: the runner's frames.
            break;
        }
        if out.last() != Some(&path) {
            out.push(path);
        }
    }
    out
}

/// `path` (a demangled host symbol without its hash) as the module's own function, with the crate name
/// `module` first: a listing built as its own crate (`fault_null_deref::lookup`) and as a module of a test
/// crate (`listings::fault_null_deref::lookup`) name it the same.
fn module_path(module: &str, path: &str) -> Option<String> {
    let (lead, rest) = match path.strip_prefix('<') {
        Some(r) => ("<", r),
        None => ("", path),
    };
    let prefix = format!("{module}::");
    let rest = match rest.split_once("::") {
        Some((_, tail)) if !rest.starts_with(&prefix) && tail.starts_with(&prefix) => tail,
        _ => rest,
    };
    rest.starts_with(&prefix).then(|| format!("{lead}{rest}").replace("{{closure}}", "{closure#0}"))
}

/// The path of module `module`'s host function that starts at `addr` (a function pointer), as the module's
/// own crate names it (see `module_path`).
///
/// Context: any.
pub(crate) fn symbolize_module_fn(module: &str, addr: usize) -> Option<String> {
    // symbolize() looks up the byte before a return address.
    module_path(module, &symbolize(addr + 1)?)
}

/// The demangled name (without hash) of the host function containing `ip`, from the executable's symbol
/// table.
fn symbolize(ip: usize) -> Option<String> {
    use std::sync::OnceLock;
    /// The executable's load bias and its text symbols (address, size, mangled name), sorted.
    type SymbolTable = (usize, Vec<(usize, usize, String)>);
    static TABLE: OnceLock<Option<SymbolTable>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        use object::{Object, ObjectSymbol};
        let exe = std::fs::read("/proc/self/exe").ok()?;
        let file = object::File::parse(&*exe).ok()?;
        let mut syms: Vec<(usize, usize, String)> = file
            .symbols()
            .filter(|s| s.kind() == object::SymbolKind::Text && s.size() > 0)
            .filter_map(|s| Some((s.address() as usize, s.size() as usize, s.name().ok()?.to_string())))
            .collect();
        syms.sort();
        // The load bias of a position-independent executable: where a known function is, minus where
        // the table says it is.
        let here = trampoline::<fn(), ()> as *const () as usize;
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the loader's tables.
        let bias = if unsafe { libc::dladdr(here as *const c_void, &mut info) } != 0
            && file.kind() == object::ObjectKind::Dynamic
        {
            info.dli_fbase as usize
        } else {
            0
        };
        Some((bias, syms))
    });
    let (bias, syms) = table.as_ref()?;
    let a = ip.checked_sub(*bias)?;
    // A return address points after the call: look up the byte before it.
    let a = a.saturating_sub(1);
    let i = syms.partition_point(|s| s.0 <= a).checked_sub(1)?;
    let (start, size, name) = &syms[i];
    if a >= start + size {
        return None;
    }
    Some(format!("{:#}", rustc_demangle::demangle(name)))
}
