//! Managed device resources (drivers/base/devres.c) and the driver core's binding (drivers/base/dd.c): the
//! header in front of devm_kmalloc() memory, release newest first on detach and after a failed probe, the
//! `devres.log` lines, the WARN_ON()s of frees that match nothing, and a NULL device.
use kmem_sim::devres::{DevresNext, DrRelease};
use kmem_sim::*;

fn machine(cmdline: &str) -> Machine {
    let mut m = Machine::boot(MachineConfig::x86_64().cmdline(cmdline)).unwrap();
    m.set_current("insmod", 95);
    m
}

/// Registers the driver and the device and binds them as the façade does (no module probe function).
fn bound(m: &mut Machine) -> DeviceId {
    let drv = m.platform_driver_register("kmem-book-devres").unwrap();
    let dev = m.platform_device_register_simple("kmem-book-devres", 0);
    assert_eq!(m.device_attach_driver(dev), Some(drv));
    m.really_probe_begin(dev, drv).unwrap();
    assert!(!m.really_probe_end(dev, drv, 0));
    dev
}

/// Runs devres_release_all() to the end; returns the actions the module would run, in order.
fn release_all(m: &mut Machine, dev: DeviceId) -> Vec<(u64, u64)> {
    m.devres_release_all_begin(dev);
    let mut actions = Vec::new();
    loop {
        match m.devres_release_next(dev) {
            DevresNext::Done => break,
            DevresNext::Action { action, data, node } => {
                actions.push((action, data));
                m.devres_free_node(node);
            }
            DevresNext::Release { release, res, node } => {
                actions.push((release, res));
                m.devres_free_node(node);
            }
        }
    }
    actions
}

