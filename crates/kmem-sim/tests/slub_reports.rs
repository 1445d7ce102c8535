//! One test per SLUB report type: the lines the kernel prints, found where the kernel finds the problem.
use kmem_sim::slab_common::*;
use kmem_sim::*;

fn boot(debug: Option<&str>) -> Machine {
    let mut cfg = MachineConfig::x86_64();
    if let Some(d) = debug {
        cfg = cfg.slab_debug(d);
    }
    let mut m = Machine::boot(cfg).unwrap();
    m.set_current("insmod", 95);
    m.push_module_frame("demo_init", "demo");
    m
}

fn has(log: &str, line: &str) -> bool {
    log.lines().any(|l| l.contains(line))
}

#[test]
fn right_redzone_on_free() {
    let mut m = boot(Some("FZPU"));
    let p = m.kmalloc(64, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    m.write_bytes(p + 64, &[0x41]).unwrap();
    m.kfree(p);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, &format!("[Right Redzone overwritten] 0x{:016x}-0x{:016x} @offset=", p + 64, p + 64)));
    assert!(has(&log, "First byte 0x41 instead of 0xcc"));
    assert!(has(&log, "BUG kmalloc-64 (Not tainted): Object corrupt"));
    assert!(has(&log, "Allocated in demo_init+"));
    // kmalloc-64 is 64-byte aligned, so its left red zone is 64 bytes.
    assert!(has(
        &log,
        &format!("Redzone  {:016x}: cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc  ................", p - 64)
    ));
    assert!(has(&log, &format!("Redzone  {:016x}: 41 cc cc cc cc cc cc cc                          A.......", p + 64)));
    assert!(has(&log, "Object   "));
    assert!(has(&log, "Padding  "));
    assert!(has(&log, "WARNING: CPU: 0 PID: 95 at mm/slub.c:1127 object_err+"));
    assert!(has(&log, &format!("FIX kmalloc-64: Restoring Right Redzone 0x{:016x}-0x{:016x}=0xcc", p + 64, p + 64)));
    assert!(has(&log, &format!("FIX kmalloc-64: Object at 0x{p:016x} not freed")));
    assert!(m.test_taint(Taint::BadPage));
}

#[test]
fn left_redzone_and_kmalloc_redzone() {
    let mut m = boot(Some(""));
    let p = m.kmalloc(20, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    m.write_bytes(p - 1, &[0]).unwrap();
    m.write_bytes(p + 22, &[0x42]).unwrap();
    m.kfree(p);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "[Left Redzone overwritten]"));
    assert!(has(&log, "[kmalloc Redzone overwritten]"));
    assert!(has(&log, "First byte 0x42 instead of 0xcc"));
    assert!(has(&log, "BUG kmalloc-32 (Not tainted): Object corrupt"));
}

#[test]
fn poison_overwritten_use_after_free() {
    let mut m = boot(Some("FZPU"));
    let p = m.kmalloc(128, Gfp::GFP_KERNEL);
    m.kfree(p);
    m.write_bytes(p + 8, b"UAF").unwrap();
    let seq = m.log_seq();
    let s = m.find_cache("kmalloc-128").unwrap();
    let q = m.kmalloc(128, Gfp::GFP_KERNEL);
    let log = m.log_text_since(seq);
    println!("{log}");
    // The corrupted slab is marked all used; the object comes from a new slab.
    assert_ne!(q, 0);
    assert_ne!(m.slab_of(q).unwrap().0, m.slab_of(p).unwrap().0);
    let _ = s;
    assert!(has(&log, "[Poison overwritten]"));
    assert!(has(&log, "First byte 0x55 instead of 0x6b"));
    assert!(has(&log, "Freed in demo_init+"));
    assert!(has(&log, "FIX kmalloc-128: Marking all objects used"));
}

#[test]
fn double_free_object_already_free() {
    let mut m = boot(Some("FZPU"));
    let a = m.kmalloc(32, Gfp::GFP_KERNEL);
    let _b = m.kmalloc(32, Gfp::GFP_KERNEL);
    m.kfree(a);
    let seq = m.log_seq();
    m.kfree(a);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "BUG kmalloc-32 (Not tainted): Object already free"));
    assert!(has(&log, &format!("FIX kmalloc-32: Object at 0x{a:016x} not freed")));
}

#[test]
fn invalid_pointer_and_wrong_cache() {
    let mut m = boot(Some("FZPU"));
    let a = m.kmalloc(64, Gfp::GFP_KERNEL);
    let _keep = m.kmalloc(64, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    m.kfree(a + 8);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, &format!("BUG kmalloc-64 (Not tainted): Invalid object pointer 0x{:016x}", a + 8)));
    let c = m.kmem_cache_create("demo_cache", 64, 0, 0, None).unwrap();
    let seq = m.log_seq();
    m.kmem_cache_free(c, a);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "cache_from_obj: Wrong slab cache. demo_cache but object is from kmalloc-64"));
}

