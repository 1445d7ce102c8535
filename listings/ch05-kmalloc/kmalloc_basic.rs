// SPDX-License-Identifier: GPL-2.0

//! The classic kmalloc experiment: allocate 4096 bytes with `kmalloc()` when the module is loaded,
//! print where they are, and give them back with `kfree()` when it is unloaded.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: KmallocBasic,
    name: "kmalloc_basic",
    author: "kmem-book",
    description: "kmalloc() 4096 bytes on load, kfree() them on unload",
    license: "GPL",
}

// ANCHOR: module
struct KmallocBasic {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for KmallocBasic {}
// SAFETY: as above.
unsafe impl Sync for KmallocBasic {}

impl kernel::Module for KmallocBasic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: GFP_KERNEL may sleep, which module init (process context) allows.
        let buf = unsafe { bindings::kmalloc(4096, bindings::GFP_KERNEL) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("kmalloc(4096, GFP_KERNEL) returned {:p}\n", buf);
        Ok(KmallocBasic { buf })
    }
}

impl Drop for KmallocBasic {
    fn drop(&mut self) {
        // SAFETY: `buf` came from kmalloc() and is freed exactly once.
        unsafe { bindings::kfree(self.buf) };
        pr_info!("kfree({:p}) done, unloading\n", self.buf);
    }
}
// ANCHOR_END: module
