//! Booting a fresh QEMU guest per listing and collecting what it printed.
//!
//! The initramfs holds a static busybox, the listing's module, its manifest's set-up writes and shown
//! files, and `/init`. `/init` writes everything it collects to the SECOND serial port (`ttyS1`, raw
//! mode) between `@@KMEM@@` markers, while the kernel console stays on `ttyS0`, so script output and
//! kernel messages cannot interleave. A listing that panics the kernel (`panic=-1 -no-reboot` end the
//! boot) has the console from its insmod on as its capture.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::deps::which;
use super::kernel::{spinner, Kernel};
use super::modules::{Built, Listing};
use super::{step, QemuOptions};

/// The kernel command line of the book's guest (shared with the simulator through `kmem-truth`).
pub use kmem_truth::book::CMDLINE as APPEND;

/// Seconds without any new output from the guest's script before QEMU is killed as hung.
const STALL_SECS: u64 = 180;

/// The emulated machine: which QEMU, how much RAM, how many CPUs.
#[derive(Debug, Clone)]
pub struct Guest {
    pub qemu: PathBuf,
    /// `-m` (e.g. `256M`).
    pub mem: String,
    /// `-smp` (e.g. `4,sockets=4,cores=1,threads=1`).
    pub smp: String,
}

impl Guest {
    /// The book's x86_64 guest: 256 MiB, 4 CPUs (the simulator's default machine).
    pub fn x86_64() -> Result<Guest> {
        Ok(Guest {
            qemu: which("qemu-system-x86_64").context("qemu-system-x86_64 not found (package qemu-system-x86)")?,
            mem: format!("{}M", kmem_truth::book::RAM_MIB),
            smp: format!("{0},sockets={0},cores=1,threads=1", kmem_truth::book::CPUS),
        })
    }
}

/// What the guest reported for one listing (one fresh boot).
#[derive(Debug, Clone, Default)]
pub struct ListingRun {
    /// Collected files by section name (`dmesg`, `insmod`, `rmmod`, `show:/proc/slabinfo`, ...).
    pub sections: BTreeMap<String, String>,
    pub insmod_rc: Option<i32>,
    pub rmmod_rc: Option<i32>,
    /// The script finished this listing.
    pub done: bool,
    /// The kernel died while this listing ran (a panic ends the boot): the console from the
    /// listing's insmod on, which is then its capture.
    pub crash: Option<String>,
    /// Which boot (1-based) ran it.
    pub boot: usize,
}

/// The guest's `/init`. Per boot it finds the listing's name in `/kmem/name`, its set-up writes in
/// `/kmem/setup` (`path value` lines) and the files to show while it is loaded in `/kmem/show` (`/proc` and
/// `/sys` files, and directories such as `/sys/kernel/slab/<cache>/`, shown as `grep . *` shows them).
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
M() { echo "@@KMEM@@ $*" >&3; }
F() { M "FILE $1 $2"; cat "$3" >&3 2>/dev/null; echo >&3; M "ENDFILE"; }
M "START"
if [ -f /kmem/boot ]; then
  dmesg > /tmp/d; F _boot dmesg /tmp/d
  # slabinfo first: each `cat` that follows allocates (and frees) slab objects, so the free-page counts of
  # meminfo and zoneinfo read after it include every object it counts (the simulated boot is calibrated
  # from both).
  for f in slabinfo buddyinfo pagetypeinfo meminfo zoneinfo vmallocinfo; do F _boot $f /proc/$f; done
  # Each slab cache's geometry and flags (what /proc/slabinfo does not say).
  for d in /sys/kernel/slab/*; do
    echo "${d##*/} $(cat $d/object_size) $(cat $d/slab_size) $(cat $d/align) $(cat $d/order) $(cat $d/objs_per_slab) $(cat $d/reclaim_account) $(cat $d/hwcache_align) $(cat $d/cache_dma) $(cat $d/ctor 2>/dev/null | head -c 60)"
  done > /tmp/s; F _boot slab /tmp/s
  M "DONE _boot"
fi
name=$(cat /kmem/name)
M "LISTING $name"
while read path value; do echo "$value" > "$path"; done < /kmem/setup
# The console keeps this line (the kernel log is cleared right after): a listing that panics the
# kernel has the console from here on as its capture.
echo "kmem-book: insmod $name" > /dev/kmsg
dmesg -c > /dev/null
cd /kmem
/kmem-bin/insmod $name.ko > /tmp/o 2>&1
rc=$?
cd /
# A process killed by a signal (an oops in init): the message a shell prints for it.
s=
case $rc in
  139) s="Segmentation fault" ;;
  137) s="Killed" ;;
  135) s="Bus error" ;;
  134) s="Aborted" ;;
  132) s="Illegal instruction" ;;
