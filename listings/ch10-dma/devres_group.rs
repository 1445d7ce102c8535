// SPDX-License-Identifier: GPL-2.0

//! Devres groups: the resources a part of a probe takes, released together when that part fails
//! (`devres_release_group()`) or handed to the device when it succeeds (`devres_remove_group()`), groups
//! nested in groups, and what a group id that names no open group gets. Booted with `devres.log=1`, so the
//! kernel prints every node — the groups' markers `grp<` and `grp>` too — as it is added, removed and
//! released.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::c_void;
use kernel::prelude::*;

module! {
    type: DevresGroup,
    name: "devres_group",
    author: "kmem-book",
    description: "devres_open_group(), devres_close_group(), devres_release_group(), devres_remove_group()",
    license: "GPL",
}

// ANCHOR: module
/// What `devm_add_action()` runs when its group is released.
unsafe extern "C" fn say_goodbye(data: *mut c_void) {
    pr_info!("say_goodbye({})\n", data as usize);
}

/// An id of the driver's own for the nested group (any unique pointer will do).
static PHY_GROUP: u8 = 0;

struct DevresGroup {
    pdev: *mut bindings::platform_device,
}

// SAFETY: the device is only used by init and exit, which never run concurrently.
unsafe impl Send for DevresGroup {}
// SAFETY: as above.
unsafe impl Sync for DevresGroup {}

impl kernel::Module for DevresGroup {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        use bindings::{__GFP_ZERO, GFP_KERNEL};
        // SAFETY: a name and an id; no resources.
        let pdev = unsafe {
            bindings::platform_device_register_simple(c_str!("kmem-book-group").as_char_ptr(), 0, core::ptr::null(), 0)
        };
        let pdev = kernel::error::from_err_ptr(pdev)?;
        // SAFETY: `pdev` is a registered platform device; `dev` is its embedded `struct device`.
        let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
        let this = DevresGroup { pdev };
        let phy = core::ptr::addr_of!(PHY_GROUP).cast_mut().cast::<c_void>();

        // SAFETY (the calls below): process context; `dev` is registered; every group id passed back is one
        // devres_open_group() returned, except the one that shows what a wrong id gets.
        unsafe {
            // A resource of the device itself.
            let state = bindings::devm_kmalloc(dev, 64, GFP_KERNEL | __GFP_ZERO);
            if state.is_null() {
                return Err(ENOMEM);
            }

            // Setting up a part that may fail: its resources in a group.
            let g = bindings::devres_open_group(dev, core::ptr::null_mut(), GFP_KERNEL);
            if g.is_null() {
                return Err(ENOMEM);
            }
            pr_info!("devres_open_group(dev, NULL) = {:p}:", g);
            bindings::kmem_dump_obj(g);
            let ring = bindings::devm_kmalloc(dev, 128, GFP_KERNEL);
            let r = bindings::__devm_add_action(
                dev,
                Some(say_goodbye),
                core::ptr::without_provenance_mut(1),
                c_str!("say_goodbye").as_char_ptr(),
            );
            // A nested group under the driver's own id.
            let h = bindings::devres_open_group(dev, phy, GFP_KERNEL);
            pr_info!("devres_open_group(dev, &PHY_GROUP) returns its id: {}\n", h == phy);
            let regs = bindings::devm_kmalloc(dev, 256, GFP_KERNEL);
            bindings::devres_close_group(dev, phy);
            bindings::devres_close_group(dev, g);
            if ring.is_null() || r != 0 || h.is_null() || regs.is_null() {
                return Err(ENOMEM);
            }
            // The part fails: everything since devres_open_group(), the nested group included, goes.
            let n = bindings::devres_release_group(dev, g);
            pr_info!("devres_release_group(g) released {} resources\n", n);

            // A part that succeeds: its resources become the device's, released when the device goes.
            let g2 = bindings::devres_open_group(dev, core::ptr::null_mut(), GFP_KERNEL);
            if g2.is_null() {
                return Err(ENOMEM);
            }
            let table = bindings::devm_kmalloc(dev, 512, GFP_KERNEL);
            if table.is_null() {
                return Err(ENOMEM);
            }
            bindings::devres_remove_group(dev, g2);
            pr_info!("devres_remove_group(g2): the 512-byte table stays\n");

            // No group is open any more: a NULL id names nothing.
            let n = bindings::devres_release_group(dev, core::ptr::null_mut());
            pr_info!("devres_release_group(NULL) = {}\n", n);
        }
        Ok(this)
    }
}

impl Drop for DevresGroup {
    fn drop(&mut self) {
        // SAFETY: registered by init, unregistered once; device_del() releases what is left on it.
        unsafe { bindings::platform_device_unregister(self.pdev) };
    }
}
// ANCHOR_END: module
