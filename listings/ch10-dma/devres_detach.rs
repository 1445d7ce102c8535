// SPDX-License-Identifier: GPL-2.0

//! Device-managed memory: a platform driver whose probe takes everything with `devm_*`/`dmam_*` and frees
//! nothing. Two devices bind: the first probe succeeds and keeps its resources until the driver detaches
//! (at rmmod), the second fails half-way and the driver core releases what it got. Booted with
//! `devres.log=1`, the kernel prints every managed resource as it is added and released.

use kernel::bindings;
use kernel::c_str;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

module! {
    type: DevresDetach,
    name: "devres_detach",
    author: "kmem-book",
    description: "devm_kzalloc(), dmam_alloc_coherent(), dmam_pool_create() and devm_add_action() released on detach",
    license: "GPL",
}

// ANCHOR: probe
/// `dev_name()` (an inline function, so not in the bindings): the platform device's `name.id`.
fn name_of(pdev: *mut bindings::platform_device) -> (&'static CStr, c_int) {
    // SAFETY: the driver core passes a registered platform device.
    unsafe { (CStr::from_char_ptr((*pdev).name), (*pdev).id) }
}

/// What `devm_add_action()` runs when the resources are released.
unsafe extern "C" fn say_goodbye(data: *mut c_void) {
    pr_info!("say_goodbye({})\n", data as usize);
}

unsafe extern "C" fn devres_probe(pdev: *mut bindings::platform_device) -> c_int {
    let (name, id) = name_of(pdev);
    // SAFETY: `dev` is the device embedded in `pdev`.
    let dev = unsafe { core::ptr::addr_of_mut!((*pdev).dev) };
    pr_info!("probe({}.{})\n", name.to_str().unwrap_or("?"), id);

    // SAFETY (all calls below): `dev` is the device being probed, in process context.
    let state = unsafe { bindings::devm_kmalloc(dev, 100, bindings::GFP_KERNEL | bindings::__GFP_ZERO) };
    if state.is_null() {
        return ENOMEM.to_errno();
    }
    pr_info!("devm_kzalloc(100) = {:p}:", state);
    // SAFETY: `state` points into a slab object.
    unsafe { bindings::kmem_dump_obj(state) };

    if id == 1 {
        // A buffer this device cannot get: more than kmalloc ever gives (KMALLOC_MAX_SIZE, 4 MiB).
        let big = unsafe { bindings::devm_kmalloc(dev, 8 << 20, bindings::GFP_KERNEL | bindings::__GFP_NOWARN) };
        pr_info!("devm_kmalloc(8 MiB) = {:p}\n", big);
        if big.is_null() {
            return ENOMEM.to_errno();
        }
    }

    // The state outgrows its object: devm_krealloc() moves it to a larger one, in the same place of the list.
    let state = unsafe { bindings::devm_krealloc(dev, state, 300, bindings::GFP_KERNEL) };
    if state.is_null() {
        return ENOMEM.to_errno();
    }
    pr_info!("devm_krealloc(state, 300) = {:p}:", state);
    // SAFETY: `state` points into a slab object.
    unsafe { bindings::kmem_dump_obj(state) };

    // devm_kcalloc(dev, 16, 64, GFP_KERNEL): 1024 bytes and the 40-byte header.
    let table = unsafe { bindings::devm_kmalloc(dev, 16 * 64, bindings::GFP_KERNEL | bindings::__GFP_ZERO) };
    if table.is_null() {
        return ENOMEM.to_errno();
    }
    pr_info!("devm_kcalloc(16, 64) = {:p}:", table);
    // SAFETY: `table` points into a slab object.
    unsafe { bindings::kmem_dump_obj(table) };

    // dmam_alloc_coherent(dev, 8192, &dma, GFP_KERNEL).
    let mut dma: bindings::dma_addr_t = 0;
    let ring = unsafe { bindings::dmam_alloc_attrs(dev, 8192, &mut dma, bindings::GFP_KERNEL, 0) };
    if ring.is_null() {
        return ENOMEM.to_errno();
    }
    pr_info!("dmam_alloc_coherent(8192) = {:p}, dma {:#x}\n", ring, dma);

    let pool = unsafe { bindings::dmam_pool_create(c_str!("kmem-book").as_char_ptr(), dev, 64, 64, 0) };
    if pool.is_null() {
        return ENOMEM.to_errno();
    }
    let mut h: bindings::dma_addr_t = 0;
    // SAFETY: `pool` is a live pool; the block is never freed (the pool is destroyed with it in use).
    let blk = unsafe { bindings::dma_pool_alloc(pool, bindings::GFP_KERNEL, &mut h) };
    pr_info!("dmam_pool_create(kmem-book, 64), one block = {:p}, dma {:#x}\n", blk, h);

    let r = unsafe {
        bindings::__devm_add_action(
            dev,
            Some(say_goodbye),
            core::ptr::without_provenance_mut(1),
            c_str!("say_goodbye").as_char_ptr(),
        )
    };
    if r != 0 {
        return r;
    }
    pr_info!("probe({}.{}) done\n", name.to_str().unwrap_or("?"), id);
    0
}

unsafe extern "C" fn devres_remove(pdev: *mut bindings::platform_device) {
    let (name, id) = name_of(pdev);
    pr_info!("remove({}.{}): nothing to free by hand\n", name.to_str().unwrap_or("?"), id);
}
// ANCHOR_END: probe

// ANCHOR: module
struct DevresDetach {
    driver: KBox<bindings::platform_driver>,
    pdevs: [*mut bindings::platform_device; 2],
}

// SAFETY: the driver and the devices are only used by init and exit, which never run concurrently.
unsafe impl Send for DevresDetach {}
// SAFETY: as above.
unsafe impl Sync for DevresDetach {}

impl kernel::Module for DevresDetach {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let mut driver = KBox::new(
            bindings::platform_driver {
                probe: Some(devres_probe),
                __bindgen_anon_1: bindings::platform_driver__bindgen_ty_1 { remove: Some(devres_remove) },
                driver: bindings::device_driver {
                    name: c_str!("kmem-book-devres").as_char_ptr(),
                    ..Default::default()
                },
                ..Default::default()
            },
            GFP_KERNEL,
        )?;
        // SAFETY: the driver lives in `self` until exit unregisters it.
        let r = unsafe { bindings::__platform_driver_register(&mut *driver, module.as_ptr()) };
        kernel::error::to_result(r)?;

        let mut pdevs = [core::ptr::null_mut(); 2];
        for (id, p) in pdevs.iter_mut().enumerate() {
            // SAFETY: a name and an id; no resources. Registering binds the device to the driver.
            let pdev = unsafe {
                bindings::platform_device_register_simple(
                    c_str!("kmem-book-devres").as_char_ptr(),
                    id as c_int,
                    core::ptr::null(),
                    0,
                )
            };
            *p = kernel::error::from_err_ptr(pdev)?;
        }
        pr_info!("two devices registered\n");
        Ok(DevresDetach { driver, pdevs })
    }
}

impl Drop for DevresDetach {
    fn drop(&mut self) {
        pr_info!("unregistering the driver\n");
        // SAFETY: registered by init. Unbinds kmem-book-devres.0: its remove, then its managed resources.
        unsafe { bindings::platform_driver_unregister(&mut *self.driver) };
        for p in self.pdevs {
            // SAFETY: registered by init, unregistered once.
            unsafe { bindings::platform_device_unregister(p) };
        }
        pr_info!("devices unregistered\n");
    }
}
// ANCHOR_END: module
