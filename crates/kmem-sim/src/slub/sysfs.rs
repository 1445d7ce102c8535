//! SLUB's sysfs and debugfs files (mm/slub.c of 6.12.117, its `SLAB_SUPPORTS_SYSFS` part and its
//! `CONFIG_SLUB_DEBUG && CONFIG_DEBUG_FS` part): `/sys/kernel/slab/<cache>/<attribute>` and
//! `/sys/kernel/debug/slab/<cache>/{alloc_traces,free_traces}`.
//!
//! # What is modelled
//! - `slab_kset` with one directory per cache (`sysfs_slab_add()`): an unmergeable cache's directory has its
//!   name; a mergeable one's has `create_unique_id()`'s `:[flags-]size` name and its name is a symbolic link
//!   to it, as is the name of every cache merged into it later (`sysfs_slab_alias()`). Caches created before
//!   `slab_late_init()` get their directories and links there, as the kernel adds the boot caches.
//!   `kmem_cache_destroy()` removes the directory (`sysfs_slab_unlink()`); the aliases' links stay, pointing
//!   nowhere, as kernfs leaves them. A new unmergeable cache takes its name over from whatever has it,
//!   another cache's directory included (`sysfs_remove_link()` is `kernfs_remove_by_name()`). The caches replayed from the recorded boot (crate::qemu_boot), which
//!   ran with `slab_nomerge`, keep their names as directories even when the machine merges.
//! - The attributes of `slab_attrs[]` for the book's configuration: `CONFIG_SLUB_DEBUG`, `CONFIG_ZONE_DMA`,
//!   `CONFIG_NUMA` (the `N0=` counts and `remote_node_defrag_ratio` follow [`crate::MachineConfig::numa`]),
//!   `CONFIG_FAILSLAB`, `CONFIG_HARDENED_USERCOPY` (`usersize`, following its runtime switch), no
//!   `CONFIG_SLUB_STATS` and no `CONFIG_KFENCE`. Every value is read from the cache's own state; writes go
//!   to the functions the `*_store()` handlers call (`kmem_cache_shrink()`, `validate_slab_cache()` …).
//! - sysfs's answers: reading or writing a file that does not exist is `-ENOENT`; writing an attribute that
//!   has no `store` is `-EIO` (`slab_attr_store()`; root may open the 0400 files for writing); the handlers'
//!   own `-EINVAL`/`-ERANGE`.
//! - In 6.12 the allocation and free call sites are debugfs files, `alloc_traces` and `free_traces` under
//!   `/sys/kernel/debug/slab/<cache>/`, made for caches with `SLAB_STORE_USER` (`debugfs_slab_add()`):
//!   `slab_debug_trace_open()` collects the tracks of the objects in use on the node's partial and full lists
//!   (`process_slab()`, `add_location()`), sorts them by count with the kernel's `sort_r()`
//!   ([`crate::sort`]) and prints them as `slab_debugfs_show()` does, each with its stack depot trace.
//!   Opening them allocates nothing here (the kernel's location table is a page of its own, freed on close).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::{Geom, TRACK_ALLOC, TRACK_FREE, TRACK_SIZE};
use crate::machine::Machine;
use crate::printk::LogLevel;
use crate::slab_common::*;

/// `-ENOENT`.
const ENOENT: i32 = -2;
/// `-EIO`.
const EIO: i32 = -5;
/// `-EEXIST`.
pub(crate) const EEXIST: i32 = -17;
/// `-EISDIR`.
const EISDIR: i32 = -21;
/// `-ENOTDIR`.
const ENOTDIR: i32 = -20;
/// `-EINVAL`.
const EINVAL: i32 = -22;
/// `-ERANGE`.
const ERANGE: i32 = -34;

/// Where `slab_kset` is.
pub const SYSFS_SLAB: &str = "/sys/kernel/slab";
/// Where `slab_debugfs_root` is (debugfs mounted on `/sys/kernel/debug`).
pub const DEBUGFS_SLAB: &str = "/sys/kernel/debug/slab";

/// `/sys/kernel/slab`: the directories of the caches, the links of their names and aliases, and whether
/// `slab_late_init()` has run (`slab_state == FULL`).
#[derive(Clone, Debug, Default)]
pub struct SlabKset {
    /// `slab_state == FULL`: sysfs is up and new caches are added at once.
    pub(crate) full: bool,
    /// Directories: kobject name → cache.
    pub(crate) dirs: BTreeMap<String, CacheId>,
    /// Symbolic links: name → the kobject name they point to.
    pub(crate) links: BTreeMap<String, String>,
    /// `alias_list`: aliases made before `slab_late_init()`, newest first.
    pub(crate) saved_aliases: Vec<(CacheId, String)>,
}

