//! The real build's symbols, for the simulator: `listings/kernel/symbols/`.
//!
//! The simulator prints call traces, `RIP:` lines and `Code:` bytes as the book's kernel does. What it
//! needs from the real build is extracted here, from `vmlinux` and each listing's `.ko`, into committed
//! text files (`cargo xtask qemu --record` rewrites them):
//!
//! - `f <name> <size> <section> [<demangled>]`: a function, its size as kallsyms reports it (distance to the
//!   next text symbol), its section (`.text`, `.init.text` — freed after a module's init —, `.exit.text`) and,
//!   for a Rust symbol, its demangled path without crate hashes;
//! - `c <caller> <callee> <offset>`: `caller` calls `callee` directly; the return address is `caller+offset`
//!   (the first such call site);
//! - `j <caller> <callee>`: `caller` jumps (`jmp`, or a conditional jump) to `callee` as a tail call (its
//!   own frame is gone);
//! - `b <function> <offset> <file>:<line> <flags> <code>`: a `BUG()`/`WARN()` site of `__bug_table` and the
//!   64 code bytes `show_opcodes()` prints around it (`<..>` marks the trapping byte);
//! - `u <program> <syscall> <ip> <code>` (in `user.txt`): where the guest's user program enters the kernel
//!   for a listing — `ip` is the instruction after its `syscall` instruction, what a report's `RIP: 0033:` line
//!   shows — and the 64 bytes `show_opcodes()` prints there, from the program's ELF file (both are static
//!   non-PIE executables, so the address is the run-time one);
//! - `s <name> <address>`: a symbol of the image layout (`_text`, `__init_begin`, `__end_of_kernel_reserve` …),
//!   from which the simulated boot reserves and frees the kernel image as the real one does.
//!
//! `vmlinux.txt` holds the kernel functions the simulator names (every string literal in the simulator,
//! the façade and the runner that is a text symbol of `vmlinux`, and every Rust symbol whose demangled path
//! is such a literal), with the calls and tail calls among them and to `rust_helper_*`; `modules/<listing>.txt`
//! holds each listing's functions and their calls into the module and into `vmlinux`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// Text symbols of an ELF file: name → (address, kallsyms size, section), plus the sorted address list.
struct Syms {
    by_name: HashMap<String, (u64, u64, String)>,
    sorted: Vec<(u64, String)>,
}

fn text_symbols(file: &object::File<'_>) -> Syms {
    let mut per_section: BTreeMap<usize, Vec<(u64, String, u64)>> = BTreeMap::new();
    for s in file.symbols() {
        let (Ok(name), Some(sec)) = (s.name(), s.section_index()) else { continue };
        // Functions, and the labels of assembly code (entry_SYSCALL_64_after_hwframe is an untyped label).
        let executable = file.section_by_index(sec).is_ok_and(|x| matches!(x.kind(), object::SectionKind::Text));
        if !(s.kind() == SymbolKind::Text || (s.kind() == SymbolKind::Unknown && executable && s.is_global())) {
            continue;
        }
        if name.is_empty() || name.starts_with("__pfx_") {
            continue;
        }
        per_section.entry(sec.0).or_default().push((s.address(), name.to_string(), s.size()));
    }
    let mut by_name = HashMap::new();
    let mut sorted = Vec::new();
    for (sec, mut v) in per_section {
        v.sort();
        let section = file.section_by_index(object::SectionIndex(sec)).ok();
        let end = section.as_ref().map(|s| s.address() + s.size()).unwrap_or(0);
        let sec_name = section.as_ref().and_then(|s| s.name().ok()).unwrap_or(".text").to_string();
        for i in 0..v.len() {
            let next = v[i + 1..].iter().map(|x| x.0).find(|&a| a > v[i].0).unwrap_or(end.max(v[i].0 + v[i].2));
            by_name.entry(v[i].1.clone()).or_insert((v[i].0, next - v[i].0, sec_name.clone()));
            sorted.push((v[i].0, v[i].1.clone()));
        }
    }
    sorted.sort();
    Syms { by_name, sorted }
}