esac
if [ -n "$s" ] && ! grep -qx "$s" /tmp/o; then echo "$s" >> /tmp/o; fi
F $name insmod /tmp/o
M "RC $name insmod $rc"
if [ $rc = 0 ]; then
  if [ -f /kmem/settle ]; then sleep 2; fi
  # A shown directory (a path ending in /) is what `cd <dir>; grep . *` prints there: `file:line` for
  # each line of each file (a sysfs cache directory's attributes).
  while read path; do
    case $path in
      */) (cd "$path" && grep . *) > /tmp/v 2>/dev/null; F $name "show:$path" /tmp/v ;;
      *) F $name "show:$path" "$path" ;;
    esac
  done < /kmem/show
  rmmod $name > /tmp/o 2>&1
  rc=$?
  F $name rmmod /tmp/o
  M "RC $name rmmod $rc"
fi
dmesg -c > /tmp/d; F $name dmesg /tmp/d
M "DONE $name"
M "ALLDONE"
sync
reboot -f
"#;

/// A static `insmod` with kmod's messages (`insmod: ERROR: could not insert module x.ko: ...`),
/// because busybox's insmod retries a failed `finit_module` with `init_module`, which runs the
/// module's init a second time (seen: a failing listing printed its init message twice).
const INSMOD_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char *mod_strerror(int err) {
    switch (err) {
    case ENOEXEC: return "Invalid module format";
    case ENOENT: return "Unknown symbol in module, or unknown parameter (see dmesg)";
    default: return strerror(err);
    }
}
int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: insmod FILE\n"); return 1; }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) { fprintf(stderr, "insmod: ERROR: could not load module %s: %s\n", argv[1], strerror(errno)); return 1; }
    if (syscall(SYS_finit_module, fd, "", 0) != 0) {
        int e = errno;
        fprintf(stderr, "insmod: ERROR: could not insert module %s: %s\n", argv[1], mod_strerror(e));
        return 1;
    }
    return 0;
}
"#;

