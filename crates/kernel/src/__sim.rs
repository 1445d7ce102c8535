//! Glue between the Rust-for-Linux API and the simulator. Not part of the real `kernel` crate: no
//! module source names anything here; the `module!` expansion and the runner (`kmem-runner`) do.
//!
//! The simulated machine a module runs on is installed per thread ([`install`]); every façade function
//! reaches it through [`with_machine`]. Pointers crossing the API are host pointers into the simulated
//! RAM (so module code can dereference them); [`to_host`] and [`to_kaddr`] translate between them and
//! simulated kernel addresses.

use crate::ffi::c_void;
use kmem_sim::Machine;
use std::cell::RefCell;

pub mod task;

pub use crate::__opt as opt;

/// `Some(literal)` or `None`, for the optional keys of `module!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __opt {
    () => {
        None
    };
    ($e:literal) => {
        Some($e)
    };
}

/// A module as `module!` describes it.
pub struct ModuleDesc {
    pub name: &'static str,
    /// The module's type (`type:` of `module!`), for its symbols in stack traces.
    pub type_name: &'static str,
    pub author: Option<&'static str>,
    pub description: Option<&'static str>,
    pub license: &'static str,
    /// The source file (for messages).
    pub file: &'static str,
    /// Calls `<T as Module>::init`; the module's state is kept boxed until unload (drop).
    pub init: fn(&'static crate::ThisModule) -> crate::error::Result<Box<dyn std::any::Any>>,
    pub this_module: &'static crate::ThisModule,
}

thread_local! {
    static MACHINE: RefCell<Option<Machine>> = const { RefCell::new(None) };
}

/// Makes `machine` the one façade calls on this thread use.
pub fn install(machine: Machine) {
    MACHINE.with(|m| *m.borrow_mut() = Some(machine));
}

/// Takes the machine back (e.g. to inspect it after `rmmod`).
pub fn uninstall() -> Option<Machine> {
    MACHINE.with(|m| m.borrow_mut().take())
}

/// Runs `f` on the installed machine.
///
/// # Panics
///
/// When no machine is installed on this thread: module code only runs under the runner.
pub fn with_machine<R>(f: impl FnOnce(&mut Machine) -> R) -> R {
    if !task::in_module() {
        return with_machine_here(f).0;
    }
    // Module code calls the simulator: on the simulator's stack. If the call ended the task (an oops) or
    // the machine (a panic), the module does not get control back.
    let (r, stopped) = task::on_sim_stack(|| with_machine_here(f));
    if stopped {
        task::abort();
    }
    r
}

/// [`with_machine`] on the current stack; also says whether the call made the simulated kernel stop
/// (kill the current task or panic).
fn with_machine_here<R>(f: impl FnOnce(&mut Machine) -> R) -> (R, bool) {
    MACHINE.with(|m| {
        let mut guard = m.borrow_mut();
        let machine =
            guard.as_mut().expect("no simulated machine: load the module with kmem-runner (or `cargo run --example`)");
        let before = machine.kernel_stop().is_some();
        let r = f(machine);
        let stopped = !before && machine.kernel_stop().is_some();
        (r, stopped)
    })
}

/// Whether a machine is installed on this thread.
pub fn has_machine() -> bool {
    MACHINE.with(|m| m.borrow().is_some())
}

/// How far a `__percpu` pointer module code holds lies below the host address of its CPU-0 copy (and what
/// `__per_cpu_offset[]` adds back, with `cpu * pcpu_unit_size`). A constant, so that every machine of one
/// size and CPU count has the same `__per_cpu_offset[]`; large, so that the pointer is no host address of
/// simulated memory (it prints as the number it is).
pub const PERCPU_PTR_BIAS: usize = 0x4000_0000_0000;

/// The `__percpu` pointer module code gets for the simulator's `ptr` (0: NULL).
pub fn percpu_to_host(m: &Machine, ptr: u64) -> *mut c_void {
    if ptr == 0 {
        return std::ptr::null_mut();
    }
    let copy0 = to_host(m, m.per_cpu_ptr(ptr, 0)) as usize;
    copy0.wrapping_sub(PERCPU_PTR_BIAS) as *mut c_void
}

/// The simulator's `__percpu` pointer for one module code holds; None for NULL or a pointer no chunk made.
pub fn percpu_to_kernel(m: &Machine, ptr: *const c_void) -> Option<u64> {
    if ptr.is_null() {
        return None;
    }
    let copy0 = m.kaddr_of_host((ptr as usize).wrapping_add(PERCPU_PTR_BIAS))?;
    Some(m.pcpu_ptr_of_cpu0_addr(copy0))
}

/// The values of the kernel variables module code reads directly (the façade's `static mut`s), for one
/// machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KernelStatics {
    /// `nr_cpu_ids`.
    pub nr_cpu_ids: u32,
    /// `__per_cpu_offset[]`: `PERCPU_PTR_BIAS + cpu * pcpu_unit_size` for each possible CPU.
    pub per_cpu_offset: [u64; 8],
    /// `page_offset_base`: the host address of physical address 0, so that `addr - page_offset_base` is
    /// the physical address of a direct-map pointer and `phys + page_offset_base` its pointer, as `__pa()`
    /// and `__va()` compute them (it prints as the kernel's `PAGE_OFFSET`).
    pub page_offset_base: u64,
    /// `vmalloc_base`: the host address of `VMALLOC_START` (it prints as the kernel's).
    pub vmalloc_base: u64,
    /// `vmemmap_base`: the kernel's value (`struct page` pointers are the kernel's values).
    pub vmemmap_base: u64,
    /// `high_memory`: the host address just past the direct-mapped RAM (it prints as the kernel's).
    pub high_memory: u64,
    /// `_totalram_pages`: `totalram_pages()`.
    pub totalram_pages: i64,
    /// `movable_zone`.
    pub movable_zone: i32,
    /// `_debug_pagealloc_enabled_early`.
    pub debug_pagealloc: bool,
}

