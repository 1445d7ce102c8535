//! DMA pools (mm/dmapool.c 6.12): creation rules, block layout, the pools file, the busy-destroy and
//! wrong-pool/double-free behaviour with and without DMAPOOL_DEBUG, and properties of random sequences.
use std::collections::BTreeMap;

use kmem_sim::dmapool::DmaPoolCreateError as E;
use kmem_sim::*;
use proptest::prelude::*;

fn machine(debug: bool) -> (Machine, DeviceId) {
    let mut m = Machine::boot(MachineConfig::x86_64().slub_debug_on(debug)).unwrap();
    m.set_current("insmod", 95);
    let dev = m.platform_device_register_simple("kmem-book-dma", 0);
    (m, dev)
}

#[test]
fn create_rules() {
    let (mut m, dev) = machine(false);
    let d = Some(dev);
    assert_eq!(m.dma_pool_create("p", None, 64, 8, 0), Err(E::NoDevice));
    assert_eq!(m.dma_pool_create("p", d, 0, 8, 0), Err(E::BadSize));
    assert_eq!(m.dma_pool_create("p", d, 1 << 31, 8, 0), Err(E::BadSize));
    assert_eq!(m.dma_pool_create("p", d, 64, 24, 0), Err(E::BadAlign));
    assert_eq!(m.dma_pool_create("p", d, 64, 8, 32), Err(E::BadBoundary));
    assert_eq!(m.dma_pool_create("p", d, 64, 8, 1000), Err(E::BadBoundary));
    let cases = [
        // (size, align, boundary) -> (size, allocation, boundary)
        ((1, 0, 0), (16, 4096, 4096)),
        ((100, 64, 0), (128, 4096, 4096)),
        ((24, 1, 256), (24, 4096, 256)),
        ((384, 128, 1024), (384, 4096, 1024)),
        ((5000, 8, 0), (5000, 5000, 5000)),
        ((64, 8, 1 << 20), (64, 4096, 4096)),
    ];
    for ((s, a, b), want) in cases {
        let p = m.dma_pool_create("rules", d, s, a, b).unwrap();
        let pool = m.dma_pool(p).unwrap();
        assert_eq!((pool.size as u64, pool.allocation as u64, pool.boundary as u64), want);
        m.dma_pool_destroy(Some(p));
    }
    let p = m.dma_pool_create("a-very-long-pool-name-that-is-truncated", d, 8, 0, 0).unwrap();
    assert_eq!(m.dma_pool(p).unwrap().name, "a-very-long-pool-name-that-is-t");
    m.dma_pool_destroy(Some(p));
    m.dma_pool_destroy(None);
}

#[test]
fn blocks_respect_the_boundary_and_come_lifo() {
    let (mut m, dev) = machine(false);
    let p = m.dma_pool_create("descs", Some(dev), 384, 128, 1024).unwrap();
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(m.dma_pool_alloc(p, Gfp::GFP_KERNEL).unwrap());
    }
    let base = got[0].cpu_addr;
    assert_eq!(base % 4096, 0);
    let offs: Vec<u64> = got.iter().map(|a| a.cpu_addr - base).collect();
    // Two blocks per 1 KiB segment: 0, 384, then 1024 ...
    assert_eq!(offs, [0, 384, 1024, 1408, 2048, 2432, 3072, 3456]);
    for a in &got {
        assert_eq!(a.dma_handle, m.virt_to_phys(a.cpu_addr));
    }
    let pool = m.dma_pool(p).unwrap();
    assert_eq!((pool.nr_blocks, pool.nr_active, pool.nr_pages), (8, 8, 1));
    // A ninth block needs a second chunk.
    let ninth = m.dma_pool_zalloc(p, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(ninth.cpu_addr % 4096, 0);
    let mut b = [0xffu8; 384];
    m.read_bytes(ninth.cpu_addr, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0));
    assert_eq!(m.dma_pools_show(dev).unwrap(), "poolinfo - 0.1\ndescs               9   16  384  2\n");
    // Free one, get it back.
    m.dma_pool_free(p, got[3].cpu_addr, got[3].dma_handle);
    assert_eq!(m.dma_pool_free_list(p)[0], got[3].cpu_addr);
    assert_eq!(m.dma_pool_alloc(p, Gfp::GFP_ATOMIC), Some(got[3]));
    for a in got.iter().chain([&ninth]) {
        m.dma_pool_free(p, a.cpu_addr, a.dma_handle);
    }
    assert_eq!(m.dma_pool(p).unwrap().nr_active, 0);
    // The two chunks go back to the page allocator (order 0: onto this CPU's per-CPU list).
    let free0 = m.nr_free_pages() + m.nr_free_pcp();
    m.dma_pool_destroy(Some(p));
    assert_eq!(m.nr_free_pages() + m.nr_free_pcp(), free0 + 2);
    assert_eq!(m.dma_pools_show(dev), None, "the pools file goes with the last pool");
    assert!(m.dma_coherent_allocations().is_empty());
}

