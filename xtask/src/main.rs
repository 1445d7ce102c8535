//! `cargo xtask <command>`: the book's build tasks.

mod qemu;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "kmem-book build tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every listing against a real Linux 6.12 kernel, load it in QEMU and compare its
    /// dmesg with the pinned simulator output.
    Qemu(qemu::QemuOptions),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Qemu(opts) => qemu::run(&opts),
    }
}
