//! `kernel::Module`, `kernel::ThisModule` and the `module!` macro (rust/kernel/lib.rs, rust/macros/module.rs).

use crate::error;

/// The top level entrypoint to implementing a kernel module.
///
/// For any teardown or cleanup operations, your type may implement [`Drop`].
pub trait Module: Sized + Sync + Send {
    /// Called at module initialization time.
    ///
    /// Use this method to perform whatever setup or registration your module should do.
    ///
    /// Equivalent to the `module_init` macro in the C API.
    fn init(module: &'static ThisModule) -> error::Result<Self>;
}

/// Equivalent to `THIS_MODULE` in the C API.
///
/// C header: [`include/linux/init.h`](srctree/include/linux/init.h)
pub struct ThisModule(*mut crate::bindings::module);

// SAFETY: `THIS_MODULE` may be used from all threads within a module.
unsafe impl Sync for ThisModule {}

impl ThisModule {
    /// Creates a [`ThisModule`] given the `THIS_MODULE` pointer.
    ///
    /// # Safety
    ///
    /// The pointer must be equal to the right `THIS_MODULE`.
    pub const unsafe fn from_ptr(ptr: *mut crate::bindings::module) -> ThisModule {
        ThisModule(ptr)
    }

    /// Access the raw pointer for this module.
    ///
    /// It is up to the user to use it correctly.
    pub fn as_ptr(&self) -> *mut crate::bindings::module {
        self.0
    }
}

/// Declares a kernel module.
///
/// The keys are those of Linux 6.12's `module!` proc macro, in the same mandatory order:
/// `type`, `name`, `author`, `description`, `license`, `alias`, `firmware` (`type`, `name` and `license`
/// are required).
///
/// Besides the module (`__LOG_PREFIX` for the `pr_*!` macros and `THIS_MODULE`), the simulator's
/// expansion provides what lets the same file run in userspace: a `main` that loads and unloads the
/// module on a simulated machine (so each listing is a `cargo run --example`), and a descriptor the
/// tests hand to the runner.
#[macro_export]
macro_rules! module {
    (
        type: $type:ident,
        name: $name:literal,
        $(author: $author:literal,)?
        $(description: $description:literal,)?
        license: $license:literal,
        $(alias: [$($alias:literal),* $(,)?],)?
        $(firmware: [$($firmware:literal),* $(,)?],)?
    ) => {
        /// The module name.
        ///
        /// Used by the printing macros, e.g. [`pr_info!`](kernel::pr_info).
        const __LOG_PREFIX: &[u8] = concat!($name, "\0").as_bytes();

        #[allow(dead_code)]
        static THIS_MODULE: $crate::ThisModule =
            // SAFETY: the simulator's modules have no `struct module`; the pointer is never used.
            unsafe { $crate::ThisModule::from_ptr(::core::ptr::null_mut()) };

        /// What the runner needs to load and unload this module on a simulated machine.
        #[doc(hidden)]
        #[allow(dead_code)]
        pub(crate) static __MODULE: $crate::__sim::ModuleDesc = $crate::__sim::ModuleDesc {
            name: $name,
            author: $crate::__sim::opt!($($author)?),
            description: $crate::__sim::opt!($($description)?),
            license: $license,
            file: file!(),
            init: |module| {
                <$type as $crate::Module>::init(module)
                    .map(|m| -> ::std::boxed::Box<dyn ::core::any::Any> { ::std::boxed::Box::new(m) })
            },
            this_module: &THIS_MODULE,
        };

        /// `cargo run --example <name>`: insmod, then rmmod, on a simulated machine, and print dmesg.
        #[allow(dead_code)]
        fn main() {
            ::kmem_runner::module_main(&__MODULE)
        }
    };
}
