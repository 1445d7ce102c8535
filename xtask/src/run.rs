//! `cargo xtask run FILE`: a reader's own module on the simulator, printed exactly as `cargo run --example`
//! prints a listing's session.
//!
//! A listing becomes a program through its `[[example]]` entry in the book's `Cargo.toml`: the book
//! package's dependencies (the `kernel` façade, the runner, the simulator), and the `main` that the
//! façade's `module!` expands to, which hands the module to `kmem_runner::module_main`. A reader's file gets
//! exactly that, without an edit of the project: a scratch package under `target/xtask-run/<name>/`
//! whose `Cargo.toml` is generated from the book package's (its `[dependencies]` with absolute paths, its
//! edition and profiles) with one `[[example]]` whose path is the reader's file itself: rustc's messages
//! name that file, and the module's manifest, `NAME.toml`, is read beside it as a listing's is. The scratch
//! package is a workspace of its own; its intermediate artifacts go to the workspace's target directory
//! (as cargo's build directory), so what it shares with the book's builds (most crates.io dependencies)
//! and with the other scratch packages (the workspace's crates too) is compiled once.
//!
//! The machine options become the runner's variables (`KMEM_MACHINE`, `KMEM_RAM_MIB`, `KMEM_CPUS`,
//! `KMEM_CMDLINE`, `KMEM_SHOW`), checked first by the same parser the runner uses (`kmem_truth::machine`).

use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{bail, Context, Result};

use crate::Exit;

/// Options of `cargo xtask run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOptions {
    /// The module's source, `NAME.rs`: a Rust-for-Linux module (`module!`, `kernel::Module`, its exit in
    /// `Drop`) written against the `kernel` crate, as the listings are. A manifest `NAME.toml` beside it is
    /// read as a listing's.
    #[arg(value_name = "FILE")]
    pub module: PathBuf,
    /// The simulated machine: x86_64 (the book's QEMU guest: 256 MiB, 4 CPUs), i386 or i386-160m (the
    /// classic 32-bit machine, 160 MiB).
    #[arg(long, value_name = "MACHINE", value_parser = machine)]
    pub machine: Option<String>,
    /// RAM: MiB (512), or a size with M or G (512M, 1G).
    #[arg(long, value_name = "SIZE", value_parser = kmem_truth::machine::parse_ram_mib)]
    pub ram: Option<u64>,
    /// CPU count (1 to 64).
    #[arg(long, value_name = "N", value_parser = kmem_truth::machine::parse_cpus)]
    pub cpus: Option<u32>,
    #[command(flatten)]
    pub module_options: ModuleOptions,
}

/// What `cargo xtask run` and `cargo xtask qemu --module` share: the run's command line and shown files.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ModuleOptions {
    /// Kernel command-line words added to the book's (`-word` removes one of the book's), e.g.
    /// "slub_debug=FZPU".
    #[arg(long, value_name = "WORDS", requires = "module")]
    pub cmdline: Option<String>,
    /// Files to print, whole, while the module is loaded: /proc or /sys files, comma-separated (e.g.
    /// /proc/slabinfo,/proc/vmallocinfo).
    #[arg(long, value_name = "FILES", value_delimiter = ',', value_parser = show, requires = "module")]
    pub show: Vec<String>,
}

fn machine(value: &str) -> Result<String, kmem_truth::machine::BadValue> {
    kmem_truth::machine::parse_machine(value).map(|_| value.trim().to_string())
}

fn show(value: &str) -> Result<String, String> {
    kmem_truth::manifest::Show::whole(value.trim()).map(|s| s.file)
}

impl ModuleOptions {
    /// The runner's variables for these options.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(c) = &self.cmdline {
            env.push(("KMEM_CMDLINE", c.clone()));
        }
        if !self.show.is_empty() {
            env.push(("KMEM_SHOW", self.show.join(",")));
        }
        env
    }
}

