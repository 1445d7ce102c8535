//! The masks: what no simulator can know about one real boot, hidden on both sides before comparing.
//!
//! The rules apply line by line and never drop, merge, sort or reorder lines — with one exception the
//! truth issue allows: call-trace entries the unwinder marks `?` (guesses from stale words on the stack,
//! which depend on what earlier code left there) are left out.
//!
//! The rules are [`MASKS`], each with a real line and what it becomes (a unit test checks them; the book's
//! appendix shows the same table, [`masks_markdown`]).
//!
//! Everything else — text, sizes, orders, GFP masks, counts, cache names, flags, line order — must match.

use std::sync::OnceLock;

use regex::{Captures, Regex};

/// One masking rule as the book documents it: what it hides, a real line, and that line as compared.
#[derive(Debug, Clone, Copy)]
pub struct MaskRule {
    /// What the rule hides, and why no simulator can know it.
    pub what: &'static str,
    /// A line of a real capture.
    pub real: &'static str,
    /// The same line after masking (`(left out)` for rule 10).
    pub masked: &'static str,
}

/// Every masking rule, in the order [`mask_line`] applies them. Nothing else is masked.
pub const MASKS: &[MaskRule] = &[
    MaskRule {
        what: "the printk timestamp: seconds since this boot",
        real: "[   13.432747] kmalloc_basic: unloaded",
        masked: "[TIME] kmalloc_basic: unloaded",
    },
    MaskRule {
        what: "the jiffies age of a SLUB track (`age=`)",
        real: "Allocated in f+0x3b/0xc1 [m] age=329 cpu=2 pid=174",
        masked: "Allocated in f+<off> [m] age=<time> cpu=<n> pid=<n>",
    },
    MaskRule {
        what: "a kernel virtual address, reduced to its region of the x86_64 layout without KASLR \
               (`Documentation/arch/x86/x86_64/mm.rst`): which page a boot hands out depends on everything \
               that ran before",
        real: "kmalloc(100) = 0xffff888003a4c100, vmalloc 0xffffc90000005000, page ffffea00000d8900",
        masked: "kmalloc(100) = <direct-map>, vmalloc <vmalloc>, page <vmemmap>",
    },
    MaskRule {
        what: "a physical address or page frame number where the line names it as one (`phys`, `pfn` or `PFN`, \
               `dma`, `virt_to_phys`, the DMA API's `DMA addr`, swiotlb's `swiotlb addr` (a bounce buffer's \
               address) and DMA-API debugging's `device address=` — bus addresses, equal to physical ones \
               without an IOMMU —, x86 ioremap's `on RAM at A - B`, \
               the page-table walk's entries, whose low flag bits stay)",
        real: "vmalloc_to_pfn() says pfn 0x226b (phys 0x226b000), PMD 2a03067 PTE 0",
        masked: "vmalloc_to_pfn() says pfn <phys> (phys <phys>), PMD <phys>067 PTE 0",
    },
    MaskRule {
        what: "PID, CPU and UID numbers",
        real: "CPU: 2 UID: 0 PID: 174 Comm: insmod Tainted: G           O       6.12.117 #1",
        masked: "CPU: <n> UID: <n> PID: <n> Comm: insmod Tainted: G           O       6.12.117 #1",
    },
    MaskRule {
        what: "register values; the register lines themselves stay",
        real: "RAX: 0000000000000000 RBX: 0000000000000008 RCX: 0fdd3daabb2f1f00",
        masked: "RAX: <reg> RBX: <reg> RCX: <reg>",
    },
    MaskRule {
        what: "the `Code:` bytes, or the line `show_opcodes()` prints instead when it cannot read them (the \
               simulator runs a listing's module as host code, so it has none of the module's machine code)",
        real: "Code: 08 89 e8 5b <48> 3d 01 f0 ff ff 77",
        masked: "Code: <bytes>",
    },
    MaskRule {
        what: "code offsets and function sizes (`+off/size`)",
        real: " do_one_initcall+0xef/0x2d0",
        masked: " do_one_initcall+<off>",
    },
    MaskRule {
        what: "the crate hashes of Rust v0 symbols, which change with every build (the symbol is shown \
               demangled)",
        real: " _RNvXCs1ABF4jQ4SuH_15scratch_redzoneNtB2_14ScratchRedzoneNtCsl7L7n58I0Vr_6kernel6Module4init+0x3b/0xc1",
        masked: " <scratch_redzone::ScratchRedzone as kernel::Module>::init+<off>",
    },
    MaskRule {
        what: "the QEMU BIOS version",
        real: "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
        masked: "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS <bios>",
    },
    MaskRule {
        what: "call-trace entries the unwinder marks `?`: guesses from stale words on the stack, which \
               depend on what earlier code left there; the only lines left out",
        real: " ? __kmalloc_cache_noprof+0x45/0x1e0",
        masked: "(left out)",
    },
];

