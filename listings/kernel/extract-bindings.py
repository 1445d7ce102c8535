#!/usr/bin/env python3
"""Print the bindgen signatures BINDINGS.md documents, from a built kernel tree.

usage: extract-bindings.py KDIR > signatures.md
Reads KDIR/rust/bindings/bindings_generated.rs and bindings_helpers_generated.rs (after the
kernel's sed, so helpers already carry their C names) and KDIR/rust/ffi.rs.
"""
import re
import sys

kdir = sys.argv[1]
gen = open(f"{kdir}/rust/bindings/bindings_generated.rs").read()
hlp = open(f"{kdir}/rust/bindings/bindings_helpers_generated.rs").read()

HELPERS = """kmalloc kzalloc kcalloc kmalloc_array krealloc kvrealloc vrealloc kvmalloc kvzalloc
kmem_cache_create kmem_cache_alloc kmem_cache_zalloc __get_free_pages __get_free_page
get_zeroed_page alloc_page alloc_pages free_page __free_page page_address virt_to_page
virt_to_phys phys_to_virt page_to_pfn pfn_to_page virt_addr_valid vmalloc vzalloc vmalloc_user
vmalloc_32 __vmalloc mempool_create mempool_create_kmalloc_pool mempool_create_slab_pool
mempool_create_page_pool mempool_alloc dma_alloc_coherent dma_free_coherent
dma_set_mask_and_coherent dma_pool_zalloc platform_device_register_simple kmap_local_page
kunmap_local""".split()

DIRECT = """kfree kvfree ksize kmalloc_size_roundup __kmalloc_noprof krealloc_noprof
__kvmalloc_node_noprof get_free_pages_noprof get_zeroed_page_noprof alloc_pages_exact_noprof
free_pages_exact free_pages __free_pages __kmem_cache_create_args kmem_cache_alloc_noprof
kmem_cache_free kmem_cache_destroy kmem_cache_size kmem_cache_shrink mempool_create_node_noprof
mempool_alloc_noprof mempool_free mempool_destroy mempool_kmalloc mempool_kfree mempool_alloc_slab
mempool_free_slab mempool_alloc_pages mempool_free_pages vmalloc_noprof vfree vmalloc_to_page
vmalloc_to_pfn is_vmalloc_addr dma_pool_create dma_pool_alloc dma_pool_free dma_pool_destroy
dma_set_mask dma_set_coherent_mask platform_device_unregister slow_virt_to_phys _printk
__might_sleep""".split()

TYPES = """gfp_t slab_flags_t phys_addr_t dma_addr_t u64_ __u64 mempool_alloc_t mempool_free_t
mempool_t size_t""".split()

CONSTS_RE = re.compile(r"^pub const ((?:__)?GFP_\w+|SLAB_\w+|_slab_flag_bits__SLAB_\w+|PAGE_SIZE|PAGE_SHIFT|ARCH_SLAB_MINALIGN|KMALLOC_\w+|MAX_PAGE_ORDER|PAGE_ALLOC_COSTLY_ORDER|VM_(?:IOREMAP|ALLOC|MAP|USERMAP|DMA_COHERENT|NO_GUARD)|ZERO_SIZE_PTR|NUMA_NO_NODE)\b.*$", re.M)


def fn_sig(text, name):
    m = re.search(r"(#\[link_name=\"rust_helper_\w+\"\]\s*)?pub fn " + re.escape(name) + r"\((.*?)\)(\s*->\s*[^;]+)?;", text, re.S)
    if not m:
        return None
    s = re.sub(r"\s+", " ", m.group(0).split("pub fn", 1)[1]).replace("( ", "(").replace(", )", ")")
    return "pub fn" + s


def type_def(name):
    m = re.search(r"^pub type " + re.escape(name) + r" = .*?;", gen, re.M | re.S)
    return re.sub(r"\s+", " ", m.group(0)) if m else None


print("## Helpers (rust/helpers/*.c, `bindings_helpers_generated.rs`)\n\n```rust")
for n in HELPERS:
    direct = fn_sig(gen, n)
    s = direct or fn_sig(hlp, n)
    note = "  // direct binding shadows the helper" if direct and fn_sig(hlp, n) else ""
    print(f"{s}{note}" if s else f"// {n}: MISSING")
print("```\n\n## Direct bindings (`bindings_generated.rs`)\n\n```rust")
for n in DIRECT:
    s = fn_sig(gen, n)
    print(s if s else f"// {n}: not in bindings")
print("```\n\n## Types\n\n```rust")
for n in TYPES:
    t = type_def(n)
    print(t if t else f"// {n}: not a type alias in bindings")
print("```\n\n## Constants\n\n```rust")
seen = set()
for m in CONSTS_RE.finditer(gen):
    if m.group(1) not in seen:
        seen.add(m.group(1))
        print(m.group(0))
print("```")
