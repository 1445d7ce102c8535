//! The book's QEMU guests as their real boots leave them: what the simulated boot of a recorded machine takes
//! from the real boot's own files and from the real build's symbol table. Three machines are recorded
//! ([`Recording`]): the book's x86_64 guest (256 MiB, 4 CPUs, the book's command line:
//! `listings/kernel/observed/boot/`, written by `cargo xtask qemu --record` before any module is loaded, and
//! `listings/kernel/symbols/vmlinux.txt`), and the 32-bit guests of the address-space chapter at 160 MiB and 1536 MiB (one
//! CPU: `listings/kernel/observed-i386/<size>/boot/` and `listings/kernel/symbols-i386/vmlinux.txt`, written
//! by `cargo xtask qemu --arch i386 --record`).
//!
//! This file is the extraction: it parses those committed files; nothing in it is a number tuned until an
//! output matches. What comes from the real boot, and what the simulator models itself:
//!
//! | from the real boot | where it is read |
//! |---|---|
//! | the kernel image's extent, its init sections and the rodata/data gap (freed at the end of boot) | `s` lines of vmlinux.txt (`_text`, `__end_of_kernel_reserve`, `__init_begin` …) |
//! | the initramfs's place (reserved until unpacked, then freed) | `RAMDISK: [mem …]` in dmesg.txt |
//! | `NODE_DATA(0)`, the per-cpu first chunk (pages per CPU), the dentry, inode and mount hash tables | dmesg.txt (`NODE_DATA(0) allocated`, `percpu: Embedded N pages/cpu`, `… hash table entries`) |
//! | how many pages memblock kept at `memblock_free_all()` | dmesg.txt's `Memory:` line (`physpages − totalram_pages` then) |
//! | each zone's present and managed pages | zoneinfo.txt |
//!
//! The memblock reservations the simulator places itself (the first MiB, the image, the initramfs, the
//! direct map's page tables, the vmemmap, NODE_DATA, the per-cpu chunk, the hash tables) do not add up to
//! what the real boot kept: firmware tables, the real-mode trampoline, `setup_data`, early page tables and
//! memblock's own arrays are not modelled one by one. Their total — the real boot's count minus the
//! modelled ones — is reserved as one range below the initramfs, where memblock's top-down allocations
//! put them.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::page::{PageOwner, Pfn};
use crate::panic::Frame;
use crate::slab_common::{KERNEL_CTOR, SLAB_CACHE_DMA, SLAB_HWCACHE_ALIGN, SLAB_RECLAIM_ACCOUNT};

/// One recorded real boot: the files its guest saved before any module was loaded.
pub struct Recording {
    /// Which machine it is.
    pub machine: &'static str,
    dmesg: &'static str,
    zoneinfo: &'static str,
    slabinfo: &'static str,
    slab: &'static str,
    vmallocinfo: &'static str,
    meminfo: &'static str,
    boot: OnceLock<RealBoot>,
    state: OnceLock<RecordedState>,
}

macro_rules! recording {
    ($machine:expr, $dir:literal) => {
        Recording {
            machine: $machine,
            dmesg: include_str!(concat!("../../../listings/kernel/", $dir, "/dmesg.txt")),
            zoneinfo: include_str!(concat!("../../../listings/kernel/", $dir, "/zoneinfo.txt")),
            slabinfo: include_str!(concat!("../../../listings/kernel/", $dir, "/slabinfo.txt")),
            slab: include_str!(concat!("../../../listings/kernel/", $dir, "/slab.txt")),
            vmallocinfo: include_str!(concat!("../../../listings/kernel/", $dir, "/vmallocinfo.txt")),
            meminfo: include_str!(concat!("../../../listings/kernel/", $dir, "/meminfo.txt")),
            boot: OnceLock::new(),
            state: OnceLock::new(),
        }
    };
}

