//! `cargo xtask run FILE`, end to end: a reader's module file runs as `cargo run --example` runs a listing,
//! and every kind of bad input ends in a short message and a non-zero exit, never a panic or a backtrace
//! (these tests run with `RUST_BACKTRACE=1`, so a panic would print one).
//!
//! Warm, each test takes well under a second: the scratch packages' dependencies are built once per target
//! directory (`cargo xtask run` shares the workspace's build directory), and the modules live at fixed paths
//! under `CARGO_TARGET_TMPDIR`, rewritten only when they change, so a second run rebuilds nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `cargo xtask run ARGS` (the built xtask binary), from the workspace root.
fn xtask_run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("run")
        .args(args)
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("running xtask")
}

/// The listings these tests run as `cargo run --example` runs them.
const EXAMPLES: &[&str] = &["kmalloc_basic", "kmalloc_slabinfo", "three_allocators"];

/// `cargo run --example NAME` with `env`, from the workspace root: the program `cargo build --example NAME`
/// built (one cargo invocation for all of [`EXAMPLES`], once per test process), run as `cargo run` runs it.
fn cargo_run_example(name: &str, env: &[(&str, &str)]) -> Output {
    static BUILT: std::sync::OnceLock<Vec<(String, PathBuf)>> = std::sync::OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "--quiet", "--message-format=json"]).current_dir(root());
        for e in EXAMPLES {
            cmd.args(["--example", e]);
        }
        let out = cmd.output().expect("running cargo");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["kind"][0] == "example")
            .filter_map(|v| Some((v["target"]["name"].as_str()?.to_string(), PathBuf::from(v["executable"].as_str()?))))
            .collect()
    });
    let exe = &built.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} is not in EXAMPLES")).1;
    Command::new(exe)
        .current_dir(root())
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("running the example")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A failure told in a few lines, with a non-zero exit and no panic.
fn assert_fails_cleanly(out: &Output, code: i32, max_lines: usize) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stdout:\n{}\nstderr:\n{err}", text(&out.stdout));
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    assert!(err.lines().count() <= max_lines, "{err}");
    err
}

/// A directory of this test's own (the same on every run).
fn test_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("own_module").join(test);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `dir/name` unless it is there already (a new modification time would rebuild it).
fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    path.display().to_string()
}

/// A listing copied into a directory of its own (with its manifest, when it has one): a reader's file.
fn copy_listing(dir: &Path, chapter: &str, name: &str) -> PathBuf {
    let from = root().join("listings").join(chapter).join(name);
    for ext in ["rs", "toml"] {
        if let Ok(text) = std::fs::read_to_string(from.with_extension(ext)) {
            write(dir, &format!("{name}.{ext}"), &text);
        }
    }
    dir.join(format!("{name}.rs"))
}

const MODULE: &str = r#"use kernel::prelude::*;

module! {
    type: NAME_T,
    name: "NAME",
    license: "GPL",
}

struct NAME_T(KBox<[u8; 100]>);

impl kernel::Module for NAME_T {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        BODY
    }
}

impl Drop for NAME_T {
    fn drop(&mut self) {
        pr_info!("freeing {} bytes\n", self.0.len());
    }
}
"#;

fn module(name: &str, body: &str) -> String {
    MODULE.replace("NAME_T", "Mine").replace("NAME", name).replace("BODY", body)
}

