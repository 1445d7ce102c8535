//! A listing's manifest, `listings/<chapter>/<name>.toml` (optional): how the book runs it, in both worlds.
//!
//! ```toml
//! # Words added to the book's kernel command line (`-word` removes one).
//! cmdline = ["slab_debug=A,kmalloc-512"]
//! # What insmod does: "succeeds" (default), "fails" (init returns an error), "killed" (an oops in init)
//! # or "panics" (the kernel panics).
//! insmod = "succeeds"
//! # What rmmod does after a successful insmod: "succeeds" (default) or "killed" (an oops in the exit).
//! rmmod = "succeeds"
//!
//! # Written before insmod: by the guest's /init on the real kernel, into the simulator's debugfs model.
//! [[setup]]
//! path = "/sys/kernel/debug/failslab/probability"
//! value = "100"
//!
//! # A file the chapter shows while the module is loaded: its header lines and the rows that start
//! # with one of `rows`, or the lines that contain `grep`.
//! [[show]]
//! file = "/proc/slabinfo"
//! rows = ["kmalloc-192 ", "kmalloc-1k "]
//!
//! # A directory (a path ending in `/`): what `cd <dir>; grep . *` prints there, `attribute:value` for each
//! # line of each file, the files in `ls` order; `rows` keeps the lines of the named files.
//! [[show]]
//! file = "/sys/kernel/slab/kmem_book_sysfs/"
//! rows = ["object_size:", "slab_size:"]
//!
//! # One line the simulator cannot know, with the reason (printed in the book's appendix).
//! [[exception]]
//! file = "dmesg"
//! line = '^\[TIME\]  free:(\d+) free_pcp:(\d+) free_cma:0$'
//! reason = "…"
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

/// What insmod does with the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Insmod {
    /// `init` returns 0; the module is removed again with rmmod.
    #[default]
    Succeeds,
    /// `init` returns an error: insmod prints it and exits 1.
    Fails,
    /// `init` oopses: the kernel kills insmod (its shell prints `Killed` or `Segmentation fault`).
    Killed,
    /// `init` panics the kernel: nothing runs after it; the capture is the console from insmod on.
    Panics,
}

/// What rmmod does with a listing that loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rmmod {
    /// The exit returns; the module is gone.
    #[default]
    Succeeds,
    /// The exit oopses: the kernel kills rmmod, and the module stays, stuck unloading.
    Killed,
}

/// A debugfs/sysfs write before insmod.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The file, e.g. `/sys/kernel/debug/failslab/probability`.
    pub path: String,
    /// What is written to it (as `echo value > path`).
    pub value: String,
}

/// A file shown while the module is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Show {
    /// `/proc/slabinfo`, `/proc/vmallocinfo`, `/proc/buddyinfo`, `/proc/zoneinfo`, `/proc/meminfo`, …
    pub file: String,
    /// Keep the file's header lines and the rows starting with one of these.
    #[serde(default)]
    pub rows: Vec<String>,
    /// Keep only the lines containing this.
    #[serde(default)]
    pub grep: Option<String>,
}

impl Show {
    /// The whole of `file`, shown while the module is loaded (what `cargo xtask run --show` and the runner's
    /// `KMEM_SHOW` ask for): a `/proc` or `/sys` file, as in a manifest.
    ///
    /// Context: any. Returns a message naming the file when it cannot be shown.
    pub fn whole(file: &str) -> Result<Show, String> {
        if !file.starts_with("/proc/") && !file.starts_with("/sys/") {
            return Err(format!("show `{file}`: only /proc and /sys files can be shown"));
        }
        Ok(Show { file: file.to_string(), rows: Vec::new(), grep: None })
    }

    /// The short name of this file in captures and pins: `slabinfo` for `/proc/slabinfo`,
    /// `sys-kernel-slab-kmem_book-objs_per_slab` for a sysfs attribute, `sys-kernel-slab-kmem_book` for the
    /// directory `/sys/kernel/slab/kmem_book/`.
    ///
    /// Context: any.
    pub fn stem(&self) -> String {
        let p = self.file.trim_start_matches('/').trim_end_matches('/');
        match p.strip_prefix("proc/") {
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => p.replace('/', "-"),
        }
    }