/// Compile [`INSMOD_C`] statically (gcc + libc6-dev).
pub fn build_insmod(out_dir: &Path) -> Result<PathBuf> {
    let dir = out_dir.join("initramfs-tools");
    fs::create_dir_all(&dir)?;
    let src = dir.join("kmem-insmod.c");
    let bin = dir.join("kmem-insmod");
    if fs::read_to_string(&src).ok().as_deref() != Some(INSMOD_C) || !bin.exists() {
        fs::write(&src, INSMOD_C)?;
        let out = Command::new("gcc")
            .args(["-static", "-Os", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .context("running gcc (packages gcc, libc6-dev)")?;
        if !out.status.success() {
            bail!("building the guest's insmod failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    Ok(bin)
}

/// The static busybox the initramfs runs (package busybox-static).
pub fn busybox() -> Result<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("busybox not found (package busybox-static)")
}

/// The line the guest writes to the kernel log right before a listing's insmod (see [`INIT`]).
pub const CONSOLE_MARKER: &str = "kmem-book: insmod ";

/// Boots a fresh kernel for each built listing (the simulator models a fresh boot per listing, so
/// once-per-boot reports, taint and rate limits behave alike) and collects what each printed.
pub fn run_all(
    kernel: &Kernel,
    listings: &[Listing],
    built: &BTreeMap<String, Built>,
    opts: &QemuOptions,
    out_dir: &Path,
    start: Instant,
) -> Result<BTreeMap<String, ListingRun>> {
    let busybox = busybox()?;
    let guest = Guest::x86_64()?;
    let insmod = build_insmod(out_dir)?;

    let mut runs = BTreeMap::new();
    let todo: Vec<&Listing> = listings.iter().filter(|l| built[&l.name].ko.is_some()).collect();
    for (i, l) in todo.iter().enumerate() {
        let boot_no = i + 1;
        let first = i == 0;
        let append = l.manifest.kernel_cmdline();
        let dir = out_dir.join(format!("boot-{boot_no}"));
        fs::create_dir_all(&dir)?;
        let initramfs = dir.join("initramfs.cpio");
        write_initramfs(&initramfs, &busybox, &insmod, l, built, first)?;
        let timeout = opts.timeout.unwrap_or(300);
        step(
            start,
            format!(
                "boot {boot_no}/{}: `{}`{}",
                todo.len(),
                l.name,
                if append != APPEND { format!(" (command line `{append}`)") } else { String::new() }
            ),
        );
        let t = Instant::now();
        let (mut results, mut console, mut timed_out) =
            boot(&guest, &kernel.bzimage, &initramfs, &dir, timeout, &append)?;
        for attempt in 2..=3 {
            if results.contains("@@KMEM@@ START") {
                break;
            }
            // The kernel died before /init ran: not the listing's fault (e.g. a slow emulated
            // timer). Boot again.
            step(start, format!("boot {boot_no}: the kernel did not reach /init; retrying (attempt {attempt})"));
            let _ = fs::rename(dir.join("console.log"), dir.join(format!("console-failed-{}.log", attempt - 1)));
            (results, console, timed_out) = boot(&guest, &kernel.bzimage, &initramfs, &dir, timeout, &append)?;
        }
        let parsed = parse(&results);
        step(
            start,
            format!(
                "boot {boot_no}: QEMU exited after {:.1}s{}",
                t.elapsed().as_secs_f64(),
                if timed_out { " (TIMEOUT, killed)" } else { "" }
            ),
        );
        if first {
            if let Some(b) = parsed.get("_boot") {
                let bdir = out_dir.join("boot");
                fs::create_dir_all(&bdir)?;
                for (k, v) in &b.sections {
                    fs::write(bdir.join(k), v)?;
                }
            } else {
                bail!(
                    "the guest did not start (no boot report); console log: {}\n{}",
                    dir.join("console.log").display(),
                    tail(&console, 40)
                );
            }
        }
        let mut r = parsed.get(&l.name).cloned().unwrap_or_default();
        r.boot = boot_no;
        if !r.done {
            step(start, format!("boot {boot_no}: `{}` crashed or hung the kernel", l.name));
            r.crash = Some(console_from_marker(&console, &l.name));
        }
        runs.insert(l.name.clone(), r);
        if runs[&l.name].crash.is_some() && !opts.keep_going && l.manifest.insmod != kmem_truth::Insmod::Panics {
            break;
        }
    }
    Ok(runs)
}

/// The console from the listing's marker line on, without the marker (the capture of a listing that
/// panics the kernel), or the last 80 lines when the marker is missing.
fn console_from_marker(console: &str, name: &str) -> String {
    let marker = format!("{CONSOLE_MARKER}{name}");
    match console.lines().position(|l| l.ends_with(&marker)) {
        Some(i) => console.lines().skip(i + 1).map(|l| format!("{l}\n")).collect(),
        None => tail(console, 80),
    }
}

pub(crate) fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Run QEMU; returns (results port text, console text, timed out).
pub fn boot(
    guest: &Guest,
    bzimage: &Path,
    initramfs: &Path,
    dir: &Path,
    timeout: u64,
    append: &str,
) -> Result<(String, String, bool)> {
    let console = dir.join("console.log");
    let results = dir.join("results.log");
    let _ = fs::remove_file(&console);
    let _ = fs::remove_file(&results);
    let mut cmd = Command::new(&guest.qemu);
    cmd.args(["-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none"])
        .args(["-m", &guest.mem, "-smp", &guest.smp])
        .arg("-kernel")
        .arg(bzimage)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", append])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    fs::write(dir.join("qemu-command.txt"), format!("{cmd:?}\n"))?;
    let mut child = cmd.spawn().with_context(|| format!("starting {}", guest.qemu.display()))?;
    let pb = spinner("boot");
    let t = Instant::now();
    let mut timed_out = false;
    let (mut last_len, mut last_change) = (0u64, Instant::now());
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        // A hung listing: nothing new on the results port for a long time (a listing's whole
        // run writes several dumps; booting to /init takes seconds, minutes on a loaded host).
        let len = fs::metadata(&results).map(|m| m.len()).unwrap_or(0);
        if len != last_len {
            (last_len, last_change) = (len, Instant::now());
        }
        if t.elapsed() > Duration::from_secs(timeout) || last_change.elapsed() > Duration::from_secs(STALL_SECS) {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        let text = fs::read_to_string(&results).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("@@KMEM@@ LISTING "))
            .unwrap_or(if text.contains("@@KMEM@@ START") { "(init running)" } else { "(booting)" });
        pb.set_message(format!("boot: {last}"));
        std::thread::sleep(Duration::from_millis(200));
    }
    pb.finish_and_clear();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    if !err.trim().is_empty() {
        fs::write(dir.join("qemu-stderr.txt"), &err)?;
    }
    let r = String::from_utf8_lossy(&fs::read(&results).unwrap_or_default()).into_owned();
    let c = String::from_utf8_lossy(&fs::read(&console).unwrap_or_default()).replace('\r', "");
    if r.is_empty() && c.is_empty() {
        bail!("QEMU produced no output: {err}");
    }
    Ok((r, c, timed_out))
}

/// Parse the results port.
pub fn parse(text: &str) -> BTreeMap<String, ListingRun> {
    let mut out: BTreeMap<String, ListingRun> = BTreeMap::new();
    let mut file: Option<(String, String, Vec<&str>)> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((_, _, buf)) = file.as_mut() {
            if line == "@@KMEM@@ ENDFILE" {
                let (who, sec, mut buf) = file.take().unwrap();
                if buf.last() == Some(&"") {
                    buf.pop();
                }
                let mut s = buf.join("\n");
                if !buf.is_empty() {
                    s.push('\n');
                }
                out.entry(who).or_default().sections.insert(sec, s);
            } else {
                buf.push(line);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("@@KMEM@@ ") else { continue };
        let w: Vec<&str> = rest.split_whitespace().collect();
        match w.as_slice() {
            ["FILE", who, sec] => file = Some((who.to_string(), sec.to_string(), Vec::new())),
            ["RC", who, what, rc] => {
                let rc = rc.parse().ok();
                let e = out.entry(who.to_string()).or_default();
                if *what == "insmod" {
                    e.insmod_rc = rc;
                } else {
                    e.rmmod_rc = rc;
                }
            }
            ["DONE", who] => out.entry(who.to_string()).or_default().done = true,
            _ => {}
        }
    }
    out
}

pub fn write_initramfs(
    path: &Path,
    busybox: &Path,
    insmod: &Path,
    listing: &Listing,
    built: &BTreeMap<String, Built>,
    boot_report: bool,
) -> Result<()> {
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "tmp", "kmem", "etc", "root"] {
        c.dir(d);
    }
    c.node("dev/console", 0o020600, 5, 1);
    c.file("bin/busybox", 0o755, &fs::read(busybox)?);
    c.dir("kmem-bin");
    c.file("kmem-bin/insmod", 0o755, &fs::read(insmod)?);
    c.file("init", 0o755, INIT.as_bytes());
    let ko = built[&listing.name].ko.as_ref().context("listing not built")?;
    c.file(&format!("kmem/{}.ko", listing.name), 0o644, &fs::read(ko)?);
    c.file("kmem/name", 0o644, format!("{}\n", listing.name).as_bytes());
    let setup: String = listing.manifest.setup.iter().map(|s| format!("{} {}\n", s.path, s.value)).collect();
    c.file("kmem/setup", 0o644, setup.as_bytes());
    let show: String = listing.manifest.show.iter().map(|s| format!("{}\n", s.file)).collect();
    c.file("kmem/show", 0o644, show.as_bytes());
    if boot_report {
        c.file("kmem/boot", 0o644, b"");
    }
    if listing.manifest.settle {
        c.file("kmem/settle", 0o644, b"");
    }
    let mut f = fs::File::create(path)?;
    f.write_all(&c.finish())?;
    Ok(())
}

/// A minimal `newc` cpio writer (what the kernel's initramfs unpacker reads).
#[derive(Default)]
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let hdr = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.buf.extend_from_slice(hdr.as_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }
    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, data, (0, 0));
    }
    fn node(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.entry(name, mode, &[], (major, minor));
    }
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_markers() {
        let text = "junk\n@@KMEM@@ START\n@@KMEM@@ LISTING a\n@@KMEM@@ FILE a dmesg\n[    1.000000] a: hi\n\n@@KMEM@@ ENDFILE\n@@KMEM@@ RC a insmod 0\n@@KMEM@@ RC a rmmod 0\n@@KMEM@@ DONE a\n@@KMEM@@ LISTING b\n@@KMEM@@ FILE b insmod\n\n@@KMEM@@ ENDFILE\n";
        let p = parse(text);
        assert_eq!(p["a"].sections["dmesg"], "[    1.000000] a: hi\n");
        assert_eq!(p["a"].insmod_rc, Some(0));
        assert!(p["a"].done);
        assert_eq!(p["b"].sections["insmod"], "");
        assert!(!p["b"].done);
    }

    /// A manifest's `settle` reaches the guest as `/kmem/settle`, which `/init` waits on after insmod; without
    /// it the file is absent.
    #[test]
    fn settle_reaches_the_initramfs() {
        assert!(INIT.contains("if [ -f /kmem/settle ]; then sleep 2; fi"));
        let dir = std::env::temp_dir().join(format!("kmem-settle-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (busybox, ko) = (dir.join("busybox"), dir.join("m.ko"));
        fs::write(&busybox, b"bb").unwrap();
        fs::write(&ko, b"ko").unwrap();
        for settle in [false, true] {
            let manifest = kmem_truth::Manifest { settle, ..Default::default() };
            let l = Listing { name: "m".into(), chapter: "ch00".into(), source: dir.join("m.rs"), manifest };
            let built: BTreeMap<String, Built> =
                [("m".to_string(), Built { ko: Some(ko.clone()), errors: String::new() })].into();
            let out = dir.join("i.cpio");
            write_initramfs(&out, &busybox, &busybox, &l, &built, false).unwrap();
            let cpio = fs::read(&out).unwrap();
            // The entry name, NUL-terminated (the script itself mentions the path too).
            let has = cpio.windows(b"kmem/settle\0".len()).any(|w| w == b"kmem/settle\0");
            assert_eq!(has, settle);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
