//! The kernel log (kernel/printk/printk.c): a ring of records with a level, a sequence number and a timestamp
//! from the simulated clock, printed like `dmesg` does by default: `[%5lu.%06lu] text`.
//!
//! # The simulated clock
//! Time is a nanosecond counter owned by the machine. It only moves when the simulator says so, by fixed
//! amounts, so every run prints the same timestamps:
//! - boot leaves the clock at [`BOOT_END_NS`] (1.3 s, about what a small QEMU guest shows when init starts);
//! - every record logged advances it by [`PRINTK_STEP_NS`] (so consecutive lines get distinct stamps);
//! - every page allocator call advances it by [`crate::machine::ALLOC_STEP_NS`];
//! - the runner may add time with `Machine::advance_time_ns` / `msleep` (e.g. between insmod and rmmod).
//!
//! `jiffies` derive from it with `HZ` = 250 (Debian's x86 config).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;

use crate::machine::Machine;

/// Where boot leaves the clock.
pub const BOOT_END_NS: u64 = 1_300_000_000;
/// Clock advance per record.
pub const PRINTK_STEP_NS: u64 = 3_217;
/// `HZ`.
pub const HZ: u64 = 250;
/// Records kept before the oldest are dropped (the kernel's ring is 128 KiB of text; this counts records).
pub const LOG_CAPACITY: usize = 1 << 17;

/// Log levels (`KERN_EMERG` .. `KERN_DEBUG`), plus `KERN_CONT` and `KERN_DEFAULT`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum LogLevel {
    Emerg = 0,
    Alert = 1,
    Crit = 2,
    Err = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
    /// `KERN_CONT`: continue the previous unterminated record.
    Cont = 8,
    /// `KERN_DEFAULT`: the default message loglevel (4).
    Default = 9,
}

impl LogLevel {
    /// The numeric level stored in the record.
    ///
    /// Context: any.
    pub fn value(self) -> u8 {
        match self {
            LogLevel::Cont | LogLevel::Default => 4,
            l => l as u8,
        }
    }
}

/// One log record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number (`log_next_seq` when stored).
    pub seq: u64,
    /// Timestamp in ns.
    pub ts_nsec: u64,
    /// Level 0..7.
    pub level: u8,
    /// The text without the final newline (one line).
    pub text: String,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.ts_nsec / 1_000_000_000;
        let usecs = (self.ts_nsec % 1_000_000_000) / 1000;
        write!(f, "[{secs:5}.{usecs:06}] {}", self.text)
    }
}

/// The log buffer state.
#[derive(Debug, Clone)]
pub struct Printk {
    records: VecDeque<Record>,
    next_seq: u64,
    /// Whether the last record is still open for `KERN_CONT`.
    open: bool,
    /// Messages with a level below this go to the (simulated) console too.
    pub console_loglevel: u8,
    /// Echo every finished line to the host's stderr (handy when debugging a listing).
    pub echo: bool,
}

impl Default for Printk {
    fn default() -> Self {
        Printk { records: VecDeque::new(), next_seq: 0, open: false, console_loglevel: 7, echo: false }
    }
}

impl Printk {
    fn push(&mut self, level: u8, text: &str, ts: u64) {
        if self.records.len() >= LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(Record { seq: self.next_seq, ts_nsec: ts, level, text: text.to_string() });
        self.next_seq += 1;
    }

    /// Stores `text` at `level` with timestamp `ts`; returns how many new records were made.
    ///
    /// Context: any.
    pub fn log(&mut self, level: LogLevel, text: &str, ts: u64) -> u64 {
        let mut made = 0;
        let mut rest = text;
        if level == LogLevel::Cont && self.open {
            let (first, tail) = match rest.find('\n') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if let Some(r) = self.records.back_mut() {
                r.text.push_str(first);
            }
            match tail {
                None => return 0,
                Some(t) => {
                    self.open = false;
                    rest = t;
                    if rest.is_empty() {
                        return 0;
                    }
                }
            }
        } else {
            self.open = false;
        }
        let lvl = level.value();
        let mut lines = rest.split('\n').peekable();
        while let Some(line) = lines.next() {
            let last = lines.peek().is_none();
            if last && line.is_empty() {
                break; // the text ended with '\n'
            }
            if self.echo {
                eprintln!("{line}");
            }
            self.push(lvl, line, ts);
            made += 1;
            if last {
                self.open = true; // no final newline: KERN_CONT may continue it
            }
        }
        made
    }

    /// The sequence number the next record will get.
    ///
    /// Context: any.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// All records with `seq >= from`.
    ///
    /// Context: any.
    pub fn records_since(&self, from: u64) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.seq >= from)
    }
}