/// The masking rules as a Markdown table (`| what it hides | a real line | compared as |`), for the book.
///
/// Context: any.
pub fn masks_markdown() -> String {
    let code = |s: &str| if s == "(left out)" { "(left out)".to_string() } else { format!("`{}`", s.trim_start()) };
    let mut out = String::from("| what it hides | a real line | compared as |\n|---|---|---|\n");
    for m in MASKS {
        out.push_str(&format!("| {} | {} | {} |\n", m.what, code(m.real), code(m.masked)));
    }
    out
}

struct Rules {
    timestamp: Regex,
    unreliable_frame: Regex,
    age: Regex,
    reg_line: Regex,
    reg_value: Regex,
    code_bytes: Regex,
    sym_off: Regex,
    rust_sym: Regex,
    crate_hash: Regex,
    kaddr: Regex,
    phys: Regex,
    ram_range: Regex,
    walk: Regex,
    ids: Regex,
    kv_ids: Regex,
    task_pid: Regex,
    bios: Regex,
}

fn rules() -> &'static Rules {
    static R: OnceLock<Rules> = OnceLock::new();
    R.get_or_init(|| {
        let r = |s: &str| Regex::new(s).expect("valid regex");
        Rules {
            timestamp: r(r"^\[\s*\d+\.\d+\] "),
            unreliable_frame: r(r"^\s+\? \S+( \[\w+\])?$"),
            age: r(r"\bage=\d+"),
            // x86_64 `__show_regs()` / `show_ip()` / `show_opcodes()` and i386 `__show_regs()` lines.
            reg_line: r(concat!(
                r"^\s*(RIP|RSP|RAX|RDX|RBP|R10|R13|FS|CS|CR2|DR0|DR3|PKRU|Code",
                r"|EIP|EAX|ESI|DS|CR0):"
            )),
            reg_value: r(r"(^|[\s:(])(0x)?[0-9a-f]{4,16}\b"),
            code_bytes: r(r"^(\s*Code: )(.*)$"),
            sym_off: r(r"\+0x[0-9a-f]+/0x[0-9a-f]+"),
            rust_sym: r(r"\b_R[0-9A-Za-z_]+"),
            crate_hash: r(r"Cs[0-9A-Za-z]+_"),
            kaddr: r(r"\b(0x)?(ffff[89a-f][0-9a-f]{11})\b"),
            phys: r(concat!(
                r"\b(phys(?:ical)?(?: address| addr)?|virt_to_phys(?:\([^)]*\))?(?: says| =)?|vmalloc_to_pfn\(\)(?: says)?",
                r"|pfn|PFN|dma(?: handle|_handle| addr(?:ess)?)?|DMA addr|swiotlb addr|(?:bus|device) address)(\s*[=:]\s*|\s+)(0x[0-9a-f]+|[0-9a-f]*\d[0-9a-f]*\b)"
            )),
            ram_range: r(r"\b(on RAM at )0x[0-9a-f]+( - )0x[0-9a-f]+\b"),
            walk: r(r"\b(PGD|P4D|PUD|PMD|PTE) ([0-9a-f]+)\b"),
            ids: r(r"\b(CPU|PID|UID|pid|cpu)(: ?)\d+"),
            kv_ids: r(r"\b(cpu|pid)=\d+"),
            task_pid: r(r"\b(insmod|rmmod|sh|swapper/\d+|kworker/[\w:.-]+)(/|\[)\d+\b"),
            bios: r(r"BIOS \S+ \d\d/\d\d/\d{4}$"),
        }
    })
}

/// The region a kernel virtual address belongs to on the book's x86_64 kernel (4-level paging, no
/// KASLR): `Documentation/arch/x86/x86_64/mm.rst` and `arch/x86/include/asm/pgtable_64_types.h`.
/// `MODULES_VADDR` is `__START_KERNEL_map + KERNEL_IMAGE_SIZE`, 512 MiB without `CONFIG_RANDOMIZE_BASE`.
///
/// Context: any. Returns the region's mask token.
pub fn region(addr: u64) -> &'static str {
    match addr {
        0xffff_8880_0000_0000..=0xffff_c87f_ffff_ffff => "<direct-map>",
        0xffff_c900_0000_0000..=0xffff_e8ff_ffff_ffff => "<vmalloc>",
        0xffff_ea00_0000_0000..=0xffff_eaff_ffff_ffff => "<vmemmap>",
        0xffff_fe00_0000_0000..=0xffff_fe7f_ffff_ffff => "<cpu-entry-area>",
        0xffff_ffff_8000_0000..=0xffff_ffff_9fff_ffff => "<kernel>",
        0xffff_ffff_a000_0000..=0xffff_ffff_feff_ffff => "<module>",
        _ => "<kernel-address>",
    }
}