#[test]
fn objects_remaining_on_destroy() {
    // The book's command line has slab_nomerge, so demo_cache is a cache of its own (see below otherwise).
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline("slab_nomerge")).unwrap();
    m.set_current("insmod", 95);
    m.push_module_frame("demo_init", "demo");
    let c = m.kmem_cache_create("demo_cache", 100, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
    let p = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    assert_ne!(p, 0);
    m.pop_frame();
    m.push_module_frame("demo_exit", "demo");
    let seq = m.log_seq();
    m.kmem_cache_destroy(Some(c));
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "BUG demo_cache (Not tainted): Objects remaining on __kmem_cache_shutdown()"));
    assert!(has(&log, "Object 0x"));
    assert!(has(&log, "kmem_cache_destroy demo_cache: Slab cache still has objects when called from demo_exit+"));
    assert!(!m.proc_slabinfo().contains("demo_cache"));
    // Without slab_nomerge, find_mergeable() finds a boot cache of 128-byte, 64-aligned objects for it (in the
    // real boot uid_cache): kmem_cache_create() returns that cache and kmem_cache_destroy() only drops the
    // alias's reference, silently, whatever the cache still holds.
    let mut m = boot(None);
    let c = m.kmem_cache_create("demo_cache", 100, 0, SLAB_HWCACHE_ALIGN, None).unwrap();
    let layout = m.kmem_cache_layout(c).unwrap();
    assert_ne!(layout.name, "demo_cache");
    assert!(layout.aliases.contains(&"demo_cache".to_string()));
    assert_eq!((layout.size, layout.align), (128, 64));
    assert_ne!(m.kmem_cache_alloc(c, Gfp::GFP_KERNEL), 0);
    let seq = m.log_seq();
    m.kmem_cache_destroy(Some(c));
    assert_eq!(m.log_text_since(seq), "");
    assert!(m.kmem_cache_layout(c).is_some(), "the target cache stays");
}

#[test]
fn freelist_head_double_free_without_debug_oopses() {
    let mut m = boot(None);
    let a = m.kmalloc(64, Gfp::GFP_KERNEL);
    m.kfree(a);
    let seq = m.log_seq();
    m.kfree(a);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "kernel BUG at mm/slub.c:550!"));
    // The book's kernel has no page-table isolation configured, so the banner ends at SMP.
    assert!(log.lines().any(|l| l.ends_with("Oops: invalid opcode: 0000 [#1] PREEMPT SMP")));
    assert!(matches!(m.kernel_stop(), Some(KernelStop::Oops(_))));
}

#[test]
fn silent_overflow_corrupts_free_pointer_then_oopses() {
    let mut m = boot(None);
    let a = m.kmalloc(64, Gfp::GFP_KERNEL);
    // The next object is free; its free pointer sits in its middle (offset 32).
    let seq = m.log_seq();
    m.fill(a, 128, 0x41).unwrap();
    let b = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert_eq!(b, a + 64, "the corrupted neighbour is still handed out");
    assert_eq!(m.log_text_since(seq), "", "without debugging the overflow is silent");
    let c = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert_eq!(c, 0);
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "general protection fault, probably for non-canonical address"));
}

#[test]
fn validate_finds_corruption_of_live_object() {
    let mut m = boot(None);
    let c = m.kmem_cache_create("dbg", 48, 0, SLAB_RED_ZONE | SLAB_POISON, None).unwrap();
    let p = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    m.write_bytes(p + 48, &[1, 2]).unwrap();
    let seq = m.log_seq();
    assert_eq!(m.kmem_cache_validate(c), Ok(1));
    let log = m.log_text_since(seq);
    println!("{log}");
    assert!(has(&log, "[Right Redzone overwritten]"));
    assert!(has(&log, "BUG dbg (Not tainted): Object corrupt"));
}

/// NULL caches, pools and foreign pointers fault where the real kernel's oopses did (probed with
/// `cargo xtask qemu --module`): `s->object_size` at 0x1c, `pool->pool_data` at 0x18, and for `ksize()` of a
/// vmalloc address the struct page beyond the memory map, inside `__ksize`.
#[test]
fn null_cache_and_pool_fault_at_the_fields_the_kernel_reads() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    m.kmem_cache_alloc_bad_cache(0);
    assert!(m.dmesg().contains("BUG: kernel NULL pointer dereference, address: 000000000000001c"));
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    let _ = m.mempool_alloc(MempoolPtr(0), Gfp::GFP_KERNEL);
    assert!(m.dmesg().contains("BUG: kernel NULL pointer dereference, address: 0000000000000018"));
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_current("insmod", 95);
    let v = m.vmalloc(4096);
    assert_eq!(m.ksize(v), 0);
    assert!(m.dmesg().contains("RIP: 0010:__ksize+"), "{}", m.dmesg());
}