#[test]
fn busy_destroy_leaks_and_says_so() {
    let (mut m, dev) = machine(false);
    let p = m.dma_pool_create("kmem_book_descs", Some(dev), 64, 64, 0).unwrap();
    let a = m.dma_pool_alloc(p, Gfp::GFP_KERNEL).unwrap();
    let seq = m.log_seq();
    m.dma_pool_destroy(Some(p));
    assert_eq!(m.log_text_since(seq), "platform kmem-book-dma.0: dma_pool_destroy kmem_book_descs busy\n");
    assert_eq!(m.log_records_since(seq)[0].level, 3, "dev_err");
    // The chunk is leaked: still a live coherent allocation, the block still readable.
    assert_eq!(m.dma_coherent_allocations().len(), 1);
    assert!(m.read_u64(a.cpu_addr).is_ok());
    // With a driver bound, dev_err names the driver.
    m.device_bind_driver(dev, Some("kmem_book_dma"));
    let p = m.dma_pool_create("second", Some(dev), 64, 0, 0).unwrap();
    m.dma_pool_alloc(p, Gfp::GFP_KERNEL).unwrap();
    let seq = m.log_seq();
    m.dma_pool_destroy(Some(p));
    assert_eq!(m.log_text_since(seq), "kmem_book_dma kmem-book-dma.0: dma_pool_destroy second busy\n");
}

