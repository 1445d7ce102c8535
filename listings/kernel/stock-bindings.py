#!/usr/bin/env python3
"""List the stock 6.12 Rust-for-Linux `kernel::bindings` items that come from the allocation headers.

usage: stock-bindings.py KDIR [FACADE_SOURCE ...] > listings/kernel/stock-bindings.txt

KDIR is a kernel tree built by `cargo xtask qemu` (it has rust/bindings/.bindings_generated.rs.cmd, the
bindgen command the build ran). The script runs that same bindgen command again, on the *stock*
rust/bindings/bindings_helper.h of Debian's linux-source-6.12 (without the book's patch), restricted with
`--allowlist-file` to the allocation headers, and the stock helpers (rust/helpers/*.c of the same tarball,
each `rust_helper_X` becoming `bindings::X`). It prints one item per line:

    fn NAME(ARGS) -> RET        a function (bindgen's signature, whitespace collapsed)
    const NAME: TYPE = VALUE    a constant
    static NAME: TYPE           a static
    type NAME                   a struct, union, enum or type alias
    helper NAME(ARGS) -> RET    a stock helper of rust/helpers/{page,slab,vmalloc}.c, as bindings::NAME
    real NAME                   an item the façade (FACADE_SOURCE files) defines that is not in the list
                                above but is in the build's bindings (the book's patch, or a header outside
                                the allocation ones), with the build's signature

Functions and statics are kept only when the kernel exports them (`Module.symvers`): a module can call
nothing else. mm.h and mm_types.h declare far more than allocation (VMAs, page-cache, GUP …); from them only the page
helpers are kept: items whose name mentions page, pfn, folio, or is one of the few more listed in MM_ALSO.
"""
import os
import re
import shutil
import shlex
import subprocess
import sys
import tarfile
import tempfile

HEADERS = [
    "slab", "gfp", "gfp_types", "mmzone", "page-flags", "vmalloc", "mempool", "percpu", "dma-mapping",
    "dmapool", "dma-direction", "device", "memblock", "cma", "mm", "mm_types",
]
# From mm.h / mm_types.h: page helpers only.
MM_ONLY = re.compile(r"page|pfn|folio|PAGE")
MM_ALSO = {"totalram_pages", "si_meminfo", "nr_free_buffer_pages", "high_memory", "max_mapnr", "mem_map"}
# From arch/x86/include/asm/page_64.h: the bases of the kernel's address space (PAGE_OFFSET, VMALLOC_START and
# the struct page array are these variables when CONFIG_DYNAMIC_MEMORY_LAYOUT is set, as in the book's build).
ASM_PAGE_ONLY = {"page_offset_base", "vmalloc_base", "vmemmap_base"}
# From device.h (and device/devres.h, which it includes): the devres allocators only.
DEVICE_ONLY = re.compile(r"^_*(devm_|dmam_|devres_)")


