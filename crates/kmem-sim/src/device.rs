//! Devices and drivers (drivers/base/core.c, dd.c, driver.c, bus.c, platform.c, include/linux/device.h of Linux
//! 6.12.117): the part of `struct device` the DMA API uses (name, bus, class, bound driver, `dma_mask`,
//! `coherent_dma_mask`, `bus_dma_limit`, the `dma_pools` list), `dev_printk()`, and the driver core's binding
//! of platform drivers to platform devices.
//!
//! Binding: a platform driver matches a platform device of the same name (`platform_match()`, for devices
//! without `driver_override`, OF, ACPI or an id table). Registering a driver probes every unbound matching
//! device (`driver_attach()`), registering a device probes it with the first matching driver
//! (`bus_probe_device()`). `really_probe()` refuses a device that already has managed resources (`Resources
//! present before probing`, -EBUSY), sets `dev->driver` and calls the driver's probe, which is module code:
//! [`Machine::really_probe_begin`] and [`Machine::really_probe_end`] surround it, and a failed probe (any error
//! but -EPROBE_DEFER, -ENODEV and -ENXIO is printed by `call_driver_probe()`) releases what the probe
//! acquired with devres (devres.rs) before `dev->driver` is cleared again. Unbinding (`driver_detach()`, or
//! `device_del()` of a bound device) calls the driver's remove, then releases the device's managed resources,
//! then clears `dev->driver` (`device_unbind_cleanup()`). Deferred probing is not modelled: a probe returning
//! -EPROBE_DEFER leaves the device unbound and is not retried.
//!
//! `dev_err(dev, fmt)` prints `"%s %s: " dev_driver_string(dev), dev_name(dev)` before the message, where
//! `dev_driver_string()` is the bound driver's name, else the bus name (else the class name, else empty):
//! a platform device with no driver prints `platform kmem-book-dma.0: ...`. A NULL device prints
//! `(NULL device *): ...`.
//!
//! Platform devices get the 32-bit masks `setup_pdev_dma_masks()` gives them (`coherent_dma_mask =
//! DMA_BIT_MASK(32)`, `dma_mask` pointing at `platform_dma_mask = DMA_BIT_MASK(32)`).

#![forbid(unsafe_code)]

use crate::dma::DMA_BIT_MASK;
use crate::machine::Machine;
use crate::printk::LogLevel;

/// `PLATFORM_DEVID_NONE`: the device is named after the driver name alone.
pub const PLATFORM_DEVID_NONE: i32 = -1;
/// `PLATFORM_DEVID_AUTO`: `<name>.<n>.auto` with an allocated id.
pub const PLATFORM_DEVID_AUTO: i32 = -2;

/// `offsetof(struct device, numa_node)` in the book's x86_64 build (listings/kernel/struct-offsets.txt, by
/// listings/kernel/struct-offsets.sh): where `dev_to_node(NULL)` faults. The i386 build is not measured; the
/// 32-bit profile uses the same value.
pub const DEVICE_NUMA_NODE_OFFSET: u64 = 0x170;
/// `offsetof(struct device, dma_mask)` (the same file): where `dma_map_page_attrs(NULL, …)` faults.
pub const DEVICE_DMA_MASK_OFFSET: u64 = 0x120;
/// `offsetof(struct device, coherent_dma_mask)` (the same file).
pub const DEVICE_COHERENT_DMA_MASK_OFFSET: u64 = 0x128;
/// `offsetof(struct device, devres_lock)` (the same file): where `spin_lock_irqsave(&dev->devres_lock)` on a
/// NULL device faults.
pub const DEVICE_DEVRES_LOCK_OFFSET: u64 = 0x17c;

/// A driver handle (index into the machine's driver table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DriverId(pub u32);

/// A registered `struct device_driver` (a platform driver's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceDriver {
    /// `drv->name`.
    pub name: String,
    /// Whether it is registered.
    pub registered: bool,
    /// The devices bound to it, in binding order (`drv->p->klist_devices`).
    pub devices: Vec<DeviceId>,
}

/// The drivers of the platform bus.
#[derive(Debug, Default)]
pub(crate) struct BusState {
    drivers: Vec<DeviceDriver>,
}