#[test]
fn the_session_is_cargo_run_examples() {
    let dir = &test_dir("session");
    // A listing without a manifest, and one whose manifest shows a file while it is loaded.
    for (chapter, name) in [("ch05-kmalloc", "kmalloc_basic"), ("ch05-kmalloc", "kmalloc_slabinfo")] {
        let file = copy_listing(dir, chapter, name);
        let ours = xtask_run(&[file.to_str().unwrap()]);
        let example = cargo_run_example(name, &[]);
        assert!(ours.status.success(), "{}", text(&ours.stderr));
        assert!(example.status.success(), "{}", text(&example.stderr));
        assert_eq!(text(&ours.stdout), text(&example.stdout), "{name}");
        assert!(text(&ours.stdout).starts_with(&format!("$ insmod {name}.ko\n")));
    }
    // The machine options are the runner's variables.
    let file = copy_listing(dir, "ch02-address-space", "three_allocators");
    let ours = xtask_run(&[file.to_str().unwrap(), "--machine", "i386-160m", "--cmdline", "slub_debug=FZPU"]);
    let example =
        cargo_run_example("three_allocators", &[("KMEM_MACHINE", "i386-160m"), ("KMEM_CMDLINE", "slub_debug=FZPU")]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(text(&ours.stdout), text(&example.stdout));
    assert!(text(&ours.stdout).contains("0xc"), "a 32-bit machine's addresses:\n{}", text(&ours.stdout));
    let ours = xtask_run(&[file.to_str().unwrap(), "--ram", "1G", "--cpus", "2"]);
    let example = cargo_run_example("three_allocators", &[("KMEM_RAM_MIB", "1024"), ("KMEM_CPUS", "2")]);
    assert!(ours.status.success(), "{}", text(&ours.stderr));
    assert_eq!(text(&ours.stdout), text(&example.stdout));
    assert_ne!(text(&ours.stdout), text(&cargo_run_example("three_allocators", &[]).stdout), "another machine");
}

#[test]
fn a_small_module_of_ones_own_with_shown_files() {
    let dir = &test_dir("show");
    let file = write(
        dir,
        "mine.rs",
        &module(
            "mine",
            r#"let b = KBox::new([0u8; 100], GFP_KERNEL)?;
        pr_info!("kmalloc'd 100 bytes\n");
        Ok(Mine(b))"#,
        ),
    );
    let out = xtask_run(&[&file, "--show", "/proc/slabinfo,/proc/vmallocinfo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "$ insmod mine.ko");
    assert_eq!(lines[1], "$ cat /proc/slabinfo");
    assert_eq!(lines[2], "slabinfo - version: 2.1");
    let vmallocinfo = lines.iter().position(|l| *l == "$ cat /proc/vmallocinfo").expect(&stdout);
    let rmmod = lines.iter().position(|l| *l == "$ rmmod mine").expect(&stdout);
    assert!(lines[3..vmallocinfo].iter().any(|l| l.starts_with("kmalloc-128 ")), "the whole file:\n{stdout}");
    assert!(rmmod > vmallocinfo + 1, "{stdout}");
    assert_eq!(lines[rmmod + 1], "$ dmesg");
    assert!(lines[rmmod + 2].ends_with("] mine: loading out-of-tree module taints kernel."), "{stdout}");
    assert!(lines[rmmod + 3].ends_with("] mine: kmalloc'd 100 bytes"), "{stdout}");
    assert!(lines[rmmod + 4].ends_with("] mine: freeing 100 bytes"), "{stdout}");
    assert_eq!(lines.len(), rmmod + 5, "{stdout}");
}

#[test]
fn an_init_that_fails_is_insmods_error() {
    let dir = &test_dir("init");
    let file = write(dir, "nomem.rs", &module("nomem", "pr_info!(\"giving up\\n\");\n        Err(ENOMEM)"));
    let out = xtask_run(&[&file]);
    assert_fails_cleanly(&out, 1, 0);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..3],
        ["$ insmod nomem.ko", "insmod: ERROR: could not insert module nomem.ko: Cannot allocate memory", "$ dmesg"]
    );
    assert!(lines[4].ends_with("] nomem: giving up"), "{stdout}");
}

#[test]
fn a_compile_error_is_rustcs_naming_ones_own_file() {
    let dir = &test_dir("compile");
    let file = write(dir, "src/broken.rs", &module("broken", "Ok(Mine(undefined_box))"));
    // As the reader types it: relative to where they are.
    let rel = pathdiff(Path::new(&file), &root());
    let out = xtask_run(&[&rel]);
    let err = assert_fails_cleanly(&out, 1, 12);
    assert!(err.starts_with("error[E0425]: cannot find value `undefined_box` in this scope\n"), "{err}");
    assert!(err.contains(&format!("--> {rel}:13:17\n")), "{err}");
    assert!(!err.contains("xtask-run") && !err.contains(&format!("> {file}")), "{err}");
    assert!(
        err.ends_with(&format!("error: {rel} does not compile against the kernel façade (crates/kernel)\n")),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `path` relative to `base` (both absolute).
fn pathdiff(path: &Path, base: &Path) -> String {
    let (p, b): (Vec<_>, Vec<_>) = (path.components().collect(), base.components().collect());
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out.display().to_string()
}

#[test]
fn missing_files_and_files_without_a_module() {
    let dir = &test_dir("files");
    let missing = dir.join("nothere.rs").display().to_string();
    let err = assert_fails_cleanly(&xtask_run(&[&missing]), 1, 1);
    assert_eq!(err, format!("error: {missing}: No such file or directory (os error 2)\n"));
    let plain = write(dir, "plain.rs", "// module! { type: X }\nfn main() {}\n");
    let err = assert_fails_cleanly(&xtask_run(&[&plain]), 1, 1);
    assert!(err.starts_with(&format!("error: {plain} declares no module: a kernel module needs `module! {{")), "{err}");
}

#[test]
fn bad_machine_options_name_the_value_and_the_accepted_ones() {
    let dir = &test_dir("options");
    let file = write(dir, "m.rs", &module("m", "Err(EINVAL)"));
    for (opt, value, accepted) in [
        ("--machine", "bogus", "use x86_64 (the default), i386 or i386-160m"),
        ("--ram", "0", "use MiB (256) or a size with M or G (512M, 1G), from 32M to 64G"),
        ("--ram", "lots", "use MiB (256) or a size with M or G (512M, 1G), from 32M to 64G"),
        ("--cpus", "0", "use 1 to 64"),
    ] {
        let err = assert_fails_cleanly(&xtask_run(&[&file, opt, value]), 2, 3);
        assert!(err.starts_with(&format!("error: invalid value '{value}' for '{opt} ")), "{err}");
        assert!(err.contains(accepted), "{err}");
    }
    // What the simulator refuses for a combination (a 32-bit machine with 4 GiB) is the runner's message.
    let err = assert_fails_cleanly(&xtask_run(&[&file, "--machine", "i386", "--ram", "4G"]), 2, 1);
    assert!(err.starts_with("error: the simulated machine does not boot: cannot simulate 4096 MiB of RAM"), "{err}");
}

#[test]
fn cargo_run_example_refuses_bad_variables() {
    for (var, value, msg) in [
        (
            "KMEM_MACHINE",
            "bogus",
            "KMEM_MACHINE=\"bogus\" is not a machine: use x86_64 (the default), i386 or i386-160m",
        ),
        (
            "KMEM_RAM_MIB",
            "0",
            "KMEM_RAM_MIB=\"0\" is not a RAM size the simulator boots: use MiB (256) or a size with M or G",
        ),
        ("KMEM_RAM_MIB", "abc", "KMEM_RAM_MIB=\"abc\" is not a RAM size: use MiB (256) or a size with M or G"),
        ("KMEM_CPUS", "0", "KMEM_CPUS=\"0\" is not a CPU count the simulator boots: use 1 to 64"),
    ] {
        let out = cargo_run_example("three_allocators", &[(var, value)]);
        let err = assert_fails_cleanly(&out, 2, 1);
        assert!(err.starts_with(&format!("error: {msg}")), "{err}");
        assert!(out.stdout.is_empty());
    }
}
