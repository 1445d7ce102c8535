//! `cargo xtask`: the project's chores, so that a newcomer needs two commands (`cargo xtask serve` and
//! `cargo test`). xtask talks to tools (mdbook, msgmerge, QEMU ...), never to the simulator.

mod browser;
mod fuzz;
mod po;
mod qemu;
mod run;
mod serve;
mod site;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kmem-book chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the bilingual site into book/ and serve it on 127.0.0.1 with live reload
    /// (rebuilds on edits of src/, po/, listings/, examples/, theme/ and the pinned outputs).
    Serve {
        /// Open this language's front page: en or zh-CN.
        #[arg(long, default_value = "en")]
        lang: String,
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Open the site in a browser.
        #[arg(long)]
        open: bool,
    },
    /// Build the complete bilingual site into book/ (English at the root, Chinese under zh-CN/).
    Build {
        /// Output directory.
        #[arg(long, default_value = "book")]
        dest: PathBuf,
        /// Also print each language's print page to a PDF with Chromium (kmem-book.pdf, zh-CN/kmem-book.pdf).
        #[arg(long)]
        pdf: bool,
    },
    /// Build the site with its PDFs and run the browser suite over it (tests/browser/site.test.mjs:
    /// Debian's Chromium through playwright-core; installs Chromium, a CJK font and poppler-utils with
    /// apt-get and playwright-core with npm ci when missing).
    BrowserTest {
        /// Test this already built site instead (nothing is built): the Pages workflow tests the `book/`
        /// it publishes; a broken copy proves the suite fails.
        #[arg(long)]
        site: Option<PathBuf>,
    },
    /// Extract the English messages into po/messages.pot and merge them into po/zh-CN.po (msgmerge).
    Po,
    /// Install the pinned book tools into target/tools (done automatically by serve/build).
    Tools {
        /// Then print the directory that holds them, for PATH (`mdbook serve` needs the preprocessors).
        #[arg(long)]
        print_path: bool,
    },
    /// Build your own module file against the kernel façade and load and unload it on the simulator,
    /// printing the session as `cargo run --example` prints a listing's.
    Run(run::RunOptions),
    /// Build every listing (or, with --module, your own file) against a real Linux 6.12 kernel, load it in
    /// QEMU and compare its outputs with the simulator's (see listings/kernel/README.md).
    Qemu(qemu::QemuOptions),
    /// Run a libFuzzer target of the simulator (crates/kmem-sim/fuzz/) with cargo-fuzz, installed on first
    /// use into target/tools; fails on a finding.
    Fuzz {
        /// `module_faults` (module code's accesses and faults) or `api` (the simulator's whole API).
        #[arg(long, default_value = "module_faults")]
        target: String,
        /// How long to run.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Parallel fuzzing processes.
        #[arg(long, default_value_t = 1)]
        jobs: u32,
    },
}

/// An expected failure (no network, a busy port, a missing package …) is one line saying what to do and a
/// non-zero exit, never a backtrace; a bug (a panic) is one line too.
fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: cargo xtask failed{at}: {}", message.replace('\n', " "));
    }));
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<Exit>() {
            Some(Exit(code)) => ExitCode::from(*code),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A failure already told on the terminal (a failed `insmod`, the runner's own message): exit with this
/// status, print nothing more.
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { lang, port, open } => serve::serve(&lang, port, open),
        Command::Build { dest, pdf } => {
            let dest = absolute(dest);
            site::build(&dest)?;
            if pdf {
                browser::pdf(&dest)?;
            }
            Ok(())
        }
        Command::BrowserTest { site: Some(site) } => browser::test(&absolute(site)),
        Command::BrowserTest { site: None } => {
            // Not book/: a running `cargo xtask serve` rebuilds and serves that one.
            let dest = tools::target_dir().join("browser").join("site");
            site::build(&dest)?;
            browser::pdf(&dest)?;
            browser::test(&dest)?;
            // README's `mdbook serve` needs the CLI.
            let tools = tools::ensure()?;
            browser::mdbook_serve(&tools)
        }
        Command::Po => {
            let tools = tools::ensure()?;
            po::update(&tools)
        }
        Command::Tools { print_path } => {
            let tools = tools::ensure()?;
            if print_path {
                println!("{}", tools.bin.display());
            }
            Ok(())
        }
        Command::Run(opts) => run::run(&opts),
        Command::Qemu(opts) => qemu::run(&opts),
        Command::Fuzz { target, seconds, jobs } => fuzz::run(&target, seconds, jobs),
    }
}

/// `path`, relative to the repository root unless absolute.
fn absolute(path: PathBuf) -> PathBuf {
    root().join(path)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied())).map_err(|e| e.to_string())
    }

    fn refused(args: &[&str]) -> String {
        parse(args).err().unwrap_or_else(|| panic!("{args:?} was accepted"))
    }

    #[test]
    fn own_module_options() {
        let Command::Qemu(q) =
            parse(&["qemu", "--module", "m.rs", "--cmdline", "slub_debug=FZPU", "--show", "/proc/slabinfo"])
                .unwrap()
                .command
        else {
            panic!("not qemu")
        };
        assert_eq!(q.module.as_deref(), Some(std::path::Path::new("m.rs")));
        assert_eq!(
            q.module_options.env(),
            [("KMEM_CMDLINE", "slub_debug=FZPU".to_string()), ("KMEM_SHOW", "/proc/slabinfo".to_string())]
        );
        // Without --module they mean nothing; --module is not a listing and records nothing.
        assert!(refused(&["qemu", "--cmdline", "x"]).contains("--module <FILE>"));
        assert!(refused(&["qemu", "--show", "/proc/slabinfo"]).contains("--module <FILE>"));
        assert!(refused(&["qemu", "--module", "m.rs", "--listing", "kmalloc_basic"]).contains("cannot be used with"));
        assert!(refused(&["qemu", "--module", "m.rs", "--record"]).contains("cannot be used with"));
        assert!(refused(&["qemu", "--module", "m.rs", "--show", "/etc/passwd"]).contains("only /proc and /sys"));
        assert!(matches!(parse(&["run", "m.rs"]).unwrap().command, Command::Run(_)));
        assert!(refused(&["run"]).contains("<FILE>"));
    }
}
