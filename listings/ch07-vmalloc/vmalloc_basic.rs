// SPDX-License-Identifier: GPL-2.0

//! The classic vmalloc experiment: allocate 4096 bytes with `vmalloc()` when the module is loaded,
//! print where they are, and give them back with `vfree()` when it is unloaded.

use kernel::bindings;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: VmallocBasic,
    name: "vmalloc_basic",
    author: "kmem-book",
    description: "vmalloc() 4096 bytes on load, vfree() them on unload",
    license: "GPL",
}

// ANCHOR: module
struct VmallocBasic {
    buf: *mut c_void,
}

// SAFETY: `buf` is only used by init and exit, which never run concurrently.
unsafe impl Send for VmallocBasic {}
// SAFETY: as above.
unsafe impl Sync for VmallocBasic {}

impl kernel::Module for VmallocBasic {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: module init runs in process context, where vmalloc() may sleep.
        let buf = unsafe { bindings::vmalloc(4096) };
        if buf.is_null() {
            return Err(ENOMEM);
        }
        pr_info!("vmalloc(4096) returned {:p}\n", buf);
        Ok(VmallocBasic { buf })
    }
}

impl Drop for VmallocBasic {
    fn drop(&mut self) {
        // SAFETY: `buf` came from vmalloc() and is freed exactly once.
        unsafe { bindings::vfree(self.buf) };
        pr_info!("vfree({:p}) done, unloading\n", self.buf);
    }
}
// ANCHOR_END: module