impl RunOptions {
    /// The runner's variables for these options.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(m) = &self.machine {
            env.push(("KMEM_MACHINE", m.clone()));
        }
        if let Some(r) = self.ram {
            env.push(("KMEM_RAM_MIB", r.to_string()));
        }
        if let Some(c) = self.cpus {
            env.push(("KMEM_CPUS", c.to_string()));
        }
        env.extend(self.module_options.env());
        env
    }
}

/// A reader's module file.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file as the reader named it (what messages say).
    pub shown: String,
    /// Its absolute path (what is built).
    pub source: PathBuf,
    /// The module's name: the file's stem (`NAME.ko`, as Kbuild names it).
    pub name: String,
}

impl Module {
    /// Checks that `path` is a module's source: a readable `NAME.rs` with a Rust identifier for `NAME` and a
    /// `module!` invocation.
    pub fn new(path: &Path) -> Result<Module> {
        let shown = path.display().to_string();
        let (source, text) = match path.canonicalize().and_then(|p| std::fs::read_to_string(&p).map(|t| (p, t))) {
            Ok(found) => found,
            Err(e) => bail!("{shown}: {e}"),
        };
        if source.extension().is_none_or(|e| e != "rs") {
            bail!("{shown}: not a Rust file (a module's source is NAME.rs, built as NAME.ko)");
        }
        let name = source.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let identifier = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !identifier {
            bail!(
                "{shown}: `{name}` cannot be a module's name (NAME.rs is built as NAME.ko and the crate NAME): use \
                 letters, digits and `_`, not starting with a digit, e.g. {}.rs",
                suggest_name(&name)
            );
        }
        let Some(declared) = module_macro_name(&text) else {
            bail!("{}", no_module_message(&shown));
        };
        if declared != name {
            bail!(
                "{shown}: `module!` says `name: \"{declared}\"`, but Kbuild names a module after its file ({name}.ko): \
                 write `name: \"{name}\"`, or call the file {declared}.rs"
            );
        }
        Ok(Module { shown, source, name })
    }
}

fn suggest_name(name: &str) -> String {
    let s: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("m{s}")
    } else {
        s
    }
}

fn no_module_message(shown: &str) -> String {
    format!(
        "{shown} declares no module: a kernel module needs `module! {{ type: T, name: \"NAME\", license: \"GPL\", }}` \
         and `impl kernel::Module for T` (see listings/ch05-kmalloc/kmalloc_basic.rs)"
    )
}

/// The `name:` of the `module!` invocation in `text` (outside comments), if it has one.
fn module_macro_name(text: &str) -> Option<String> {
    let block = regex::Regex::new(r"(?s)/\*.*?\*/").expect("valid regex");
    let line = regex::Regex::new(r"(?m)//.*$").expect("valid regex");
    let code = block.replace_all(text, "");
    let code = line.replace_all(&code, "");
    let re = regex::Regex::new(r#"\bmodule!\s*[{(\[][^}]*?\bname\s*:\s*"([^"]*)""#).expect("valid regex");
    re.captures(&code).map(|c| c[1].to_string())
}

/// The scratch package's `Cargo.toml`: the book package's dependencies (`root_manifest`, with its `path`s made
/// absolute under `root`), edition and profiles, and one `[[example]]`, the reader's module.
pub fn scratch_manifest(root: &Path, root_manifest: &str, module: &Module) -> Result<String> {
    use toml::{Table, Value};
    let doc: Table = root_manifest.parse().context("parsing the workspace's Cargo.toml")?;
    let package = doc.get("package").and_then(Value::as_table).context("Cargo.toml has no [package]")?;
    let edition = match package.get("edition") {
        Some(Value::String(e)) => e.clone(),
        Some(Value::Table(t)) if t.get("workspace").and_then(Value::as_bool) == Some(true) => doc
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("edition"))
            .and_then(Value::as_str)
            .context("Cargo.toml: edition.workspace, but no [workspace.package] edition")?
            .to_string(),
        _ => "2015".to_string(),
    };
    let mut deps = doc.get("dependencies").and_then(Value::as_table).cloned().unwrap_or_default();
    for (_, spec) in deps.iter_mut() {
        if let Some(path) = spec.as_table_mut().and_then(|t| t.get_mut("path")) {
            let p = path.as_str().context("Cargo.toml: a dependency's path is not a string")?;
            *path = Value::String(root.join(p).display().to_string());
        }
    }
    let mut pkg = Table::new();
    pkg.insert("name".into(), format!("kmem-run-{}", module.name.replace('_', "-")).into());
    pkg.insert("version".into(), "0.0.0".into());
    pkg.insert("edition".into(), edition.into());
    pkg.insert("publish".into(), false.into());
    for auto in ["autolib", "autobins", "autoexamples", "autotests", "autobenches"] {
        pkg.insert(auto.into(), false.into());
    }
    let mut example = Table::new();
    example.insert("name".into(), module.name.clone().into());
    example.insert("path".into(), module.source.display().to_string().into());
    let mut out = Table::new();
    out.insert("package".into(), pkg.into());
    out.insert("example".into(), Value::Array(vec![example.into()]));
    out.insert("dependencies".into(), deps.into());
    if let Some(profile) = doc.get("profile") {
        out.insert("profile".into(), profile.clone());
    }
    // A workspace of its own: the book's workspace does not list it.
    out.insert("workspace".into(), Table::new().into());
    Ok(format!(
        "# Generated by `cargo xtask run` from the book package's Cargo.toml for {}: do not edit.\n\n{}",
        module.source.display(),
        toml::to_string(&out).context("writing the scratch Cargo.toml")?
    ))
}

