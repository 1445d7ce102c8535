//! kernel/kallsyms.c and the unwinder's view (arch/x86/kernel/unwind_orc.c, dumpstack.c) of the book's
//! kernel build: which functions exist, their sizes, which function calls which (and which tail-calls it),
//! and the `BUG()`/`WARN()` sites of `__bug_table` with the code bytes around them.
//!
//! The data come from the real build by `cargo xtask qemu --record` (xtask/src/qemu/symbols.rs):
//! `listings/kernel/symbols/vmlinux.txt` for the kernel, `listings/kernel/symbols/modules/<listing>.txt` for a
//! listing's module. The simulator pushes a frame for each function of the kernel's C source it models
//! (`kmem_cache_free`, `slab_free`, `__slab_free`, `free_to_partial_list` …); [`Symbols::realize`] turns that
//! source-level path into the frames the book's LLVM build really has on its stack: a function without a symbol
//! was inlined everywhere; a function its caller does not call directly was inlined into it; a tail call
//! (`jmp`) replaces the caller's frame; a function entered through a pointer (an initcall, a constructor, a
//! module's exit) is always a frame of its own.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::OnceLock;

/// A function of the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    /// Its symbol as kallsyms prints it (a Rust function's v0 mangling, crate hashes of the real build).
    pub name: String,
    /// Size as kallsyms reports it.
    pub size: u32,
    /// `.text`, `.init.text` (freed after a module's init) or `.exit.text`.
    pub section: String,
    /// Its offset in its section (`v` lines; 0 where the table does not say).
    pub value: u64,
}

/// Where `load_module()` puts a module's sections (`k`, `p` and `l` lines of a module's table, written from
/// the real `.ko` by xtask/src/qemu/symbols.rs): see [`crate::module`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleLayout {
    /// Size of the `.ko` file (`load_module()` works on a vmalloc'ed copy of it).
    pub file_len: u64,
    /// Section → (memory type, offset in that type's area).
    pub placement: HashMap<String, (String, u64)>,
    /// The non-empty memory types (`text`, `data`, `rodata`, `ro_after_init`, `init_text`, `init_data`,
    /// `init_rodata`, in `enum mod_mem_type` order) and their sizes in bytes.
    pub sizes: Vec<(String, u64)>,
}

/// How a caller reaches a callee in the machine code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// `call`: the callee gets a frame; the caller's return address is `caller+offset`.
    Call(u32),
    /// `jmp` (tail call): the callee takes over the caller's frame.
    Tail,
}

/// A `BUG()`/`WARN()` site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BugSite {
    /// Function holding the trapping `ud2`.
    pub func: String,
    /// Its offset in the function (`RIP`).
    pub offset: u32,
    /// `__FILE__` as the build recorded it (`mm/slub.c`).
    pub file: String,
    /// `__LINE__`.
    pub line: u32,
    /// `BUGFLAG_*`.
    pub flags: u16,
    /// The 64 code bytes `show_opcodes()` prints, the trapping one in `<..>`.
    pub code: String,
}

/// The symbols of one object (vmlinux or a module).
#[derive(Clone, Debug, Default)]
pub struct Symbols {
    funcs: HashMap<String, Func>,
    /// Demangled path (no hashes) → symbol, for Rust functions.
    by_path: HashMap<String, String>,
    edges: HashMap<(String, String), Edge>,
    bugs: Vec<BugSite>,
    layout: HashMap<String, u64>,
    module_layout: Option<ModuleLayout>,
}

/// The kernel's table, compiled in.
const VMLINUX: &str = include_str!("../../../listings/kernel/symbols/vmlinux.txt");
/// The 32-bit kernel's table (`cargo xtask qemu --arch i386 --record`), for the i386 machines.
const VMLINUX_I386: &str = include_str!("../../../listings/kernel/symbols-i386/vmlinux.txt");