/// The demangled form of a Rust v0 symbol without its crate hashes (`{:#}` of rustc-demangle), or the
/// symbol with each `Cs<hash>_` replaced by `Cs_` when it does not demangle.
fn rust_symbol(sym: &str) -> String {
    match rustc_demangle::try_demangle(sym) {
        Ok(d) => format!("{d:#}"),
        Err(_) => rules().crate_hash.replace_all(sym, "Cs_").into_owned(),
    }
}

/// Masks one line. Returns `None` for a line left out (rule 10).
///
/// Context: any.
pub fn mask_line(line: &str) -> Option<String> {
    let r = rules();
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (prefix, body) = match r.timestamp.find(line) {
        Some(m) => ("[TIME] ", &line[m.end()..]),
        None => ("", line),
    };
    if r.unreliable_frame.is_match(body) {
        return None;
    }
    let mut s = body.to_string();
    // 6: register lines. Code bytes first (they look like short hex numbers).
    if r.reg_line.is_match(&s) {
        if let Some(c) = r.code_bytes.captures(&s) {
            s = format!("{}<bytes>", &c[1]);
        } else {
            s = r.sym_off.replace_all(&s, "+<off>").into_owned();
            s = r.reg_value.replace_all(&s, "${1}<reg>").into_owned();
        }
    }
    // 7, 8
    s = r.sym_off.replace_all(&s, "+<off>").into_owned();
    s = r.rust_sym.replace_all(&s, |c: &Captures| rust_symbol(&c[0])).into_owned();
    // 3
    s = r
        .kaddr
        .replace_all(&s, |c: &Captures| match u64::from_str_radix(&c[2], 16) {
            Ok(a) => region(a).to_string(),
            Err(_) => c[0].to_string(),
        })
        .into_owned();
    // 4
    s = r.phys.replace_all(&s, "${1}${2}<phys>").into_owned();
    s = r.ram_range.replace_all(&s, "${1}<phys>${2}<phys>").into_owned();
    s = r
        .walk
        .replace_all(&s, |c: &Captures| {
            let v = &c[2];
            if v == "0" {
                c[0].to_string()
            } else if v.len() > 3 {
                format!("{} <phys>{}", &c[1], &v[v.len() - 3..])
            } else {
                format!("{} <phys>", &c[1])
            }
        })
        .into_owned();
    // 5
    s = r.ids.replace_all(&s, "${1}${2}<n>").into_owned();
    s = r.kv_ids.replace_all(&s, "${1}=<n>").into_owned();
    s = r.task_pid.replace_all(&s, "${1}${2}<n>").into_owned();
    // 2, 9
    s = r.age.replace_all(&s, "age=<time>").into_owned();
    s = r.bios.replace_all(&s, "BIOS <bios>").into_owned();
    Some(format!("{prefix}{s}"))
}