/// The scratch package's directory for `module`: one per module name, so that its program (some 50 MB with
/// its debug information) is rebuilt in place when another file of that name runs, never piled up.
fn scratch_dir(module: &Module) -> PathBuf {
    crate::tools::target_dir().join("xtask-run").join(&module.name)
}

fn write_if_changed(path: &Path, text: &[u8]) -> Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// One compiler message about the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: String,
    pub code: Option<String>,
    pub rendered: String,
}

/// What cargo said about building the scratch package (`--message-format=json`).
#[derive(Debug, Default)]
pub struct BuildMessages {
    /// The compiler's messages about the module itself.
    pub diagnostics: Vec<Diagnostic>,
    /// The module's program.
    pub executable: Option<PathBuf>,
    pub success: bool,
}

/// Reads cargo's JSON messages; `progress` sees each crate as it is built.
pub fn parse_messages(out: impl BufRead, mut progress: impl FnMut(&str)) -> BuildMessages {
    let mut m = BuildMessages::default();
    for line in out.lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let example = v["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "example"));
        match v["reason"].as_str() {
            Some("compiler-message") if example => m.diagnostics.push(Diagnostic {
                level: v["message"]["level"].as_str().unwrap_or_default().to_string(),
                code: v["message"]["code"]["code"].as_str().map(str::to_string),
                rendered: v["message"]["rendered"].as_str().unwrap_or_default().to_string(),
            }),
            Some("compiler-artifact") => {
                progress(v["target"]["name"].as_str().unwrap_or_default());
                if example {
                    m.executable = v["executable"].as_str().map(PathBuf::from);
                }
            }
            Some("build-finished") => m.success = v["success"].as_bool().unwrap_or(false),
            _ => {}
        }
    }
    m
}

/// The compiler's messages as rustc prints them, naming the reader's file as the reader named it.
pub fn render(diagnostics: &[Diagnostic], module: &Module) -> String {
    let source = module.source.display().to_string();
    diagnostics.iter().map(|d| d.rendered.replace(&source, &module.shown)).collect()
}

