// SPDX-License-Identifier: GPL-2.0

//! Per-CPU memory: `alloc_percpu()` (the macro calls `pcpu_alloc_noprof()`), one copy per possible CPU
//! reached with `per_cpu_ptr()` (`ptr + __per_cpu_offset[cpu]`); the largest allocation, 32 KiB, which only a
//! new chunk in the vmalloc area can hold; an atomic allocation that finds no populated space; and a size the
//! allocator refuses.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: PercpuAlloc,
    name: "percpu_alloc",
    author: "kmem-book",
    description: "alloc_percpu, per_cpu_ptr, a new chunk, atomic and illegal requests",
    license: "GPL",
}

struct PercpuAlloc {
    hits: *mut u64,
    big: *mut c_void,
}

// SAFETY: the pointers are only used by init and exit, which the module loader serialises.
unsafe impl Send for PercpuAlloc {}
// SAFETY: as above; nothing is shared.
unsafe impl Sync for PercpuAlloc {}

/// `per_cpu_ptr(ptr, cpu)` as the C macro expands on SMP: the `__percpu` pointer plus the CPU's offset.
///
/// # Safety
///
/// `cpu` must be a possible CPU (below `nr_cpu_ids`).
unsafe fn per_cpu_ptr<T>(ptr: *mut T, cpu: u32) -> *mut T {
    // SAFETY: reading the array the kernel set up at boot; the caller passes a possible CPU.
    ptr.cast::<u8>().wrapping_add(unsafe { bindings::__per_cpu_offset[cpu as usize] }).cast()
}

/// The result of an allocation for the log.
fn outcome(p: *mut c_void) -> &'static str {
    if p.is_null() {
        "NULL"
    } else {
        "memory"
    }
}

impl kernel::Module for PercpuAlloc {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: nr_cpu_ids is set once at boot.
        let cpus = unsafe { bindings::nr_cpu_ids };
        // ANCHOR: counter
        // alloc_percpu(u64): 8 bytes, aligned to 8, in every CPU's unit.
        // SAFETY: process context; the pointer is freed in exit.
        let hits = unsafe { bindings::pcpu_alloc_noprof(8, 8, false, bindings::GFP_KERNEL) }.cast::<u64>();
        if hits.is_null() {
            return Err(ENOMEM);
        }
        for cpu in 0..cpus {
            // SAFETY: `cpu` is possible; each CPU's copy is its own u64.
            unsafe { *per_cpu_ptr(hits, cpu) = u64::from(cpu + 1) * 100 };
        }
        // SAFETY: CPU 0 is possible.
        let cpu0 = unsafe { per_cpu_ptr(hits, 0) } as usize;
        let mut sum = 0;
        for cpu in 0..cpus {
            // SAFETY: as above.
            let p = unsafe { per_cpu_ptr(hits, cpu) };
            // SAFETY: the copy was written above.
            let v = unsafe { *p };
            sum += v;
            pr_info!("cpu{}: copy at {:p} (cpu0's + {:#x}), value {}\n", cpu, p, p as usize - cpu0, v);
        }
        pr_info!("summed over {} CPUs: {}\n", cpus, sum);
        // ANCHOR_END: counter
        // ANCHOR: chunk
        // The largest request (PCPU_MIN_UNIT_SIZE), page aligned: no chunk has 32 KiB free, a new one is made.
        // SAFETY: process context; freed in exit.
        let big = unsafe { bindings::pcpu_alloc_noprof(32768, 4096, false, bindings::GFP_KERNEL) };
        if big.is_null() {
            // SAFETY: allocated above.
            unsafe { bindings::free_percpu(hits.cast()) };
            return Err(ENOMEM);
        }
        // SAFETY: CPUs 0 and 1 are possible on the book's machine (4 CPUs); each copy is 32 KiB.
        let (c0, c1) = unsafe { (per_cpu_ptr(big.cast::<u8>(), 0), per_cpu_ptr(big.cast::<u8>(), 1)) };
        let zeroed = (0..cpus).all(|cpu| {
            // SAFETY: each CPU's copy is 32768 bytes.
            let copy = unsafe { core::slice::from_raw_parts(per_cpu_ptr(big.cast::<u8>(), cpu), 32768) };
            copy.iter().all(|&b| b == 0)
        });
        pr_info!(
            "32 KiB per CPU: cpu0's copy at {:p}, cpu1's {:#x} bytes later, zeroed on every CPU: {}\n",
            c0,
            c1 as usize - c0 as usize,
            zeroed
        );
        // ANCHOR_END: chunk
        // ANCHOR: atomic
        // From atomic context the allocator may use populated pages only, and may not create a chunk.
        // SAFETY: process context (GFP_ATOMIC is allowed anywhere); freed at once if it succeeds.
        unsafe {
            let a = bindings::pcpu_alloc_noprof(32768, 4096, false, bindings::GFP_ATOMIC);
            pr_info!("GFP_ATOMIC, 32 KiB: {}\n", outcome(a));
            bindings::free_percpu(a);
        }
        // ANCHOR_END: atomic
        // ANCHOR: illegal
        // Above PCPU_MIN_UNIT_SIZE: refused with a warning.
        // SAFETY: process context; nothing is allocated.
        let huge = unsafe { bindings::pcpu_alloc_noprof(65536, 8, false, bindings::GFP_KERNEL) };
        pr_info!("64 KiB: {}\n", outcome(huge));
        // ANCHOR_END: illegal
        Ok(PercpuAlloc { hits, big })
    }
}

impl Drop for PercpuAlloc {
    fn drop(&mut self) {
        // SAFETY: both were allocated in init and are freed once.
        unsafe {
            bindings::free_percpu(self.big);
            bindings::free_percpu(self.hits.cast());
        }
        pr_info!("freed\n");
    }
}