/// The [`KernelStatics`] of machine `m`.
pub fn kernel_statics(m: &Machine) -> KernelStatics {
    let cpus = m.config().cpus.clamp(1, 8);
    let mut off = [0u64; 8];
    for (cpu, o) in off.iter_mut().enumerate().take(cpus as usize) {
        *o = PERCPU_PTR_BIAS as u64 + cpu as u64 * m.pcpu_unit_size();
    }
    let l = m.layout();
    KernelStatics {
        nr_cpu_ids: cpus,
        per_cpu_offset: off,
        page_offset_base: m.host_direct_base() as u64,
        vmalloc_base: m.host_vmalloc_base() as u64,
        vmemmap_base: l.vmemmap_base,
        high_memory: m.host_direct_base() as u64 + (l.high_memory - l.page_offset),
        totalram_pages: m.totalram_pages() as i64,
        movable_zone: m.movable_zone() as i32,
        debug_pagealloc: m.debug_pagealloc_enabled(),
    }
}

/// Module code of every thread shares the façade's `static mut`s ([`KernelStatics`]), while each thread
/// runs its own machine. They hold one machine's values at a time: a thread entering module code waits
/// while module code of a machine with other values runs. Every machine has its own host memory, so two
/// machines' module code does not run at the same time; the simulator's own work (boot, reports, the
/// files a listing shows) runs in parallel.
static STATICS: std::sync::Mutex<(usize, Option<KernelStatics>)> = std::sync::Mutex::new((0, None));
static STATICS_FREE: std::sync::Condvar = std::sync::Condvar::new();

/// While alive, module code may read the statics of [`kernel_statics`]' values.
pub(crate) struct StaticsGuard;

impl StaticsGuard {
    pub(crate) fn enter(values: KernelStatics) -> StaticsGuard {
        let mut g = STATICS.lock().unwrap_or_else(|e| e.into_inner());
        while g.0 > 0 && g.1 != Some(values) {
            g = STATICS_FREE.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.1 != Some(values) {
            use crate::bindings as b;
            // SAFETY: no module code runs (users == 0, under the lock), so nothing reads the statics now.
            unsafe {
                std::ptr::addr_of_mut!(b::nr_cpu_ids).write(values.nr_cpu_ids);
                std::ptr::addr_of_mut!(b::__per_cpu_offset).write(values.per_cpu_offset.map(|o| o as usize));
                std::ptr::addr_of_mut!(b::page_offset_base).write(values.page_offset_base as usize);
                std::ptr::addr_of_mut!(b::vmalloc_base).write(values.vmalloc_base as usize);
                std::ptr::addr_of_mut!(b::vmemmap_base).write(values.vmemmap_base as usize);
                std::ptr::addr_of_mut!(b::high_memory).write(values.high_memory as usize as *mut c_void);
                std::ptr::addr_of_mut!(b::_totalram_pages).write(b::atomic64_t { counter: values.totalram_pages });
                std::ptr::addr_of_mut!(b::movable_zone).write(values.movable_zone);
                std::ptr::addr_of_mut!(b::_debug_pagealloc_enabled_early).write(values.debug_pagealloc);
            }
            g.1 = Some(values);
        }
        g.0 += 1;
        StaticsGuard
    }
}

impl Drop for StaticsGuard {
    fn drop(&mut self) {
        let mut g = STATICS.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            STATICS_FREE.notify_all();
        }
    }
}