/// What a `slab_attrs[]` attribute shows or stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attr {
    SlabSize,
    ObjectSize,
    ObjsPerSlab,
    Order,
    MinPartial,
    CpuPartial,
    ObjectsPartial,
    Partial,
    CpuSlabs,
    Ctor,
    Aliases,
    Align,
    HwcacheAlign,
    ReclaimAccount,
    DestroyByRcu,
    Shrink,
    SlabsCpuPartial,
    TotalObjects,
    Objects,
    Slabs,
    SanityChecks,
    Trace,
    RedZone,
    Poison,
    StoreUser,
    Validate,
    CacheDma,
    RemoteNodeDefragRatio,
    Failslab,
    Usersize,
}

/// `slab_attrs[]` of the modelled configuration, in the kernel's order: name, attribute, and whether it has
/// a `store` (`SLAB_ATTR`, mode 0600) or not (`SLAB_ATTR_RO`, 0400).
const SLAB_ATTRS: &[(&str, Attr, bool)] = &[
    ("slab_size", Attr::SlabSize, false),
    ("object_size", Attr::ObjectSize, false),
    ("objs_per_slab", Attr::ObjsPerSlab, false),
    ("order", Attr::Order, false),
    ("min_partial", Attr::MinPartial, true),
    ("cpu_partial", Attr::CpuPartial, true),
    ("objects_partial", Attr::ObjectsPartial, false),
    ("partial", Attr::Partial, false),
    ("cpu_slabs", Attr::CpuSlabs, false),
    ("ctor", Attr::Ctor, false),
    ("aliases", Attr::Aliases, false),
    ("align", Attr::Align, false),
    ("hwcache_align", Attr::HwcacheAlign, false),
    ("reclaim_account", Attr::ReclaimAccount, false),
    ("destroy_by_rcu", Attr::DestroyByRcu, false),
    ("shrink", Attr::Shrink, true),
    ("slabs_cpu_partial", Attr::SlabsCpuPartial, false),
    ("total_objects", Attr::TotalObjects, false),
    ("objects", Attr::Objects, false),
    ("slabs", Attr::Slabs, false),
    ("sanity_checks", Attr::SanityChecks, false),
    ("trace", Attr::Trace, false),
    ("red_zone", Attr::RedZone, false),
    ("poison", Attr::Poison, false),
    ("store_user", Attr::StoreUser, false),
    ("validate", Attr::Validate, true),
    ("cache_dma", Attr::CacheDma, false),
    ("remote_node_defrag_ratio", Attr::RemoteNodeDefragRatio, true),
    ("failslab", Attr::Failslab, true),
    ("usersize", Attr::Usersize, false),
];

/// `show_slab_objects()`'s `SO_*` flags.
const SO_ALL: u32 = 1 << 0;
const SO_PARTIAL: u32 = 1 << 1;
const SO_CPU: u32 = 1 << 2;
const SO_OBJECTS: u32 = 1 << 3;
const SO_TOTAL: u32 = 1 << 4;

/// `create_unique_id()`: `:` then the flags that must match for merging (`d` DMA, `D` DMA32, `a`
/// reclaimable, `F` consistency checks, `A` accounted), a `-` if there were any, and `s->size` in 7 digits.
///
/// Context: any. Returns the kobject name of a mergeable cache.
pub fn create_unique_id(flags: SlabFlags, size: u32) -> String {
    let mut id = String::from(":");
    for (flag, c) in [
        (SLAB_CACHE_DMA, 'd'),
        (SLAB_CACHE_DMA32, 'D'),
        (SLAB_RECLAIM_ACCOUNT, 'a'),
        (SLAB_CONSISTENCY_CHECKS, 'F'),
        (SLAB_ACCOUNT, 'A'),
    ] {
        if flags & flag != 0 {
            id.push(c);
        }
    }
    if id.len() > 1 {
        id.push('-');
    }
    id.push_str(&format!("{size:07}"));
    id
}

/// `kstrtoul(s, 10, &v)`: an optional `+`, decimal digits, at most one trailing newline.
///
/// Context: any. Returns `-EINVAL` for anything else, `-ERANGE` when it does not fit 64 bits.
pub fn kstrtoul(s: &str) -> Result<u64, i32> {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EINVAL);
    }
    s.parse::<u64>().map_err(|_| ERANGE)
}

/// `kstrtouint(s, 10, &v)`: as [`kstrtoul`], `-ERANGE` beyond 32 bits.
///
/// Context: any.
pub fn kstrtouint(s: &str) -> Result<u32, i32> {
    u32::try_from(kstrtoul(s)?).map_err(|_| ERANGE)
}

/// `%*pbl` of a CPU mask: ranges such as `0-2,5`.
fn bitmap_list(mask: u64) -> String {
    let mut parts = Vec::new();
    let mut cpu = 0;
    while cpu < 64 {
        if mask & (1 << cpu) == 0 {
            cpu += 1;
            continue;
        }
        let start = cpu;
        while cpu + 1 < 64 && mask & (1 << (cpu + 1)) != 0 {
            cpu += 1;
        }
        parts.push(if start == cpu { format!("{start}") } else { format!("{start}-{cpu}") });
        cpu += 1;
    }
    parts.join(",")
}