/// The book's x86_64 guest.
pub static X86_64_256M: Recording = recording!("x86_64, 256 MiB, 4 CPUs", "observed/boot");
/// The 32-bit guest of the address-space chapter's classic run.
pub static I386_160M: Recording = recording!("i386, 160 MiB, 1 CPU", "observed-i386/160m/boot");
/// The 32-bit guest with highmem.
pub static I386_1536M: Recording = recording!("i386, 1536 MiB, 1 CPU", "observed-i386/1536m/boot");

impl Recording {
    /// The recording a machine of `cfg` boots from: the one recorded with the same architecture, RAM and CPU
    /// count (and no KASLR), unless [`crate::machine::MachineConfig::modelled_boot`] turned it off.
    ///
    /// Context: any.
    pub fn for_config(cfg: &crate::machine::MachineConfig) -> Option<&'static Recording> {
        use crate::machine::Arch;
        if !cfg.recorded_boot || cfg.kaslr_seed.is_some() {
            return None;
        }
        match (cfg.arch, cfg.ram_mib, cfg.cpus) {
            (Arch::X86_64, 256, 4) => Some(&X86_64_256M),
            (Arch::I386, 160, 1) => Some(&I386_160M),
            (Arch::I386, 1536, 1) => Some(&I386_1536M),
            _ => None,
        }
    }

    /// What the boot's dmesg and zoneinfo say.
    ///
    /// Context: any.
    pub fn boot(&self) -> &RealBoot {
        self.boot.get_or_init(|| RealBoot::parse(self.dmesg, self.zoneinfo))
    }

    /// The boot's caches, areas and `/proc/meminfo`.
    ///
    /// Context: any.
    pub fn state(&self) -> &RecordedState {
        self.state.get_or_init(|| {
            (real_caches(self.slabinfo, self.slab), real_areas(self.vmallocinfo), real_meminfo(self.meminfo))
        })
    }
}

/// One zone of the real boot's `/proc/zoneinfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealZone {
    /// `DMA`, `DMA32`, …
    pub name: String,
    /// `present`.
    pub present: u64,
    /// `managed`.
    pub managed: u64,
    /// `pages free` (the buddy allocator's free pages; per-CPU lists not included).
    pub free: u64,
    /// `pagesets`: `(count, high, batch)` per CPU.
    pub pcp: Vec<(u64, u64, u64)>,
}

/// What the simulated boot of the book's machine takes from the real one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealBoot {
    /// `RAMDISK: [mem start-end]`, pfns `[start, end)`.
    pub initrd: (u64, u64),
    /// `NODE_DATA(0) allocated [mem start-end]`, pfns `[start, end)`.
    pub node_data: (u64, u64),
    /// `percpu: Embedded N pages/cpu … uUNIT`: (pages kept per CPU, unit size in bytes).
    pub percpu: (u64, u64),
    /// `pcpu-alloc: sS rR dD uU …`: the static, reserved and dynamic bytes of each unit.
    pub percpu_sizes: (u64, u64, u64),
    /// Bytes of the large system hashes allocated from memblock (`… hash table entries: N (order: o, B bytes,
    /// linear)`).
    pub hash_tables: Vec<(String, u64)>,
    /// `physpages − totalram_pages` when `mem_init_print_info()` printed the `Memory:` line: the pages memblock
    /// kept, plus those freed before it (`Freeing SMP alternatives memory`), in KiB as printed.
    pub reserved_at_mem_init_kib: u64,
    /// `Freeing SMP alternatives memory: NK` (freed before the `Memory:` line).
    pub smp_alternatives_kib: u64,
    /// The zones (DMA, DMA32 …) at the end of boot.
    pub zones: Vec<RealZone>,
    /// The kernel has `CONFIG_DMA_API_DEBUG` (`DMA-API: preallocated N debug entries`).
    pub dma_debug: bool,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
}

/// The number after `key` in `line` (decimal, up to the next non-digit).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `[mem 0xSTART-0xEND]` as pfns `[start, end)`.
fn mem_range(line: &str) -> Option<(u64, u64)> {
    let r = &line[line.find("[mem ")? + 5..];
    let (a, b) = r.split_once('-')?;
    let b = b.split(']').next()?;
    Some((hex(a) >> 12, (hex(b) >> 12) + 1))
}