impl Machine {
    /// `printk()`: logs `text` at `level`. A text without a final newline stays open and a following
    /// `LogLevel::Cont` call (`pr_cont`) appends to it; any other level closes it. Embedded newlines start new
    /// records.
    ///
    /// Context: any.
    pub fn printk(&mut self, level: LogLevel, text: &str) {
        let ts = self.clock_ns;
        let n = self.printk.log(level, text, ts);
        self.clock_ns += n * PRINTK_STEP_NS;
    }

    /// `pr_cont()`.
    ///
    /// Context: any.
    pub fn pr_cont(&mut self, text: &str) {
        self.printk(LogLevel::Cont, text);
    }

    /// The whole log as `dmesg` prints it (one `[%5lu.%06lu] ` prefixed line per record, each ending in `\n`).
    ///
    /// Context: any.
    pub fn dmesg(&self) -> String {
        self.dmesg_since(0)
    }

    /// The sequence number the next record will get: take it before an operation and pass it to
    /// [`Machine::dmesg_since`] afterwards to get only that operation's lines.
    ///
    /// Context: any.
    pub fn log_seq(&self) -> u64 {
        self.printk.next_seq()
    }

    /// The records numbered `seq` and later, formatted like [`Machine::dmesg`].
    ///
    /// Context: any.
    pub fn dmesg_since(&self, seq: u64) -> String {
        let mut s = String::new();
        for r in self.printk.records_since(seq) {
            s.push_str(&r.to_string());
            s.push('\n');
        }
        s
    }

    /// The records numbered `seq` and later, without timestamps (handy for tests).
    ///
    /// Context: any.
    pub fn log_text_since(&self, seq: u64) -> String {
        let mut s = String::new();
        for r in self.printk.records_since(seq) {
            s.push_str(&r.text);
            s.push('\n');
        }
        s
    }

    /// The raw records numbered `seq` and later.
    ///
    /// Context: any.
    pub fn log_records_since(&self, seq: u64) -> Vec<Record> {
        self.printk.records_since(seq).cloned().collect()
    }

    /// Echo log lines to the host's stderr as they are made.
    ///
    /// Context: any.
    pub fn set_log_echo(&mut self, on: bool) {
        self.printk.echo = on;
    }

    /// Simulated time since boot in ns.
    ///
    /// Context: any.
    pub fn clock_ns(&self) -> u64 {
        self.clock_ns
    }

    /// `jiffies` (HZ = 250, starting at 0 at boot; the kernel's INITIAL_JIFFIES offset is left out).
    ///
    /// Context: any.
    pub fn jiffies(&self) -> u64 {
        self.clock_ns / (1_000_000_000 / HZ)
    }

    /// Moves the simulated clock forward.
    ///
    /// Context: any.
    pub fn advance_time_ns(&mut self, ns: u64) {
        self.clock_ns += ns;
    }

    /// `msleep()`: advances the clock (a sleeping function: calls `might_sleep`); the workers that are due run.
    ///
    /// Context: process context, may sleep.
    pub fn msleep(&mut self, ms: u64) {
        self.might_sleep("kernel/time/sleep_timeout.c", 363);
        self.clock_ns += ms * 1_000_000;
        // While the task sleeps, the kernel's workers run: the deferred vfree()s that vfree_atomic() scheduled
        // (delayed_vfree_work(), mm/vmalloc.c) and the RCU machinery's (crate::rcu).
        self.flush_vfree_deferred();
        self.rcu_run_workers();
    }
}

/// One row of `print_hex_dump()` (lib/hexdump.c, `hex_dump_to_buffer()` with 16 bytes a row, groups of 1
/// and the ASCII column): the hex bytes padded to the ASCII column, then the bytes as text.
pub(crate) fn hex_dump_row(row: &[u8]) -> String {
    let mut line = String::with_capacity(80);
    for (j, b) in row.iter().enumerate() {
        if j > 0 {
            line.push(' ');
        }
        line.push_str(&format!("{b:02x}"));
    }
    while line.len() < 49 {
        line.push(' ');
    }
    for &b in row {
        line.push(if (0x20..0x7f).contains(&b) { b as char } else { '.' });
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cont_and_lines() {
        let mut p = Printk::default();
        p.log(LogLevel::Info, "a", 1_000);
        p.log(LogLevel::Cont, "b\n", 2_000);
        p.log(LogLevel::Info, "c\nd\n", 3_000_001_000);
        let v: Vec<String> = p.records_since(0).map(|r| r.to_string()).collect();
        assert_eq!(v, vec!["[    0.000001] ab", "[    3.000001] c", "[    3.000001] d"]);
    }
}