/// A device handle (index into the machine's device table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u32);

/// The simulated `struct device`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `dev_name()`.
    pub name: String,
    /// `dev->bus->name` (`platform`, `pci` ...).
    pub bus: Option<String>,
    /// `dev->class->name`.
    pub class: Option<String>,
    /// The bound driver's name.
    pub driver: Option<String>,
    /// The bound driver, when it is one of [`Machine::platform_driver_register`]'s.
    pub driver_id: Option<DriverId>,
    /// `pdev->name`: what `platform_match()` compares with a driver's name (platform devices only).
    pub platform_name: Option<String>,
    /// `*dev->dma_mask`; None when `dev->dma_mask` is NULL (then `dma_set_mask` fails with -EIO).
    pub dma_mask: Option<u64>,
    /// `coherent_dma_mask`.
    pub coherent_dma_mask: u64,
    /// `bus_dma_limit` (0: none).
    pub bus_dma_limit: u64,
    /// `dev->dma_pools`: the addresses of its DMA pools, newest first.
    pub dma_pools: Vec<u64>,
    /// Whether the device is registered.
    pub registered: bool,
}

impl Machine {
    fn add_device(&mut self, d: Device) -> DeviceId {
        self.dma.devices.push(d);
        DeviceId(self.dma.devices.len() as u32 - 1)
    }

    /// `platform_device_register_simple(name, id, NULL, 0)`: a platform device named `name.id` (`name` for
    /// [`PLATFORM_DEVID_NONE`], `name.N.auto` for [`PLATFORM_DEVID_AUTO`]) with 32-bit DMA masks and no driver.
    ///
    /// Context: process context.
    pub fn platform_device_register_simple(&mut self, name: &str, id: i32) -> DeviceId {
        let dev_name = match id {
            PLATFORM_DEVID_NONE => name.to_string(),
            PLATFORM_DEVID_AUTO => {
                let n = self.dma.next_auto_id;
                self.dma.next_auto_id += 1;
                format!("{name}.{n}.auto")
            }
            n => format!("{name}.{n}"),
        };
        self.add_device(Device {
            name: dev_name,
            bus: Some("platform".into()),
            class: None,
            driver: None,
            driver_id: None,
            platform_name: Some(name.to_string()),
            dma_mask: Some(DMA_BIT_MASK(32)),
            coherent_dma_mask: DMA_BIT_MASK(32),
            bus_dma_limit: 0,
            dma_pools: Vec::new(),
            registered: true,
        })
    }

    /// A bare `struct device` (e.g. a class device, or one a test builds): no `dma_mask` pointer and a zero
    /// `coherent_dma_mask`, as `device_initialize()` leaves them.
    ///
    /// Context: process context.
    pub fn device_create_bare(&mut self, name: &str, bus: Option<&str>, class: Option<&str>) -> DeviceId {
        self.add_device(Device {
            name: name.into(),
            bus: bus.map(Into::into),
            class: class.map(Into::into),
            driver: None,
            driver_id: None,
            platform_name: None,
            dma_mask: None,
            coherent_dma_mask: 0,
            bus_dma_limit: 0,
            dma_pools: Vec::new(),
            registered: true,
        })
    }

    /// Binds (Some) or unbinds (None) a driver: changes what `dev_driver_string()` prints.
    ///
    /// Context: process context.
    pub fn device_bind_driver(&mut self, dev: DeviceId, driver: Option<&str>) {
        if let Some(d) = self.dma.devices.get_mut(dev.0 as usize) {
            d.driver = driver.map(Into::into);
        }
    }

    /// `platform_device_unregister()`, after the driver (if any) was unbound ([`Machine::device_release_driver_begin`]
    /// ...) and `device_del()`'s own `devres_release_all()` ran: the device is marked unregistered (its handle
    /// stays valid so that a later use can still be reported).
    ///
    /// Context: process context.
    pub fn platform_device_unregister(&mut self, dev: DeviceId) {
        if let Some(d) = self.dma.devices.get_mut(dev.0 as usize) {
            d.registered = false;
            d.driver = None;
            d.driver_id = None;
        }
    }