/// Values that are not addresses but travel as pointers: NULL, ZERO_SIZE_PTR (16) and the other
/// small values, and ERR_PTR(-errno).
pub(crate) fn is_special(v: u64) -> bool {
    v < 4096 || v >= (-4095i64) as u64
}

/// A simulated kernel address as the host pointer module code dereferences.
pub fn to_host(m: &Machine, kaddr: u64) -> *mut c_void {
    if is_special(kaddr) {
        return kaddr as usize as *mut c_void;
    }
    match m.host_ptr(kaddr) {
        Some(p) => p.cast(),
        // Not backed by host memory (e.g. a vmemmap `struct page` address): keep the value, so that it
        // prints as the kernel would; it is never dereferenced by correct code.
        None => kaddr as usize as *mut c_void,
    }
}

/// A host address as the simulated kernel address it stands for: the special values and unbacked kernel
/// addresses as they are, host addresses in the simulated RAM or vmalloc window translated; `None` for
/// any other host address.
pub fn to_kaddr_opt(m: &Machine, host: usize) -> Option<u64> {
    let v = host as u64;
    if is_special(v) || v >= 0xffff_8000_0000_0000 {
        return Some(v);
    }
    m.kaddr_of_host(host)
}

/// A pointer module code holds, as the simulated kernel address.
pub fn to_kaddr(m: &Machine, ptr: *const c_void) -> u64 {
    let v = ptr as usize as u64;
    if is_special(v) {
        return v;
    }
    m.kaddr_of_host(ptr as usize).unwrap_or(v)
}

