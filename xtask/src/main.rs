//! `cargo xtask`: the project's chores, so that a newcomer needs two commands (`cargo xtask serve` and
//! `cargo test`). xtask talks to tools (mdbook, msgmerge, QEMU ...), never to the simulator.

mod po;
mod qemu;
mod serve;
mod site;
mod tools;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    },
    /// Extract the English messages into po/messages.pot and merge them into po/zh-CN.po (msgmerge).
    Po,
    /// Install the pinned book tools into target/tools (done automatically by serve/build).
    Tools,
    /// Build every listing against a real Linux 6.12 kernel, load it in QEMU and compare its
    /// dmesg with the pinned simulator output (see listings/kernel/README.md).
    Qemu(qemu::QemuOptions),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { lang, port, open } => serve::serve(&lang, port, open),
        Command::Build { dest } => {
            let tools = tools::ensure()?;
            site::build(&tools, &dest)
        }
        Command::Po => {
            let tools = tools::ensure()?;
            po::update(&tools)
        }
        Command::Tools => tools::ensure().map(|_| ()),
        Command::Qemu(opts) => qemu::run(&opts),
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
