// SPDX-License-Identifier: GPL-2.0

//! kvmalloc() tries kmalloc() first and falls back to vmalloc() only for more than a page and only when
//! the caller may sleep; kvfree() frees either kind.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KvmallocPaths,
    name: "kvmalloc_paths",
    author: "kmem-book",
    description: "kvmalloc(): the kmalloc path, the vmalloc fallback, and no fallback for GFP_ATOMIC",
    license: "GPL",
}

const MIB: usize = 1 << 20;

struct KvmallocPaths {
    bufs: [*mut c_void; 4],
}

// SAFETY: the buffers are only used by init and exit, which never run concurrently.
unsafe impl Send for KvmallocPaths {}
// SAFETY: as above.
unsafe impl Sync for KvmallocPaths {}

fn show(what: &str, p: *mut c_void) {
    // SAFETY: is_vmalloc_addr() only compares the address with the vmalloc range.
    let from = if p.is_null() {
        "failed"
    } else if unsafe { bindings::is_vmalloc_addr(p) } {
        "vmalloc area"
    } else {
        "direct map (kmalloc)"
    };
    pr_info!("{} = {:p}: {}\n", what, p, from);
}

impl kernel::Module for KvmallocPaths {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // ANCHOR: paths
        // SAFETY: module init runs in process context; every result is checked or shown, and freed.
        let (small, medium, large, atomic) = unsafe {
            (
                bindings::kvmalloc(512, bindings::GFP_KERNEL),
                bindings::kvmalloc(64 * 1024, bindings::GFP_KERNEL),
                bindings::kvmalloc(8 * MIB, bindings::GFP_KERNEL),
                bindings::kvmalloc(8 * MIB, bindings::GFP_ATOMIC),
            )
        };
        show("kvmalloc(512, GFP_KERNEL)", small);
        show("kvmalloc(64 KiB, GFP_KERNEL)", medium);
        show("kvmalloc(8 MiB, GFP_KERNEL)", large);
        show("kvmalloc(8 MiB, GFP_ATOMIC)", atomic);
        // ANCHOR_END: paths
        Ok(KvmallocPaths { bufs: [small, medium, large, atomic] })
    }
}

impl Drop for KvmallocPaths {
    fn drop(&mut self) {
        // ANCHOR: free
        for p in self.bufs {
            // SAFETY: each pointer came from kvmalloc() (or is NULL) and is freed once; kvfree()
            // looks at the address to choose between kfree() and vfree().
            unsafe { bindings::kvfree(p) };
        }
        // ANCHOR_END: free
        pr_info!("kvfree() freed both kinds\n");
    }
}
