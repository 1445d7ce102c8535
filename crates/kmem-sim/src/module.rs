//! Module memory: what loading a module allocates in the vmalloc space and when it is freed —
//! `load_module()`, `move_module()`, `do_init_module()`, `do_free_init()` and `free_module()` of
//! kernel/module/main.c, and `execmem_alloc()` of mm/execmem.c (Linux 6.12).
//!
//! 1. `copy_module_from_user()` (or `kernel_read_file()` for `finit_module()`) copies the `.ko` into a
//!    vmalloc'ed buffer of the file's size.
//! 2. `layout_sections()` and `layout_symtab()` sort the sections into up to seven memory types (`text`,
//!    `data`, `rodata`, `ro_after_init`, `init_text`, `init_data`, `init_rodata`); `move_module()` allocates
//!    one area per non-empty type with `execmem_alloc()`: `__vmalloc_node_range()` in `[MODULES_VADDR,
//!    MODULES_END)`, page-aligned, `GFP_KERNEL | __GFP_NOWARN`, `VM_FLUSH_RESET_PERMS`, the caller recorded as
//!    `load_module` (the helpers are inlined into it). On x86_64 that range is the modules area; on 32-bit x86
//!    `MODULES_VADDR` is `VMALLOC_START`: the module sits in the vmalloc area, below what it allocates.
//! 3. `free_copy()` vfrees the copy before the module's init runs (lazily: the range stays taken until a
//!    purge).
//! 4. After init returns, `do_init_module()` queues the init areas for `do_free_init()`, which frees them
//!    after an RCU grace period; a `VM_FLUSH_RESET_PERMS` area's `vfree()` purges every lazily freed range
//!    (`vm_reset_perms()` → `_vm_unmap_aliases()`). The simulator runs that work when init returns.
//! 5. `free_module()` frees the core areas on unload.
//!
//! The layout comes from the real `.ko` (the `k`/`p`/`l` lines of its table, [`crate::kallsyms::ModuleLayout`]);
//! a module without one (the x86_64 listings so far) allocates nothing here.

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::panic::Frame;
use crate::vmalloc::{PgProt, NUMA_NO_NODE, VM_FLUSH_RESET_PERMS};

/// One of a loaded module's memory areas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleArea {
    /// `text`, `data`, `rodata`, `ro_after_init`, `init_text`, `init_data` or `init_rodata`.
    pub ty: String,
    /// Its address.
    pub addr: u64,
    /// Its size in bytes (as laid out; the area is page-rounded).
    pub bytes: u64,
    /// Freed (an init area after `do_free_init()`); the address stays known for `%pS` of a freed symbol.
    pub freed: bool,
}

const ENOMEM: i32 = 12;

impl Machine {
    /// `load_module()`'s allocations for module `name`, whose table (set with
    /// [`Machine::set_module_symbols`]) gives its layout: the copy of the `.ko`, one area per memory type, the
    /// copy freed again. Does nothing for a module without a layout.
    ///
    /// Context: process context (insmod), may sleep. Returns `Err(-ENOMEM)` when an allocation fails (what was
    /// allocated is freed again, as `load_module()`'s error path does).
    pub fn load_module_memory(&mut self, name: &str) -> Result<(), i32> {
        let Some(layout) = self.panic.module_syms.get(name).and_then(|t| t.module_layout()).cloned() else {
            return Ok(());
        };
        let (vstart, vend) = (self.layout.vmalloc_start, self.layout.vmalloc_end);
        // copy_module_from_user(): __vmalloc(info->len, GFP_KERNEL | __GFP_NOWARN).
        let copy = self.__vmalloc_node_range(
            layout.file_len,
            1,
            vstart,
            vend,
            Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN,
            PgProt::PAGE_KERNEL,
            0,
            NUMA_NO_NODE,
            Some(Frame::kernel("copy_module_from_user")),
        );
        if copy == 0 {
            return Err(-ENOMEM);
        }
        let (mstart, mend) = (self.layout.modules_vaddr, self.layout.modules_end);
        let mut areas = Vec::new();
        for (ty, bytes) in &layout.sizes {
            // module_memory_alloc() → execmem_alloc(): MODULE_ALIGN is PAGE_SIZE without KASAN.
            let addr = self.__vmalloc_node_range(
                *bytes,
                4096,
                mstart,
                mend,
                Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN,
                PgProt::PAGE_KERNEL,
                VM_FLUSH_RESET_PERMS,
                NUMA_NO_NODE,
                Some(Frame::kernel("load_module")),
            );
            if addr == 0 {
                for a in &areas {
                    let a: &ModuleArea = a;
                    self.vfree(a.addr);
                }
                self.vfree(copy);
                return Err(-ENOMEM);
            }
            areas.push(ModuleArea { ty: ty.clone(), addr, bytes: *bytes, freed: false });
        }
        self.panic.module_mem.insert(name.to_string(), areas);
        // free_copy(): before the module's init runs.
        self.vfree(copy);
        Ok(())
    }

    /// `do_free_init()` for module `name`: its init areas freed (the kernel does it from a workqueue after an
    /// RCU grace period; the simulator at once).
    ///
    /// Context: process context, may sleep.
    pub(crate) fn module_free_init_memory(&mut self, name: &str) {
        self.module_free_areas(name, true);
    }

    /// `free_module()` → `free_mod_mem()`: the core areas (and init areas not freed yet) of module `name`.
    ///
    /// Context: process context (rmmod, or insmod's error path), may sleep.
    pub(crate) fn module_free_memory(&mut self, name: &str) {
        self.module_free_areas(name, false);
        self.panic.module_mem.remove(name);
    }

    fn module_free_areas(&mut self, name: &str, init_only: bool) {
        let Some(mut areas) = self.panic.module_mem.remove(name) else { return };
        for a in areas.iter_mut().filter(|a| !a.freed && (!init_only || a.ty.starts_with("init_"))) {
            self.vfree(a.addr);
            a.freed = true;
        }
        self.panic.module_mem.insert(name.to_string(), areas);
    }

    /// Where section `section` of module `name` is (its area's address plus its offset there), for a module
    /// loaded with a layout.
    ///
    /// Context: any.
    pub fn module_section_address(&self, name: &str, section: &str) -> Option<u64> {
        let layout = self.panic.module_syms.get(name)?.module_layout()?;
        let (ty, off) = layout.placement.get(section)?;
        let area = self.panic.module_mem.get(name)?.iter().find(|a| &a.ty == ty)?;
        Some(area.addr + off)
    }

    /// The module's memory areas, in allocation order.
    ///
    /// Context: any.
    pub fn module_areas(&self, name: &str) -> &[ModuleArea] {
        self.panic.module_mem.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}