impl RealBoot {
    /// Parses the real boot's dmesg and zoneinfo.
    ///
    /// Context: any.
    pub fn parse(dmesg: &str, zoneinfo: &str) -> RealBoot {
        let mut b = RealBoot::default();
        for raw in dmesg.lines() {
            let line = raw.split_once("] ").map_or(raw, |(_, l)| l);
            if line.starts_with("RAMDISK: ") {
                b.initrd = mem_range(line).unwrap_or_default();
            } else if line.starts_with("NODE_DATA(0) allocated") {
                b.node_data = mem_range(line).unwrap_or_default();
            } else if line.starts_with("percpu: Embedded ") {
                let pages = number_after(line, "Embedded ").unwrap_or(0);
                let unit = line.split_whitespace().find_map(|w| w.strip_prefix('u')).and_then(|u| u.parse().ok());
                b.percpu = (pages, unit.unwrap_or(0));
                let field = |p: char| {
                    line.split_whitespace().find_map(|w| w.strip_prefix(p)).and_then(|v| v.parse::<u64>().ok())
                };
                if let (Some(s), Some(r), Some(d)) = (field('s'), field('r'), field('d')) {
                    b.percpu_sizes = (s, r, d);
                }
            } else if line.contains("hash table entries:") && line.ends_with("linear)") {
                let name = line.split(" hash table").next().unwrap_or("").to_string();
                let bytes = line
                    .split(" bytes")
                    .next()
                    .and_then(|h| h.rsplit(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                b.hash_tables.push((name, bytes));
            } else if line.starts_with("Memory: ") {
                b.reserved_at_mem_init_kib = line
                    .split(", ")
                    .find(|p| p.ends_with("K reserved"))
                    .and_then(|p| p.trim_end_matches("K reserved").parse().ok())
                    .unwrap_or(0);
            } else if line.starts_with("DMA-API: preallocated ") {
                b.dma_debug = true;
            } else if line.starts_with("Freeing SMP alternatives memory: ") {
                b.smp_alternatives_kib = number_after(line, "memory: ").unwrap_or(0);
            }
        }
        let mut zone: Option<RealZone> = None;
        for line in zoneinfo.lines() {
            let t = line.trim();
            if let Some(rest) = line.strip_prefix("Node 0, zone ") {
                if let Some(z) = zone.take() {
                    b.zones.push(z);
                }
                zone = Some(RealZone { name: rest.trim().to_string(), ..Default::default() });
                continue;
            }
            let Some(z) = zone.as_mut() else { continue };
            let mut w = t.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("pages"), Some("free"), Some(n)) => z.free = n.parse().unwrap_or(0),
                (Some("present"), Some(n), None) => z.present = n.parse().unwrap_or(0),
                (Some("managed"), Some(n), None) => z.managed = n.parse().unwrap_or(0),
                (Some("count:"), Some(n), None) => z.pcp.push((n.parse().unwrap_or(0), 0, 0)),
                (Some("high:"), Some(n), None) => {
                    if let Some(p) = z.pcp.last_mut() {
                        p.1 = n.parse().unwrap_or(0);
                    }
                }
                (Some("batch:"), Some(n), None) => {
                    if let Some(p) = z.pcp.last_mut() {
                        p.2 = n.parse().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        if let Some(z) = zone {
            b.zones.push(z);
        }
        b
    }

    /// The recorded boot of the book's x86_64 machine.
    ///
    /// Context: any.
    pub fn recorded() -> &'static RealBoot {
        X86_64_256M.boot()
    }

    /// The zone named `name`.
    ///
    /// Context: any.
    pub fn zone(&self, name: &str) -> Option<&RealZone> {
        self.zones.iter().find(|z| z.name == name)
    }
}

/// A slab cache of the real boot: `/proc/slabinfo` (counts) and `/sys/kernel/slab/<name>/` (geometry, flags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealCache {
    /// Name.
    pub name: String,
    /// `active_objs` at the end of boot.
    pub active_objs: u64,
    /// `num_objs`.
    pub num_objs: u64,
    /// `object_size`.
    pub object_size: u32,
    /// `slab_size` (`s->size`).
    pub slab_size: u32,
    /// `align`.
    pub align: u32,
    /// `order`.
    pub order: u32,
    /// `objs_per_slab`.
    pub objs_per_slab: u32,
    /// `reclaim_account` (SLAB_RECLAIM_ACCOUNT).
    pub reclaim_account: bool,
    /// `hwcache_align` (SLAB_HWCACHE_ALIGN).
    pub hwcache_align: bool,
    /// `cache_dma` (SLAB_CACHE_DMA).
    pub cache_dma: bool,
    /// The constructor's symbol, if it has one.
    pub ctor: Option<String>,
}

/// A `/proc/vmallocinfo` line of the real boot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealArea {
    /// First address.
    pub start: u64,
    /// Size including the guard page.
    pub size: u64,
    /// `func+0xoff/0xsize` of the caller, or `None` for an `unpurged vm_area`.
    pub caller: Option<(String, u32, u32)>,
    /// `pages=N`.
    pub pages: u64,
    /// `phys=…` of an ioremap.
    pub phys: u64,
    /// The type words: `vmalloc`, `vmap`, `ioremap` …
    pub kinds: Vec<String>,
}

/// The real boot's caches in creation order (oldest first: `/proc/slabinfo` lists the newest first).
///
/// Context: any.
pub fn real_caches(slabinfo: &str, slab: &str) -> Vec<RealCache> {
    let mut out = Vec::new();
    for line in slabinfo.lines().skip(2) {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 6 {
            continue;
        }
        let mut c = RealCache {
            name: w[0].to_string(),
            active_objs: w[1].parse().unwrap_or(0),
            num_objs: w[2].parse().unwrap_or(0),
            ..Default::default()
        };
        if let Some(g) = slab.lines().find(|l| l.split_whitespace().next() == Some(w[0])) {
            let f: Vec<&str> = g.split_whitespace().collect();
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
            c.object_size = n(1);
            c.slab_size = n(2);
            c.align = n(3);
            c.order = n(4);
            c.objs_per_slab = n(5);
            c.reclaim_account = n(6) == 1;
            c.hwcache_align = n(7) == 1;
            c.cache_dma = n(8) == 1;
            c.ctor = f.get(9).map(|s| s.to_string());
        }
        out.push(c);
    }
    out.reverse();
    out
}

/// The real boot's vmalloc areas, in address order.
///
/// Context: any.
pub fn real_areas(vmallocinfo: &str) -> Vec<RealArea> {
    let mut out = Vec::new();
    for line in vmallocinfo.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some((a, _)) = w.first().and_then(|r| r.split_once('-')) else { continue };
        let mut area =
            RealArea { start: hex(a), size: w.get(1).and_then(|s| s.parse().ok()).unwrap_or(0), ..Default::default() };
        for word in &w[2..] {
            if let Some(v) = word.strip_prefix("pages=") {
                area.pages = v.parse().unwrap_or(0);
            } else if let Some(v) = word.strip_prefix("phys=") {
                area.phys = hex(v);
            } else if word.contains("+0x") {
                if let Some((func, rest)) = word.split_once('+') {
                    let (off, size) = rest.split_once('/').unwrap_or((rest, "0"));
                    area.caller = Some((func.to_string(), hex(off) as u32, hex(size) as u32));
                }
            } else if matches!(*word, "vmalloc" | "vmap" | "ioremap" | "user" | "vpages" | "sparse") {
                area.kinds.push(word.to_string());
            }
        }
        out.push(area);
    }
    out.sort_by_key(|a| a.start);
    out
}

