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
//! # fn demo(module: &'static kernel::__sim::ModuleDesc) {
//! let run = kmem_runner::run(module, kmem_runner::machine_from_env());
//! print!("{}", run.dmesg);
//! # }
//! ```

use kernel::__sim::{self, ModuleDesc};
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

    /// `insmod <name>.ko`: runs `init` in the context of a fresh `insmod` task.
    ///
    /// Returns the terminal message of a failed `insmod`.
    pub fn insmod(&mut self) -> Result<(), String> {
        let pid = self.next_pid;
        self.next_pid += 1;
        let name = self.module.name;
        __sim::with_machine(|m| {
            m.set_current("insmod", pid);
            m.load_module_name(name, true);
        });
        let init = __sim::symbols::module_init(name, self.module.type_name);
        __sim::with_machine(|m| m.push_module_frame(&init, name));
        let result = (self.module.init)(self.module.this_module);
        __sim::with_machine(|m| m.pop_frame());
        if __sim::with_machine(|m| m.kernel_stop().is_some()) {
            // The simulated kernel oopsed in insmod's context: the task died there (`make_task_dead`),
            // the module never finished loading and cannot be unloaded. Its state is leaked, as the
            // kernel leaks it.
            if let Ok(instance) = result {
                std::mem::forget(instance);
            }
            return Err("Segmentation fault".to_string());
        }
        match result {
            Ok(instance) => {
                self.instance = Some(instance);
                __sim::with_machine(|m| m.set_module_state(name, kmem_sim::ModuleState::Live));
                Ok(())
            }
            Err(e) => {
                __sim::with_machine(|m| m.unload_module_name(name));
                Err(insmod_error(&self.ko(), e.to_errno()))
            }
        }
    }

    /// `rmmod <name>`: drops the module (its exit), in the context of a fresh `rmmod` task.
    pub fn rmmod(&mut self) {
        let Some(instance) = self.instance.take() else {
            return;
        };
        let pid = self.next_pid;
        self.next_pid += 1;
        let name = self.module.name;
        __sim::with_machine(|m| {
            m.set_current("rmmod", pid);
            m.set_module_state(name, kmem_sim::ModuleState::Going);
            // `<T as Drop>::drop` is inlined into the module's `cleanup_module` by the kernel build.
            m.push_module_frame("cleanup_module", name);
        });
        drop(instance);
        __sim::with_machine(|m| {
            m.pop_frame();
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
    let seq = machine.log_seq();
    let mut runner = Runner::new(module, machine);
    let insmod_error = runner.insmod().err();
    let loaded = if insmod_error.is_none() { runner.with_machine(while_loaded) } else { String::new() };
    runner.rmmod();
    let machine = runner.finish();
    Run { dmesg: machine.dmesg_since(seq), insmod_error, while_loaded: loaded, machine }
}

/// The machine `cargo run --example` uses: `KMEM_MACHINE=x86_64` (default: 256 MiB, 4 CPUs, nokaslr)
/// or `KMEM_MACHINE=i386-160m` (the classic 32-bit 160 MiB machine); `KMEM_RAM_MIB` overrides the RAM.
pub fn machine_from_env() -> MachineConfig {
    let mut cfg = match std::env::var("KMEM_MACHINE").as_deref() {
        Ok("i386") => MachineConfig::i386(),
        Ok("i386-160m") => MachineConfig::i386().ram_mib(160),
        _ => MachineConfig::x86_64(),
    };
    if let Some(mib) = std::env::var("KMEM_RAM_MIB").ok().and_then(|v| v.parse().ok()) {
        cfg = cfg.ram_mib(mib);
    }
    cfg
}

/// `main` of a listing run as `cargo run --example <name>`: prints the session as a terminal would
/// show it.
pub fn module_main(module: &'static ModuleDesc) {
    let run = run(module, machine_from_env());
    println!("$ insmod {}.ko", module.name);
    if let Some(e) = &run.insmod_error {
        println!("{e}");
    } else {
        println!("$ rmmod {}", module.name);
    }
    println!("$ dmesg");
    print!("{}", run.dmesg);
}