/// Builds `module` against the façade as an example of its scratch package; returns its program.
pub fn build(module: &Module) -> Result<PathBuf> {
    let root = crate::root();
    let dir = scratch_dir(module);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("reading the workspace's Cargo.toml")?;
    write_if_changed(&dir.join("Cargo.toml"), scratch_manifest(&root, &manifest, module)?.as_bytes())?;
    // The book's versions of every dependency.
    write_if_changed(&dir.join("Cargo.lock"), &std::fs::read(root.join("Cargo.lock")).context("reading Cargo.lock")?)?;
    let color = std::io::stderr().is_terminal();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--quiet", "--example", &module.name, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg(if color { "--message-format=json-diagnostic-rendered-ansi" } else { "--message-format=json" })
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if std::env::var_os("CARGO_BUILD_BUILD_DIR").is_none() {
        cmd.env("CARGO_BUILD_BUILD_DIR", crate::tools::target_dir());
    }
    let mut child = cmd.spawn().context("running cargo")?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let pb = crate::qemu::spinner(&format!("building {} against the kernel façade", module.shown));
    let messages = parse_messages(BufReader::new(child.stdout.take().expect("piped")), |krate| {
        pb.set_message(format!("building {} against the kernel façade: {krate}", module.shown))
    });
    pb.finish_and_clear();
    let status = child.wait().context("waiting for cargo")?;
    let cargo_errors = errors.join().unwrap_or_default();
    let text = render(&messages.diagnostics, module);
    match (&messages.executable, status.success() && messages.success) {
        (Some(exe), true) => {
            eprint!("{text}");
            Ok(exe.clone())
        }
        _ if messages.diagnostics.iter().any(|d| d.code.as_deref() == Some("E0601")) => {
            bail!("{}", no_module_message(&module.shown))
        }
        _ if messages.diagnostics.iter().any(|d| d.level == "error") => {
            eprint!("{text}");
            bail!("{} does not compile against the kernel façade (crates/kernel)", module.shown)
        }
        _ => bail!("building {} failed: {}", module.shown, cargo_errors.trim()),
    }
}

/// Runs the module's program (`exe`, from [`build`]) with the runner's variables `env` and writes its outputs into
/// `outputs` (emptied first; `KMEM_OUTPUTS`); its session goes to `stdout`.
pub fn simulate(exe: &Path, env: &[(&str, String)], outputs: &Path, stdout: Stdio) -> Result<ExitStatus> {
    if outputs.exists() {
        std::fs::remove_dir_all(outputs).with_context(|| format!("emptying {}", outputs.display()))?;
    }
    std::fs::create_dir_all(outputs)?;
    Command::new(exe)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("KMEM_OUTPUTS", outputs)
        .stdin(Stdio::null())
        .stdout(stdout)
        .status()
        .with_context(|| format!("running {}", exe.display()))
}

/// What the simulated run's exit status means: the runner's own message (a bad variable, a machine that does
/// not boot) was printed; a signal is a crash of the simulator.
pub fn check_status(module: &Module, status: ExitStatus) -> Result<()> {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(Exit(code.clamp(1, 255) as u8).into()),
        (None, Some(sig)) => {
            bail!("the simulated run of {} died of signal {sig} (a bug of the simulator)", module.shown)
        }
        (None, None) => bail!("the simulated run of {} ended without a status", module.shown),
    }
}