/// String literals of the simulator, the façade and the runner.
fn source_literals(root: &Path) -> Result<BTreeSet<String>> {
    let lit = regex::Regex::new(r#""([A-Za-z_<][A-Za-z0-9_.:<>]*)""#).unwrap();
    let mut out = BTreeSet::new();
    let mut stack: Vec<PathBuf> =
        ["crates/kmem-sim/src", "crates/kernel/src", "crates/kmem-runner/src"].iter().map(|d| root.join(d)).collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = fs::read_to_string(&p)?;
            for c in lit.captures_iter(&text) {
                out.insert(c[1].to_string());
            }
        }
    }
    Ok(out)
}

/// `objdump -d` (with `-r` for relocatable modules) of `file`, reduced to direct calls and jumps to a
/// function start: (caller, callee, offset of the next instruction in caller, is_tail_call).
fn calls(file: &Path, relocatable: bool) -> Result<Vec<(String, String, u64, bool)>> {
    let mut cmd = Command::new("objdump");
    cmd.args(["-d", "--no-show-raw-insn", "-w"]);
    if relocatable {
        cmd.arg("-r");
    }
    let out = cmd.arg(file).output().context("running objdump (package binutils)")?;
    if !out.status.success() {
        bail!("objdump -d {} failed: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let func_re = regex::Regex::new(r"^([0-9a-f]+) <([^>]+)>:$").unwrap();
    let insn_re = regex::Regex::new(r"^\s*([0-9a-f]+):\s+(\S+)(?:\s+(.*))?$").unwrap();
    let target_re = regex::Regex::new(r"<([^>+]+)>").unwrap();
    // With -w a module's relocation follows its instruction on the same line.
    let reloc_re = regex::Regex::new(r"R_(?:X86_64_(?:PLT32|PC32)|386_(?:PLT32|PC32))\s+(\S+?)(?:-0x4)?$").unwrap();
    let mut out = Vec::new();
    let (mut func, mut func_start) = (String::new(), 0u64);
    // A call/jmp waiting for the address of the next instruction.
    let mut pending: Option<(String, bool)> = None;
    for line in text.lines() {
        if let Some(c) = func_re.captures(line) {
            let start = u64::from_str_radix(&c[1], 16).unwrap_or(0);
            // A tail call is usually a function's last instruction: the next function starts after it.
            if let Some((callee, tail)) = pending.take() {
                if !callee.is_empty() && callee != func && !callee.starts_with('.') {
                    out.push((func.clone(), callee, start.saturating_sub(func_start), tail));
                }
            }
            func = c[2].to_string();
            func_start = start;
            continue;
        }
        let Some(c) = insn_re.captures(line) else { continue };
        let addr = u64::from_str_radix(&c[1], 16).unwrap_or(0);
        if let Some((callee, tail)) = pending.take() {
            if !callee.is_empty() && callee != func && !callee.starts_with('.') {
                out.push((func.clone(), callee, addr - func_start, tail));
            }
        }
        let mnem = &c[2];
        let is_call = mnem == "call" || mnem == "callq";
        // `jmp`, and the conditional jumps a switch compiles to (x64_sys_call's `je __x64_sys_…`): a jump to
        // another function's start is a tail call.
        let is_jmp = mnem.starts_with('j');
        if is_call || is_jmp {
            let args = c.get(3).map(|m| m.as_str()).unwrap_or("");
            let target = if relocatable { reloc_re.captures(args).map(|t| t[1].to_string()) } else { None };
            // Without a relocation: a direct target `<name>` (a function start, not `<name+0x..>`).
            let target = target.unwrap_or_else(|| {
                target_re
                    .captures(args)
                    .map(|t| t[1].to_string())
                    .filter(|t| args.contains(&format!("<{t}>")))
                    .unwrap_or_default()
            });
            pending = Some((target, is_jmp));
        }
    }
    if let Some((callee, tail)) = pending.take() {
        if !callee.is_empty() && callee != func && !callee.starts_with('.') {
            out.push((func.clone(), callee, 0, tail));
        }
    }
    Ok(out)
}

/// `__bug_table` sites: (function, offset, file, line, flags, code).
fn bug_sites(file: &object::File<'_>, data: &[u8], syms: &Syms) -> Vec<(String, u64, String, u16, u16, String)> {
    let mut out = Vec::new();
    let Some(bt) = file.section_by_name("__bug_table") else { return out };
    let Ok(bytes) = bt.data() else { return out };
    let text = file.section_by_name(".text");
    let read_at = |addr: u64, len: usize| -> Option<Vec<u8>> {
        for s in file.sections() {
            if addr >= s.address() && addr + len as u64 <= s.address() + s.size() {
                let (off, _) = s.file_range()?;
                let start = (off + addr - s.address()) as usize;
                return data.get(start..start + len).map(<[u8]>::to_vec);
            }
        }
        None
    };
    let cstr = |addr: u64| -> String {
        let mut s = Vec::new();
        let mut a = addr;
        while let Some(b) = read_at(a, 1) {
            if b[0] == 0 || s.len() > 256 {
                break;
            }
            s.push(b[0]);
            a += 1;
        }
        String::from_utf8_lossy(&s).into_owned()
    };
    for (i, e) in bytes.chunks_exact(12).enumerate() {
        let entry = bt.address() + 12 * i as u64;
        let bug_disp = i32::from_le_bytes(e[0..4].try_into().unwrap()) as i64;
        let file_disp = i32::from_le_bytes(e[4..8].try_into().unwrap()) as i64;
        let line = u16::from_le_bytes(e[8..10].try_into().unwrap());
        let flags = u16::from_le_bytes(e[10..12].try_into().unwrap());
        let addr = (entry as i64 + bug_disp) as u64;
        let path = cstr((entry as i64 + 4 + file_disp) as u64);
        let pos = syms.sorted.partition_point(|(a, _)| *a <= addr);
        if pos == 0 {
            continue;
        }
        let (fstart, fname) = &syms.sorted[pos - 1];
        let code = match (&text, read_at(addr.saturating_sub(42), 64)) {
            (Some(_), Some(b)) => opcodes(&b),
            _ => String::new(),
        };
        out.push((fname.clone(), addr - fstart, path, line, flags, code));
    }
    out
}

fn demangle(sym: &str) -> Option<String> {
    rustc_demangle::try_demangle(sym).ok().map(|d| format!("{d:#}"))
}

/// Writes `listings/kernel/symbols/vmlinux.txt` and `modules/<listing>.txt` for each of `modules`; removes
/// the tables of modules that are no listing (of `all`) any more.
pub fn extract(
    root: &Path,
    vmlinux: &Path,
    modules: &[(String, PathBuf)],
    all: &[String],
    out_dir: &Path,
) -> Result<()> {
    let dir = root.join("listings/kernel/symbols");
    fs::write(dir.join("user.txt"), user_programs(out_dir)?)?;
    fs::create_dir_all(dir.join("modules"))?;
    let (table, syms) = kernel_table(root, vmlinux, "The book's kernel (vmlinux)")?;
    fs::write(dir.join("vmlinux.txt"), table)?;

    let keep: BTreeSet<String> = all.iter().map(|n| format!("{n}.txt")).collect();
    for e in fs::read_dir(dir.join("modules"))? {
        let p = e?.path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !keep.contains(n)) {
            fs::remove_file(p)?;
        }
    }
    for (name, ko) in modules {
        fs::write(dir.join("modules").join(format!("{name}.txt")), module_table(name, ko, &syms, false)?)?;
    }
    Ok(())
}

/// The table of `vmlinux` the simulator reads: the functions it names, their calls, BUG/WARN sites and the
/// image layout symbols; with the text symbols it came from.
fn kernel_table(root: &Path, vmlinux: &Path, what: &str) -> Result<(String, Syms)> {
    let data = fs::read(vmlinux).with_context(|| format!("reading {}", vmlinux.display()))?;
    let file = object::File::parse(&*data).context("parsing vmlinux")?;
    let syms = text_symbols(&file);
    let literals = source_literals(root)?;
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for name in syms.by_name.keys() {
        if literals.contains(name) || name.starts_with("rust_helper_") {
            wanted.insert(name.clone());
        } else if name.starts_with("_R") {
            if let Some(d) = demangle(name) {
                if literals.contains(&d) {
                    wanted.insert(name.clone());
                }
            }
        }
    }
    let edges = calls(vmlinux, false)?;
    let mut s = format!(
        "# {what}: functions the simulator names, their calls and tail calls, BUG/WARN sites.\n# Written by `cargo xtask qemu --record` (xtask/src/qemu/symbols.rs); see that file for the format.\n",
    );
    for name in &wanted {
        let (_, size, sec) = &syms.by_name[name];
        match demangle(name).filter(|_| name.starts_with("_R")) {
            Some(d) => writeln!(s, "f {name} {size:#x} {sec} {d}")?,
            None => writeln!(s, "f {name} {size:#x} {sec}")?,
        }
    }
    write_edges(&mut s, &edges, |caller, callee| wanted.contains(caller) && wanted.contains(callee))?;
    for (f, off, path, line, flags, code) in bug_sites(&file, &data, &syms) {
        if wanted.contains(&f) {
            writeln!(s, "b {f} {off:#x} {path}:{line} {flags:#x} {code}")?;
        }
    }
    const LAYOUT: &[&str] = &[
        "_text",
        "_etext",
        "__start_rodata",
        "__end_rodata",
        "_sdata",
        "_edata",
        "__init_begin",
        "__init_end",
        "__smp_locks",
        "__smp_locks_end",
        "init_top_pgt",
        "__bss_start",
        "__bss_stop",
        "__brk_base",
        "__end_of_kernel_reserve",
        "_end",
    ];
    for sym in file.symbols() {
        if let Ok(name) = sym.name() {
            if LAYOUT.contains(&name) {
                writeln!(s, "s {name} {:#x}", sym.address())?;
            }
        }
    }
    Ok((s, syms))
}

/// A module's table: its functions and their calls into the module and into the kernel of `syms`; with
/// `layout`, also where `load_module()` puts its sections ([`module_layout`]).
fn module_table(name: &str, ko: &Path, syms: &Syms, layout: bool) -> Result<String> {
    let data = fs::read(ko).with_context(|| format!("reading {}", ko.display()))?;
    let file = object::File::parse(&*data).with_context(|| format!("parsing {}", ko.display()))?;
    let msyms = text_symbols(&file);
    let mut s = format!("# {name}.ko of the book's kernel build: its functions and their calls (see vmlinux.txt).\n");
    let mut names: Vec<&String> = msyms.by_name.keys().collect();
    names.sort();
    for n in &names {
        let (_, size, sec) = &msyms.by_name[*n];
        match demangle(n).filter(|_| n.starts_with("_R")) {
            Some(d) => writeln!(s, "f {n} {size:#x} {sec} {d}")?,
            None => writeln!(s, "f {n} {size:#x} {sec}")?,
        }
    }
    if layout {
        for n in &names {
            writeln!(s, "v {n} {:#x}", msyms.by_name[*n].0)?;
        }
        s.push_str(&module_layout(&file, data.len())?);
    }
    let edges = calls(ko, true)?;
    write_edges(&mut s, &edges, |caller, callee| {
        msyms.by_name.contains_key(caller) && (msyms.by_name.contains_key(callee) || syms.by_name.contains_key(callee))
    })?;
    Ok(s)
}

/// The kernel's `struct module_memory` types in `enum mod_mem_type` order (include/linux/module.h).
const MOD_MEM_TYPES: &[&str] = &["text", "data", "rodata", "ro_after_init", "init_text", "init_data", "init_rodata"];

/// Where `load_module()` puts a module's sections, as `layout_sections()` and `layout_symtab()` of
/// kernel/module/main.c (6.12) compute it from the `.ko`'s section headers:
/// - `k <bytes>`: the file's size (the copy `load_module()` works on is vmalloc'ed that big);
/// - `p <section> <type> <offset>`: a section's place in one of the module's memory areas;
/// - `l <type> <bytes>`: each non-empty area's size (one `execmem_alloc()` each).
fn module_layout(file: &object::File<'_>, file_len: usize) -> Result<String> {
    use object::elf::{SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE};
    use object::SectionFlags;
    // SHF_RO_AFTER_INIT (include/linux/moduleloader.h: 0x00200000); ARCH_SHF_SMALL is 0 on x86.
    const SHF_RO_AFTER_INIT: u64 = 0x0020_0000;
    let (alloc, exec, write) = (SHF_ALLOC as u64, SHF_EXECINSTR as u64, SHF_WRITE as u64);
    let masks: [(u64, u64); 5] =
        [(exec | alloc, 0), (alloc, write), (SHF_RO_AFTER_INIT | alloc, 0), (write | alloc, 0), (alloc, 0)];
    let core_type = [0usize, 2, 3, 1, 1];
    let init_type = [4usize, 6, usize::MAX, 5, 5];
    let mut size = [0u64; 7];
    let mut out = format!("k {file_len}\n");
    let mut sections: Vec<(String, u64, u64, u64)> = Vec::new();
    for sec in file.sections() {
        let name = sec.name().unwrap_or("").to_string();
        let SectionFlags::Elf { sh_flags } = sec.flags() else { continue };
        let mut flags = sh_flags;
        // setup_load_info(): .modinfo and __versions are not loaded; rewrite_section_headers() / find_sec():
        // .data..ro_after_init and __jump_table are read-only after init.
        if name == ".modinfo" || name == "__versions" {
            flags &= !alloc;
        }
        if name == ".data..ro_after_init" || name == "__jump_table" {
            flags |= SHF_RO_AFTER_INIT;
        }
        sections.push((name, flags, sec.size(), sec.align().max(1)));
    }
    let mut placed = vec![false; sections.len()];
    for is_init in [false, true] {
        for (m, (want, not)) in masks.iter().enumerate() {
            let ty = if is_init { init_type[m] } else { core_type[m] };
            for (i, (name, flags, len, align)) in sections.iter().enumerate() {
                if placed[i] || flags & want != *want || flags & not != 0 || name.starts_with(".init") != is_init {
                    continue;
                }
                if ty == usize::MAX {
                    continue;
                }
                placed[i] = true;
                let off = size[ty].next_multiple_of(*align);
                size[ty] = off + len;
                writeln!(out, "p {name} {} {off:#x}", MOD_MEM_TYPES[ty])?;
            }
        }
    }
    // layout_symtab(): the whole symbol and string tables go at the end of the init data, the core symbols
    // (functions and objects of core sections) and their names at the end of the data.
    let symtab = file.section_by_name(".symtab").map(|s| (s.size(), s.align().max(1))).unwrap_or((0, 1));
    let strtab = file.section_by_name(".strtab").map(|s| (s.size(), s.align().max(1))).unwrap_or((0, 1));
    let entsize: u64 = if file.is_64() { 24 } else { 16 };
    let (mut ndst, mut strtab_size, mut nsrc) = (1u64, 1u64, 1u64);
    for sym in file.symbols() {
        nsrc += 1;
        let core = sym.section_index().and_then(|i| file.section_by_index(i).ok()).is_some_and(|s| {
            let n = s.name().unwrap_or("");
            !n.starts_with(".init") && matches!(s.flags(), SectionFlags::Elf { sh_flags } if sh_flags & alloc != 0)
        });
        if core && matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) {
            ndst += 1;
            strtab_size += sym.name().map(|n| n.len() as u64 + 1).unwrap_or(1);
        }
    }
    size[5] = size[5].next_multiple_of(symtab.1) + symtab.0;
    size[1] = size[1].next_multiple_of(symtab.1) + ndst * entsize + strtab_size + ndst;
    size[5] = size[5].next_multiple_of(strtab.1) + strtab.0;
    // The temporary `struct mod_kallsyms` (a pointer and two words) and the init symbols' types.
    let word = if file.is_64() { 8 } else { 4 };
    size[5] = size[5].next_multiple_of(word) + 4 * word + nsrc;
    for (ty, bytes) in size.iter().enumerate() {
        if *bytes > 0 {
            writeln!(out, "l {} {bytes}", MOD_MEM_TYPES[ty])?;
        }
    }
    Ok(out)
}