/// Rewrites every `0x...` in `text` that is a host address inside the simulated RAM into the
/// simulated kernel address, keeping the number of digits when it was zero-padded. This is how `{:p}`
/// and `{:#x}` of what the allocators returned print as the kernel would.
pub fn translate_addresses(m: &Machine, text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'0'
            && i + 1 < bytes.len()
            && bytes[i + 1] == b'x'
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let start = i + 2;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_hexdigit() {
                end += 1;
            }
            let digits = &text[start..end];
            if !digits.is_empty() && digits.len() <= 16 && (end == bytes.len() || !bytes[end].is_ascii_alphanumeric()) {
                if let Ok(v) = u64::from_str_radix(digits, 16) {
                    if !is_special(v) {
                        if let Some(k) = m.kaddr_of_host(v as usize) {
                            let upper = digits.chars().any(|c| c.is_ascii_uppercase());
                            let width = if digits.starts_with('0') { digits.len() } else { 0 };
                            let hex = if upper { format!("{k:0width$X}") } else { format!("{k:0width$x}") };
                            out.push_str("0x");
                            out.push_str(&hex);
                            i = end;
                            continue;
                        }
                    }
                }
            }
            out.push_str(&text[i..end]);
            i = end;
            continue;
        }
        let ch = text[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A frame of the simulated kernel stack, popped when dropped.
pub struct Frame(());

impl Frame {
    /// Pushes `func` (a kernel-image function) on the simulated stack.
    pub fn enter(func: String) -> Frame {
        with_machine(|m| m.push_frame(&func));
        Frame(())
    }

    /// Pushes a function of the `kernel` crate (part of vmlinux): its v0 symbol and its path.
    pub fn enter_rust(symbol: String, path: &str) -> Frame {
        with_machine(|m| m.push_rust_frame(&symbol, path, None, false));
        Frame(())
    }

    /// Pushes a generic function of the `kernel` crate instantiated in the module that runs (its code is in
    /// that module's `.ko`), by its path.
    pub fn enter_instantiated(path: String) -> Frame {
        with_machine(|m| {
            let module = m.call_stack().iter().rev().find_map(|f| f.module.clone());
            m.push_rust_frame(&path, &path, module.as_deref(), false)
        });
        Frame(())
    }
}

thread_local! {
    static INDIRECT_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The next C function the façade enters is called through a function pointer (`ReallocFunc::call` calls
/// `self.0(…)`): its frame is one of its own whatever the caller's code.
pub fn call_through_pointer() {
    INDIRECT_NEXT.with(|c| c.set(true));
}

/// Whether the C function being entered was called through a pointer (and clears the flag).
pub fn take_indirect() -> bool {
    INDIRECT_NEXT.with(|c| c.replace(false))
}

impl Drop for Frame {
    fn drop(&mut self) {
        if has_machine() {
            with_machine(|m| m.pop_frame());
        }
    }
}

/// The symbol of a Rust function as the kernel's kallsyms shows it: Rust v0 mangling
/// (`-Csymbol-mangling-version=v0`, which the kernel build uses), for the few shapes the book needs.
/// The crate disambiguator hashes of a real build are arbitrary; these are fixed stand-ins of the same
/// form (the real-kernel comparison normalises them).
pub mod symbols {
    /// `<module::Type as kernel::Module>::init` when the module's `impl kernel::Module` is its first impl
    /// (`XCs…`, no disambiguator); [`module_init`] is the form for a later one (`Xs0_…`). The real build's
    /// table names the one the build has; without a table this shape is printed.
    pub fn module_init_first_impl(module: &str, ty: &str) -> String {
        format!("_RNvX{}NtB2_{}{ty}NtCs{}_6kernel6Module4init", krate(module), ty.len(), &krate("kernel")[2..13])
    }

    /// `Cs<hash>_<len><crate>`: a crate root with a stand-in disambiguator of eleven base-62 digits (the
    /// length of the real build's), a valid v0 number.
    fn krate(name: &str) -> String {
        let hash: u64 = name.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
        const B62: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        const MIN: u64 = 839_299_365_868_340_224; // 62^10: the smallest eleven-digit number
        let mut v = MIN + hash % ((1u64 << 63) - MIN);
        let mut digits = Vec::new();
        while v > 0 {
            digits.push(B62[(v % 62) as usize] as char);
            v /= 62;
        }
        let s: String = digits.iter().rev().collect();
        format!("Cs{s}_{}{name}", name.len())
    }

    /// `<module::Type as kernel::Module>::init`.
    pub fn module_init(module: &str, ty: &str) -> String {
        format!("_RNvXs0_{}NtB5_{}{ty}NtCs{}_6kernel6Module4init", krate(module), ty.len(), &krate("kernel")[2..13])
    }

    /// `<module::Type as core::ops::drop::Drop>::drop`.
    pub fn module_drop(module: &str, ty: &str) -> String {
        format!(
            "_RNvXs1_{}NtB5_{}{ty}NtNtNtCs{}_4core3ops4drop4Drop4drop",
            krate(module),
            ty.len(),
            &krate("core")[2..13]
        )
    }

    /// `<kernel::alloc::allocator::ReallocFunc>::call`.
    pub fn realloc_func_call() -> String {
        format!("_RNvMNtNt{}5alloc9allocatorNtB2_11ReallocFunc4call", krate("kernel"))
    }

    /// The path (without hashes) of [`module_init`].
    pub fn module_init_path(module: &str, ty: &str) -> String {
        format!("<{module}::{ty} as kernel::Module>::init")
    }

    /// The path (without hashes) of [`module_drop`].
    pub fn module_drop_path(module: &str, ty: &str) -> String {
        format!("<{module}::{ty} as core::ops::drop::Drop>::drop")
    }

    /// The path of [`realloc_func_call`].
    pub const REALLOC_FUNC_CALL_PATH: &str = "<kernel::alloc::allocator::ReallocFunc>::call";
}

/// The text of the generated part of `kernel::bindings` (crates/kernel/build.rs), for the test that checks
/// the façade against the real build's bindings (tests/stock_bindings.rs).
#[doc(hidden)]
pub const STOCK_CONSTS_RS: &str = include_str!(concat!(env!("OUT_DIR"), "/stock_consts.rs"));