impl Symbols {
    /// Parses a table in the format of xtask/src/qemu/symbols.rs. Lines it does not understand are skipped.
    ///
    /// Context: any.
    pub fn parse(text: &str) -> Symbols {
        let mut s = Symbols::default();
        let hex = |v: &str| u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap_or(0);
        for line in text.lines() {
            let mut w = line.splitn(5, ' ');
            match w.next() {
                Some("f") => {
                    let (Some(name), Some(size), Some(section)) = (w.next(), w.next(), w.next()) else { continue };
                    if let Some(path) = w.next().map(|p| match w.next() {
                        Some(rest) => format!("{p} {rest}"),
                        None => p.to_string(),
                    }) {
                        s.by_path.insert(path, name.to_string());
                    }
                    s.funcs.insert(
                        name.to_string(),
                        Func { name: name.to_string(), size: hex(size), section: section.to_string(), value: 0 },
                    );
                }
                Some("v") => {
                    let (Some(name), Some(v)) = (w.next(), w.next()) else { continue };
                    if let Some(f) = s.funcs.get_mut(name) {
                        f.value = hex(v) as u64;
                    }
                }
                Some("k") => {
                    let l = s.module_layout.get_or_insert_with(ModuleLayout::default);
                    l.file_len = w.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                }
                Some("p") => {
                    let (Some(sec), Some(ty), Some(off)) = (w.next(), w.next(), w.next()) else { continue };
                    let l = s.module_layout.get_or_insert_with(ModuleLayout::default);
                    l.placement.insert(sec.to_string(), (ty.to_string(), hex(off) as u64));
                }
                Some("l") => {
                    let (Some(ty), Some(bytes)) = (w.next(), w.next()) else { continue };
                    let l = s.module_layout.get_or_insert_with(ModuleLayout::default);
                    l.sizes.push((ty.to_string(), bytes.parse().unwrap_or(0)));
                }
                Some("c") => {
                    let (Some(a), Some(b), Some(off)) = (w.next(), w.next(), w.next()) else { continue };
                    s.edges.entry((a.to_string(), b.to_string())).or_insert(Edge::Call(hex(off)));
                }
                Some("j") => {
                    let (Some(a), Some(b)) = (w.next(), w.next()) else { continue };
                    // A function that both calls and tail-calls the same callee keeps the first kind listed.
                    s.edges.entry((a.to_string(), b.to_string())).or_insert(Edge::Tail);
                }
                Some("s") => {
                    let (Some(name), Some(addr)) = (w.next(), w.next()) else { continue };
                    if let Ok(a) = u64::from_str_radix(addr.trim_start_matches("0x"), 16) {
                        s.layout.insert(name.to_string(), a);
                    }
                }
                Some("b") => {
                    let mut w = line.splitn(6, ' ').skip(1);
                    let (Some(func), Some(off), Some(at), Some(flags), code) =
                        (w.next(), w.next(), w.next(), w.next(), w.next().unwrap_or(""))
                    else {
                        continue;
                    };
                    let Some((file, l)) = at.rsplit_once(':') else { continue };
                    s.bugs.push(BugSite {
                        func: func.to_string(),
                        offset: hex(off),
                        file: file.to_string(),
                        line: l.parse().unwrap_or(0),
                        flags: hex(flags) as u16,
                        code: code.to_string(),
                    });
                }
                _ => {}
            }
        }
        s
    }

