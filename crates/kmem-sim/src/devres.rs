//! Managed device resources (drivers/base/devres.c of Linux 6.12.117, and the devres users beside it:
//! `dmam_alloc_attrs()`/`dmam_free_coherent()` of kernel/dma/mapping.c, `dmam_pool_create()`/
//! `dmam_pool_destroy()` of mm/dmapool.c).
//!
//! Every managed resource is a `struct devres` — a `struct devres_node` (list entry, release function,
//! name, size: 40 bytes on x86_64, 24 on i386 with its data aligned to `ARCH_DMA_MINALIGN`) followed by the
//! resource's data — that `alloc_dr()` takes from kmalloc, `kmalloc_size_roundup()` of the total so that the
//! whole bucket is the caller's. `devm_kmalloc(dev, size)` returns the data part, 40 bytes into a kmalloc
//! object of `size + 40` rounded up. `devres_add()` appends the node to `dev->devres_head`;
//! `devres_release_all()` (driver detach, a failed probe, `device_del()`) takes the whole list off the device
//! and releases it newest first (`release_nodes()`): the node's release function, then `kfree()` of the node.
//!
//! With CONFIG_DEBUG_DEVRES (the book's kernel has it) and `devres.log=1` on the command line, each
//! addition, removal and release is printed by `devres_dbg()`: `DEVRES ADD|REM|REL <node> <name> (<size>
//! bytes)` with `dev_err()`, where `<size>` is the caller's size for `devm_kmalloc()` and the size of the
//! resource's data for the others.
//!
//! Module-provided actions (`devm_add_action()`) are module code: releasing one returns
//! [`DevresNext::Action`] to the caller (the façade), which runs it and then calls [`Machine::devres_free_node`],
//! the order `release_nodes()` has (release, then `kfree()`).

#![forbid(unsafe_code)]

use std::collections::HashMap;

use crate::device::{DeviceId, DEVICE_DEVRES_LOCK_OFFSET, DEVICE_NUMA_NODE_OFFSET};
use crate::dma::DmaAlloc;
use crate::dmapool::{DmaPoolCreateError, DmaPoolPtr};
use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::slab_common::zero_or_null_ptr;

/// `NUMA_NO_NODE`.
const NUMA_NO_NODE: i32 = -1;
/// `ZERO_SIZE_PTR`.
const ZERO_SIZE_PTR: u64 = 16;

/// What releasing a node does (its `dr_release_t` and the data it reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DrRelease {
    /// `devm_kmalloc_release()`: nothing; the memory is the node itself.
    Kmalloc,
    /// `dmam_release()`: `dma_free_attrs(dev, size, vaddr, dma_handle, attrs)`.
    Dma {
        /// Size given to `dmam_alloc_attrs()`.
        size: u64,
        /// CPU address.
        vaddr: u64,
        /// Bus address.
        dma_handle: u64,
        /// `DMA_ATTR_*`.
        attrs: u64,
    },
    /// `dmam_pool_release()`: `dma_pool_destroy(pool)`.
    DmaPool(DmaPoolPtr),
    /// `devm_pages_release()`: `free_pages(addr, order)`.
    Pages {
        /// Address `__get_free_pages()` returned.
        addr: u64,
        /// Order.
        order: u32,
    },
    /// A module's own `dr_release_t` (`devres_alloc()` + `devres_add()`): `release(dev, res)`, `res` the node's
    /// data. `release` is the façade's id of the function; the simulator only compares it.
    Module {
        /// The function's id.
        release: u64,
    },
    /// `devm_action_release()`: the module's `action(data)`. Both values are the module's own (host)
    /// pointers; the simulator only compares them.
    Action {
        /// The function.
        action: u64,
        /// Its argument.
        data: u64,
    },
    /// `group_open_release()` (a no-op): the opening marker `node[0]` of a `struct devres_group`.
    GroupOpen {
        /// The group (`kmalloc()`'ed, `node[0]` at its start).
        grp: u64,
        /// `grp->id`: the caller's id, or the group's address.
        id: u64,
    },
    /// `group_close_release()` (a no-op): the closing marker `node[1]`.
    GroupClose {
        /// The group.
        grp: u64,
    },
}

impl DrRelease {
    /// `node_to_group()`: the group a marker belongs to.
    fn group(&self) -> Option<u64> {
        match *self {
            DrRelease::GroupOpen { grp, .. } | DrRelease::GroupClose { grp } => Some(grp),
            _ => None,
        }
    }
}

/// `sizeof(struct devres_group)` on x86_64: two 40-byte nodes, the id and the color.
pub const DEVRES_GROUP_SIZE: u64 = 96;
/// `WARN_ON(1)` of `devres_close_group()`, `devres_remove_group()`, `devres_release_group()` for an id with
/// no group (drivers/base/devres.c).
const LINE_CLOSE_NO_GROUP: u32 = 621;
const LINE_REMOVE_NO_GROUP: u32 = 649;
const LINE_RELEASE_NO_GROUP: u32 = 698;

/// A `struct devres` on a device's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevresNode {
    /// Address of the node (the kmalloc object that holds header and data).
    pub addr: u64,
    /// The release function and its data.
    pub release: DrRelease,
    /// `node->name` (`devm_kzalloc_release`, `dmam_release`, the action's name …).
    pub name: String,
    /// `node->size`.
    pub size: u64,
}