/// The 32-bit kernel's tables for the simulator's i386 machines: `listings/kernel/symbols-i386/vmlinux.txt`
/// (the functions the simulator names, as [`extract`] writes them for x86_64) and `modules/<name>.txt` with
/// the module's layout.
pub fn extract_i386(root: &Path, vmlinux: &Path, name: &str, ko: &Path) -> Result<()> {
    let dir = root.join("listings/kernel/symbols-i386");
    fs::create_dir_all(dir.join("modules"))?;
    let (table, syms) = kernel_table(root, vmlinux, "The 32-bit kernel (vmlinux of `cargo xtask qemu --arch i386`)")?;
    fs::write(dir.join("vmlinux.txt"), table)?;
    fs::write(dir.join("modules").join(format!("{name}.txt")), module_table(name, ko, &syms, true)?)?;
    Ok(())
}

fn write_edges(s: &mut String, edges: &[(String, String, u64, bool)], keep: impl Fn(&str, &str) -> bool) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (caller, callee, off, tail) in edges {
        if !keep(caller, callee) || !seen.insert((caller.clone(), callee.clone(), *tail)) {
            continue;
        }
        if *tail {
            writeln!(s, "j {caller} {callee}")?;
        } else {
            writeln!(s, "c {caller} {callee} {off:#x}")?;
        }
    }
    Ok(())
}