    /// Whether this shows a directory (`file` ends in `/`): `cd <dir>; grep . *` instead of `cat <file>`.
    ///
    /// Context: any.
    pub fn is_dir(&self) -> bool {
        self.file.ends_with('/')
    }

    /// The shell command whose output this is: `cat <file>`, or `cd <dir>; grep . *` for a directory.
    ///
    /// Context: any.
    pub fn command(&self) -> String {
        if self.is_dir() {
            format!("cd {}; grep . *", self.file.trim_end_matches('/'))
        } else {
            format!("cat {}", self.file)
        }
    }

    /// What `grep . *` prints in a directory whose files are `files` (name and content, in `ls` order):
    /// `name:line` for each line with at least one character (busybox's grep with several files).
    ///
    /// Context: any.
    pub fn grep_dir(files: &[(String, String)]) -> String {
        let mut out = String::new();
        for (name, text) in files {
            for line in text.lines().filter(|l| !l.is_empty()) {
                out.push_str(&format!("{name}:{line}\n"));
            }
        }
        out
    }

    /// The part of `text` (the whole file) the chapter shows.
    ///
    /// Context: any.
    pub fn select(&self, text: &str) -> String {
        let header_lines = match self.file.as_str() {
            "/proc/slabinfo" => 2,
            _ => 0,
        };
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            let keep = if let Some(g) = &self.grep {
                line.contains(g.as_str())
            } else if self.rows.is_empty() {
                true
            } else {
                i < header_lines || self.rows.iter().any(|r| line.starts_with(r.as_str()))
            };
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// A declared difference the simulator cannot know, printed in the book with its reason.
///
/// - With `line`: a regular expression that matches exactly one line of the file on each side (after
///   masking); its capture groups are the parts that differ (each becomes `<varies>`), the rest of the line
///   must match. A pattern needs at least one group: the exception says what differs, not that the line does.
/// - With `order = "any"`: the file's lines may come in another order (each line must still match one line of
///   the other side).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// `dmesg`, `insmod`, or the stem of a shown file (`buddyinfo`, `slabinfo` …).
    pub file: String,
    /// The line, as a regular expression whose groups are what differs.
    #[serde(default)]
    pub line: String,
    /// `any`: the order of the file's lines is not compared.
    #[serde(default)]
    pub order: Option<String>,
    /// Why the simulator cannot produce it (printed in the book).
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    cmdline: Vec<String>,
    #[serde(default)]
    insmod: Insmod,
    #[serde(default)]
    rmmod: Rmmod,
    #[serde(default)]
    setup: Vec<Setup>,
    #[serde(default)]
    show: Vec<Show>,
    #[serde(default)]
    settle: bool,
    #[serde(default)]
    exception: Vec<Exception>,
}

/// A listing's manifest (all defaults when it has no `.toml`).
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// Where it was read from (`None`: no manifest, defaults).
    pub path: Option<PathBuf>,
    /// Changes to the book's command line.
    pub cmdline: Vec<String>,
    /// What insmod does.
    pub insmod: Insmod,
    /// What rmmod does, after an insmod that succeeded.
    pub rmmod: Rmmod,
    /// Writes before insmod.
    pub setup: Vec<Setup>,
    /// Files shown while loaded.
    pub show: Vec<Show>,
    /// Let the kernel's deferred work after the module's init finish before the shown files are read: the
    /// guest waits a second after insmod (`do_init_module()` frees the init sections from a workqueue after
    /// an RCU grace period, `do_free_init()`); the simulator runs that work when init returns.
    pub settle: bool,
    /// Declared differences, with their compiled patterns.
    pub exceptions: Vec<(Exception, Regex)>,
}