/// The managed resources of every device.
#[derive(Debug, Default)]
pub(crate) struct DevresState {
    /// `dev->devres_head` of each device, oldest first.
    heads: HashMap<DeviceId, Vec<DevresNode>>,
    /// The nodes a `devres_release_all()` in progress took off each device, oldest first.
    todo: HashMap<DeviceId, Vec<DevresNode>>,
    /// Nodes `__devres_alloc_node()` made that are on no list yet, by address.
    unlisted: HashMap<u64, DevresNode>,
    /// `devres.log` (module_param of drivers/base/devres.c).
    pub(crate) log: bool,
}

/// What [`Machine::devres_release_next`] asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevresNext {
    /// Nothing is left to release.
    Done,
    /// Run the module's `release(dev, res)`, then [`Machine::devres_free_node`] the node.
    Release {
        /// The function's id.
        release: u64,
        /// The resource (the node's data).
        res: u64,
        /// The node to free afterwards.
        node: u64,
    },
    /// Run the module's `action(data)`, then [`Machine::devres_free_node`] the node.
    Action {
        /// The module's function.
        action: u64,
        /// Its argument.
        data: u64,
        /// The node to free afterwards.
        node: u64,
    },
}

impl Machine {
    /// `sizeof(struct devres)`: the node (list head, release, name, size) with the data after it aligned to
    /// `ARCH_DMA_MINALIGN` (8 on x86).
    pub(crate) fn devres_header_size(&self) -> u64 {
        let ps = self.ptr_size();
        (5 * ps).next_multiple_of(8)
    }

    /// `alloc_dr()`: a node for `size` bytes of data from `kmalloc_node_track_caller()`, the whole kmalloc
    /// bucket of `sizeof(struct devres) + size`; its header zeroed. 0 on overflow or failure.
    fn alloc_dr(&mut self, size: u64, gfp: Gfp) -> u64 {
        let hdr = self.devres_header_size();
        let Some(tot) = hdr.checked_add(size) else {
            return 0;
        };
        let tot = self.kmalloc_size_roundup(tot);
        let dr = self.kmalloc_node_entry(tot, gfp, NUMA_NO_NODE, "__kmalloc_node_track_caller_noprof");
        if dr == 0 {
            return 0;
        }
        if !gfp.contains(Gfp::__GFP_ZERO) {
            let _ = self.write_bytes(dr, &vec![0u8; hdr as usize]);
        }
        dr
    }

    /// `devres_log()`: the `DEVRES <op> <node> <name> (<size> bytes)` line when `devres.log` is set.
    fn devres_log(&mut self, dev: DeviceId, node: &DevresNode, op: &str) {
        if self.devres.log {
            let p = self.fmt_p(node.addr);
            self.dev_err(Some(dev), &format!("DEVRES {op:>3} {p} {} ({} bytes)\n", node.name, node.size));
        }
    }

    /// `devres_add()` of a node `alloc_dr()` made.
    fn devres_add_node(&mut self, dev: DeviceId, node: DevresNode) {
        self.devres_log(dev, &node, "ADD");
        self.devres.heads.entry(dev).or_default().push(node);
    }

    /// `devres_remove()`: the newest node of `dev` that `matches`, taken off the list (`REM` logged).
    fn devres_remove_where(&mut self, dev: DeviceId, matches: impl Fn(&DevresNode) -> bool) -> Option<DevresNode> {
        let head = self.devres.heads.get_mut(&dev)?;
        let i = head.iter().rposition(matches)?;
        let node = head.remove(i);
        self.devres_log(dev, &node, "REM");
        Some(node)
    }

    /// The release a node's function does inside the kernel (everything but a module's action).
    fn devres_run_release(&mut self, dev: DeviceId, release: &DrRelease) {
        match *release {
            DrRelease::Kmalloc
            | DrRelease::Action { .. }
            | DrRelease::Module { .. }
            | DrRelease::GroupOpen { .. }
            | DrRelease::GroupClose { .. } => {}
            // dma_free_attrs(): the simulator's DMA has no attribute that changes how a buffer is freed.
            DrRelease::Dma { size, vaddr, dma_handle, attrs: _ } => {
                self.dma_free_coherent(Some(dev), size, vaddr, dma_handle);
            }
            DrRelease::DmaPool(pool) => self.dma_pool_destroy(Some(pool)),
            DrRelease::Pages { addr, order } => self.free_pages(addr, order),
        }
    }

    /// The device a devres function was given; a NULL one is dereferenced as the kernel does: at `deref`, the
    /// offset of the field read first (`dev->numa_node` by `dev_to_node()`, or `dev->devres_lock` taken by
    /// `spin_lock_irqsave()` in `_raw_spin_lock_irqsave`), an oops.
    fn devres_dev(&mut self, dev: Option<DeviceId>, deref: u64) -> Option<DeviceId> {
        if let Some(d) = dev.filter(|d| self.device(*d).is_some()) {
            return Some(d);
        }
        let depth = self.stack.frames.len();
        if deref == DEVICE_DEVRES_LOCK_OFFSET {
            self.push_kframe("_raw_spin_lock_irqsave");
        }
        self.die_on_access(deref);
        self.stack.frames.truncate(depth);
        None
    }

