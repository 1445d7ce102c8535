//! Size classes, slab orders and objects per slab, and allocator invariants (proptest).
use kmem_sim::slab_common::*;
use kmem_sim::*;
use proptest::prelude::*;

#[test]
fn size_classes() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let cases = [
        (1, "kmalloc-8"),
        (8, "kmalloc-8"),
        (9, "kmalloc-16"),
        (64, "kmalloc-64"),
        (65, "kmalloc-96"),
        (96, "kmalloc-96"),
        (97, "kmalloc-128"),
        (129, "kmalloc-192"),
        (192, "kmalloc-192"),
        (193, "kmalloc-256"),
        (1000, "kmalloc-1k"),
        (4097, "kmalloc-8k"),
        (8192, "kmalloc-8k"),
    ];
    for (size, name) in cases {
        let p = m.kmalloc(size, Gfp::GFP_KERNEL);
        let (_, sl) = m.slab_of(p).unwrap();
        assert_eq!(m.kmem_cache_name(sl.cache), Some(name), "size {size}");
        m.kfree(p);
    }
    let p = m.kmalloc(64, Gfp::GFP_KERNEL | Gfp::__GFP_DMA);
    assert_eq!(
        m.kmem_cache_name(m.slab_of(p).unwrap().1.cache),
        Some("dma-kmalloc-64")
    );
    let p = m.kmalloc(64, Gfp::GFP_KERNEL | Gfp::__GFP_RECLAIMABLE);
    assert_eq!(
        m.kmem_cache_name(m.slab_of(p).unwrap().1.cache),
        Some("kmalloc-rcl-64")
    );
    let p = m.kmalloc(64, Gfp::GFP_KERNEL_ACCOUNT);
    assert_eq!(
        m.kmem_cache_name(m.slab_of(p).unwrap().1.cache),
        Some("kmalloc-cg-64")
    );
    assert_eq!(m.kmalloc(0, Gfp::GFP_KERNEL), ZERO_SIZE_PTR);
    m.kfree(ZERO_SIZE_PTR);
    assert_eq!(m.kmalloc_size_roundup(100), 128);
    assert_eq!(m.kmalloc_size_roundup(10000), 16384);
    let big = m.kmalloc(10000, Gfp::GFP_KERNEL);
    assert!(m.slab_of(big).is_none());
    assert_eq!(m.ksize(big), 16384);
    m.kfree(big);
    let seq = m.log_seq();
    assert_eq!(m.kmalloc(KMALLOC_MAX_SIZE + 1, Gfp::GFP_KERNEL), 0);
    assert!(m.log_text_since(seq).contains("WARNING"));
    assert_eq!(
        m.kmalloc(KMALLOC_MAX_SIZE + 1, Gfp::GFP_KERNEL | Gfp::__GFP_NOWARN),
        0
    );
}

#[test]
fn kmalloc_orders_four_cpus() {
    let m = Machine::boot(MachineConfig::x86_64().cpus(4)).unwrap();
    let expect = [
        ("kmalloc-8", 512, 0),
        ("kmalloc-16", 256, 0),
        ("kmalloc-32", 128, 0),
        ("kmalloc-64", 64, 0),
        ("kmalloc-96", 42, 0),
        ("kmalloc-128", 32, 0),
        ("kmalloc-192", 21, 0),
        ("kmalloc-256", 16, 0),
        ("kmalloc-512", 16, 1),
        ("kmalloc-1k", 16, 2),
        ("kmalloc-2k", 16, 3),
        ("kmalloc-4k", 8, 3),
        ("kmalloc-8k", 4, 3),
    ];
    for (name, objs, order) in expect {
        let l = m.kmem_cache_layout(m.find_cache(name).unwrap()).unwrap();
        assert_eq!((l.objects, l.order), (objs, order), "{name}");
    }
}