    /// The book's kernel.
    ///
    /// Context: any.
    pub fn vmlinux() -> &'static Symbols {
        static S: OnceLock<Symbols> = OnceLock::new();
        S.get_or_init(|| Symbols::parse(VMLINUX))
    }

    /// The kernel of a machine of `arch`: the book's x86_64 kernel or the 32-bit one.
    ///
    /// Context: any.
    pub fn kernel(arch: crate::machine::Arch) -> &'static Symbols {
        match arch {
            crate::machine::Arch::X86_64 => Self::vmlinux(),
            crate::machine::Arch::I386 => {
                static S: OnceLock<Symbols> = OnceLock::new();
                S.get_or_init(|| Symbols::parse(VMLINUX_I386))
            }
        }
    }

    /// A module's layout, when its table has one.
    ///
    /// Context: any.
    pub fn module_layout(&self) -> Option<&ModuleLayout> {
        self.module_layout.as_ref()
    }

    /// A function by its symbol, or (Rust) by its demangled path without crate hashes.
    ///
    /// Context: any.
    pub fn lookup(&self, name: &str) -> Option<&Func> {
        self.funcs.get(name).or_else(|| self.by_path.get(name).and_then(|n| self.funcs.get(n)))
    }

    /// How `caller` reaches `callee` directly, if it does.
    ///
    /// Context: any.
    pub fn edge(&self, caller: &str, callee: &str) -> Option<Edge> {
        self.edges.get(&(caller.to_string(), callee.to_string())).copied()
    }

    /// How `caller` reaches `callee` through one function of this table in between (a module's own helper
    /// the simulator has no frame for): that function, the return address in `caller` of the call to it (the
    /// first such call site), and how it reaches `callee`. The lowest call site wins when several helpers do.
    ///
    /// Context: any.
    pub fn edge_via_local(&self, caller: &str, callee: &str) -> Option<(&str, u32, Edge)> {
        self.edges
            .iter()
            .filter_map(|((from, mid), e)| match e {
                Edge::Call(off) if from == caller && self.funcs.contains_key(mid) => {
                    self.edge(mid, callee).map(|e2| (mid.as_str(), *off, e2))
                }
                _ => None,
            })
            .min_by_key(|&(mid, off, _)| (off, mid))
    }

    /// The `BUG()`/`WARN()` site at `file:line`, if the build has one.
    ///
    /// Context: any.
    pub fn bug_site(&self, file: &str, line: u32) -> Option<&BugSite> {
        self.bugs.iter().find(|b| b.line == line && b.file == file)
    }

    /// Every `BUG()`/`WARN()` site at `file:line` (one per function it is inlined into).
    ///
    /// Context: any.
    pub fn bug_sites<'a>(&'a self, file: &'a str, line: u32) -> impl Iterator<Item = &'a BugSite> + 'a {
        self.bugs.iter().filter(move |b| b.line == line && b.file == file)
    }

    /// The `BUG()`/`WARN()` site at `file:line` inside `func`.
    ///
    /// Context: any.
    pub fn bug_site_in(&self, file: &str, line: u32, func: &str) -> Option<&BugSite> {
        self.bugs.iter().find(|b| b.line == line && b.func == func && b.file == file)
    }

    /// The address of an image-layout symbol (`_text`, `__init_begin` …).
    ///
    /// Context: any.
    pub fn layout(&self, name: &str) -> Option<u64> {
        self.layout.get(name).copied()
    }

    /// Whether the table has any function (an empty table is a module without recorded symbols).
    ///
    /// Context: any.
    pub fn is_empty(&self) -> bool {
        self.funcs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_table_is_the_real_build() {
        let k = Symbols::vmlinux();
        let f = k.lookup("kmem_cache_free").expect("kmem_cache_free");
        assert!(f.size > 0x100, "{f:?}");
        assert_eq!(f.section, ".text");
        // A tail call the unwinder cannot see: the helper jumps to the allocator.
        assert_eq!(k.edge("rust_helper_kmalloc", "__kmalloc_noprof"), Some(Edge::Tail));
        let w = k.bug_site("mm/slub.c", 1127).expect("object_err's WARN");
        assert_eq!(w.func, "object_err");
        assert!(w.code.contains("<0f> 0b"), "{}", w.code);
    }

    #[test]
    fn parses_rust_paths() {
        let s = Symbols::parse(
            "f _RNvNtCs1_6kernel5print11call_printk 0x40 .text kernel::print::call_printk\nc a b 0x10\nj a c\n",
        );
        assert_eq!(s.lookup("kernel::print::call_printk").unwrap().size, 0x40);
        assert_eq!(s.edge("a", "b"), Some(Edge::Call(0x10)));
        assert_eq!(s.edge("a", "c"), Some(Edge::Tail));
        assert_eq!(s.edge("b", "a"), None);
    }
}