    /// `__platform_driver_register(drv, owner)` → `driver_register()`: a second driver of the same name is
    /// refused with `Error: Driver '<name>' is already registered, aborting...` and -EBUSY. The caller then
    /// probes the devices [`Machine::driver_attach_devices`] lists.
    ///
    /// Context: process context.
    pub fn platform_driver_register(&mut self, name: &str) -> Result<DriverId, i32> {
        if self.bus.drivers.iter().any(|d| d.registered && d.name == name) {
            self.printk(LogLevel::Err, &format!("Error: Driver '{name}' is already registered, aborting...\n"));
            return Err(-16);
        }
        self.bus.drivers.push(DeviceDriver { name: name.into(), registered: true, devices: Vec::new() });
        Ok(DriverId(self.bus.drivers.len() as u32 - 1))
    }

    /// The driver.
    ///
    /// Context: any.
    pub fn device_driver(&self, drv: DriverId) -> Option<&DeviceDriver> {
        self.bus.drivers.get(drv.0 as usize)
    }

    /// `platform_match(dev, drv)`: a registered platform device named as the registered driver.
    fn platform_match(&self, dev: DeviceId, drv: DriverId) -> bool {
        match (self.device(dev), self.device_driver(drv)) {
            (Some(d), Some(r)) => d.registered && r.registered && d.platform_name.as_deref() == Some(r.name.as_str()),
            _ => false,
        }
    }

    /// `driver_attach(drv)`: the registered devices without a driver that match `drv`, in registration order
    /// (`bus_for_each_dev()`), each to be probed.
    ///
    /// Context: any.
    pub fn driver_attach_devices(&self, drv: DriverId) -> Vec<DeviceId> {
        (0..self.dma.devices.len() as u32)
            .map(DeviceId)
            .filter(|&d| self.device(d).is_some_and(|x| x.driver.is_none()) && self.platform_match(d, drv))
            .collect()
    }

    /// `bus_probe_device(dev)` → `__device_attach()`: the first registered driver that matches `dev`
    /// (`bus_for_each_drv()`), if `dev` has none yet.
    ///
    /// Context: any.
    pub fn device_attach_driver(&self, dev: DeviceId) -> Option<DriverId> {
        if self.device(dev)?.driver.is_some() {
            return None;
        }
        (0..self.bus.drivers.len() as u32).map(DriverId).find(|&r| self.platform_match(dev, r))
    }

    /// `really_probe(dev, drv)` up to the driver's probe: a device with managed resources already is refused
    /// (`dev_crit`: `Resources present before probing`, -EBUSY); otherwise `dev->driver` is set, so that
    /// `dev_*()` messages from the probe name the driver.
    ///
    /// Context: process context.
    pub fn really_probe_begin(&mut self, dev: DeviceId, drv: DriverId) -> Result<(), i32> {
        if !self.devres_nodes(dev).is_empty() {
            self.dev_printk(LogLevel::Crit, Some(dev), "Resources present before probing\n");
            return Err(-16);
        }
        let name = self.device_driver(drv).map(|r| r.name.clone());
        if let Some(d) = self.device_mut(dev) {
            d.driver = name;
            d.driver_id = Some(drv);
        }
        Ok(())
    }

    /// `really_probe()` after the driver's probe returned `ret`: 0 binds the device (`driver_bound()`); an
    /// error is reported as `call_driver_probe()` does (`probe with driver <name> failed with error <ret>`,
    /// except for -EPROBE_DEFER, -ENODEV and -ENXIO, which are `dev_dbg()`s) and starts the managed-resource
    /// release of `device_unbind_cleanup()`: the caller drives [`Machine::devres_release_next`] to the end,
    /// then calls [`Machine::device_unbind_end`].
    ///
    /// Context: process context. Returns whether the probe failed.
    pub fn really_probe_end(&mut self, dev: DeviceId, drv: DriverId, ret: i32) -> bool {
        if ret == 0 {
            if let Some(r) = self.bus.drivers.get_mut(drv.0 as usize) {
                r.devices.push(dev);
            }
            return false;
        }
        if !matches!(ret, -517 | -19 | -6) {
            let name = self.device_driver(drv).map(|r| r.name.clone()).unwrap_or_default();
            self.dev_err(Some(dev), &format!("probe with driver {name} failed with error {ret}\n"));
        }
        self.devres_release_all_begin(dev);
        true
    }