    /// The managed resources of `dev`, oldest first (`dev->devres_head`).
    ///
    /// Context: any.
    pub fn devres_nodes(&self, dev: DeviceId) -> &[DevresNode] {
        self.devres.heads.get(&dev).map_or(&[], Vec::as_slice)
    }

    /// `devm_kmalloc(dev, size, gfp)`: `size` bytes that are freed when the driver detaches. The node is
    /// named `devm_kzalloc_release` (for historical reasons, says devres.c) with the caller's size.
    ///
    /// Context: as `kmalloc()` with `gfp`. Returns the memory, `ZERO_SIZE_PTR` for 0 bytes, 0 on failure.
    pub fn devm_kmalloc(&mut self, dev: Option<DeviceId>, size: u64, gfp: Gfp) -> u64 {
        if size == 0 {
            return ZERO_SIZE_PTR;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("devm_kmalloc");
        let Some(dev) = self.devres_dev(dev, DEVICE_NUMA_NODE_OFFSET) else {
            self.stack.frames.truncate(depth);
            return 0;
        };
        let dr = self.alloc_dr(size, gfp);
        let r = if dr == 0 {
            0
        } else {
            let node = DevresNode { addr: dr, release: DrRelease::Kmalloc, name: "devm_kzalloc_release".into(), size };
            self.devres_add_node(dev, node);
            dr + self.devres_header_size()
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devm_kfree(dev, p)`: frees memory `devm_kmalloc()` gave `dev` before the driver detaches. NULL and
    /// `ZERO_SIZE_PTR` are ignored (so are the kernel's `.rodata` strings, which a module cannot pass here); a pointer that is no managed allocation of `dev`
    /// fires `WARN_ON(rc)` (drivers/base/devres.c:1077) and is left alone.
    ///
    /// Context: process context or any context where `kfree()` may run.
    pub fn devm_kfree(&mut self, dev: Option<DeviceId>, p: u64) {
        if zero_or_null_ptr(p) {
            return;
        }
        let depth = self.stack.frames.len();
        self.push_kframe("devm_kfree");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return;
        };
        let hdr = self.devres_header_size();
        match self.devres_remove_where(dev, |n| n.release == DrRelease::Kmalloc && n.addr + hdr == p) {
            Some(node) => self.kfree(node.addr),
            None => self.warn("drivers/base/devres.c", 1077, None),
        }
        self.stack.frames.truncate(depth);
    }

    /// `devm_kmemdup(dev, src, len, gfp)`: `devm_kmalloc()` of `src.len()` bytes holding a copy of `src`.
    ///
    /// Context: as `kmalloc()` with `gfp`. Returns the copy, `ZERO_SIZE_PTR` for 0 bytes, 0 on failure.
    pub fn devm_kmemdup(&mut self, dev: Option<DeviceId>, src: &[u8], gfp: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("devm_kmemdup");
        let p = self.devm_kmalloc(dev, src.len() as u64, gfp);
        if p != 0 && !zero_or_null_ptr(p) {
            let _ = self.write_bytes(p, src);
        }
        self.stack.frames.truncate(depth);
        p
    }

    /// `devm_kstrdup(dev, s, gfp)` (and `devm_kstrdup_const()`, whose `.rodata` case a module's string never
    /// is): a managed copy of the C string `s` (its bytes without the NUL); None (NULL) gives 0.
    ///
    /// Context: as `kmalloc()` with `gfp`. Returns the copy or 0.
    pub fn devm_kstrdup(&mut self, dev: Option<DeviceId>, s: Option<&[u8]>, gfp: Gfp) -> u64 {
        let Some(s) = s else { return 0 };
        let depth = self.stack.frames.len();
        self.push_kframe("devm_kstrdup");
        let mut bytes = s.to_vec();
        bytes.push(0);
        let p = self.devm_kmalloc(dev, bytes.len() as u64, gfp);
        if p != 0 {
            let _ = self.write_bytes(p, &bytes);
        }
        self.stack.frames.truncate(depth);
        p
    }

    /// `devm_krealloc(dev, ptr, new_size, gfp)`: 0 bytes `devm_kfree()`s and gives `ZERO_SIZE_PTR`; NULL is
    /// `devm_kmalloc()`; a size the old kmalloc object still holds with its header (`ksize()`) keeps the
    /// pointer; otherwise a new node takes the old one's place in the list (`replace_dr()`, logged `REPLACE`),
    /// the contents are copied and the old node is freed. The new node is named `devm_krealloc_release`, with
    /// the new size. A pointer that is no
    /// kmalloc memory fires `WARN(1, "Pointer doesn't point to dynamically allocated memory.")`
    /// (drivers/base/devres.c:893), one that `dev` does not manage `WARN(1, "Memory chunk not managed or
    /// managed by a different device.")` (line 928); both give 0.
    ///
    /// Context: as `kmalloc()` with `gfp`. Returns the memory or 0.
    pub fn devm_krealloc(&mut self, dev: Option<DeviceId>, ptr: u64, new_size: u64, gfp: Gfp) -> u64 {
        if new_size == 0 {
            self.devm_kfree(dev, ptr);
            return ZERO_SIZE_PTR;
        }
        if zero_or_null_ptr(ptr) {
            return self.devm_kmalloc(dev, new_size, gfp);
        }
        let hdr = self.devres_header_size();
        let Some(total_new) = hdr.checked_add(new_size) else {
            return 0;
        };
        let total_new = self.kmalloc_size_roundup(total_new);
        let depth = self.stack.frames.len();
        self.push_kframe("devm_krealloc");
        let r = self.devm_krealloc_inner(dev, ptr, new_size, total_new, gfp);
        self.stack.frames.truncate(depth);
        r
    }

    fn devm_krealloc_inner(&mut self, dev: Option<DeviceId>, ptr: u64, new_size: u64, total_new: u64, gfp: Gfp) -> u64 {
        let hdr = self.devres_header_size();
        let total_old = self.ksize(ptr.wrapping_sub(hdr));
        if total_old == 0 {
            self.warn("drivers/base/devres.c", 893, Some("Pointer doesn't point to dynamically allocated memory."));
            return 0;
        }
        if total_new <= total_old {
            return ptr;
        }
        let Some(dev) = self.devres_dev(dev, DEVICE_NUMA_NODE_OFFSET) else {
            return 0;
        };
        let new_dr = self.alloc_dr(new_size, gfp);
        if new_dr == 0 {
            return 0;
        }
        let found = self
            .devres
            .heads
            .get(&dev)
            .and_then(|h| h.iter().rposition(|n| n.release == DrRelease::Kmalloc && n.addr + hdr == ptr));
        let Some(i) = found else {
            self.kfree(new_dr);
            self.warn("drivers/base/devres.c", 928, Some("Memory chunk not managed or managed by a different device."));
            return 0;
        };
        let old = self.devres.heads[&dev][i].clone();
        self.devres_log(dev, &old, "REPLACE");
        let new = DevresNode {
            addr: new_dr,
            release: DrRelease::Kmalloc,
            name: "devm_krealloc_release".into(),
            size: new_size,
        };
        if let Some(h) = self.devres.heads.get_mut(&dev) {
            h[i] = new;
        }
        let mut data = vec![0u8; (total_old - hdr) as usize];
        let _ = self.read_bytes(old.addr + hdr, &mut data);
        let _ = self.write_bytes(new_dr + hdr, &data);
        self.kfree(old.addr);
        new_dr + hdr
    }

    /// `__devm_add_action(dev, action, data, name)` (`devm_add_action()` passes the action's name): the
    /// module's `action(data)` runs when the driver detaches, in reverse order with the other resources.
    ///
    /// Context: process context (GFP_KERNEL). Returns 0 or -ENOMEM.
    pub fn devm_add_action(&mut self, dev: Option<DeviceId>, action: u64, data: u64, name: &str) -> i32 {
        let depth = self.stack.frames.len();
        self.push_kframe("__devm_add_action");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return -22;
        };
        let size = 2 * self.ptr_size(); // struct action_devres { void *data; void (*action)(void *); }
        let dr = self.alloc_dr(size, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
        let r = if dr == 0 {
            -12
        } else {
            let node = DevresNode { addr: dr, release: DrRelease::Action { action, data }, name: name.into(), size };
            self.devres_add_node(dev, node);
            0
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devm_remove_action(dev, action, data)`: forgets the action without running it; one that was never
    /// added fires `WARN_ON()` (drivers/base/devres.c:776: the line a multi-line `WARN_ON()` ends on).
    ///
    /// Context: process context.
    pub fn devm_remove_action(&mut self, dev: Option<DeviceId>, action: u64, data: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("devm_remove_action");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return;
        };
        let want = DrRelease::Action { action, data };
        match self.devres_remove_where(dev, |n| n.release == want) {
            Some(node) => self.kfree(node.addr),
            None => self.warn("drivers/base/devres.c", 776, None),
        }
        self.stack.frames.truncate(depth);
    }

    /// `devm_release_action(dev, action, data)`: takes the action off the list and asks the caller to run it
    /// now ([`DevresNext::Action`]; then [`Machine::devres_free_node`]); one that was never added fires `WARN_ON()`
    /// (drivers/base/devres.c:798) and gives [`DevresNext::Done`].
    ///
    /// Context: process context.
    pub fn devm_release_action(&mut self, dev: Option<DeviceId>, action: u64, data: u64) -> DevresNext {
        let depth = self.stack.frames.len();
        self.push_kframe("devm_release_action");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return DevresNext::Done;
        };
        let want = DrRelease::Action { action, data };
        let r = match self.devres_remove_where(dev, |n| n.release == want) {
            Some(node) => DevresNext::Action { action, data, node: node.addr },
            None => {
                self.warn("drivers/base/devres.c", 798, None);
                DevresNext::Done
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devm_get_free_pages(dev, gfp, order)`: `__get_free_pages()` freed on detach (node
    /// `devm_pages_release`).
    ///
    /// Context: as `__get_free_pages()`. Returns the address or 0.
    pub fn devm_get_free_pages(&mut self, dev: Option<DeviceId>, gfp: Gfp, order: u32) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("devm_get_free_pages");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return 0;
        };
        let addr = self.__get_free_pages(gfp, order);
        let r = if addr == 0 {
            0
        } else {
            let size = 2 * self.ptr_size(); // struct pages_devres { unsigned long addr; unsigned int order; }
            let dr = self.alloc_dr(size, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
            if dr == 0 {
                self.free_pages(addr, order);
                0
            } else {
                let release = DrRelease::Pages { addr, order };
                self.devres_add_node(dev, DevresNode { addr: dr, release, name: "devm_pages_release".into(), size });
                addr
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devm_free_pages(dev, addr)`: `devres_release()` of the pages; an address that is no managed page
    /// allocation of `dev` fires `WARN_ON()` (drivers/base/devres.c:1174).
    ///
    /// Context: process context.
    pub fn devm_free_pages(&mut self, dev: Option<DeviceId>, addr: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("devm_free_pages");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return;
        };
        match self.devres_remove_where(dev, |n| matches!(n.release, DrRelease::Pages { addr: a, .. } if a == addr)) {
            Some(node) => {
                self.devres_run_release(dev, &node.release);
                self.kfree(node.addr);
            }
            None => self.warn("drivers/base/devres.c", 1174, None),
        }
        self.stack.frames.truncate(depth);
    }

    /// `dmam_alloc_attrs(dev, size, dma_handle, gfp, attrs)` (`dmam_alloc_coherent()` with attrs 0):
    /// `dma_alloc_attrs()` freed on detach (node `dmam_release`, the 32 bytes of `struct dma_devres`).
    ///
    /// Context: as `dma_alloc_attrs()`. Returns the buffer or None.
    pub fn dmam_alloc_attrs(&mut self, dev: Option<DeviceId>, size: u64, gfp: Gfp, attrs: u64) -> Option<DmaAlloc> {
        let depth = self.stack.frames.len();
        self.push_kframe("dmam_alloc_attrs");
        let dsize = 4 * self.ptr_size(); // size, vaddr, dma_handle, attrs
        let dr = self.alloc_dr(dsize, gfp | Gfp::__GFP_ZERO);
        let r = if dr == 0 {
            None
        } else {
            match (dev, self.dma_alloc_attrs(dev, size, gfp, attrs)) {
                (Some(dev), Some(a)) => {
                    let release = DrRelease::Dma { size, vaddr: a.cpu_addr, dma_handle: a.dma_handle, attrs };
                    let node = DevresNode { addr: dr, release, name: "dmam_release".into(), size: dsize };
                    self.devres_add_node(dev, node);
                    Some(a)
                }
                _ => {
                    self.kfree(dr);
                    None
                }
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `dmam_free_coherent(dev, size, vaddr, dma_handle)`: forgets the managed buffer (a `vaddr` that is
    /// none fires `WARN_ON()` at kernel/dma/mapping.c:74; one with another size or handle, the `WARN_ON()` of
    /// `dmam_match()` at line 54), then `dma_free_coherent()` in any case.
    ///
    /// Context: process context.
    pub fn dmam_free_coherent(&mut self, dev: Option<DeviceId>, size: u64, vaddr: u64, dma_handle: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("dmam_free_coherent");
        let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else {
            self.stack.frames.truncate(depth);
            return;
        };
        let found =
            self.devres_remove_where(dev, |n| matches!(n.release, DrRelease::Dma { vaddr: v, .. } if v == vaddr));
        match found {
            Some(node) => {
                if let DrRelease::Dma { size: s, dma_handle: h, .. } = node.release {
                    if s != size || h != dma_handle {
                        self.push_kframe("dmam_match");
                        self.warn("kernel/dma/mapping.c", 54, None);
                        self.pop_frame();
                    }
                }
                self.kfree(node.addr);
            }
            None => self.warn("kernel/dma/mapping.c", 74, None),
        }
        self.dma_free_coherent(Some(dev), size, vaddr, dma_handle);
        self.stack.frames.truncate(depth);
    }

    /// `dmam_pool_create(name, dev, size, align, allocation)`: `dma_pool_create()` destroyed on detach (node
    /// `dmam_pool_release`, one pointer of data).
    ///
    /// Context: process context. Returns the pool or why `dma_pool_create()` refused.
    pub fn dmam_pool_create(
        &mut self,
        name: &str,
        dev: Option<DeviceId>,
        size: u64,
        align: u64,
        allocation: u64,
    ) -> Result<DmaPoolPtr, DmaPoolCreateError> {
        let depth = self.stack.frames.len();
        self.push_kframe("dmam_pool_create");
        let psize = self.ptr_size();
        let dr = self.alloc_dr(psize, Gfp::GFP_KERNEL | Gfp::__GFP_ZERO);
        let r = if dr == 0 {
            Err(DmaPoolCreateError::NoMem)
        } else {
            match (dev, self.dma_pool_create(name, dev, size, align, allocation)) {
                (Some(dev), Ok(pool)) => {
                    let node = DevresNode {
                        addr: dr,
                        release: DrRelease::DmaPool(pool),
                        name: "dmam_pool_release".into(),
                        size: psize,
                    };
                    self.devres_add_node(dev, node);
                    Ok(pool)
                }
                (_, r) => {
                    self.kfree(dr);
                    r
                }
            }
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `dmam_pool_destroy(pool)`: `devres_release()` of the pool on its device (which destroys it); a pool
    /// that is not managed fires `WARN_ON()` (mm/dmapool.c:522) and stays. A NULL pool oopses reading
    /// `pool->dev` (offset 56 of mm/dmapool.c's `struct dma_pool` on x86_64 — `page_list`, a 4-byte `lock`, then
    /// four 8-byte fields —, 28 on i386).
    ///
    /// Context: process context.
    pub fn dmam_pool_destroy(&mut self, pool: Option<DmaPoolPtr>) {
        let dev = match pool {
            Some(p) => self.dma_pool(p).map(|x| x.dev),
            None => None,
        };
        let (Some(pool), Some(dev)) = (pool, dev) else {
            let base = pool.map_or(0, |p| p.0);
            let off = if self.ptr_size() == 8 { 56 } else { 28 };
            self.push_kframe("dmam_pool_destroy");
            self.die_on_access(base + off);
            self.pop_frame();
            return;
        };
        let depth = self.stack.frames.len();
        self.push_kframe("dmam_pool_destroy");
        match self.devres_remove_where(dev, |n| n.release == DrRelease::DmaPool(pool)) {
            Some(node) => {
                self.devres_run_release(dev, &node.release);
                self.kfree(node.addr);
            }
            None => self.warn("mm/dmapool.c", 522, None),
        }
        self.stack.frames.truncate(depth);
    }

    /// `__devres_alloc_node(release, size, gfp, nid, name)` (`devres_alloc()` passes the release function's
    /// name): a zeroed node for `size` bytes of the caller's data, on no list yet, whose release is the
    /// module's function `release`.
    ///
    /// Context: as `kmalloc()` with `gfp`. Returns the data's address (what the caller fills in) or 0.
    pub fn devres_alloc_node(&mut self, release: u64, size: u64, gfp: Gfp, nid: i32, name: &str) -> u64 {
        let _ = nid;
        let depth = self.stack.frames.len();
        self.push_kframe("__devres_alloc_node");
        let dr = self.alloc_dr(size, gfp | Gfp::__GFP_ZERO);
        self.stack.frames.truncate(depth);
        if dr == 0 {
            return 0;
        }
        let node = DevresNode { addr: dr, release: DrRelease::Module { release }, name: name.into(), size };
        self.devres.unlisted.insert(dr, node);
        dr + self.devres_header_size()
    }

    /// `BUG_ON(!list_empty(&node->entry))` at drivers/base/devres.c:`line`.
    fn devres_bug(&mut self, func: &'static str, line: u32) {
        let depth = self.stack.frames.len();
        self.push_kframe(func);
        self.die(crate::slab_common::OopsKind::Bug { file: "drivers/base/devres.c".into(), line });
        self.stack.frames.truncate(depth);
    }

    /// `devres_add(dev, res)`: puts a node of [`Machine::devres_alloc_node`] on the device's list (`ADD`). A
    /// node already on a list is a `BUG()` (drivers/base/devres.c:135).
    ///
    /// Context: any (a spinlock).
    pub fn devres_add(&mut self, dev: Option<DeviceId>, res: u64) {
        let hdr = self.devres_header_size();
        let depth = self.stack.frames.len();
        self.push_kframe("devres_add");
        if let Some(dev) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) {
            match self.devres.unlisted.remove(&res.wrapping_sub(hdr)) {
                Some(node) => self.devres_add_node(dev, node),
                None => self.devres_bug("add_dr", 135),
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `devres_free(res)`: frees a node that is on no list (NULL is ignored); one on a list is a `BUG()`
    /// (drivers/base/devres.c:228).
    ///
    /// Context: any.
    pub fn devres_free(&mut self, res: u64) {
        if res == 0 {
            return;
        }
        let node = res.wrapping_sub(self.devres_header_size());
        if self.devres.unlisted.remove(&node).is_some() || !self.devres_is_listed(node) {
            self.kfree(node);
        } else {
            self.devres_bug("devres_free", 228);
        }
    }

    /// The release function id of a node [`Machine::devres_alloc_node`] made that is on no list yet.
    ///
    /// Context: any.
    pub fn devres_unlisted_release(&self, res: u64) -> Option<u64> {
        match self.devres.unlisted.get(&res.wrapping_sub(self.devres_header_size()))?.release {
            DrRelease::Module { release } => Some(release),
            _ => None,
        }
    }

    fn devres_is_listed(&self, node: u64) -> bool {
        self.devres.heads.values().chain(self.devres.todo.values()).flatten().any(|n| n.addr == node)
    }

    /// `find_dr()` without its match function: the resources of `dev` released by the module's `release`,
    /// newest first, for the caller to try its `match(dev, res, match_data)` on (the kernel calls it under
    /// `dev->devres_lock`, interrupts off; the simulator does not model that context for it).
    ///
    /// Context: any.
    pub fn devres_candidates(&self, dev: DeviceId, release: u64) -> Vec<u64> {
        let hdr = self.devres_header_size();
        self.devres_nodes(dev)
            .iter()
            .rev()
            .filter(|n| n.release == DrRelease::Module { release })
            .map(|n| n.addr + hdr)
            .collect()
    }

    /// `devres_get(dev, new_res, …)` once the caller's match found `existing` (or nothing): with one, the
    /// new node is freed and `existing` returned; without, the new node is added and returned.
    ///
    /// Context: any.
    pub fn devres_get(&mut self, dev: Option<DeviceId>, new_res: u64, existing: Option<u64>) -> u64 {
        match existing {
            Some(e) => {
                self.devres_free(new_res);
                e
            }
            None => {
                self.devres_add(dev, new_res);
                new_res
            }
        }
    }

    /// `devres_remove(dev, …)` of the resource the caller's match chose: off the list (`REM`), not freed.
    ///
    /// Context: any. Returns `res`, or 0 when it is not on the device's list.
    pub fn devres_remove(&mut self, dev: Option<DeviceId>, res: u64) -> u64 {
        let hdr = self.devres_header_size();
        let depth = self.stack.frames.len();
        self.push_kframe("devres_remove");
        let r = match self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) {
            Some(dev) => match self.devres_remove_where(dev, |n| n.addr + hdr == res) {
                Some(node) => {
                    self.devres.unlisted.insert(node.addr, node);
                    res
                }
                None => 0,
            },
            None => 0,
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devres_release_all(dev)`, first half (`remove_nodes()`): takes every node off the device for
    /// [`Machine::devres_release_next`] to release, newest first.
    ///
    /// Context: process context. Returns how many nodes there are.
    pub fn devres_release_all_begin(&mut self, dev: DeviceId) -> usize {
        let len = self.devres.heads.get(&dev).map_or(0, Vec::len);
        self.devres_remove_nodes(dev, 0, len)
    }

    /// `remove_nodes(dev, first, end, todo)` for the list positions `first..end`: every ordinary node moves to
    /// the release list; a group goes too (its opening marker, after the ordinary nodes, so it is released
    /// first) when it lies wholly in the range — both markers, or the opening one of a group still open —
    /// and its closing marker is dropped. Groups reaching out of the range stay. Returns the ordinary nodes'
    /// count.
    fn devres_remove_nodes(&mut self, dev: DeviceId, first: usize, end: usize) -> usize {
        let Some(head) = self.devres.heads.get_mut(&dev) else { return 0 };
        let end = end.min(head.len());
        let range: Vec<DevresNode> = head.drain(first..end).collect();
        let (markers, mut todo): (Vec<DevresNode>, Vec<DevresNode>) =
            range.into_iter().partition(|n| n.release.group().is_some());
        let cnt = todo.len();
        // Second pass: color the groups in the range.
        let closed: Vec<u64> = head
            .iter()
            .chain(&markers)
            .filter_map(|n| match n.release {
                DrRelease::GroupClose { grp } => Some(grp),
                _ => None,
            })
            .collect();
        let mut color: HashMap<u64, u32> = HashMap::new();
        let mut gone: Vec<u64> = Vec::new();
        for n in &markers {
            let grp = n.release.group().unwrap_or_default();
            let c = color.entry(grp).or_insert(0);
            *c += 1;
            if !closed.contains(&grp) {
                *c += 1;
            }
            if *c == 2 {
                gone.push(grp);
            }
        }
        let (released, keep): (Vec<DevresNode>, Vec<DevresNode>) =
            markers.into_iter().partition(|n| gone.contains(&n.release.group().unwrap_or_default()));
        // The opening markers join the release list in the order their groups were completed; the closing
        // ones are dropped (`list_del_init()`).
        for grp in gone {
            if let Some(open) =
                released.iter().find(|n| matches!(n.release, DrRelease::GroupOpen { grp: g, .. } if g == grp))
            {
                todo.push(open.clone());
            }
        }
        let head = self.devres.heads.entry(dev).or_default();
        let tail = head.split_off(first);
        head.extend(keep);
        head.extend(tail);
        if !todo.is_empty() {
            self.devres.todo.entry(dev).or_default().extend(todo);
        }
        cnt
    }

    /// `find_group(dev, id)`: the position of the newest opening marker with this id, or with a NULL id the
    /// newest group still open.
    fn devres_find_group(&self, dev: DeviceId, id: u64) -> Option<usize> {
        let head = self.devres.heads.get(&dev)?;
        head.iter().enumerate().rev().find_map(|(i, n)| match n.release {
            DrRelease::GroupOpen { grp, id: gid } => {
                let open = !head.iter().any(|x| x.release == DrRelease::GroupClose { grp });
                ((id != 0 && gid == id) || (id == 0 && open)).then_some(i)
            }
            _ => None,
        })
    }

    /// `devres_open_group(dev, id, gfp)`: a `struct devres_group` from kmalloc whose opening marker (`grp<`,
    /// 0 bytes) joins the device's list; what is added after it belongs to the group.
    ///
    /// Context: process context with GFP_KERNEL. Returns the group's id (`id`, or the group's address for
    /// 0), 0 when the kmalloc fails.
    pub fn devres_open_group(&mut self, dev: Option<DeviceId>, id: u64, gfp: Gfp) -> u64 {
        let depth = self.stack.frames.len();
        self.push_kframe("devres_open_group");
        let grp = self.kmalloc(DEVRES_GROUP_SIZE, gfp);
        let r = if grp == 0 {
            0
        } else if let Some(d) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) {
            let id = if id == 0 { grp } else { id };
            let node =
                DevresNode { addr: grp, release: DrRelease::GroupOpen { grp, id }, name: "grp<".into(), size: 0 };
            self.devres_add_node(d, node);
            id
        } else {
            0
        };
        self.stack.frames.truncate(depth);
        r
    }

    /// `devres_close_group(dev, id)`: the closing marker (`grp>`) after the group's resources; later ones
    /// are outside it. `WARN_ON(1)` for an id with no group.
    ///
    /// Context: any.
    pub fn devres_close_group(&mut self, dev: Option<DeviceId>, id: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("devres_close_group");
        if let Some(d) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) {
            match self.devres_find_group(d, id) {
                Some(i) => {
                    let grp = self.devres.heads[&d][i].release.group().unwrap_or_default();
                    let node = DevresNode {
                        addr: grp + self.devres_header_size(),
                        release: DrRelease::GroupClose { grp },
                        name: "grp>".into(),
                        size: 0,
                    };
                    self.devres_add_node(d, node);
                }
                None => self.warn("drivers/base/devres.c", LINE_CLOSE_NO_GROUP, None),
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `devres_remove_group(dev, id)`: both markers off the list (`REM` of the opening one) and the group
    /// freed; its resources stay, now part of the enclosing group or of the device. `WARN_ON(1)` for an id
    /// with no group.
    ///
    /// Context: any.
    pub fn devres_remove_group(&mut self, dev: Option<DeviceId>, id: u64) {
        let depth = self.stack.frames.len();
        self.push_kframe("devres_remove_group");
        if let Some(d) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) {
            match self.devres_find_group(d, id) {
                Some(i) => {
                    let head = self.devres.heads.entry(d).or_default();
                    let open = head.remove(i);
                    let grp = open.release.group().unwrap_or_default();
                    head.retain(|n| n.release != DrRelease::GroupClose { grp });
                    self.devres_log(d, &open, "REM");
                    self.kfree(grp);
                }
                None => {
                    self.warn("drivers/base/devres.c", LINE_REMOVE_NO_GROUP, None);
                }
            }
        }
        self.stack.frames.truncate(depth);
    }

    /// `devres_release_group(dev, id)`, first half: the group's resources and the groups nested in it taken
    /// off the list for [`Machine::devres_release_next`] to release — the groups' markers first, then the
    /// resources newest first. An unknown id warns (`WARN_ON(1)`) unless the list is empty (a device being
    /// torn down).
    ///
    /// Context: process context. Returns the number of resources (not groups) released.
    pub fn devres_release_group_begin(&mut self, dev: Option<DeviceId>, id: u64) -> i32 {
        let Some(d) = self.devres_dev(dev, DEVICE_DEVRES_LOCK_OFFSET) else { return 0 };
        let Some(first) = self.devres_find_group(d, id) else {
            if self.devres.heads.get(&d).is_some_and(|h| !h.is_empty()) {
                let depth = self.stack.frames.len();
                self.push_kframe("devres_release_group");
                self.warn("drivers/base/devres.c", LINE_RELEASE_NO_GROUP, None);
                self.stack.frames.truncate(depth);
            }
            return 0;
        };
        let head = &self.devres.heads[&d];
        let grp = head[first].release.group().unwrap_or_default();
        let end = head.iter().position(|n| n.release == DrRelease::GroupClose { grp }).map_or(head.len(), |c| c + 1);
        self.devres_remove_nodes(d, first, end) as i32
    }

    /// `release_nodes()`, one step: releases the newest node left (logging `REL`) — a kernel resource here
    /// and now, with the `kfree()` of its node — until one is the module's action, which it returns
    /// ([`DevresNext::Action`]: run it, then [`Machine::devres_free_node`]); [`DevresNext::Done`] when none is
    /// left.
    ///
    /// Context: process context.
    pub fn devres_release_next(&mut self, dev: DeviceId) -> DevresNext {
        loop {
            let Some(node) = self.devres.todo.get_mut(&dev).and_then(Vec::pop) else {
                self.devres.todo.remove(&dev);
                return DevresNext::Done;
            };
            self.devres_log(dev, &node, "REL");
            if let DrRelease::Action { action, data } = node.release {
                return DevresNext::Action { action, data, node: node.addr };
            }
            if let DrRelease::Module { release } = node.release {
                let res = node.addr + self.devres_header_size();
                return DevresNext::Release { release, res, node: node.addr };
            }
            self.devres_run_release(dev, &node.release);
            self.kfree(node.addr);
        }
    }

    /// `kfree()` of a node whose module action or release has run (the end of `release_nodes()`).
    ///
    /// Context: any.
    pub fn devres_free_node(&mut self, node: u64) {
        self.kfree(node);
    }

    /// `devres.log=` from the command line (any non-zero value prints).
    pub(crate) fn devres_set_log(&mut self, on: bool) {
        self.devres.log = on;
    }
}