/// `cargo xtask run`.
pub fn run(opts: &RunOptions) -> Result<()> {
    let module = Module::new(&opts.module)?;
    let exe = build(&module)?;
    let outputs = scratch_dir(&module).join("outputs");
    let status = simulate(&exe, &opts.env(), &outputs, Stdio::inherit())?;
    check_status(&module, status)?;
    // insmod failed: the session printed its message; its exit status is insmod's.
    if outputs.join("insmod.txt").exists() {
        return Err(Exit(1).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunOptions,
    }

    fn parse(args: &[&str]) -> Result<RunOptions, String> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
            .map(|c| c.run)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn options_become_the_runners_variables() {
        let o = parse(&[
            "m.rs",
            "--machine",
            "i386-160m",
            "--ram",
            "1G",
            "--cpus",
            "2",
            "--cmdline",
            "slub_debug=FZPU -slab_nomerge",
            "--show",
            "/proc/slabinfo,/proc/vmallocinfo",
            "--show",
            "/proc/buddyinfo",
        ])
        .unwrap();
        let env: Vec<(&str, String)> = o.env();
        let want = [
            ("KMEM_MACHINE", "i386-160m"),
            ("KMEM_RAM_MIB", "1024"),
            ("KMEM_CPUS", "2"),
            ("KMEM_CMDLINE", "slub_debug=FZPU -slab_nomerge"),
            ("KMEM_SHOW", "/proc/slabinfo,/proc/vmallocinfo,/proc/buddyinfo"),
        ];
        assert_eq!(env, want.map(|(k, v)| (k, v.to_string())));
        assert_eq!(parse(&["m.rs", "--ram", "512"]).unwrap().env(), [("KMEM_RAM_MIB", "512".to_string())]);
        assert_eq!(parse(&["m.rs", "--ram", "512M"]).unwrap().env(), [("KMEM_RAM_MIB", "512".to_string())]);
        assert!(parse(&["m.rs"]).unwrap().env().is_empty());
    }

    #[test]
    fn bad_values_are_named_with_the_accepted_ones() {
        for (args, bad, accepted) in [
            (["--machine", "bogus"], "'bogus'", "use x86_64 (the default), i386 or i386-160m"),
            (["--ram", "abc"], "'abc'", "512M, 1G"),
            (["--ram", "0"], "'0'", "from 32M to 64G"),
            (["--cpus", "0"], "'0'", "use 1 to 64"),
            (["--cpus", "many"], "'many'", "use 1 to 64"),
            (["--show", "/etc/passwd"], "'/etc/passwd'", "only /proc and /sys files"),
        ] {
            let e = parse(&["m.rs", args[0], args[1]]).unwrap_err();
            assert!(e.contains(&format!("invalid value {bad} for '{}", args[0])), "{e}");
            assert!(e.contains(accepted), "{e}");
            assert!(e.lines().count() <= 4, "{e}");
        }
    }

    fn module(dir: &Path, name: &str, text: &str) -> Result<Module> {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Module::new(&path)
    }

    const HELLO: &str = "use kernel::prelude::*;\nmodule! {\n    type: Hello,\n    name: \"hello\",\n    license: \"GPL\",\n}\nstruct Hello;\nimpl kernel::Module for Hello {\n    fn init(_: &'static ThisModule) -> Result<Self> {\n        pr_info!(\"hi\\n\");\n        Ok(Hello)\n    }\n}\n";

    #[test]
    fn a_module_file_is_checked_before_anything_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let m = module(dir.path(), "hello.rs", HELLO).unwrap();
        assert_eq!(m.name, "hello");
        assert!(m.source.is_absolute());
        let e = Module::new(&dir.path().join("missing.rs")).unwrap_err().to_string();
        assert!(e.ends_with("missing.rs: No such file or directory (os error 2)"), "{e}");
        let e = module(dir.path(), "plain.rs", "fn main() {}\n// module! { type: X }\n").unwrap_err().to_string();
        assert!(e.contains("plain.rs declares no module: a kernel module needs `module! {"), "{e}");
        let e = module(dir.path(), "my-mod.rs", HELLO).unwrap_err().to_string();
        assert!(e.contains("`my-mod` cannot be a module's name") && e.ends_with("e.g. my_mod.rs"), "{e}");
        let e = module(dir.path(), "hello.txt", HELLO).unwrap_err().to_string();
        assert!(e.contains("not a Rust file"), "{e}");
        let e = module(dir.path(), "other.rs", HELLO).unwrap_err().to_string();
        assert!(e.ends_with("`module!` says `name: \"hello\"`, but Kbuild names a module after its file (other.ko): write `name: \"other\"`, or call the file hello.rs"), "{e}");
        assert_eq!(module_macro_name("kernel::module! {\n type: A,\n name: \"a\",\n}").as_deref(), Some("a"));
        assert_eq!(module_macro_name("/* module! { name: \"a\" } */ fn f() {}"), None);
        assert_eq!(module_macro_name("module! { type: A }\nconst X: S = S { name: \"b\" };"), None);
    }

    #[test]
    fn the_scratch_package_is_the_book_packages_example() {
        let root = crate::root();
        let book = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let m = module(dir.path(), "hello.rs", HELLO).unwrap();
        let text = scratch_manifest(&root, &book, &m).unwrap();
        let got: toml::Table = text.parse().unwrap();
        let want: toml::Table = book.parse().unwrap();
        // The same dependencies as the listings' examples, by absolute path.
        let deps = got["dependencies"].as_table().unwrap();
        let book_deps = want["dependencies"].as_table().unwrap();
        assert_eq!(deps.keys().collect::<Vec<_>>(), book_deps.keys().collect::<Vec<_>>());
        for (name, spec) in book_deps {
            let path = spec["path"].as_str().unwrap();
            assert_eq!(deps[name]["path"].as_str().unwrap(), root.join(path).display().to_string());
        }
        // Its profiles, its edition, a workspace of its own.
        assert_eq!(got["profile"], want["profile"]);
        assert_eq!(got["package"]["edition"].as_str(), want["workspace"]["package"]["edition"].as_str());
        assert!(got["workspace"].as_table().unwrap().is_empty());
        // One example: the reader's file itself, under its own name.
        let examples = got["example"].as_array().unwrap();
        assert_eq!(examples.len(), 1);
        assert_eq!(examples[0]["name"].as_str(), Some("hello"));
        assert_eq!(examples[0]["path"].as_str(), Some(m.source.display().to_string().as_str()));
        assert_eq!(got["package"]["autoexamples"].as_bool(), Some(false));
    }

    #[test]
    fn compiler_messages_name_the_readers_file() {
        let dir = tempfile::tempdir().unwrap();
        let m = Module { shown: "my/hello.rs".into(), source: dir.path().join("hello.rs"), name: "hello".into() };
        let src = m.source.display().to_string();
        let err = serde_json::json!({
            "reason": "compiler-message",
            "target": {"kind": ["example"], "name": "hello"},
            "message": {"level": "error", "code": {"code": "E0425"}, "rendered": format!("error[E0425]: cannot find value `x` in this scope\n --> {src}:9:9\n")},
        });
        let dep = serde_json::json!({
            "reason": "compiler-message",
            "target": {"kind": ["lib"], "name": "kmem_sim"},
            "message": {"level": "warning", "code": null, "rendered": "warning: in a dependency\n"},
        });
        let artifact = serde_json::json!({"reason": "compiler-artifact", "target": {"kind": ["lib"], "name": "kernel"}, "executable": null});
        let done = serde_json::json!({"reason": "build-finished", "success": false});
        let input = format!("{err}\n{dep}\nnot json\n{artifact}\n{done}\n");
        let mut seen = Vec::new();
        let msgs = parse_messages(input.as_bytes(), |k| seen.push(k.to_string()));
        assert_eq!(seen, ["kernel"]);
        assert!(!msgs.success && msgs.executable.is_none());
        assert_eq!(msgs.diagnostics.len(), 1, "only the module's own messages");
        assert_eq!(
            render(&msgs.diagnostics, &m),
            "error[E0425]: cannot find value `x` in this scope\n --> my/hello.rs:9:9\n"
        );
    }

    #[test]
    fn exit_statuses() {
        use std::os::unix::process::ExitStatusExt;
        let m = Module { shown: "m.rs".into(), source: "/m.rs".into(), name: "m".into() };
        assert!(check_status(&m, ExitStatus::from_raw(0)).is_ok());
        let e = check_status(&m, ExitStatus::from_raw(2 << 8)).unwrap_err();
        assert_eq!(e.downcast_ref::<Exit>().map(|e| e.0), Some(2));
        let e = check_status(&m, ExitStatus::from_raw(11)).unwrap_err().to_string();
        assert!(e.contains("died of signal 11"), "{e}");
    }
}