def main():
    kdir = sys.argv[1]
    facade = sys.argv[2:]
    tarball = "/usr/src/linux-source-6.12.tar.xz"
    cmd_file = os.path.join(kdir, "rust/bindings/.bindings_generated.rs.cmd")
    saved = open(cmd_file).read().split(":=", 1)[1].strip().splitlines()[0]
    # The command, without the `; sed …` that renames RUST_CONST_HELPER_X (done in parse()) and without what
    # the book's patch adds to rust/bindgen_parameters (`--blocklist-function mempool_create`).
    words = shlex.split(saved.split(";", 1)[0])
    for k in range(len(words) - 1):
        if words[k] == "--blocklist-function" and words[k + 1] == "mempool_create":
            del words[k : k + 2]
            break
    tmp = tempfile.mkdtemp(prefix="stock-bindings-")
    try:
        run(kdir, words, tmp, tarball, facade)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(kdir, words, tmp, tarball, facade):
    with tarfile.open(tarball) as t:
        for m in t.getmembers():
            if m.name.startswith("linux-source-6.12/rust/bindings/bindings_helper.h") or (
                m.name.startswith("linux-source-6.12/rust/helpers/") and m.name.endswith(".c")
            ):
                t.extract(m, tmp, filter="data")
    stock = os.path.join(tmp, "linux-source-6.12")
    header = os.path.join(stock, "rust/bindings/bindings_helper.h")
    out = os.path.join(tmp, "out.rs")
    allow = (
        r".*/include/linux/(" + "|".join(re.escape(h) for h in HEADERS) + r")\.h|.*/rust/bindings/bindings_helper\.h"
        r"|.*/include/linux/device/devres\.h|.*/arch/x86/include/asm/page_64\.h"
    )
    args = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == "rust/bindings/bindings_helper.h":
            args.append(header)
        elif w == "-o":
            args += ["-o", out, "--allowlist-file", allow]
            i += 1
        elif w.startswith("-Wp,-MMD"):
            pass
        else:
            args.append(w)
        i += 1
    subprocess.run(args, cwd=kdir, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Which header declared each item: bindgen cannot say, so ask clang's preprocessor output with line
    # markers for each name's first declaration.
    text = open(out).read()
    origin = declared_in(kdir, words, header)
    # The helper header's own constants (`RUST_CONST_HELPER_X = X`, renamed `X` by the build): the GFP masks,
    # PAGE_SIZE and ARCH_SLAB_MINALIGN are allocation constants.
    for n in re.findall(r"RUST_CONST_HELPER_(\w+)", open(header).read()):
        if re.match(r"_*GFP_|PAGE_SIZE$|ARCH_SLAB_MINALIGN$", n):
            origin[n] = "bindings_helper"
    # What a module can call: the functions and statics the kernel exports (Module.symvers).
    exported = {l.split("\t")[1] for l in open(os.path.join(kdir, "Module.symvers")) if "\t" in l}
    items = []
    for kind, name, sig in parse(text):
        if kind in ("fn", "static") and name not in exported:
            continue
        h = origin.get(name, "")
        # An enum's constants are named <enum>_<variant> by bindgen: the enum says where they come from.
        parts = name.split("_")
        for k in range(len(parts) - 1, 0, -1):
            if h:
                break
            h = origin.get("_".join(parts[:k]), "")
        if not h:
            continue  # a type from another header that an allocation item uses
        if h in ("mm", "mm_types") and not (MM_ONLY.search(name) or name in MM_ALSO):
            continue
        if h == "asm/page_64" and name not in ASM_PAGE_ONLY:
            continue
        if h == "device" and not DEVICE_ONLY.search(name):
            continue
        items.append((kind, name, sig, h))
    # The types of the constants kept (an enum's, declared next to it) are part of the list too.
    aliases = {m.group(1): re.sub(r"\s+", " ", m.group(2)) for m in re.finditer(r"^pub type (\w+) = ([^;]+);", text, re.M)}
    have = {i[1] for i in items if i[0] == "type"}
    for kind, name, sig, h in list(items):
        ty = sig.split(": ", 1)[1].split(" = ")[0] if kind == "const" else ""
        if ty in aliases and ty not in have:
            items.append(("type", ty, f"{ty} = {aliases[ty]}", h))
            have.add(ty)
    # The stock helpers of the allocation API (rust/helpers/{page,slab,vmalloc}.c), with the Rust signature
    # bindgen gave them in this build (the patch adds helpers of its own, in another file, and changes none).
    generated = re.sub(r"\s+", " ", open(os.path.join(kdir, "rust/bindings/bindings_helpers_generated.rs")).read())
    for c in ("page.c", "slab.c", "vmalloc.c"):
        src = open(os.path.join(stock, "rust/helpers", c)).read()
        for name in re.findall(r"\brust_helper_(\w+)\s*\(", src):
            m = re.search(r"(pub fn " + re.escape(name) + r" ?\([^)]*\)(?: -> [^;{]+)?;)", generated)
            sig = m.group(1).replace("( ", "(").replace(", )", ")").replace(" )", ")") if m else "?"
            items.append(("helper", name, sig, "helpers/" + c))
    print("# The stock Linux 6.12.117 Rust-for-Linux bindings from the allocation headers (no book patch).")
    print("# Written by listings/kernel/stock-bindings.py from bindgen's own command; see that file.")
    for kind, name, sig, h in sorted(items, key=lambda x: (x[0], x[1])):
        print(f"{kind} {name} {h} :: {sig}")
    # What else the façade defines, as the patched build has it.
    listed = {i[1] for i in items}
    full = open(os.path.join(kdir, "rust/bindings/bindings_generated.rs")).read()
    helpers = open(os.path.join(kdir, "rust/bindings/bindings_helpers_generated.rs")).read()
    full += helpers
    # A function or static bindgen declares but the kernel does not export (and no helper wraps) cannot be
    # linked by a module (modpost: undefined), so it is not an item the façade may have.
    linkable = exported | set(re.findall(r"\bfn (\w+)", helpers))
    build = {}
    for kind, name, sig in parse(full):
        if kind in ("fn", "static") and name not in linkable:
            continue
        build.setdefault(name, (kind, sig))
    for m in re.finditer(r'extern "C" \{ (pub fn (\w+) ?\(((?:[^()]|\([^()]*\))*)\)(?: -> ([^;{]+))?;) \}', re.sub(r"\s+", " ", re.sub(r"#\[[^\]]*\]\s*", "", full))):
        if m.group(2) in linkable:
            build.setdefault(m.group(2), ("fn", m.group(1).replace("( ", "(").replace(", )", ")").replace(" )", ")")))
    names = set()
    for f in facade:
        src = open(f).read()
        names |= set(re.findall(r"pub (?:unsafe extern \"C\" fn|const|static(?: mut)?|type|struct) (\w+)", src))
        # The façade's opaque types: `opaque!(/// doc\n name);`.
        names |= set(re.findall(r"opaque!\(\s*(?:///[^\n]*\n\s*)*(\w+)\s*\)", src))
    for name in sorted(names - listed):
        if name in build:
            kind, sig = build[name]
            print(f"real {name} {kind} :: {sig}")


def parse(text):
    """(kind, name, signature) of each item bindgen emitted at the top level."""
    text = re.sub(r"#\[[^\]]*\]\s*", "", text)
    text = text.replace("RUST_CONST_HELPER_", "")
    flat = re.sub(r"\s+", " ", text)
    # Parameters may be function pointers (`Option<unsafe extern "C" fn(arg1: *mut c_void)>`): one level of
    # parentheses inside the list.
    for m in re.finditer(r'extern "C" \{ (pub fn (\w+) ?\(((?:[^()]|\([^()]*\))*)\)(?: -> ([^;{]+))?;) \}', flat):
        yield "fn", m.group(2), m.group(1).replace("( ", "(").replace(", )", ")").replace(" )", ")")
    for m in re.finditer(r'extern "C" \{ pub static (?:mut )?(\w+): ((?:\[[^\]]*\]|[^;\[])+); \}', flat):
        yield "static", m.group(1), f"{m.group(1)}: {m.group(2).strip()}"
    # Anonymous enums get numbered types (`_bindgen_ty_N`) whose numbers depend on the whole run: their
    # constants are listed with the integer type behind the number.
    anon = dict(re.findall(r"^pub type (_bindgen_ty_\d+) = ([\w:]+);", text, re.M))
    for m in re.finditer(r"^pub const (\w+): ([^=]+)= ([^;]+);", text, re.M):
        ty = m.group(2).strip()
        ty = anon.get(ty, ty)
        yield "const", m.group(1), f"{m.group(1)}: {ty} = {m.group(3).strip()}"
    for m in re.finditer(r"^pub (?:struct|union) (\w+)", text, re.M):
        yield "type", m.group(1), m.group(1)
    for m in re.finditer(r"^pub type (\w+) = ([^;]+);", text, re.M):
        yield "type", m.group(1), re.sub(r"\s+", " ", f"{m.group(1)} = {m.group(2).strip()}")


def declared_in(kdir, words, header):
    """name -> the allocation header (stem) in which clang's preprocessor output first mentions it, or "" when
    that is another file. C declares before use, so a function's or macro's first mention is its declaration;
    a type's may be a forward declaration elsewhere, which leaves it out."""
    clang_args = [a for a in words[words.index("--") + 1 :] if not a.startswith("-Wp,-MMD")]
    pp = subprocess.run(
        ["clang", "-E", "-dD", "-x", "c"] + clang_args + [header],
        cwd=kdir, check=True, capture_output=True, text=True,
    ).stdout
    origin = {}
    current = ""
    marker = re.compile(r'^# \d+ "([^"]+)"')
    word = re.compile(r"\b([A-Za-z_]\w*)\b")
    for line in pp.splitlines():
        m = marker.match(line)
        if m:
            hm = re.search(r"include/linux/([\w-]+)\.h$", m.group(1))
            current = hm.group(1) if hm and hm.group(1) in HEADERS else ""
            if m.group(1).endswith("arch/x86/include/asm/page_64.h"):
                current = "asm/page_64"
            if m.group(1).endswith("include/linux/device/devres.h"):
                current = "device"  # 6.12.117 declares device.h's devres allocators here
            continue
        if line.startswith("#define "):
            # A macro's own name only: its body names other things.
            origin.setdefault(line.split()[1].split("(")[0], current)
            continue
        if line.startswith("#"):
            continue
        for n in word.findall(line):
            origin.setdefault(n, current)
    return origin


if __name__ == "__main__":
    main()