impl Manifest {
    /// Reads the manifest beside `listing` (`foo.rs` → `foo.toml`); defaults when there is none.
    ///
    /// Context: any. Returns a message naming the file and the problem when it cannot be used.
    pub fn for_listing(listing: &Path) -> Result<Manifest, String> {
        let path = listing.with_extension("toml");
        match fs::read_to_string(&path) {
            Ok(text) => Manifest::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Parses a manifest's text (`path` names it in messages).
    ///
    /// Context: any.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut exceptions = Vec::new();
        let never = Regex::new("$^").expect("valid regex");
        for e in raw.exception {
            if e.reason.trim().is_empty() {
                return Err(format!("{}: exception `{}` gives no reason", path.display(), e.line));
            }
            match (&e.order, e.line.is_empty()) {
                (Some(o), true) if o == "any" => {
                    exceptions.push((e, never.clone()));
                    continue;
                }
                (Some(o), _) => {
                    return Err(format!(
                        "{}: exception with `order = {o:?}`: only `order = \"any\"`, without `line`",
                        path.display()
                    ))
                }
                (None, true) => return Err(format!("{}: an exception needs `line` or `order`", path.display())),
                (None, false) => {}
            }
            let re = Regex::new(&e.line).map_err(|err| format!("{}: exception `{}`: {err}", path.display(), e.line))?;
            if re.captures_len() < 2 {
                return Err(format!(
                    "{}: exception `{}` has no group: put what differs in ( ), the rest of the line must match",
                    path.display(),
                    e.line
                ));
            }
            exceptions.push((e, re));
        }
        for s in &raw.show {
            Show::whole(&s.file).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(Manifest {
            path: Some(path.to_path_buf()),
            cmdline: raw.cmdline,
            insmod: raw.insmod,
            rmmod: raw.rmmod,
            setup: raw.setup,
            show: raw.show,
            settle: raw.settle,
            exceptions,
        })
    }

    /// This manifest with a run's options (`cargo xtask run`/`qemu --module`'s `--cmdline` and `--show`, the
    /// runner's `KMEM_CMDLINE` and `KMEM_SHOW`): `cmdline`'s words change the command line as the manifest's do,
    /// and each of `show` is shown whole while the module is loaded (after the manifest's own, once).
    ///
    /// Context: any. Returns a message naming a file that cannot be shown.
    pub fn with_options<S: AsRef<str>>(&self, cmdline: Option<&str>, show: &[S]) -> Result<Manifest, String> {
        let mut m = self.clone();
        m.cmdline.extend(cmdline.unwrap_or_default().split_whitespace().map(str::to_string));
        for file in show {
            let s = Show::whole(file.as_ref())?;
            if !m.show.iter().any(|have| have.file == s.file) {
                m.show.push(s);
            }
        }
        Ok(m)
    }

    /// The kernel command line this listing boots with: the book's, changed by `cmdline`.
    ///
    /// Context: any.
    pub fn kernel_cmdline(&self) -> String {
        crate::book::cmdline_with(&self.cmdline)
    }
}

/// Every declared exception of `listings` (name and manifest) as a Markdown table
/// (`| listing | output | what may differ | why |`), for the book's appendix.
///
/// Context: any.
pub fn exceptions_markdown(listings: &[(String, Manifest)]) -> String {
    let mut out = String::from("| listing | output | what may differ | why |\n|---|---|---|---|\n");
    for (name, m) in listings {
        for (e, _) in &m.exceptions {
            let what = if e.order.as_deref() == Some("any") {
                "the order of the lines".to_string()
            } else {
                format!("the groups of `{}`", e.line.replace('|', "\\|"))
            };
            out.push_str(&format!("| `{name}` | {} | {what} | {} |\n", e.file, e.reason.replace('|', "\\|")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_selects() {
        let m = Manifest::parse(
            r#"
cmdline = ["-slab_nomerge"]
insmod = "fails"
[[setup]]
path = "/sys/kernel/debug/failslab/times"
value = "-1"
[[show]]
file = "/proc/slabinfo"
rows = ["kmem_book"]
[[exception]]
file = "dmesg"
line = 'free:(\d+)'
reason = "the free count depends on the boot"
"#,
            Path::new("x.toml"),
        )
        .unwrap();
        assert_eq!(m.insmod, Insmod::Fails);
        assert!(!m.kernel_cmdline().contains("slab_nomerge"));
        assert_eq!(m.show[0].stem(), "slabinfo");
        let text = "slabinfo - version: 2.1\n# name ...\nkmalloc-8 1 2\nkmem_book_a 3 4\n";
        assert_eq!(m.show[0].select(text), "slabinfo - version: 2.1\n# name ...\nkmem_book_a 3 4\n");
    }

    #[test]
    fn bad_manifests_name_the_problem() {
        let e = Manifest::parse("insmod = \"maybe\"", Path::new("a.toml")).unwrap_err();
        assert!(e.starts_with("a.toml: "), "{e}");
        let e = Manifest::parse("[[exception]]\nfile='dmesg'\nline='('\nreason='r'", Path::new("b.toml")).unwrap_err();
        assert!(e.contains("exception"), "{e}");
        let e = Manifest::parse("[[exception]]\nfile='dmesg'\nline='free:\\d+'\nreason='r'", Path::new("b.toml"))
            .unwrap_err();
        assert!(e.contains("no group"), "{e}");
        let e = Manifest::parse("[[show]]\nfile='/etc/passwd'", Path::new("c.toml")).unwrap_err();
        assert!(e.contains("only /proc and /sys"), "{e}");
        assert!(Manifest::parse("colour = 1", Path::new("d.toml")).is_err());
    }

    #[test]
    fn run_options() {
        let m = Manifest::parse(
            "cmdline = ['slab_debug=A']\n[[show]]\nfile = '/proc/slabinfo'\nrows = ['kmalloc-8 ']",
            Path::new("m.toml"),
        )
        .unwrap();
        let o =
            m.with_options(Some(" slub_debug=FZPU  -slab_nomerge"), &["/proc/slabinfo", "/proc/vmallocinfo"]).unwrap();
        assert_eq!(o.cmdline, ["slab_debug=A", "slub_debug=FZPU", "-slab_nomerge"]);
        assert_eq!(o.show.len(), 2);
        assert_eq!(o.show[0], m.show[0], "the manifest's own rows stay");
        assert_eq!(o.show[1].file, "/proc/vmallocinfo");
        assert!(o.show[1].rows.is_empty() && o.show[1].grep.is_none());
        assert!(m.with_options(None, &["/dev/mem"]).unwrap_err().contains("only /proc and /sys"));
        assert_eq!(m.with_options::<&str>(None, &[]).unwrap().cmdline, m.cmdline);
    }

    #[test]
    fn whole_files() {
        let s = Show::whole("/proc/vmallocinfo").unwrap();
        assert_eq!((s.stem().as_str(), s.select("a\nb\n").as_str()), ("vmallocinfo", "a\nb\n"));
        assert_eq!(Show::whole("slabinfo").unwrap_err(), "show `slabinfo`: only /proc and /sys files can be shown");
    }

    #[test]
    fn sysfs_capture_names() {
        let s = Show { file: "/sys/kernel/slab/kmem_book/objs_per_slab".into(), rows: vec![], grep: None };
        assert_eq!(s.stem(), "sys-kernel-slab-kmem_book-objs_per_slab");
        assert_eq!(s.command(), "cat /sys/kernel/slab/kmem_book/objs_per_slab");
        let d = Show { file: "/sys/kernel/slab/kmem_book/".into(), rows: vec!["order:".into()], grep: None };
        assert!(d.is_dir());
        assert_eq!(d.stem(), "sys-kernel-slab-kmem_book");
        assert_eq!(d.command(), "cd /sys/kernel/slab/kmem_book; grep . *");
        let files = [("ctor".to_string(), String::new()), ("order".to_string(), "0\n".to_string())];
        let view = Show::grep_dir(&files);
        assert_eq!(view, "order:0\n");
        assert_eq!(d.select(&format!("align:8\n{view}")), "order:0\n");
    }
}
