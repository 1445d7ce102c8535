//! Devices (drivers/base/core.c, drivers/base/platform.c, include/linux/device.h of Linux 6.12.117): the part
//! of `struct device` the DMA API uses (name, bus, class, bound driver, `dma_mask`, `coherent_dma_mask`,
//! `bus_dma_limit`, the `dma_pools` list) and `dev_printk()`.
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

    /// `platform_device_unregister()`: the device is marked unregistered (its handle stays valid so that a
    /// later use can still be reported).
    ///
    /// Context: process context.
    pub fn platform_device_unregister(&mut self, dev: DeviceId) {
        if let Some(d) = self.dma.devices.get_mut(dev.0 as usize) {
            d.registered = false;
            d.driver = None;
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