/// `/proc/meminfo` of the real boot, in KiB (or pages for the HugePages lines) by field.
///
/// Context: any.
pub fn real_meminfo(text: &str) -> std::collections::HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The recorded boot's caches, areas and `/proc/meminfo` (see [`recorded_state`]).
pub type RecordedState = (Vec<RealCache>, Vec<RealArea>, std::collections::HashMap<String, u64>);

/// The x86_64 recorded boot's caches, areas and `/proc/meminfo`.
///
/// Context: any.
pub fn recorded_state() -> &'static RecordedState {
    X86_64_256M.state()
}

impl Machine {
    /// The recorded boot this machine boots from, if any (see [`Recording::for_config`]).
    ///
    /// Context: any.
    pub fn recording(&self) -> Option<&'static Recording> {
        Recording::for_config(&self.cfg)
    }

    /// The recorded boot's slab caches (those the simulated boot did not create itself, with their real
    /// geometry and flags) and their objects: each cache gets the objects it had at the end of the real boot.
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_caches(&mut self) {
        let Some(rec) = self.recording() else { return };
        let (caches, _, _) = rec.state();
        // The recorded boot ran with the book's `slab_nomerge`: every cache it lists is a cache of its own.
        // Created here with merging allowed, one would become an alias of an older replayed cache whose
        // SLAB_ACCOUNT, SLAB_NO_MERGE or usercopy region the recording does not hold (uid_cache of pid,
        // memdup_user-* of each other …) and vanish from /proc/slabinfo with its objects counted elsewhere.
        let nomerge = std::mem::replace(&mut self.slab.cfg.slab_nomerge, true);
        for c in caches {
            let id = match self.find_cache(&c.name) {
                Some(id) => id,
                None => {
                    let mut flags = 0;
                    if c.hwcache_align {
                        flags |= SLAB_HWCACHE_ALIGN;
                    }
                    if c.reclaim_account {
                        flags |= SLAB_RECLAIM_ACCOUNT;
                    }
                    if c.cache_dma {
                        flags |= SLAB_CACHE_DMA;
                    }
                    let ctor = c.ctor.as_ref().map(|_| KERNEL_CTOR);
                    match self.kmem_cache_create(&c.name, c.object_size, c.align, flags, ctor) {
                        Some(id) => {
                            // The recorded `ctor` attribute is what ctor_show() prints for it.
                            self.kc(id).ctor_symbol = c.ctor.clone();
                            self.kc(id).recorded = true;
                            id
                        }
                        None => continue,
                    }
                }
            };
            let _ = id;
        }
        self.slab.cfg.slab_nomerge = nomerge;
    }

    /// Each boot cache's objects up to what the recorded boot had at its end. Runs after the rest of the
    /// replay, whose own allocations (vmalloc's `vmap_area` and `vm_struct` objects, DMA debug entries …)
    /// are part of those counts.
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_slab_objects(&mut self) {
        let Some(rec) = self.recording() else { return };
        let (caches, _, _) = rec.state();
        for c in caches {
            let Some(id) = self.find_cache(&c.name) else { continue };
            let have = self.slabinfo_of(id).map(|i| i.active_objs).unwrap_or(0);
            let per_slab = self.slabinfo_of(id).map(|i| i.objects_per_slab as u64).unwrap_or(1).max(1);
            let want = c.active_objs.saturating_sub(have);
            // Whole slabs of objects at once; the rest one by one, through the allocator.
            self.boot_full_slabs(id, want / per_slab);
            let have = self.slabinfo_of(id).map(|i| i.active_objs).unwrap_or(0);
            for _ in have..c.active_objs {
                if self.kmem_cache_alloc(id, Gfp::GFP_KERNEL) == 0 {
                    break;
                }
            }
        }
        let _ = self.take_pending_ctors();
    }

    /// The recorded boot's vmalloc areas, where it had them: task stacks (`dup_task_struct`, 16 KiB each) and
    /// other vmalloc allocations with their pages, the per-CPU IRQ stacks (`vmap` of per-cpu memory), the
    /// BIOS area `memremap()`, and the freed areas not purged yet (`unpurged vm_area`: allocated, then freed).
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_vmalloc(&mut self) {
        let Some(rec) = self.recording() else { return };
        let (_, areas, mem) = rec.state();
        const PAGE: u64 = 4096;
        let mut unpurged = Vec::new();
        for a in areas {
            let caller = a.caller.as_ref().map(|(f, off, size)| Frame {
                func: f.clone().into(),
                module: None,
                offset: *off,
                size: *size,
                indirect: false,
                path: None,
            });
            let end = a.start + a.size;
            if a.kinds.iter().any(|k| k == "ioremap") {
                self.boot_vm_area(a.start, a.size, crate::vmalloc::VM_IOREMAP, a.phys, caller);
            } else if a.kinds.iter().any(|k| k == "vmap") {
                self.boot_vm_area(a.start, a.size, crate::vmalloc::VM_MAP, 0, caller);
            } else {
                let pages = if a.caller.is_none() { a.size / PAGE - 1 } else { a.pages };
                let addr = self.__vmalloc_node_range(
                    pages * PAGE,
                    PAGE,
                    a.start,
                    end,
                    Gfp::GFP_KERNEL,
                    crate::vmalloc::PgProt::PAGE_KERNEL,
                    0,
                    crate::vmalloc::NUMA_NO_NODE,
                    caller,
                );
                if a.caller.is_none() && addr != 0 {
                    unpurged.push(addr);
                }
            }
        }
        for addr in unpurged {
            self.vfree(addr);
        }
        // The stacks in use (KernelStack); the others of dup_task_struct are the per-CPU stack cache.
        self.vmstat.kernel_stack_kb = mem.get("KernelStack").copied().unwrap_or(0);
    }

    /// What the real boot's user space and page cache hold at the end of boot: the initramfs's files in the
    /// page cache (`Cached`, all `Unevictable` on ramfs, `Mapped` of them), the anonymous pages and page
    /// tables of its processes (`AnonPages`, `PageTables`).
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_user_pages(&mut self) {
        let Some(rec) = self.recording() else { return };
        let (_, _, mem) = rec.state();
        let kib = |k: &str| mem.get(k).copied().unwrap_or(0);
        let alloc = |m: &mut Machine, n: u64, gfp: Gfp| -> u64 {
            let mut got = 0;
            for _ in 0..n {
                match m.alloc_pages(gfp, 0) {
                    Some(p) => {
                        m.set_page_owner(p, 0, PageOwner::Boot);
                        got += 1;
                    }
                    None => break,
                }
            }
            got
        };
        let cached = alloc(self, kib("Cached") / 4, Gfp::GFP_HIGHUSER_MOVABLE);
        let anon = alloc(self, kib("AnonPages") / 4, Gfp::GFP_HIGHUSER_MOVABLE);
        let tables = alloc(self, kib("PageTables") / 4, Gfp::GFP_KERNEL_ACCOUNT | Gfp::__GFP_ZERO);
        let v = &mut self.vmstat;
        v.file_pages = cached;
        v.unevictable = (kib("Unevictable") / 4).min(cached);
        v.mapped = (kib("Mapped") / 4).min(cached);
        v.anon = anon;
        v.pagetables += tables;
    }

    /// The pages the real boot used that no modelled consumer accounts for: each zone's free pages come to
    /// what the real boot left free (its buddy free pages plus its per-CPU lists' pages).
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_remainder(&mut self) {
        let Some(rec) = self.recording() else { return };
        let real = rec.boot();
        for zi in 0..self.zones.len() {
            let name = self.zones[zi].name().to_string();
            let Some(rz) = real.zone(&name) else { continue };
            let target = rz.free + rz.pcp.iter().map(|p| p.0).sum::<u64>();
            while self.zones[zi].nr_free_pages + self.zones[zi].free_pcp() > target {
                let zt = self.zones[zi].zone_type;
                let gfp = match zt {
                    crate::zone::ZoneType::Dma => Gfp::GFP_KERNEL | Gfp::__GFP_DMA,
                    crate::zone::ZoneType::Dma32 => Gfp::GFP_KERNEL | Gfp::__GFP_DMA32,
                    crate::zone::ZoneType::HighMem => Gfp::GFP_KERNEL | Gfp::__GFP_HIGHMEM,
                    _ => Gfp::GFP_KERNEL,
                };
                match self.alloc_pages(gfp, 0) {
                    Some(p) if self.pages[p.0 as usize].zone as usize == zi => {
                        self.set_page_owner(p, 0, PageOwner::Boot);
                    }
                    Some(p) => {
                        self.__free_pages(p, 0);
                        break;
                    }
                    None => break,
                }
            }
        }
        let _ = Pfn(0);
    }

    /// The per-CPU lists as the recorded boot left them (`/proc/zoneinfo` pagesets: each CPU's count and its
    /// auto-tuned high): drained, then refilled with that many order-0 movable pages.
    ///
    /// Context: boot.
    pub(crate) fn replay_boot_pcp(&mut self) {
        let Some(rec) = self.recording() else { return };
        let real = rec.boot();
        self.drain_all_pages();
        for zi in 0..self.zones.len() {
            let name = self.zones[zi].name().to_string();
            let Some(rz) = real.zone(&name) else { continue };
            let per_cpu: Vec<(u64, u64)> = rz.pcp.iter().map(|p| (p.0, p.1)).collect();
            self.pcp_fill(zi, &per_cpu, crate::zone::MigrateType::Movable);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_boot_parses() {
        let b = RealBoot::recorded();
        assert!(b.initrd.1 > b.initrd.0, "{b:?}");
        assert!(b.node_data.1 > b.node_data.0);
        assert!(b.percpu.0 > 0 && b.percpu.1 > 0);
        assert_eq!(b.hash_tables.len(), 4, "dentry, inode, mount, mountpoint: {:?}", b.hash_tables);
        assert!(b.reserved_at_mem_init_kib > 0);
        let dma32 = b.zone("DMA32").unwrap();
        assert!(dma32.managed > 0 && dma32.present >= dma32.managed);
        assert_eq!(dma32.pcp.len(), 4);
        assert!(dma32.pcp.iter().all(|p| p.2 > 0));
    }

    #[test]
    fn lines_parse() {
        let b = RealBoot::parse(
            "[    0.0] RAMDISK: [mem 0x0fd3e000-0x0ffdffff]\n[    0.1] percpu: Embedded 42 pages/cpu s135072 r8192 d28768 u524288\n\
             [    0.2] Dentry cache hash table entries: 32768 (order: 6, 262144 bytes, linear)\n\
             [    0.9] Memory: 238756K/261624K available (6144K kernel code, 741K rwdata, 1496K rodata, 880K init, 1348K bss, 20852K reserved, 0K cma-reserved)\n",
            "",
        );
        assert_eq!(b.initrd, (0xfd3e, 0xffe0));
        assert_eq!(b.percpu, (42, 524288));
        assert_eq!(b.percpu_sizes, (135072, 8192, 28768));
        assert_eq!(b.hash_tables, vec![("Dentry cache".to_string(), 262144)]);
        assert_eq!(b.reserved_at_mem_init_kib, 20852);
    }

    #[test]
    fn the_recorded_state_parses() {
        let (caches, areas, mem) = recorded_state();
        let k = caches.first().unwrap();
        assert_eq!(k.name, "kmem_cache", "oldest first");
        let anon = caches.iter().find(|c| c.name == "anon_vma").unwrap();
        assert!(anon.ctor.is_some() && anon.slab_size > anon.object_size, "{anon:?}");
        assert!(areas.windows(2).all(|w| w[0].start < w[1].start));
        assert!(areas.iter().any(|a| a.caller.as_ref().is_some_and(|c| c.0 == "dup_task_struct")));
        assert!(areas.iter().any(|a| a.caller.is_none()), "unpurged areas");
        assert!(mem["MemTotal"] > 0 && mem.contains_key("KernelStack"));
    }
}
