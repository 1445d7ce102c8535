//! `/sys/kernel/slab/<cache>/` and `/sys/kernel/debug/slab/<cache>/` (crate::slub::sysfs): what each kind of
//! access gets, as the kernel answers it. The attributes' values against the real kernel's are in the
//! workspace's `tests/listings.rs` (`sysfs_files_are_the_real_kernels`).

use kmem_sim::slab_common::*;
use kmem_sim::*;

const ENOENT: i32 = -2;
const EIO: i32 = -5;
const EISDIR: i32 = -21;
const EINVAL: i32 = -22;
const ERANGE: i32 = -34;

/// The book's guest: `slab_nomerge` unless `merge`.
fn boot(merge: bool) -> Machine {
    let cmdline = if merge { "console=ttyS0 nokaslr" } else { "console=ttyS0 nokaslr slab_nomerge" };
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline(cmdline)).unwrap();
    m.set_current("insmod", 95);
    m.push_module_frame("demo_init", "demo");
    m
}

fn read(m: &Machine, path: &str) -> Result<String, i32> {
    m.read_file(path)
}

#[test]
fn attributes_read_and_write_as_sysfs_answers() {
    let mut m = boot(false);
    let c = m.kmem_cache_create("demo", 48, 0, 0, None).unwrap();
    assert!(m.read_dir("/sys/kernel/slab").unwrap().contains(&"demo".to_string()));
    assert!(m.read_dir("/sys/kernel/slab").unwrap().contains(&"kmalloc-64".to_string()));
    let attrs = m.read_dir("/sys/kernel/slab/demo/").unwrap();
    assert_eq!(attrs.len(), 30, "{attrs:?}");
    assert!(attrs.windows(2).all(|w| w[0] < w[1]), "ls order");
    assert!(!attrs.iter().any(|a| a == "alloc_calls" || a == "free_calls"), "in debugfs since 6.12");
    assert_eq!(read(&m, "/sys/kernel/slab/demo/object_size"), Ok("48\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/ctor"), Ok(String::new()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/validate"), Ok(String::new()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/objects"), Ok("0\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/alloc_calls"), Err(ENOENT));
    assert_eq!(read(&m, "/sys/kernel/slab/nosuch/order"), Err(ENOENT));
    assert_eq!(read(&m, "/sys/kernel/slab/demo"), Err(EISDIR));
    // Read-only attributes: slab_attr_store() without a store, even for root.
    assert_eq!(m.write_file("/sys/kernel/slab/demo/object_size", "64"), Err(EIO));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/objects", "0"), Err(EIO));
    assert_eq!(m.write_file("/sys/kernel/slab/nosuch/shrink", "1"), Err(ENOENT));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/nosuch", "1"), Err(ENOENT));
    // The stores.
    assert_eq!(m.write_file("/sys/kernel/slab/demo/min_partial", "many"), Err(EINVAL));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/min_partial", "7"), Ok(()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/min_partial"), Ok("7\n".into()));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/remote_node_defrag_ratio", "101"), Err(ERANGE));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/remote_node_defrag_ratio", "30"), Ok(()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/remote_node_defrag_ratio"), Ok("30\n".into()));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/cpu_partial", "30"), Ok(()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/cpu_partial"), Ok("30\n".into()));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/validate", "1"), Err(EINVAL), "not a debug cache");
    assert_eq!(m.write_file("/sys/kernel/slab/demo/shrink", "0"), Err(EINVAL));
    assert_eq!(m.write_file("/sys/kernel/slab/demo/failslab", "1"), Ok(()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/failslab"), Ok("1\n".into()));
    // Counts: the CPU slab is counted whole; shrink flushes it and frees the empty slab.
    let p = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    assert_eq!(read(&m, "/sys/kernel/slab/demo/cpu_slabs"), Ok("1 N0=1\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/objects"), Ok("85 N0=85\n".into()));
    m.kmem_cache_free(c, p);
    assert_eq!(m.write_file("/sys/kernel/slab/demo/shrink", "1"), Ok(()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/slabs"), Ok("0\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/cpu_slabs"), Ok("0\n".into()));
    // Destroyed: the directory goes.
    m.kmem_cache_destroy(Some(c));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/order"), Err(ENOENT));
    assert!(!m.read_dir("/sys/kernel/slab").unwrap().contains(&"demo".to_string()));
}

#[test]
fn per_cpu_partial_slabs_are_counted_per_cpu() {
    let mut m = boot(false);
    let c = m.kmem_cache_create("demo", 2048, 0, 0, None).unwrap();
    // 16 objects per order-3 slab: fill one slab and start another, then free one object of the first.
    let objs: Vec<u64> = (0..17).map(|_| m.kmem_cache_alloc(c, Gfp::GFP_KERNEL)).collect();
    m.kmem_cache_free(c, objs[0]);
    let cpu = m.kmem_cache_cpu(c, 0).unwrap();
    assert_eq!(cpu.partial.len(), 1, "a full slab that gets a free goes to the CPU's partial list");
    assert_eq!(read(&m, "/sys/kernel/slab/demo/slabs_cpu_partial"), Ok("8(1) C0=8(1)\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/cpu_slabs"), Ok("2 N0=2\n".into()));
}

#[test]
fn validate_reports_what_it_finds() {
    let mut m = boot(false);
    let flags = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
    let c = m.kmem_cache_create("demo_debug", 48, 0, flags, None).unwrap();
    let p = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    assert_eq!(m.write_file("/sys/kernel/slab/demo_debug/validate", "1"), Ok(()));
    assert_eq!(m.log_text_since(seq), "", "a sound cache validates silently");
    // One byte past the object: the right red zone.
    m.write_bytes(p + 48, &[0x41]).unwrap();
    assert_eq!(m.write_file("/sys/kernel/slab/demo_debug/validate", "1"), Ok(()));
    let log = m.log_text_since(seq);
    assert!(log.contains("BUG demo_debug ("), "{log}");
    assert!(log.contains("[Right Redzone overwritten]"), "{log}");
    assert_eq!(m.write_file("/sys/kernel/slab/demo_debug/cpu_partial", "10"), Err(EINVAL), "no per-CPU partial");
}

#[test]
fn debugfs_traces() {
    let mut m = boot(false);
    let c = m.kmem_cache_create("demo_user", 48, 0, SLAB_STORE_USER, None).unwrap();
    let plain = m.kmem_cache_create("demo_plain", 48, 0, 0, None).unwrap();
    let _ = plain;
    assert!(m.read_dir("/sys/kernel/debug/slab").unwrap().contains(&"demo_user".to_string()));
    assert_eq!(m.read_dir("/sys/kernel/debug/slab/demo_plain"), Err(ENOENT), "only with SLAB_STORE_USER");
    assert_eq!(read(&m, "/sys/kernel/debug/slab/demo_user/alloc_traces"), Ok("No data\n".into()));
    let objs: Vec<u64> = (0..3).map(|_| m.kmem_cache_alloc(c, Gfp::GFP_KERNEL)).collect();
    m.kmem_cache_free(c, objs[1]);
    let _ = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    let t = read(&m, "/sys/kernel/debug/slab/demo_user/alloc_traces").unwrap();
    let first = t.lines().next().unwrap();
    assert!(first.starts_with("      3 demo_init+0x"), "{t}");
    assert!(first.contains(" [demo] age=") && first.ends_with(" pid=95 cpus=0"), "{t}");
    assert!(t.lines().nth(1).unwrap().starts_with("        kmem_cache_alloc_noprof+0x"), "{t}");
    assert!(t.ends_with("\n\n"), "an empty line after each trace: {t:?}");
    // The reallocated object was freed once from the same place; the others never.
    let f = read(&m, "/sys/kernel/debug/slab/demo_user/free_traces").unwrap();
    assert!(f.contains("      2 <not-available> age="), "{f}");
    assert!(f.contains("      1 demo_init+0x"), "{f}");
    assert_eq!(m.write_file("/sys/kernel/debug/slab/demo_user/alloc_traces", "1"), Err(EINVAL));
    m.kmem_cache_destroy(Some(c));
    assert_eq!(read(&m, "/sys/kernel/debug/slab/demo_user/alloc_traces"), Err(ENOENT));
}

#[test]
fn merged_caches_are_links_to_a_unique_id() {
    let mut m = boot(true);
    let a = m.kmem_cache_create("demo_a", 200, 0, 0, None).unwrap();
    let b = m.kmem_cache_create("demo_b", 196, 0, 0, None).unwrap();
    assert_eq!(a, b);
    let dir = m.read_dir("/sys/kernel/slab").unwrap();
    for name in [":0000200", "demo_a", "demo_b"] {
        assert!(dir.contains(&name.to_string()), "{name}");
    }
    assert_eq!(read(&m, "/sys/kernel/slab/:0000200/aliases"), Ok("1\n".into()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo_b/aliases"), Ok("1\n".into()));
    // The alias's destroy drops a reference; its link stays.
    m.kmem_cache_destroy(Some(b));
    assert_eq!(read(&m, "/sys/kernel/slab/demo_b/aliases"), Ok("0\n".into()));
    // The last destroy removes the directory; the links point nowhere.
    m.kmem_cache_destroy(Some(a));
    assert!(m.read_dir("/sys/kernel/slab").unwrap().contains(&"demo_b".to_string()));
    assert_eq!(read(&m, "/sys/kernel/slab/demo_a/aliases"), Err(ENOENT));
    assert_eq!(read(&m, "/sys/kernel/slab/:0000200/aliases"), Err(ENOENT));
    // A new cache of that name replaces the leftover link.
    let c = m.kmem_cache_create("demo_a", 200, 0, SLAB_RECLAIM_ACCOUNT, None).unwrap();
    assert_eq!(m.kmem_cache_layout(c).unwrap().name, "demo_a");
    assert_eq!(read(&m, "/sys/kernel/slab/demo_a/reclaim_account"), Ok("1\n".into()));
    assert!(m.read_dir("/sys/kernel/slab").unwrap().contains(&":a-0000200".to_string()));
}

#[test]
fn a_duplicate_name_takes_the_directory_over() {
    // sysfs_slab_add() of an unmergeable cache first removes whatever has its name (sysfs_remove_link() is
    // kernfs_remove_by_name()): a second cache called `demo` silently takes the first one's directory.
    let mut m = boot(false);
    let first = m.kmem_cache_create("demo", 48, 0, 0, None).unwrap();
    let seq = m.log_seq();
    let second = m.kmem_cache_create("demo", 64, 0, 0, None).unwrap();
    assert_ne!(first, second);
    assert_eq!(m.log_text_since(seq), "");
    assert_eq!(read(&m, "/sys/kernel/slab/demo/object_size"), Ok("64\n".into()));
    // The first cache's destroy removes nothing any more.
    m.kmem_cache_destroy(Some(first));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/object_size"), Ok("64\n".into()));
    m.kmem_cache_destroy(Some(second));
    assert_eq!(read(&m, "/sys/kernel/slab/demo/object_size"), Err(ENOENT));
}