/// `struct location` of `add_location()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Location {
    handle: u32,
    count: u64,
    addr: u64,
    waste: u64,
    sum_time: u64,
    min_time: i64,
    max_time: i64,
    min_pid: i64,
    max_pid: i64,
    cpus: u64,
}

/// `struct track` as SLUB stores it after an object.
struct Track {
    addr: u64,
    handle: u32,
    cpu: u32,
    pid: i32,
    when: u64,
}

impl Machine {
    // ------------------------------------------------------------------ the kset

    /// `slab_late_init()` (a late initcall): `slab_state = FULL`, a directory for every cache on
    /// `slab_caches` (and its debugfs directory with `SLAB_STORE_USER`), then the aliases made during boot
    /// (`slab_sysfs_process_aliases()`).
    ///
    /// Context: boot.
    pub(crate) fn slab_late_init(&mut self) {
        self.slab.kset.full = true;
        // slab_caches is kept oldest first here; the kernel's list has the newest first.
        let caches: Vec<CacheId> = self.slab.slab_caches.iter().rev().copied().collect();
        for s in caches {
            if self.sysfs_slab_add(s).is_err() {
                let name = self.cache_name(s);
                self.printk(LogLevel::Err, &format!("SLUB: Unable to add boot slab {name} to sysfs\n"));
            }
            if self.cache(s).is_some_and(|c| c.flags & SLAB_STORE_USER != 0) {
                self.debugfs_slab_add(s);
            }
        }
        for (s, name) in std::mem::take(&mut self.slab.kset.saved_aliases) {
            if self.sysfs_slab_alias(s, &name).is_err() {
                self.printk(LogLevel::Err, &format!("SLUB: Unable to add boot slab alias {name} to sysfs\n"));
            }
        }
    }

    /// Whether `slab_late_init()` has run (new caches get their sysfs directory at once).
    pub(crate) fn slab_sysfs_up(&self) -> bool {
        self.slab.kset.full
    }

    /// `sysfs_slab_add()`: the cache's directory, named after it when it can never be merged
    /// (`slab_unmergeable()`, or `slab_debug=O` with metadata flags), taking the name over from whatever
    /// had it (another cache of the same name loses its directory, as `sysfs_remove_link()` removes it);
    /// else after `create_unique_id()` with its name as the first link, where an id already there is the
    /// kernel's `cannot create duplicate filename` warning and `-EEXIST`.
    ///
    /// Context: process context. Returns the errno the cache creation fails with.
    pub(crate) fn sysfs_slab_add(&mut self, s: CacheId) -> Result<(), i32> {
        let Some(c) = self.cache(s) else { return Err(EINVAL) };
        // A replayed cache of the recorded boot was one of its own there (crate::qemu_boot): its name, not an
        // id that the other replayed caches of its size, whose real flags the recording does not hold, share.
        let mut unmergeable = self.slab_unmergeable(c) || c.recorded;
        if !unmergeable && self.slab.disable_higher_order_debug && self.slab.slub_debug & DEBUG_METADATA_FLAGS != 0 {
            unmergeable = true;
        }
        let cname = c.name.clone();
        let name = if unmergeable {
            // sysfs_remove_link(): kernfs_remove_by_name() removes whatever has the name, a leftover link
            // of an alias or the directory of another cache of that name (which so loses it).
            self.sysfs_remove_name(&cname);
            cname.clone()
        } else {
            create_unique_id(c.flags, c.size)
        };
        if self.slab.kset.dirs.contains_key(&name) || self.slab.kset.links.contains_key(&name) {
            self.sysfs_warn_dup(
                &name,
                &["sysfs_slab_add", "kobject_init_and_add", "kobject_add_internal", "sysfs_create_dir_ns"],
            );
            self.printk(
                LogLevel::Err,
                &format!(
                    "kobject: kobject_add_internal failed for {name} with -EEXIST, don't try to register things with the same name in the same directory.\n"
                ),
            );
            return Err(EEXIST);
        }
        self.slab.kset.dirs.insert(name.clone(), s);
        self.kc(s).kobj = Some(name);
        if !unmergeable {
            self.sysfs_slab_alias(s, &cname)?;
        }
        Ok(())
    }

