//! The simulated machines a module can be run on, and the one parser of how they are named: the runner's
//! `KMEM_MACHINE`, `KMEM_RAM_MIB` and `KMEM_CPUS` (`cargo run --example`) and `cargo xtask run`'s
//! `--machine`, `--ram` and `--cpus` (which hands its values to the runner in those variables).
//!
//! The limits are the simulator's (`kmem_sim::MachineConfig::RAM_MIB` and `CPUS`; the runner's tests check
//! that they agree), so a bad value is refused before anything is built or booted.

use std::fmt;
use std::ops::RangeInclusive;

/// A machine profile of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The book's QEMU guest (x86_64, 256 MiB, 4 CPUs, the book's command line).
    X86_64,
    /// The classic 32-bit x86 machine with 160 MiB of RAM.
    I386,
}

/// The accepted `KMEM_MACHINE` / `--machine` values.
pub const MACHINES: &str = "x86_64 (the default), i386 or i386-160m";

/// The RAM sizes the simulator boots, MiB.
pub const RAM_MIB: RangeInclusive<u64> = 32..=64 * 1024;

/// The largest RAM of the 32-bit profile (no PAE: RAM above 4G is unusable), MiB.
pub const I386_MAX_RAM_MIB: u64 = 3 * 1024;

/// The CPU counts the simulator boots.
pub const CPUS: RangeInclusive<u32> = 1..=64;

/// A value that names no machine, RAM size or CPU count: what it was, and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    /// The value as given.
    pub value: String,
    /// What it is not, and what to use instead: `not a machine: use …`.
    pub reason: String,
}

impl BadValue {
    /// The message for an environment variable: `KMEM_CPUS="0" is not a CPU count …`.
    ///
    /// Context: any.
    pub fn for_variable(&self, name: &str) -> String {
        format!("{name}={:?} is {}", self.value, self.reason)
    }
}

/// The reason alone (command-line parsers print the option and the value around it).
impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for BadValue {}

fn bad(value: &str, reason: String) -> BadValue {
    BadValue { value: value.to_string(), reason }
}

/// `x86_64`, `i386` or `i386-160m`.
///
/// Context: any.
pub fn parse_machine(value: &str) -> Result<Profile, BadValue> {
    match value.trim() {
        "x86_64" => Ok(Profile::X86_64),
        "i386" | "i386-160m" => Ok(Profile::I386),
        _ => Err(bad(value, format!("not a machine: use {MACHINES}"))),
    }
}

fn ram_accepted() -> String {
    format!(
        "use MiB (256) or a size with M or G (512M, 1G), from {}M to {}G ({}G at most on i386)",
        RAM_MIB.start(),
        RAM_MIB.end() / 1024,
        I386_MAX_RAM_MIB / 1024
    )
}

/// A RAM size as QEMU's `-m` takes it: MiB (`512`), or with a suffix `M` or `G` (`512M`, `1G`; `MiB`, `GiB`
/// and lower case too). Returns MiB.
///
/// Context: any.
pub fn parse_ram_mib(value: &str) -> Result<u64, BadValue> {
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "m" | "mib" | "mb" => Some(1),
        "g" | "gib" | "gb" => Some(1024),
        _ => None,
    };
    let mib = match (digits.parse::<u64>(), scale) {
        (Ok(n), Some(scale)) => n.checked_mul(scale),
        _ => return Err(bad(value, format!("not a RAM size: {}", ram_accepted()))),
    };
    match mib {
        Some(mib) if RAM_MIB.contains(&mib) => Ok(mib),
        _ => Err(bad(value, format!("not a RAM size the simulator boots: {}", ram_accepted()))),
    }
}

/// A CPU count, 1 to 64.
///
/// Context: any.
pub fn parse_cpus(value: &str) -> Result<u32, BadValue> {
    let accepted = format!("use {} to {}", CPUS.start(), CPUS.end());
    match value.trim().parse::<u32>() {
        Ok(n) if CPUS.contains(&n) => Ok(n),
        Ok(_) => Err(bad(value, format!("not a CPU count the simulator boots: {accepted}"))),
        Err(_) => Err(bad(value, format!("not a CPU count: {accepted}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines() {
        assert_eq!(parse_machine("x86_64"), Ok(Profile::X86_64));
        assert_eq!(parse_machine("i386"), Ok(Profile::I386));
        assert_eq!(parse_machine("i386-160m"), Ok(Profile::I386));
        let e = parse_machine("bogus").unwrap_err();
        assert_eq!(
            e.for_variable("KMEM_MACHINE"),
            "KMEM_MACHINE=\"bogus\" is not a machine: use x86_64 (the default), i386 or i386-160m"
        );
    }

    #[test]
    fn ram_sizes() {
        for (v, mib) in [("512", 512), ("512M", 512), ("512m", 512), ("512MiB", 512), ("1G", 1024), ("2g", 2048)] {
            assert_eq!(parse_ram_mib(v), Ok(mib), "{v}");
        }
        for v in ["abc", "", "1T", "-5", "1.5G", "G", "99999999999999999999G"] {
            let e = parse_ram_mib(v).unwrap_err();
            assert_eq!(e.value, v);
            assert!(e.reason.starts_with("not a RAM size"), "{v}: {e}");
            assert!(e.reason.contains("512M, 1G") && e.reason.contains("from 32M to 64G"), "{v}: {e}");
        }
        for v in ["0", "31", "65G", "65537"] {
            let e = parse_ram_mib(v).unwrap_err();
            assert!(e.reason.starts_with("not a RAM size the simulator boots"), "{v}: {e}");
        }
        assert_eq!(parse_ram_mib("32"), Ok(32));
        assert_eq!(parse_ram_mib("64G"), Ok(65536));
        assert_eq!(
            parse_ram_mib("0").unwrap_err().for_variable("KMEM_RAM_MIB"),
            "KMEM_RAM_MIB=\"0\" is not a RAM size the simulator boots: use MiB (256) or a size with M or G \
             (512M, 1G), from 32M to 64G (3G at most on i386)"
        );
    }

    #[test]
    fn cpu_counts() {
        assert_eq!(parse_cpus("1"), Ok(1));
        assert_eq!(parse_cpus("64"), Ok(64));
        assert_eq!(
            parse_cpus("0").unwrap_err().for_variable("KMEM_CPUS"),
            "KMEM_CPUS=\"0\" is not a CPU count the simulator boots: use 1 to 64"
        );
        assert_eq!(parse_cpus("65").unwrap_err().reason, "not a CPU count the simulator boots: use 1 to 64");
        assert_eq!(parse_cpus("four").unwrap_err().reason, "not a CPU count: use 1 to 64");
    }
}