#[test]
fn wrong_pool_and_double_free_without_debug_go_unnoticed() {
    let (mut m, dev) = machine(false);
    let a = m.dma_pool_create("a", Some(dev), 32, 0, 0).unwrap();
    let b = m.dma_pool_create("b", Some(dev), 32, 0, 0).unwrap();
    let x = m.dma_pool_alloc(a, Gfp::GFP_KERNEL).unwrap();
    let y = m.dma_pool_alloc(b, Gfp::GFP_KERNEL).unwrap();
    let seq = m.log_seq();
    m.dma_pool_free(b, x.cpu_addr, x.dma_handle); // wrong pool
    assert_eq!(m.log_text_since(seq), "");
    assert_eq!(m.dma_pool(b).unwrap().nr_active, 0);
    // b now hands out a's block: two owners for one block.
    assert_eq!(m.dma_pool_alloc(b, Gfp::GFP_KERNEL), Some(x));
    m.dma_pool_free(b, y.cpu_addr, y.dma_handle);
    m.dma_pool_free(b, y.cpu_addr, y.dma_handle); // double free
    assert_eq!(m.log_text_since(seq), "");
    assert_eq!(m.dma_pool(b).unwrap().nr_active, u64::MAX, "size_t wrapped");
    let y1 = m.dma_pool_alloc(b, Gfp::GFP_KERNEL).unwrap();
    let y2 = m.dma_pool_alloc(b, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(y1, y2, "the same block twice");
}

#[test]
fn dmapool_debug_messages() {
    let (mut m, dev) = machine(true);
    let a = m.dma_pool_create("pool_a", Some(dev), 32, 0, 0).unwrap();
    let b = m.dma_pool_create("pool_b", Some(dev), 32, 0, 0).unwrap();
    let x = m.dma_pool_alloc(a, Gfp::GFP_KERNEL).unwrap();
    let y = m.dma_pool_alloc(b, Gfp::GFP_KERNEL).unwrap();
    let mut buf = [0u8; 32];
    m.read_bytes(x.cpu_addr, &mut buf).unwrap();
    assert!(buf.iter().all(|&v| v == 0xa9), "POOL_POISON_ALLOCATED");
    let seq = m.log_seq();
    m.dma_pool_free(b, x.cpu_addr, x.dma_handle);
    let log = m.log_text_since(seq);
    let xp = m.format_ptr(x.cpu_addr);
    assert_eq!(
        log,
        format!("platform kmem-book-dma.0: pool_block_err pool_b, {xp}/0x{:016x} (bad dma)\n", x.dma_handle)
    );
    assert_eq!(m.dma_pool(b).unwrap().nr_active, 1, "not freed");
    m.dma_pool_free(b, y.cpu_addr, y.dma_handle);
    m.read_bytes(y.cpu_addr + 16, &mut buf[..16]).unwrap();
    assert!(buf[..16].iter().all(|&v| v == 0xa7), "POOL_POISON_FREED");
    let seq = m.log_seq();
    m.dma_pool_free(b, y.cpu_addr, y.dma_handle);
    assert_eq!(
        m.log_text_since(seq),
        format!("platform kmem-book-dma.0: pool_block_err pool_b, dma 0x{:016x} already free\n", y.dma_handle)
    );
    // A write after free is found when the block is handed out again.
    m.write_bytes(y.cpu_addr + 20, b"oops").unwrap();
    let seq = m.log_seq();
    let y2 = m.dma_pool_alloc(b, Gfp::GFP_KERNEL).unwrap();
    assert_eq!(y2, y);
    let log = m.log_text_since(seq);
    let yp = m.format_ptr(y.cpu_addr);
    assert!(
        log.starts_with(&format!("platform kmem-book-dma.0: pool_check_block pool_b, {yp} (corrupted)\n00000000: ")),
        "{log}"
    );
    assert!(log.contains("00000010: a7 a7 a7 a7 6f 6f 70 73 a7 a7 a7 a7 a7 a7 a7 a7  ....oops........\n"), "{log}");
}

#[derive(Clone, Debug)]
enum Op {
    Alloc,
    Free(usize),
}

fn params() -> impl Strategy<Value = (u64, u64, u64)> {
    (1u64..3000, 0u32..9, any::<bool>(), 0u32..4).prop_map(|(size, al, bnd, extra)| {
        let align = if al == 0 { 0 } else { 1u64 << (al - 1) };
        let block = size.max(16).div_ceil(align.max(1)) * align.max(1);
        let boundary = if bnd { block.next_power_of_two() << extra } else { 0 };
        (size, align, boundary)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn blocks_never_overlap_cross_or_misalign(
        (size, align, boundary) in params(),
        ops in prop::collection::vec(prop_oneof![3 => Just(Op::Alloc), 2 => any::<usize>().prop_map(Op::Free)], 1..120),
    ) {
        let (mut m, dev) = machine(false);
        let p = m.dma_pool_create("prop", Some(dev), size, align, boundary).unwrap();
        let (bsize, allocation, bnd) = {
            let pool = m.dma_pool(p).unwrap();
            (pool.size as u64, pool.allocation as u64, pool.boundary as u64)
        };
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Alloc => {
                    let a = m.dma_pool_alloc(p, Gfp::GFP_KERNEL).unwrap();
                    prop_assert_eq!(a.dma_handle, m.virt_to_phys(a.cpu_addr));
                    prop_assert!(live.insert(a.cpu_addr, a.dma_handle).is_none(), "handed out twice");
                    m.fill(a.cpu_addr, bsize, 0x5c).unwrap();
                }
                Op::Free(i) => {
                    if live.is_empty() { continue; }
                    let k = *live.keys().nth(i % live.len()).unwrap();
                    let d = live.remove(&k).unwrap();
                    m.dma_pool_free(p, k, d);
                }
            }
            let pool = m.dma_pool(p).unwrap().clone();
            prop_assert_eq!(pool.nr_active, live.len() as u64);
            prop_assert_eq!(pool.nr_blocks, pool.nr_active + m.dma_pool_free_list(p).len() as u64);
            prop_assert_eq!(pool.nr_pages, pool.page_list.len() as u64);
            // Placement of every live block inside its chunk.
            for &a in live.keys() {
                let chunk = pool.page_list.iter().find(|c| a >= c.vaddr && a < c.vaddr + allocation);
                prop_assert!(chunk.is_some());
                let off = a - chunk.unwrap().vaddr;
                prop_assert!(off + bsize <= allocation);
                prop_assert_eq!(off % align.max(1), 0, "aligned");
                prop_assert!(off % bnd + bsize <= bnd, "crosses the boundary");
            }
            // No overlap (sorted by address).
            let v: Vec<u64> = live.keys().copied().collect();
            for w in v.windows(2) {
                prop_assert!(w[0] + bsize <= w[1], "overlap");
            }
        }
        if let Some(c) = m.dma_coherent_allocations().first() {
            prop_assert_eq!(m.count_pages_owned_by(PageOwner::Dma), m.dma_pool(p).unwrap().nr_pages << c.order);
        }
        for (k, d) in live { m.dma_pool_free(p, k, d); }
        m.dma_pool_destroy(Some(p));
        prop_assert!(m.dma_coherent_allocations().is_empty());
        prop_assert!(!m.dmesg().contains("busy"));
    }
}