    /// `sysfs_warn_dup()`: a name `/sys/kernel/slab` already has, reached through `path` (the calls down
    /// to it): the warning and a stack dump.
    fn sysfs_warn_dup(&mut self, name: &str, path: &[&'static str]) {
        let depth = self.stack.frames.len();
        for f in path {
            self.push_kframe(f);
        }
        self.printk(LogLevel::Warning, &format!("sysfs: cannot create duplicate filename '/kernel/slab/{name}'\n"));
        self.push_kframe("sysfs_warn_dup");
        self.dump_stack();
        self.stack.frames.truncate(depth);
    }

    /// `sysfs_slab_alias(s, name)`: before `slab_late_init()` the alias is saved for it; after, a link
    /// `name` to the cache's directory replaces whatever had that name.
    ///
    /// Context: process context.
    pub(crate) fn sysfs_slab_alias(&mut self, s: CacheId, name: &str) -> Result<(), i32> {
        if !self.slab.kset.full {
            self.slab.kset.saved_aliases.insert(0, (s, name.to_string()));
            return Ok(());
        }
        let Some(target) = self.cache(s).and_then(|c| c.kobj.clone()) else { return Err(ENOENT) };
        self.sysfs_remove_name(name);
        self.slab.kset.links.insert(name.to_string(), target);
        Ok(())
    }

    /// `sysfs_remove_link(&slab_kset->kobj, name)`: `kernfs_remove_by_name()` removes the link or the
    /// directory called `name`.
    fn sysfs_remove_name(&mut self, name: &str) {
        self.slab.kset.links.remove(name);
        if let Some(owner) = self.slab.kset.dirs.remove(name) {
            if let Some(c) = self.slab.caches.get_mut(owner.0 as usize).and_then(|c| c.as_mut()) {
                c.kobj = None;
            }
        }
    }

    /// `sysfs_slab_unlink()` and `debugfs_slab_release()` at `kmem_cache_destroy()`: the cache's directories
    /// go (links of its aliases stay).
    ///
    /// Context: process context.
    pub(crate) fn sysfs_slab_unlink(&mut self, s: CacheId) {
        let Some(c) = self.slab.caches.get_mut(s.0 as usize).and_then(|c| c.as_mut()) else { return };
        if let Some(k) = c.kobj.take() {
            self.slab.kset.dirs.remove(&k);
        }
        c.debugfs = false;
    }

    /// `debugfs_slab_add()`: `/sys/kernel/debug/slab/<name>/` with `alloc_traces` and `free_traces`.
    ///
    /// Context: process context.
    pub(crate) fn debugfs_slab_add(&mut self, s: CacheId) {
        self.kc(s).debugfs = true;
    }

    // ------------------------------------------------------------------ paths

    /// The cache whose directory `name` (a directory or a link to one) is in `/sys/kernel/slab`.
    fn sysfs_cache(&self, name: &str) -> Result<CacheId, i32> {
        let k = &self.slab.kset;
        let dir = k.links.get(name).map(String::as_str).unwrap_or(name);
        k.dirs.get(dir).copied().filter(|&s| self.cache(s).is_some()).ok_or(ENOENT)
    }

    /// The cache of `/sys/kernel/debug/slab/<name>`.
    fn debugfs_cache(&self, name: &str) -> Result<CacheId, i32> {
        self.slab
            .slab_caches
            .iter()
            .rev()
            .copied()
            .find(|&s| self.cache(s).is_some_and(|c| c.debugfs && c.name == name))
            .ok_or(ENOENT)
    }

    fn attrs_present(&self) -> impl Iterator<Item = &'static (&'static str, Attr, bool)> + '_ {
        SLAB_ATTRS.iter().filter(move |(_, a, _)| match a {
            Attr::RemoteNodeDefragRatio => self.cfg.numa,
            Attr::Usersize => self.slab.cfg.hardened_usercopy,
            _ => true,
        })
    }

    fn attr(&self, name: &str) -> Result<(Attr, bool), i32> {
        self.attrs_present().find(|(n, _, _)| *n == name).map(|&(_, a, w)| (a, w)).ok_or(ENOENT)
    }

    /// The entries of a directory of SLUB's sysfs or debugfs files, sorted as `ls` prints them:
    /// `/sys/kernel/slab` (directories and links), `/sys/kernel/slab/<cache>` (the attributes),
    /// `/sys/kernel/debug/slab` and `/sys/kernel/debug/slab/<cache>`.
    ///
    /// Context: process context. Returns `-ENOENT` for a directory that does not exist, `-ENOTDIR` for a file.
    pub fn slab_sysfs_read_dir(&self, path: &str) -> Result<Vec<String>, i32> {
        let path = path.trim_end_matches('/');
        let mut v: Vec<String> = if path == SYSFS_SLAB {
            self.slab.kset.dirs.keys().chain(self.slab.kset.links.keys()).cloned().collect()
        } else if let Some(name) = path.strip_prefix(SYSFS_SLAB).and_then(|p| p.strip_prefix('/')) {
            if let Some((cache, attr)) = name.split_once('/') {
                self.sysfs_cache(cache)?;
                self.attr(attr)?;
                return Err(ENOTDIR);
            }
            self.sysfs_cache(name)?;
            self.attrs_present().map(|(n, _, _)| n.to_string()).collect()
        } else if path == DEBUGFS_SLAB {
            self.slab
                .slab_caches
                .iter()
                .filter_map(|&s| self.cache(s).filter(|c| c.debugfs).map(|c| c.name.clone()))
                .collect()
        } else if let Some(name) = path.strip_prefix(DEBUGFS_SLAB).and_then(|p| p.strip_prefix('/')) {
            if let Some((cache, file)) = name.split_once('/') {
                self.debugfs_cache(cache)?;
                return Err(if matches!(file, "alloc_traces" | "free_traces") { ENOTDIR } else { ENOENT });
            }
            self.debugfs_cache(name)?;
            vec!["alloc_traces".into(), "free_traces".into()]
        } else {
            return Err(ENOENT);
        };
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Reads `/sys/kernel/slab/<cache>/<attribute>` (through a cache's name, an alias link or its `:` id) or
    /// `/sys/kernel/debug/slab/<cache>/{alloc_traces,free_traces}`: what `cat` prints.
    ///
    /// Context: process context. Returns `-ENOENT` for a file that does not exist, `-EISDIR` for a directory.
    pub fn slab_sysfs_read(&self, path: &str) -> Result<String, i32> {
        if let Some(rest) = path.strip_prefix(DEBUGFS_SLAB).and_then(|p| p.strip_prefix('/')) {
            let Some((cache, file)) = rest.split_once('/') else {
                self.debugfs_cache(rest)?;
                return Err(EISDIR);
            };
            let s = self.debugfs_cache(cache)?;
            return match file {
                "alloc_traces" => Ok(self.slab_debug_trace(s, TRACK_ALLOC)),
                "free_traces" => Ok(self.slab_debug_trace(s, TRACK_FREE)),
                _ => Err(ENOENT),
            };
        }
        let rest = path.strip_prefix(SYSFS_SLAB).ok_or(ENOENT)?;
        let rest = rest.strip_prefix('/').unwrap_or(rest).trim_end_matches('/');
        let Some((cache, attr)) = rest.split_once('/') else {
            if rest.is_empty() {
                return Err(EISDIR);
            }
            self.sysfs_cache(rest)?;
            return Err(EISDIR);
        };
        let s = self.sysfs_cache(cache)?;
        let (a, _) = self.attr(attr)?;
        Ok(self.slab_attr_show(s, a))
    }

    /// Writes `buf` (what `echo value >` writes: the value and a newline) to `/sys/kernel/slab/<cache>/<attr>`:
    /// `slab_attr_store()` with the attribute's `*_store()` handler.
    ///
    /// Context: process context, may sleep. Returns the bytes taken (`buf.len()`), `-ENOENT` for a file that
    /// does not exist, `-EIO` for an attribute without `store`, or the handler's error.
    pub fn slab_sysfs_write(&mut self, path: &str, buf: &str) -> Result<usize, i32> {
        if let Some(rest) = path.strip_prefix(DEBUGFS_SLAB).and_then(|p| p.strip_prefix('/')) {
            // alloc_traces/free_traces are 0400 files without a write method.
            let (cache, file) = rest.split_once('/').ok_or(EISDIR)?;
            self.debugfs_cache(cache)?;
            return Err(if matches!(file, "alloc_traces" | "free_traces") { EINVAL } else { ENOENT });
        }
        let rest = path.strip_prefix(SYSFS_SLAB).and_then(|p| p.strip_prefix('/')).ok_or(ENOENT)?;
        let Some((cache, attr)) = rest.split_once('/') else {
            self.sysfs_cache(rest)?;
            return Err(EISDIR);
        };
        let s = self.sysfs_cache(cache)?;
        let (a, writable) = self.attr(attr)?;
        if !writable {
            return Err(EIO);
        }
        self.slab_attr_store(s, a, buf)?;
        Ok(buf.len())
    }

    // ------------------------------------------------------------------ show

    /// `slab_attr_show()`: the attribute's `*_show()` handler.
    fn slab_attr_show(&self, s: CacheId, a: Attr) -> String {
        let c = self.cache(s).expect("a cache with a sysfs directory");
        let flag = |f: SlabFlags| format!("{}\n", (c.flags & f != 0) as i32);
        match a {
            Attr::SlabSize => format!("{}\n", c.size),
            Attr::ObjectSize => format!("{}\n", c.object_size),
            Attr::ObjsPerSlab => format!("{}\n", c.oo_objects),
            Attr::Order => format!("{}\n", c.oo_order),
            Attr::MinPartial => format!("{}\n", c.min_partial),
            Attr::CpuPartial => format!("{}\n", c.cpu_partial),
            Attr::ObjectsPartial => self.show_slab_objects(s, SO_PARTIAL | SO_OBJECTS),
            Attr::Partial => self.show_slab_objects(s, SO_PARTIAL),
            Attr::CpuSlabs => self.show_slab_objects(s, SO_CPU),
            Attr::Ctor => self.ctor_show(s),
            Attr::Aliases => format!("{}\n", if c.refcount < 0 { 0 } else { c.refcount - 1 }),
            Attr::Align => format!("{}\n", c.align),
            Attr::HwcacheAlign => flag(SLAB_HWCACHE_ALIGN),
            Attr::ReclaimAccount => flag(SLAB_RECLAIM_ACCOUNT),
            Attr::DestroyByRcu => flag(SLAB_TYPESAFE_BY_RCU),
            Attr::Shrink | Attr::Validate => String::new(),
            Attr::SlabsCpuPartial => self.slabs_cpu_partial_show(s),
            Attr::TotalObjects => self.show_slab_objects(s, SO_ALL | SO_TOTAL),
            Attr::Objects => self.show_slab_objects(s, SO_ALL | SO_OBJECTS),
            Attr::Slabs => self.show_slab_objects(s, SO_ALL),
            Attr::SanityChecks => flag(SLAB_CONSISTENCY_CHECKS),
            Attr::Trace => flag(SLAB_TRACE),
            Attr::RedZone => flag(SLAB_RED_ZONE),
            Attr::Poison => flag(SLAB_POISON),
            Attr::StoreUser => flag(SLAB_STORE_USER),
            Attr::CacheDma => flag(SLAB_CACHE_DMA),
            Attr::RemoteNodeDefragRatio => format!("{}\n", c.remote_node_defrag_ratio / 10),
            Attr::Failslab => flag(SLAB_FAILSLAB),
            Attr::Usersize => format!("{}\n", c.usersize),
        }
    }

    /// `ctor_show()`: `%pS` of the constructor, nothing without one.
    fn ctor_show(&self, s: CacheId) -> String {
        let c = self.cache(s).expect("a live cache");
        match (&c.ctor, &c.ctor_symbol) {
            (None, _) => String::new(),
            (Some(_), Some(sym)) => format!("{sym}\n"),
            (Some(id), None) => format!("{}\n", self.ctor_symbol_of(*id)),
        }
    }

    /// Names the constructor `ctor` by its Rust path (`cache_merge::nop_ctor`): a function of the module
    /// whose code is running (the innermost module frame on the stack), as the `kernel` façade reports it
    /// when a module passes a constructor to `kmem_cache_create()`. `ctor_show()` prints it as `%pS` prints a
    /// function's address, with the real build's symbol and size when its table is recorded.
    ///
    /// Context: any.
    pub fn kmem_cache_ctor_symbol(&mut self, ctor: CtorId, path: &str) {
        let module = self.current_module();
        let frame = crate::panic::Frame {
            module,
            indirect: true,
            path: Some(path.to_string()),
            offset: 0,
            ..crate::panic::Frame::kernel(path.to_string())
        };
        self.slab.ctor_frames.insert(ctor, frame);
    }

    /// The module whose code is running: that of the innermost module frame on the stack.
    ///
    /// Context: any.
    pub fn current_module(&self) -> Option<String> {
        self.stack.frames.iter().rev().find_map(|f| f.module.clone())
    }

    /// `%pS` of a constructor: its named frame (see [`Machine::kmem_cache_ctor_symbol`]), or, for one the
    /// simulator was never told the name of, a bare address as `%pS` prints what kallsyms does not know.
    fn ctor_symbol_of(&self, id: CtorId) -> String {
        match self.slab.ctor_frames.get(&id) {
            Some(f) => {
                let real = self.realize(std::slice::from_ref(f));
                let g = real.first().unwrap_or(f);
                let g = crate::panic::Frame { offset: 0, ..g.clone() };
                self.frame_text(&g)
            }
            None => format!("{:#x}", 0xffff_ffff_a000_0000u64 + ((id.0 as u64) << 4)),
        }
    }

    /// `show_slab_objects(s, buf, flags)`: the total, then ` N0=` the node's share when it is not 0
    /// (CONFIG_NUMA). `SO_CPU` counts each CPU's slab (its objects, or objects in use, or 1) and the slabs of
    /// its partial list; `SO_ALL` the node's slabs (`SO_TOTAL`: objects, `SO_OBJECTS`: objects less the free
    /// ones of the partial slabs); `SO_PARTIAL` its partial slabs (or their objects in use, or all objects).
    fn show_slab_objects(&self, s: CacheId, flags: u32) -> String {
        let c = self.cache(s).expect("a live cache");
        let slab = |pfn: &u64| self.slab.slabs.get(pfn).copied();
        let mut total = 0u64;
        if flags & SO_CPU != 0 {
            for cpu in &c.cpu_slab {
                let Some(sl) = cpu.slab.as_ref().and_then(slab) else { continue };
                total += if flags & SO_TOTAL != 0 {
                    sl.objects as u64
                } else if flags & SO_OBJECTS != 0 {
                    sl.inuse as u64
                } else {
                    1
                };
                // slub_percpu_partial_read_once(): the head's slab->slabs (a WARN_ON_ONCE() with
                // SO_TOTAL/SO_OBJECTS, which no attribute asks for).
                if !cpu.partial.is_empty() && flags & (SO_TOTAL | SO_OBJECTS) == 0 {
                    total += cpu.partial.len() as u64;
                }
            }
        }
        let n = &c.node;
        if flags & SO_ALL != 0 {
            total += if flags & SO_TOTAL != 0 {
                n.total_objects
            } else if flags & SO_OBJECTS != 0 {
                let free: u64 = n.partial.iter().filter_map(slab).map(|sl| (sl.objects - sl.inuse) as u64).sum();
                n.total_objects - free
            } else {
                n.nr_slabs
            };
        } else if flags & SO_PARTIAL != 0 {
            total += if flags & SO_TOTAL != 0 {
                n.partial.iter().filter_map(slab).map(|sl| sl.objects as u64).sum()
            } else if flags & SO_OBJECTS != 0 {
                n.partial.iter().filter_map(slab).map(|sl| sl.inuse as u64).sum()
            } else {
                n.nr_partial
            };
        }
        let mut out = format!("{total}");
        if self.cfg.numa && total != 0 {
            out.push_str(&format!(" N0={total}"));
        }
        out.push('\n');
        out
    }

    /// `slabs_cpu_partial_show()`: the slabs on the per-CPU partial lists with an estimate of their objects
    /// (half of each slab), `objects(slabs)`, then ` C<cpu>=objects(slabs)` for each online CPU that has some.
    fn slabs_cpu_partial_show(&self, s: CacheId) -> String {
        let c = self.cache(s).expect("a live cache");
        let per_slab = c.oo_objects as i64;
        let online = c.cpu_slab.iter().take(self.cfg.cpus as usize);
        let slabs: i64 = online.clone().map(|cpu| cpu.partial.len() as i64).sum();
        let mut out = format!("{}({slabs})", slabs * per_slab / 2);
        for (i, cpu) in online.enumerate().filter(|(_, cpu)| !cpu.partial.is_empty()) {
            let slabs = cpu.partial.len() as i64;
            out.push_str(&format!(" C{i}={}({slabs})", slabs * per_slab / 2));
        }
        out.push('\n');
        out
    }

    // ------------------------------------------------------------------ store

    /// `slab_attr_store()` for an attribute that has a `store`.
    fn slab_attr_store(&mut self, s: CacheId, a: Attr, buf: &str) -> Result<(), i32> {
        let first = buf.as_bytes().first().copied().unwrap_or(0);
        match a {
            Attr::MinPartial => {
                let v = kstrtoul(buf)?;
                self.kc(s).min_partial = v;
            }
            Attr::CpuPartial => {
                let objects = kstrtouint(buf)?;
                let debug = self.cache(s).is_some_and(|c| c.flags & SLAB_DEBUG_FLAGS != 0);
                if objects != 0 && debug {
                    return Err(EINVAL);
                }
                // slub_set_cpu_partial(), then flush_all().
                let c = self.kc(s);
                c.cpu_partial = objects;
                c.cpu_partial_slabs = (objects * 2).div_ceil(c.oo_objects);
                let _ = self.flush_all(s);
            }
            Attr::Shrink => {
                if first != b'1' {
                    return Err(EINVAL);
                }
                let depth = self.stack.frames.len();
                self.push_kframe("shrink_store");
                self.kmem_cache_shrink(s);
                self.stack.frames.truncate(depth);
            }
            Attr::Validate => {
                if first != b'1' {
                    return Err(EINVAL);
                }
                self.kmem_cache_validate(s)?;
            }
            Attr::RemoteNodeDefragRatio => {
                let ratio = kstrtouint(buf)?;
                if ratio > 100 {
                    return Err(ERANGE);
                }
                self.kc(s).remote_node_defrag_ratio = ratio * 10;
            }
            Attr::Failslab => self.set_cache_failslab(s, first == b'1')?,
            _ => return Err(EIO),
        }
        Ok(())
    }

    // ------------------------------------------------------------------ debugfs traces

    /// The `struct track` of `object` (`get_track()`).
    fn read_track(&self, g: &Geom, object: u64, alloc: u32) -> Track {
        let at = object + g.info_end() as u64 + (alloc * TRACK_SIZE) as u64;
        let b = self.rd_bytes(at, TRACK_SIZE as u64);
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Track { addr: u64_at(0), handle: u32_at(8), cpu: u32_at(12), pid: u32_at(16) as i32, when: u64_at(24) }
    }

    /// `__fill_map()` without side effects: which objects of a slab are on its free list. A free pointer
    /// that cannot be read ends the walk (the kernel would oops there).
    fn free_map(&self, g: &Geom, pfn: u64, objects: u32, freelist: u64) -> Vec<bool> {
        let mut map = vec![false; objects as usize];
        let base = self.slab_address(pfn);
        let (mut p, mut n) = (freelist, 0);
        while p != 0 && n <= objects {
            let idx = p.wrapping_sub(base) / g.size as u64;
            if let Some(m) = map.get_mut(idx as usize) {
                *m = true;
            }
            let ptr_addr = p.wrapping_add(g.offset as u64);
            match self.rd64(ptr_addr) {
                Some(v) => p = if g.hardened { v ^ g.random ^ ptr_addr.swap_bytes() } else { v },
                None => break,
            }
            n += 1;
        }
        map
    }

    /// `add_location()`: one more object with this track in the sorted table (by address, stack handle and
    /// waste).
    fn add_location(&self, t: &mut Vec<Location>, track: &Track, waste: u64) {
        let age = self.jiffies().wrapping_sub(track.when);
        let (mut start, mut end) = (-1i64, t.len() as i64);
        let pos = loop {
            let pos = start + (end - start + 1) / 2;
            if pos == end {
                break pos as usize;
            }
            let l = &mut t[pos as usize];
            if track.addr == l.addr && track.handle == l.handle && waste == l.waste {
                l.count += 1;
                if track.when != 0 {
                    l.sum_time = l.sum_time.wrapping_add(age);
                    l.min_time = l.min_time.min(age as i64);
                    l.max_time = l.max_time.max(age as i64);
                    l.min_pid = l.min_pid.min(track.pid as i64);
                    l.max_pid = l.max_pid.max(track.pid as i64);
                    l.cpus |= 1 << track.cpu;
                }
                return;
            }
            if track.addr < l.addr
                || (track.addr == l.addr && track.handle < l.handle)
                || (track.addr == l.addr && track.handle == l.handle && waste < l.waste)
            {
                end = pos;
            } else {
                start = pos;
            }
        };
        t.insert(
            pos,
            Location {
                handle: track.handle,
                count: 1,
                addr: track.addr,
                waste,
                sum_time: age,
                min_time: age as i64,
                max_time: age as i64,
                min_pid: track.pid as i64,
                max_pid: track.pid as i64,
                cpus: 1 << track.cpu,
            },
        );
    }

    /// `slab_debug_trace_open()` and `slab_debugfs_show()`: the tracks of every object in use on the node's
    /// partial and full slabs, grouped by call site and stack, sorted by count; `No data` when there is none.
    fn slab_debug_trace(&self, s: CacheId, alloc: u32) -> String {
        let c = self.cache(s).expect("a live cache");
        let g = c.geom();
        let mut t: Vec<Location> = Vec::new();
        if c.node.nr_slabs != 0 {
            for &pfn in c.node.partial.iter().chain(c.node.full.iter()) {
                let Some(sl) = self.slab.slabs.get(&pfn).copied() else { continue };
                let map = self.free_map(&g, pfn, sl.objects, sl.freelist);
                let mut p = g.fixup_red_left(self.slab_address(pfn));
                for free in map {
                    if !free {
                        let track = self.read_track(&g, p, alloc);
                        let size = if alloc == TRACK_ALLOC { self.get_orig_size(&g, p) } else { g.object_size };
                        self.add_location(&mut t, &track, (g.object_size - size) as u64);
                    }
                    p += g.size as u64;
                }
            }
        }
        crate::sort::sort_r(&mut t, |a, b| if a.count > b.count { -1 } else { 1 });
        let mut out = String::new();
        for l in &t {
            out.push_str(&format!("{:7} ", l.count));
            if l.addr != 0 {
                out.push_str(&self.format_symbol(l.addr));
            } else {
                out.push_str("<not-available>");
            }
            if l.waste != 0 {
                out.push_str(&format!(" waste={}/{}", l.count * l.waste, l.waste));
            }
            if l.sum_time != l.min_time as u64 {
                out.push_str(&format!(" age={}/{}/{}", l.min_time, l.sum_time / l.count, l.max_time));
            } else {
                out.push_str(&format!(" age={}", l.min_time));
            }
            if l.min_pid != l.max_pid {
                out.push_str(&format!(" pid={}-{}", l.min_pid, l.max_pid));
            } else {
                out.push_str(&format!(" pid={}", l.min_pid));
            }
            if self.cfg.cpus > 1 && l.cpus != 0 {
                out.push_str(&format!(" cpus={}", bitmap_list(l.cpus)));
            }
            if let Some(entries) = (l.handle != 0).then(|| self.slab.depot.get(l.handle as usize - 1)).flatten() {
                out.push('\n');
                for &e in entries {
                    out.push_str(&format!("        {}\n", self.format_symbol(e)));
                }
            }
            out.push('\n');
        }
        if t.is_empty() {
            out.push_str("No data\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_name_the_merge_flags() {
        assert_eq!(create_unique_id(0, 200), ":0000200");
        assert_eq!(create_unique_id(SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, 64), ":aA-0000064");
        assert_eq!(create_unique_id(SLAB_CACHE_DMA | SLAB_HWCACHE_ALIGN, 4096), ":d-0004096");
    }

    #[test]
    fn kstrto_parses_as_the_kernel() {
        assert_eq!(kstrtoul("5\n"), Ok(5));
        assert_eq!(kstrtoul("+7"), Ok(7));
        assert_eq!(kstrtoul(""), Err(EINVAL));
        assert_eq!(kstrtoul("\n"), Err(EINVAL));
        assert_eq!(kstrtoul("-1"), Err(EINVAL));
        assert_eq!(kstrtoul("0x10"), Err(EINVAL));
        assert_eq!(kstrtoul("5\n\n"), Err(EINVAL));
        assert_eq!(kstrtoul("99999999999999999999"), Err(ERANGE));
        assert_eq!(kstrtouint("4294967296"), Err(ERANGE));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(bitmap_list(0b1), "0");
        assert_eq!(bitmap_list(0b1011), "0-1,3");
        assert_eq!(bitmap_list(0b1110_0100), "2,5-7");
    }
}