#[test]
fn krealloc_semantics() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let p = m.kmalloc(50, Gfp::GFP_KERNEL);
    m.write_bytes(p, b"hello").unwrap();
    assert_eq!(
        m.krealloc(p, 60, Gfp::GFP_KERNEL),
        p,
        "fits in ksize: same object"
    );
    let q = m.krealloc(p, 200, Gfp::GFP_KERNEL);
    assert_ne!(q, p);
    let mut b = [0u8; 5];
    m.read_bytes(q, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    assert_eq!(m.krealloc(q, 0, Gfp::GFP_KERNEL), ZERO_SIZE_PTR);
    let s = m.kstrdup("abc", Gfp::GFP_KERNEL);
    let mut b = [0u8; 4];
    m.read_bytes(s, &mut b).unwrap();
    assert_eq!(&b, b"abc\0");
}

#[test]
fn merging_and_ctor_queue() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    let a = m.kmem_cache_create("a_cache", 40, 0, 0, None).unwrap();
    let b = m.kmem_cache_create("b_cache", 36, 0, 0, None).unwrap();
    assert_eq!(a, b, "b_cache is an alias of a_cache");
    assert!(!m.proc_slabinfo().contains("b_cache"));
    let c = m
        .kmem_cache_create("c_cache", 40, 0, 0, Some(CtorId(7)))
        .unwrap();
    assert_ne!(a, c);
    let o = m.kmem_cache_alloc(c, Gfp::GFP_KERNEL);
    let work = m.take_pending_ctors();
    assert!(work.iter().any(|&(id, p)| id == CtorId(7) && p == o));
    assert_eq!(work.len() as u32, m.kmem_cache_layout(c).unwrap().objects);
}

#[test]
fn failslab_injects() {
    let mut m = Machine::boot(MachineConfig::x86_64()).unwrap();
    m.set_failslab(
        Some(FaultConfig::default().probability(100).times(1).verbose(1)),
        true,
        false,
    );
    assert_ne!(
        m.kmalloc(32, Gfp::GFP_KERNEL),
        0,
        "ignore-gfp-wait: GFP_KERNEL is not failed"
    );
    let seq = m.log_seq();
    assert_eq!(m.kmalloc(32, Gfp::GFP_ATOMIC), 0);
    assert!(m
        .log_text_since(seq)
        .contains("FAULT_INJECTION: forcing a failure."));
    assert_ne!(m.kmalloc(32, Gfp::GFP_ATOMIC), 0, "times=1");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn objects_never_overlap_and_counts_agree(ops in proptest::collection::vec((1u64..3000, any::<bool>()), 1..120)) {
        let mut m = Machine::boot(MachineConfig::x86_64().ram_mib(64)).unwrap();
        let mut live: Vec<(u64, u64)> = Vec::new();
        for (size, free) in ops {
            if free && !live.is_empty() {
                let (p, _) = live.remove((size as usize) % live.len());
                m.kfree(p);
            } else {
                let p = m.kmalloc(size, Gfp::GFP_KERNEL);
                prop_assert!(p != 0);
                let (pfn, sl) = m.slab_of(p).unwrap();
                prop_assert_eq!(m.page_frame(pfn).unwrap().owner(), PageOwner::Slab);
                prop_assert!(m.ksize(p) >= size);
                let _ = sl;
                live.push((p, size));
            }
        }
        let mut v = live.clone();
        v.sort();
        for w in v.windows(2) {
            prop_assert!(w[0].0 + w[0].1 <= w[1].0, "overlap");
        }
        for info in m.slabinfo() {
            let id = m.find_cache(&info.name).unwrap();
            let slabs = m.cache_slabs(id);
            prop_assert_eq!(info.num_slabs, slabs.len() as u64);
            prop_assert_eq!(info.num_objs, slabs.iter().map(|s| s.1.objects as u64).sum::<u64>());
        }
        prop_assert!(m.kernel_stop().is_none());
    }
}
