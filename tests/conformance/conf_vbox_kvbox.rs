// SPDX-License-Identifier: GPL-2.0

//! Conformance: `VBox` (vmalloc) and `KVBox` (kvmalloc: kmalloc first, vmalloc when that fails), small and
//! large, where each landed (its address's region) and its zeroed contents.

use kernel::prelude::*;

module! {
    type: ConfVboxKvbox,
    name: "conf_vbox_kvbox",
    author: "kmem-book",
    description: "conformance: VBox and KVBox, small and large",
    license: "GPL",
}

struct ConfVboxKvbox {
    vsmall: VBox<[u8; 100]>,
    vlarge: VBox<[u8; 1 << 20]>,
    kvsmall: KVBox<[u8; 512]>,
    kvlarge: KVBox<[u8; 6 << 20]>,
}

fn report(what: &str, bytes: &[u8]) {
    let zero = bytes.iter().all(|&b| b == 0);
    pr_info!("{what}: {} bytes at {:p}, zero: {zero}\n", bytes.len(), bytes.as_ptr());
}

impl kernel::Module for ConfVboxKvbox {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY (each): __GFP_ZERO makes every byte 0, a valid byte array.
        let vsmall = unsafe { VBox::<[u8; 100]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        let vlarge = unsafe { VBox::<[u8; 1 << 20]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        let kvsmall = unsafe { KVBox::<[u8; 512]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        let kvlarge = unsafe { KVBox::<[u8; 6 << 20]>::new_uninit(GFP_KERNEL | __GFP_ZERO)?.assume_init() };
        report("VBox<[u8; 100]>", &*vsmall);
        report("VBox<[u8; 1 MiB]>", &*vlarge);
        report("KVBox<[u8; 512]>", &*kvsmall);
        report("KVBox<[u8; 6 MiB]>", &*kvlarge);
        Ok(ConfVboxKvbox { vsmall, vlarge, kvsmall, kvlarge })
    }
}

impl Drop for ConfVboxKvbox {
    fn drop(&mut self) {
        let total = self.vsmall.len() + self.vlarge.len() + self.kvsmall.len() + self.kvlarge.len();
        pr_info!("freeing {total} bytes\n");
    }
}