#[test]
fn devm_kmalloc_memory_is_40_bytes_into_a_rounded_up_kmalloc_object() {
    let mut m = machine("");
    let dev = bound(&mut m);
    for (size, cache) in [(100u64, "kmalloc-192"), (1024, "kmalloc-2k"), (8, "kmalloc-64"), (4056, "kmalloc-4k")] {
        let p = m.devm_kmalloc(Some(dev), size, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
        assert_ne!(p, 0);
        let node = m.devres_nodes(dev).last().unwrap().clone();
        assert_eq!(p, node.addr + 40, "{size}");
        assert_eq!((node.name.as_str(), node.size), ("devm_kzalloc_release", size));
        let seq = m.log_seq();
        assert!(m.kmem_dump_obj(p));
        let line = m.dmesg_since(seq);
        assert!(line.contains(&format!(" slab {cache} start ")), "{size}: {line}");
        assert!(line.trim_end().ends_with(&format!("pointer offset 40 size {}", cache_size(cache))), "{line}");
    }
    assert_eq!(m.devm_kmalloc(Some(dev), 0, Gfp::GFP_KERNEL), 16, "ZERO_SIZE_PTR, nothing recorded");
    assert_eq!(m.devres_nodes(dev).len(), 4);
}

fn cache_size(name: &str) -> u32 {
    match name {
        "kmalloc-192" => 192,
        "kmalloc-2k" => 2048,
        "kmalloc-64" => 64,
        "kmalloc-4k" => 4096,
        _ => unreachable!(),
    }
}

#[test]
fn detach_releases_newest_first_and_frees_everything() {
    let mut m = machine("devres.log=1");
    let dev = bound(&mut m);
    let a = m.devm_kmalloc(Some(dev), 100, Gfp::GFP_KERNEL);
    let dma = m.dmam_alloc_attrs(Some(dev), 8192, Gfp::GFP_KERNEL, 0).unwrap();
    let pages = m.devm_get_free_pages(Some(dev), Gfp::GFP_KERNEL, 2);
    assert_eq!(m.devm_add_action(Some(dev), 7, 0x1234, "my_action"), 0);
    let b = m.devm_kmalloc(Some(dev), 3000, Gfp::GFP_KERNEL);
    assert!(a != 0 && b != 0 && pages != 0);
    let names: Vec<String> = m.devres_nodes(dev).iter().map(|n| n.name.clone()).collect();
    assert_eq!(
        names,
        ["devm_kzalloc_release", "dmam_release", "devm_pages_release", "my_action", "devm_kzalloc_release"]
    );
    assert!(
        matches!(m.devres_nodes(dev)[1].release, DrRelease::Dma { size: 8192, vaddr, .. } if vaddr == dma.cpu_addr)
    );
    let seq = m.log_seq();
    assert_eq!(release_all(&mut m, dev), [(7, 0x1234)]);
    m.device_unbind_end(dev);
    let log = m.dmesg_since(seq);
    let rel: Vec<&str> =
        log.lines().filter_map(|l| l.split(" DEVRES REL ").nth(1)).map(|r| r.split_once(' ').unwrap().1).collect();
    assert_eq!(
        rel,
        [
            "devm_kzalloc_release (3000 bytes)",
            "my_action (16 bytes)",
            "devm_pages_release (16 bytes)",
            "dmam_release (32 bytes)",
            "devm_kzalloc_release (100 bytes)"
        ]
    );
    assert!(log.lines().all(|l| l.contains("kmem-book-devres kmem-book-devres.0: DEVRES REL ")), "{log}");
    assert!(m.devres_nodes(dev).is_empty());
    assert!(m.dma_coherent_allocations().is_empty(), "the coherent buffer was freed");
    let pfn = Pfn(m.virt_to_phys(pages) >> 12);
    assert_eq!(m.page_ref_count(pfn), 0, "the pages were freed");
    assert_eq!(m.device(dev).unwrap().driver, None);
    assert!(!m.dmesg().contains("WARNING"));
}

#[test]
fn the_log_is_off_without_devres_log() {
    let mut m = machine("devres.log=0");
    let dev = bound(&mut m);
    let seq = m.log_seq();
    m.devm_kmalloc(Some(dev), 64, Gfp::GFP_KERNEL);
    release_all(&mut m, dev);
    assert_eq!(m.dmesg_since(seq), "");
}

#[test]
fn a_failed_probe_is_reported_and_unwound() {
    let mut m = machine("devres.log=1");
    let drv = m.platform_driver_register("kmem-book-devres").unwrap();
    let dev = m.platform_device_register_simple("kmem-book-devres", 1);
    m.really_probe_begin(dev, drv).unwrap();
    let p = m.devm_kmalloc(Some(dev), 100, Gfp::GFP_KERNEL);
    assert_eq!(m.devm_kmalloc(Some(dev), 8 << 20, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN), 0);
    assert!(p != 0);
    let seq = m.log_seq();
    assert!(m.really_probe_end(dev, drv, -12));
    release_all(&mut m, dev);
    m.device_unbind_end(dev);
    let log = m.dmesg_since(seq);
    let lines: Vec<&str> = log.lines().map(|l| l.split_once("] ").unwrap().1).collect();
    assert_eq!(
        lines[0],
        "kmem-book-devres kmem-book-devres.1: probe with driver kmem-book-devres failed with error -12"
    );
    // %p without no_hash_pointers: the hashed value.
    assert!(lines[1].starts_with("kmem-book-devres kmem-book-devres.1: DEVRES REL 00000000"), "{}", lines[1]);
    assert!(lines[1].ends_with(" devm_kzalloc_release (100 bytes)"));
    assert_eq!(lines.len(), 2);
    assert_eq!(m.dev_driver_string(dev), "platform", "unbound again");
    // -ENODEV and -EPROBE_DEFER are dev_dbg()s.
    m.really_probe_begin(dev, drv).unwrap();
    let seq = m.log_seq();
    assert!(m.really_probe_end(dev, drv, -19));
    m.device_unbind_end(dev);
    assert_eq!(m.dmesg_since(seq), "");
}

#[test]
fn matching_registration_and_refusals() {
    let mut m = machine("");
    let drv = m.platform_driver_register("kmem-book-devres").unwrap();
    assert_eq!(m.platform_driver_register("kmem-book-devres"), Err(-16));
    assert!(m.dmesg().contains("Error: Driver 'kmem-book-devres' is already registered, aborting...\n"));
    let other = m.platform_device_register_simple("other", 0);
    assert_eq!(m.device_attach_driver(other), None);
    let a = m.platform_device_register_simple("kmem-book-devres", 0);
    let b = m.platform_device_register_simple("kmem-book-devres", 1);
    assert_eq!(m.driver_attach_devices(drv), [a, b]);
    // A device with managed resources before its probe is refused.
    m.devm_kmalloc(Some(b), 32, Gfp::GFP_KERNEL);
    assert_eq!(m.really_probe_begin(b, drv), Err(-16));
    assert!(m.dmesg().contains("platform kmem-book-devres.1: Resources present before probing\n"));
    m.really_probe_begin(a, drv).unwrap();
    m.really_probe_end(a, drv, 0);
    assert_eq!(m.dev_driver_string(a), "kmem-book-devres");
    assert_eq!(m.driver_detach_devices(drv), [a]);
    assert_eq!(m.device_release_driver_begin(a), Some(drv));
}

#[test]
fn frees_that_match_nothing_warn() {
    let mut m = machine("");
    let dev = bound(&mut m);
    let p = m.kmalloc(64, Gfp::GFP_KERNEL);
    m.devm_kfree(Some(dev), p);
    let log = m.dmesg();
    assert!(log.contains("WARNING: CPU: 0 PID: 95 at drivers/base/devres.c:1077 devm_kfree+"), "{log}");
    m.devm_kfree(Some(dev), 0); // NULL: ignored
    m.devm_remove_action(Some(dev), 3, 4);
    assert!(m.dmesg().contains("at drivers/base/devres.c:776 devm_remove_action+"));
    assert_eq!(m.devm_release_action(Some(dev), 3, 4), DevresNext::Done);
    assert!(m.dmesg().contains("at drivers/base/devres.c:798 devm_release_action+"));
    // A managed free takes the node off (REM) and frees it.
    let q = m.devm_kmalloc(Some(dev), 64, Gfp::GFP_KERNEL);
    m.devm_kfree(Some(dev), q);
    assert!(m.devres_nodes(dev).is_empty());
    // dmam_free_coherent() with the wrong size still frees, after dmam_match()'s warning.
    let a = m.dmam_alloc_attrs(Some(dev), 4096, Gfp::GFP_KERNEL, 0).unwrap();
    m.dmam_free_coherent(Some(dev), 8192, a.cpu_addr, a.dma_handle);
    assert!(m.dmesg().contains("at kernel/dma/mapping.c:54 "));
    assert!(m.devres_nodes(dev).is_empty());
}

#[test]
fn devm_release_action_runs_it_now() {
    let mut m = machine("devres.log=1");
    let dev = bound(&mut m);
    m.devm_add_action(Some(dev), 1, 10, "first");
    m.devm_add_action(Some(dev), 1, 20, "second");
    let seq = m.log_seq();
    match m.devm_release_action(Some(dev), 1, 10) {
        DevresNext::Action { action: 1, data: 10, node } => m.devres_free_node(node),
        other => panic!("{other:?}"),
    }
    assert!(m.dmesg_since(seq).contains(" DEVRES REM "));
    assert_eq!(m.devres_nodes(dev).len(), 1);
    assert_eq!(m.devres_nodes(dev)[0].name, "second");
}

#[test]
fn a_null_device_oopses_where_the_kernel_reads_it() {
    let mut m = machine("");
    assert_eq!(m.devm_kmalloc(None, 64, Gfp::GFP_KERNEL), 0);
    assert!(m.dmesg().contains("BUG: kernel NULL pointer dereference, address: 0000000000000170"), "{}", m.dmesg());
}

#[test]
fn kmemdup_kstrdup_and_krealloc() {
    let mut m = machine("devres.log=1");
    let dev = bound(&mut m);
    let p = m.devm_kmemdup(Some(dev), b"abcdef", Gfp::GFP_KERNEL);
    let mut b = [0u8; 6];
    m.read_bytes(p, &mut b).unwrap();
    assert_eq!(&b, b"abcdef");
    let s = m.devm_kstrdup(Some(dev), Some(b"kmem"), Gfp::GFP_KERNEL);
    let mut c = [0xffu8; 5];
    m.read_bytes(s, &mut c).unwrap();
    assert_eq!(&c, b"kmem\0");
    assert_eq!(m.devm_kstrdup(Some(dev), None, Gfp::GFP_KERNEL), 0);
    assert_eq!(m.devres_nodes(dev).last().unwrap().size, 5);
    // Within the old object (100 + 40 <= 192): the same pointer.
    let a = m.devm_kmalloc(Some(dev), 100, Gfp::GFP_KERNEL);
    m.write_bytes(a, b"state").unwrap();
    assert_eq!(m.devm_krealloc(Some(dev), a, 150, Gfp::GFP_KERNEL), a);
    // Beyond it: a new node in the old one's place, the contents copied, REPLACE logged.
    let seq = m.log_seq();
    let n_before = m.devres_nodes(dev).len();
    let b2 = m.devm_krealloc(Some(dev), a, 300, Gfp::GFP_KERNEL);
    assert_ne!(b2, a);
    assert!(m.log_text_since(seq).contains(" DEVRES REPLACE "));
    assert_eq!(m.devres_nodes(dev).len(), n_before);
    let node = m.devres_nodes(dev).last().unwrap().clone();
    assert_eq!((node.name.as_str(), node.size, node.addr + 40), ("devm_krealloc_release", 300, b2));
    let mut d = [0u8; 5];
    m.read_bytes(b2, &mut d).unwrap();
    assert_eq!(&d, b"state");
    // Size 0 frees; NULL allocates.
    assert_eq!(m.devm_krealloc(Some(dev), b2, 0, Gfp::GFP_KERNEL), 16);
    assert_eq!(m.devres_nodes(dev).len(), n_before - 1);
    let e = m.devm_krealloc(Some(dev), 0, 64, Gfp::GFP_KERNEL);
    assert_eq!(m.devres_nodes(dev).last().unwrap().addr + 40, e);
    // A kmalloc pointer the device does not manage.
    let k = m.kmalloc(64, Gfp::GFP_KERNEL);
    assert_eq!(m.devm_krealloc(Some(dev), k + 40, 1000, Gfp::GFP_KERNEL), 0);
    assert!(m.dmesg().contains("Memory chunk not managed or managed by a different device."));
}

#[test]
fn the_generic_api_alloc_add_find_remove_free() {
    let mut m = machine("devres.log=1");
    let dev = bound(&mut m);
    let r = m.devres_alloc_node(5, 24, Gfp::GFP_KERNEL, -1, "my_release");
    assert_ne!(r, 0);
    assert!(m.devres_nodes(dev).is_empty(), "not on the list before devres_add()");
    assert_eq!(m.devres_unlisted_release(r), Some(5));
    let seq = m.log_seq();
    m.devres_add(Some(dev), r);
    assert!(m.log_text_since(seq).contains(" DEVRES ADD "));
    assert!(m.log_text_since(seq).contains(" my_release (24 bytes)"));
    assert_eq!(m.devres_candidates(dev, 5), [r]);
    assert!(m.devres_candidates(dev, 6).is_empty());
    // devres_get() with an existing match frees the new node and returns the old one.
    let r2 = m.devres_alloc_node(5, 24, Gfp::GFP_KERNEL, -1, "my_release");
    assert_eq!(m.devres_get(Some(dev), r2, Some(r)), r);
    assert_eq!(m.devres_nodes(dev).len(), 1);
    // remove, then free.
    assert_eq!(m.devres_remove(Some(dev), r), r);
    assert!(m.devres_nodes(dev).is_empty());
    m.devres_free(r);
    assert!(m.check_consistency().is_ok());
    // Released on detach through the module's function.
    let r3 = m.devres_alloc_node(9, 8, Gfp::GFP_KERNEL, -1, "other");
    m.devres_add(Some(dev), r3);
    assert_eq!(release_all(&mut m, dev), [(9, r3)]);
    // Adding a node twice, or freeing one on a list, is a BUG().
    let r4 = m.devres_alloc_node(9, 8, Gfp::GFP_KERNEL, -1, "other");
    m.devres_add(Some(dev), r4);
    m.devres_add(Some(dev), r4);
    assert!(m.dmesg().contains("kernel BUG at drivers/base/devres.c:135!"), "{}", m.dmesg());
}

/// The names on the device's list, oldest first.
fn names(m: &Machine, dev: DeviceId) -> Vec<String> {
    m.devres_nodes(dev).iter().map(|n| n.name.clone()).collect()
}

/// Runs devres_release_group() to the end; returns what it counted.
fn release_group(m: &mut Machine, dev: DeviceId, id: u64) -> i32 {
    let n = m.devres_release_group_begin(Some(dev), id);
    while m.devres_release_next(dev) != DevresNext::Done {}
    n
}

#[test]
fn a_released_group_takes_its_nested_groups_markers_first_then_resources_newest_first() {
    let mut m = machine("devres.log=1 no_hash_pointers");
    let dev = bound(&mut m);
    let outer = m.devm_kmalloc(Some(dev), 64, Gfp::GFP_KERNEL);
    let g = m.devres_open_group(Some(dev), 0, Gfp::GFP_KERNEL);
    assert_eq!(m.ksize(g), 96, "the group is one kmalloc-96 object, its id its address");
    m.devm_kmalloc(Some(dev), 128, Gfp::GFP_KERNEL);
    let h = m.devres_open_group(Some(dev), 0x1234, Gfp::GFP_KERNEL);
    assert_eq!(h, 0x1234, "a caller's id is returned as it is");
    m.devm_kmalloc(Some(dev), 256, Gfp::GFP_KERNEL);
    m.devres_close_group(Some(dev), h);
    m.devres_close_group(Some(dev), g);
    assert_eq!(names(&m, dev).iter().filter(|n| n.starts_with("grp")).count(), 4);
    let seq = m.log_seq();
    assert_eq!(release_group(&mut m, dev, g), 2);
    let log = m.log_text_since(seq);
    let rel: Vec<&str> = log.lines().filter_map(|l| l.split("DEVRES REL ").nth(1)).collect();
    assert_eq!(rel.len(), 4, "{log}");
    assert!(rel[0].starts_with(&format!("{g:x} grp<")), "the outer group completes last, so goes first");
    assert!(rel[1].ends_with("grp< (0 bytes)") && rel[2].contains("(256 bytes)") && rel[3].contains("(128 bytes)"));
    assert_eq!(names(&m, dev), ["devm_kzalloc_release"]);
    assert_eq!(m.devres_nodes(dev)[0].addr + 40, outer);
}

#[test]
fn a_removed_group_leaves_its_resources_to_the_device() {
    let mut m = machine("devres.log=1 no_hash_pointers");
    let dev = bound(&mut m);
    let g = m.devres_open_group(Some(dev), 0, Gfp::GFP_KERNEL);
    m.devm_kmalloc(Some(dev), 512, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    m.devres_remove_group(Some(dev), g);
    assert!(m.log_text_since(seq).contains(&format!("DEVRES REM {g:x} grp< (0 bytes)")));
    assert_eq!(names(&m, dev), ["devm_kzalloc_release"]);
    // An open group at detach: its marker goes with the rest.
    let g2 = m.devres_open_group(Some(dev), 0, Gfp::GFP_KERNEL);
    let p = m.devm_kmalloc(Some(dev), 32, Gfp::GFP_KERNEL);
    release_all(&mut m, dev);
    assert!(m.devres_nodes(dev).is_empty());
    // The marker is released first, then the 72-byte node: both kmalloc-96 objects go back, LIFO.
    assert_eq!(m.kmalloc(96, Gfp::GFP_KERNEL), p - 40);
    assert_eq!(m.kmalloc(96, Gfp::GFP_KERNEL), g2, "the group's object is freed");
}

#[test]
fn an_id_that_names_no_group_warns() {
    let mut m = machine("");
    let dev = bound(&mut m);
    m.devm_kmalloc(Some(dev), 8, Gfp::GFP_KERNEL);
    let seq = m.log_seq();
    assert_eq!(release_group(&mut m, dev, 0), 0);
    assert!(m.log_text_since(seq).contains("at drivers/base/devres.c:698"));
    let seq = m.log_seq();
    m.devres_close_group(Some(dev), 0x99);
    assert!(m.log_text_since(seq).contains("at drivers/base/devres.c:621"));
    // With an empty list (a device being torn down) devres_release_group() is silent.
    release_all(&mut m, dev);
    let seq = m.log_seq();
    assert_eq!(release_group(&mut m, dev, 0x99), 0);
    assert_eq!(m.log_text_since(seq), "");
}