/// Masks a whole text, line by line (rule 10 leaves lines out).
///
/// Context: any.
pub fn mask(text: &str) -> Vec<String> {
    text.lines().filter_map(mask_line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        mask_line(s).unwrap_or_else(|| "(left out)".into())
    }

    #[test]
    fn the_documented_rules_do_what_they_say() {
        for rule in MASKS {
            assert_eq!(m(rule.real), rule.masked, "{}", rule.what);
        }
        assert!(masks_markdown().lines().count() == MASKS.len() + 2);
    }

    #[test]
    fn timestamps_and_addresses() {
        assert_eq!(
            m("[   13.432747] scratch_redzone: object at 0xffff888003624008, writing obj[24]"),
            "[TIME] scratch_redzone: object at <direct-map>, writing obj[24]"
        );
        assert_eq!(m("[    1.0] a 0xffffc90000005000 b ffffea00000d8900:"), "[TIME] a <vmalloc> b <vmemmap>:");
        assert_eq!(m("x 0xffffffffa0006014 y 0xffffffff818394c0"), "x <module> y <kernel>");
    }

    #[test]
    fn numbers_that_are_not_addresses_stay() {
        for l in [
            "kmalloc(100) = ksize 128, mode:0xcc0(GFP_KERNEL)",
            "Slab objects=34 used=1 flags=0x4000000000000200(workingset|zone=1)",
            "BUG: kernel NULL pointer dereference, address: 0000000000000010",
            "Redzone: 42 cc cc cc cc cc cc cc",
        ] {
            assert_eq!(m(l), l);
        }
    }

    #[test]
    fn registers_keep_their_lines() {
        assert_eq!(m("RIP: 0010:object_err+0x164/0x2b0"), "RIP: <reg>:object_err+<off>");
        assert_eq!(m("RIP: 0033:0x47fbe9"), "RIP: <reg>:<reg>");
        assert_eq!(
            m("RAX: 0000000000000000 RBX: 0000000000000008 RCX: 0fdd3daabb2f1f00"),
            "RAX: <reg> RBX: <reg> RCX: <reg>"
        );
        assert_eq!(
            m("FS:  0000000026e953c0(0000) GS:ffff88800f700000(0000) knlGS:0000000000000000"),
            "FS:  <reg>(<reg>) GS:<reg>(<reg>) knlGS:<reg>"
        );
        assert_eq!(m("RSP: 0018:ffffc9000023b958 EFLAGS: 00000046"), "RSP: <reg>:<reg> EFLAGS: <reg>");
        assert_eq!(m("Code: 08 89 e8 5b <48> 3d 01"), "Code: <bytes>");
        assert_eq!(m("Code: Unable to access opcode bytes at 0xffffffffa0005fd6."), "Code: <bytes>");
    }

    #[test]
    fn unreliable_frames_are_left_out() {
        assert_eq!(mask_line("[ 1.0]  ? __kmalloc_cache_noprof+0x45/0x1e0"), None);
        assert_eq!(mask_line("[ 1.0]  ? 0xffffffffa0006000"), None);
        assert_eq!(m("[ 1.0]  do_one_initcall+0xef/0x2d0"), "[TIME]  do_one_initcall+<off>");
    }

    #[test]
    fn rust_symbols_lose_only_their_hashes() {
        let a = m("_RNvXCs1ABF4jQ4SuH_15scratch_redzoneNtB2_14ScratchRedzoneNtCsl7L7n58I0Vr_6kernel6Module4init+0x3b/0xc1 [scratch_redzone]");
        assert_eq!(a, "<scratch_redzone::ScratchRedzone as kernel::Module>::init+<off> [scratch_redzone]");
        let b =
            m("_RNvXCs2DxGA1hvVcO_15scratch_redzoneNtB2_14ScratchRedzoneNtCs8C9XBesAE77_6kernel6Module4init+0x3/0xc");
        assert_eq!(b, "<scratch_redzone::ScratchRedzone as kernel::Module>::init+<off>");
    }

    #[test]
    fn physical_numbers_where_named() {
        assert_eq!(
            m("page 0 at 0xffffc90000005000: virt_to_phys() says 0x408000005000, vmalloc_to_pfn() says pfn 0x226b (phys 0x226b000)"),
            "page 0 at <vmalloc>: virt_to_phys() says <phys>, vmalloc_to_pfn() says pfn <phys> (phys <phys>)"
        );
        assert_eq!(m("ioremap on RAM at 0x00000000038d6000 - 0x00000000038d6fff"), "ioremap on RAM at <phys> - <phys>");
        assert_eq!(
            m("= 0xffff888003c5e000, dma 0x3c5e000, virt_to_phys 0x3c5e000"),
            "= <direct-map>, dma <phys>, virt_to_phys <phys>"
        );
        assert_eq!(
            m("DMA addr 0x0000000002ed0000+4096 overflow, failed to check map error[device address=0x0000000002ed0000]"),
            "DMA addr <phys>+4096 overflow, failed to check map error[device address=<phys>]"
        );
        assert_eq!(
            m("swiotlb addr 0x000000000f584000+4096 overflow (mask ffffff, bus limit 0)."),
            "swiotlb addr <phys>+4096 overflow (mask ffffff, bus limit 0)."
        );
        assert_eq!(
            m("PGD 2a01067 P4D 2a01067 PUD 2a02067 PMD 2a03067 PTE 0"),
            "PGD <phys>067 P4D <phys>067 PUD <phys>067 PMD <phys>067 PTE 0"
        );
    }

    #[test]
    fn ids_and_bios() {
        assert_eq!(
            m("CPU: 2 UID: 0 PID: 174 Comm: insmod Tainted: G    B   W  O       6.12.117 #1 "),
            "CPU: <n> UID: <n> PID: <n> Comm: insmod Tainted: G    B   W  O       6.12.117 #1 "
        );
        assert_eq!(
            m("Allocated in f+0x3b/0xc1 [m] age=3 cpu=2 pid=174"),
            "Allocated in f+<off> [m] age=<time> cpu=<n> pid=<n>"
        );
        assert_eq!(
            m("Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"),
            "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS <bios>"
        );
        assert_eq!(m("note: insmod[1193] exited with irqs disabled"), "note: insmod[<n>] exited with irqs disabled");
        assert_eq!(
            m("in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 57, name: insmod"),
            "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: <n>, name: insmod"
        );
    }
}
