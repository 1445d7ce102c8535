//! Inside one kmalloc cache: the geometry of kmalloc-256 on the book's machine, the slab CPU 0
//! allocates from, and its per-CPU freelist -- a chain of free pointers stored inside the free
//! objects -- walked before and after two `kmalloc()`s and two `kfree()`s.
//!
//! Run it with `cargo run --example slab_freelist`.

use kmem_sim::slab_common::{CacheId, KmallocType};
use kmem_sim::{Gfp, Machine, MachineConfig};
use std::fmt::Write as _;

/// Index of kmalloc-256 in the kmalloc caches (`kmalloc_index(256)`).
const KMALLOC_256: usize = 8;

/// The objects on CPU 0's freelist, as object indices in the slab, following each free pointer.
fn walk(m: &Machine, s: CacheId, base: u64, size: u64) -> String {
    let c = m.kmem_cache_cpu(s, 0).expect("CPU 0");
    let mut out = Vec::new();
    let mut p = c.freelist;
    while p != 0 && out.len() < 64 {
        out.push(format!("#{}", (p - base) / size));
        p = m.peek_freepointer(s, p).unwrap_or(0);
    }
    out.push("NULL".into());
    out.join(" -> ")
}

/// The report this example prints (pinned by `tests/examples.rs`).
pub fn report() -> String {
    let mut m = Machine::boot(MachineConfig::x86_64()).expect("the simulated machine boots");
    let s = m.kmalloc_cache(KmallocType::Normal, KMALLOC_256).expect("kmalloc-256");
    let l = m.kmem_cache_layout(s).expect("layout");
    let mut out = String::new();
    writeln!(out, "{}: object_size {}, size {}, free pointer at offset {}", l.name, l.object_size, l.size, l.offset)
        .unwrap();
    writeln!(out, "  {} objects per slab of order {} ({} bytes)", l.objects, l.order, 4096u32 << l.order).unwrap();
    writeln!(out, "  min_partial {}, cpu_partial {}", l.min_partial, l.cpu_partial).unwrap();

    // The first allocation gives CPU 0 a slab (from the node partial list or a new one).
    let a = m.kmalloc(256, Gfp::GFP_KERNEL);
    let (pfn, slab) = m.slab_of(a).expect("a slab object");
    let base = m.page_address(pfn);
    let size = l.size as u64;
    writeln!(out).unwrap();
    writeln!(out, "CPU 0's slab: pfn {:#x}, objects at {:#x} + n * {}", pfn.0, base, size).unwrap();
    writeln!(out, "  slab->inuse {} of {}, frozen {}", slab.inuse, slab.objects, slab.frozen).unwrap();
    writeln!(out, "kmalloc(256) = {:#x} (#{})", a, (a - base) / size).unwrap();
    writeln!(out, "  freelist: {}", walk(&m, s, base, size)).unwrap();
    let fp = m.kmem_cache_cpu(s, 0).unwrap().freelist;
    let at = fp + l.offset as u64;
    writeln!(out, "  the free pointer inside #{} is at {:#x}:", (fp - base) / size, at).unwrap();
    writeln!(out, "    stored {:#018x} (hardened: ptr ^ s->random ^ swab64({:#x}))", m.read_u64(at).unwrap_or(0), at)
        .unwrap();
    writeln!(
        out,
        "    decoded {:#x} = #{}",
        m.peek_freepointer(s, fp).unwrap_or(0),
        (m.peek_freepointer(s, fp).unwrap_or(0) - base) / size
    )
    .unwrap();

    let b = m.kmalloc(200, Gfp::GFP_KERNEL);
    writeln!(out, "kmalloc(200) = {:#x} (#{})", b, (b - base) / size).unwrap();
    writeln!(out, "  freelist: {}", walk(&m, s, base, size)).unwrap();

    m.kfree(a);
    writeln!(out, "kfree(#{}): pushed on the head of the freelist", (a - base) / size).unwrap();
    writeln!(out, "  freelist: {}", walk(&m, s, base, size)).unwrap();
    m.kfree(b);
    writeln!(out, "kfree(#{})", (b - base) / size).unwrap();
    writeln!(out, "  freelist: {}", walk(&m, s, base, size)).unwrap();

    let c = m.kmalloc(256, Gfp::GFP_KERNEL);
    writeln!(out, "kmalloc(256) = {:#x} (#{}): the object freed last comes back first", c, (c - base) / size).unwrap();
    m.kfree(c);

    let n = m.kmem_cache_node(s).expect("node");
    writeln!(out).unwrap();
    writeln!(out, "node 0: {} slabs, {} objects, {} on the partial list", n.nr_slabs, n.total_objects, n.nr_partial)
        .unwrap();
    out
}

fn main() {
    print!("{}", report());
}