    /// `__device_release_driver(dev)` up to the driver's remove: the bound driver, which the caller calls
    /// remove of, then releases the managed resources ([`Machine::devres_release_all_begin`],
    /// [`Machine::devres_release_next`]) and ends with [`Machine::device_unbind_end`]. None when `dev` has no
    /// driver of [`Machine::platform_driver_register`]'s.
    ///
    /// Context: process context.
    pub fn device_release_driver_begin(&mut self, dev: DeviceId) -> Option<DriverId> {
        self.device(dev)?.driver_id
    }

    /// The end of `device_unbind_cleanup()`: `dev->driver` is cleared (and the device leaves its driver's list).
    ///
    /// Context: process context.
    pub fn device_unbind_end(&mut self, dev: DeviceId) {
        if let Some(drv) = self.device(dev).and_then(|d| d.driver_id) {
            if let Some(r) = self.bus.drivers.get_mut(drv.0 as usize) {
                r.devices.retain(|&d| d != dev);
            }
        }
        if let Some(d) = self.device_mut(dev) {
            d.driver = None;
            d.driver_id = None;
        }
    }

    /// `driver_detach(drv)`: the devices bound to `drv`, the last bound first, each to be unbound.
    ///
    /// Context: any.
    pub fn driver_detach_devices(&self, drv: DriverId) -> Vec<DeviceId> {
        self.device_driver(drv).map(|r| r.devices.iter().rev().copied().collect()).unwrap_or_default()
    }

    /// `platform_driver_unregister(drv)` after its devices were unbound: the driver is gone.
    ///
    /// Context: process context.
    pub fn platform_driver_unregister(&mut self, drv: DriverId) {
        if let Some(r) = self.bus.drivers.get_mut(drv.0 as usize) {
            r.registered = false;
        }
    }

    /// The device.
    ///
    /// Context: any.
    pub fn device(&self, dev: DeviceId) -> Option<&Device> {
        self.dma.devices.get(dev.0 as usize)
    }

    pub(crate) fn device_mut(&mut self, dev: DeviceId) -> Option<&mut Device> {
        self.dma.devices.get_mut(dev.0 as usize)
    }

    /// `dev_name(dev)`.
    ///
    /// Context: any.
    pub fn dev_name(&self, dev: DeviceId) -> String {
        self.device(dev).map(|d| d.name.clone()).unwrap_or_default()
    }

    /// `dev_driver_string(dev)`: the driver's name, else `dev_bus_name()` (bus, else class, else "").
    ///
    /// Context: any.
    pub fn dev_driver_string(&self, dev: DeviceId) -> String {
        let Some(d) = self.device(dev) else {
            return String::new();
        };
        d.driver.clone().or_else(|| d.bus.clone()).or_else(|| d.class.clone()).unwrap_or_default()
    }

    /// `dev_printk(level, dev, msg)`: `<driver or bus> <device name>: msg`, or `(NULL device *): msg`.
    ///
    /// Context: any.
    pub fn dev_printk(&mut self, level: LogLevel, dev: Option<DeviceId>, msg: &str) {
        let line = match dev {
            Some(d) => format!("{} {}: {msg}", self.dev_driver_string(d), self.dev_name(d)),
            None => format!("(NULL device *): {msg}"),
        };
        self.printk(level, &line);
    }

    /// `dev_err()`.
    ///
    /// Context: any.
    pub fn dev_err(&mut self, dev: Option<DeviceId>, msg: &str) {
        self.dev_printk(LogLevel::Err, dev, msg);
    }

    /// `dev_warn()`.
    ///
    /// Context: any.
    pub fn dev_warn(&mut self, dev: Option<DeviceId>, msg: &str) {
        self.dev_printk(LogLevel::Warning, dev, msg);
    }

    /// `dev_info()`.
    ///
    /// Context: any.
    pub fn dev_info(&mut self, dev: Option<DeviceId>, msg: &str) {
        self.dev_printk(LogLevel::Info, dev, msg);
    }
}