/// The 64 bytes around `ip` as `show_opcodes()` prints them: 42 before, the byte at `ip` in `<..>`, 21 after.
fn opcodes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .enumerate()
        .map(|(k, x)| if k == 42 { format!("<{x:02x}>") } else { format!("{x:02x}") })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `u` lines of `user.txt`: the guest's insmod (built by [`super::boot::build_insmod`]) enters the kernel
/// through glibc's `syscall()` (its only `syscall` instruction), and so does busybox's rmmod (found by the
/// function's instructions: the package's busybox is stripped). A program whose entry cannot be found unambiguously gets no line, and the simulator prints
/// what the kernel prints for unreadable code.
fn user_programs(out_dir: &Path) -> Result<String> {
    let mut s = String::from(
        "# Where the guest's user programs enter the kernel, and the code bytes there (see symbols.rs).\n# Written by `cargo xtask qemu --record`.\n",
    );
    let insmod = super::boot::build_insmod(out_dir)?;
    let data = fs::read(&insmod).with_context(|| format!("reading {}", insmod.display()))?;
    let file = object::File::parse(&*data).context("parsing the guest's insmod")?;
    let entry = file.symbols().find(|x| x.name() == Ok("syscall") && x.kind() == SymbolKind::Text).and_then(|sym| {
        let text = file.section_by_index(sym.section_index()?).ok()?;
        let bytes = text.data().ok()?;
        let off = (sym.address() - text.address()) as usize;
        let body = bytes.get(off..off + sym.size() as usize)?;
        let at = body.windows(2).position(|w| w == [0x0f, 0x05])? + 2;
        let ip = sym.address() + at as u64;
        let code = bytes.get(off + at - 42..off + at + 22)?;
        Some((ip, opcodes(code)))
    });
    if let Some((ip, code)) = entry {
        writeln!(s, "u insmod finit_module {ip:#x} {code}")?;
    }
    let busybox = super::boot::busybox()?;
    let data = fs::read(&busybox).with_context(|| format!("reading {}", busybox.display()))?;
    let file = object::File::parse(&*data).context("parsing busybox")?;
    // glibc's syscall(): mov %rdi,%rax; mov %rsi,%rdi; mov %rdx,%rsi; mov %rcx,%rdx; mov %r8,%r10;
    // mov %r9,%r8; mov 0x8(%rsp),%r9; syscall — busybox's rmmod calls delete_module through it.
    const SYSCALL_FN: [u8; 26] = [
        0x48, 0x89, 0xf8, 0x48, 0x89, 0xf7, 0x48, 0x89, 0xd6, 0x48, 0x89, 0xca, 0x4d, 0x89, 0xc2, 0x4d, 0x89, 0xc8,
        0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05, 0x48,
    ];
    let mut found = Vec::new();
    for sec in file.sections().filter(|x| x.kind() == object::SectionKind::Text) {
        let bytes = sec.data().unwrap_or(&[]);
        for (i, w) in bytes.windows(SYSCALL_FN.len()).enumerate() {
            let at = i + SYSCALL_FN.len() - 1; // the byte after `syscall`
            if w == SYSCALL_FN && at >= 42 {
                if let Some(code) = bytes.get(at - 42..at + 22) {
                    found.push((sec.address() + at as u64, opcodes(code)));
                }
            }
        }
    }
    if let [(ip, code)] = found.as_slice() {
        writeln!(s, "u rmmod delete_module {ip:#x} {code}")?;
    }
    Ok(s)
}
