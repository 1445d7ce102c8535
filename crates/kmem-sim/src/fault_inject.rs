//! Fault injection (lib/fault-inject.c, mm/fail_page_alloc.c): `should_fail_ex()` with interval, probability,
//! times, space and verbose, and the `fail_page_alloc` filters (`ignore-gfp-wait`, `ignore-gfp-highmem`,
//! `min-order`). Deterministic: the random draw is a seeded xorshift, so a seed replays the same failures.
//! [`FaultAttr`] is reusable (part 2's failslab uses it with its own filters).

#![forbid(unsafe_code)]

use crate::gfp::Gfp;
use crate::machine::Machine;
use crate::printk::LogLevel;

/// User settings of a fault attribute (the debugfs files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultConfig {
    /// `probability` in percent (0 disables).
    pub probability: u64,
    /// `interval`: fail only every Nth eligible call (1 = every call).
    pub interval: u64,
    /// `times`: how many failures at most (-1 = unlimited).
    pub times: i64,
    /// `space`: bytes/pages ("size" units) to let through before failing.
    pub space: i64,
    /// `verbose`: 0 silent, 1 the FAULT_INJECTION lines, 2 also a stack dump.
    pub verbose: u32,
    /// `task-filter` (only tasks with `make-it-fail`; the simulator treats every task as eligible if false).
    pub task_filter: bool,
    /// `ignore-gfp-wait` (fail_page_alloc: skip requests with `__GFP_DIRECT_RECLAIM`).
    pub ignore_gfp_wait: bool,
    /// `ignore-gfp-highmem`.
    pub ignore_gfp_highmem: bool,
    /// `min-order`.
    pub min_order: u32,
    /// Seed of the random draws.
    pub seed: u64,
}

impl Default for FaultConfig {
    /// The kernel defaults: interval 1, times 1, verbose 2, probability 0 (off); fail_page_alloc's
    /// ignore-gfp-wait and ignore-gfp-highmem on and min-order 1.
    fn default() -> Self {
        FaultConfig {
            probability: 0,
            interval: 1,
            times: 1,
            space: 0,
            verbose: 2,
            task_filter: false,
            ignore_gfp_wait: true,
            ignore_gfp_highmem: true,
            min_order: 1,
            seed: 0x5eed,
        }
    }
}

impl FaultConfig {
    /// `setup_fault_attr()`: a `failslab=` / `fail_page_alloc=` boot parameter,
    /// `<interval>,<probability>,<space>,<times>`. `None` when it does not parse (the kernel prints
    /// `FAULT_INJECTION: failed to parse arguments` and leaves the attribute off).
    ///
    /// Context: any.
    pub fn from_setup(s: &str) -> Option<FaultConfig> {
        let v: Vec<&str> = s.split(',').collect();
        let [interval, probability, space, times] = v.as_slice() else { return None };
        Some(FaultConfig {
            interval: interval.parse::<u64>().ok()?.max(1),
            probability: probability.parse::<u64>().ok()?.min(100),
            space: space.parse().ok()?,
            times: times.parse().ok()?,
            ..FaultConfig::default()
        })
    }

    /// Probability in percent.
    ///
    /// Context: any.
    pub fn probability(mut self, p: u64) -> Self {
        self.probability = p;
        self
    }
    /// Interval.
    ///
    /// Context: any.
    pub fn interval(mut self, n: u64) -> Self {
        self.interval = n;
        self
    }
    /// Times (-1 unlimited).
    ///
    /// Context: any.
    pub fn times(mut self, n: i64) -> Self {
        self.times = n;
        self
    }
    /// Space.
    ///
    /// Context: any.
    pub fn space(mut self, n: i64) -> Self {
        self.space = n;
        self
    }
    /// Verbose level.
    ///
    /// Context: any.
    pub fn verbose(mut self, v: u32) -> Self {
        self.verbose = v;
        self
    }
    /// ignore-gfp-wait.
    ///
    /// Context: any.
    pub fn ignore_gfp_wait(mut self, b: bool) -> Self {
        self.ignore_gfp_wait = b;
        self
    }
    /// ignore-gfp-highmem.
    ///
    /// Context: any.
    pub fn ignore_gfp_highmem(mut self, b: bool) -> Self {
        self.ignore_gfp_highmem = b;
        self
    }
    /// min-order.
    ///
    /// Context: any.
    pub fn min_order(mut self, o: u32) -> Self {
        self.min_order = o;
        self
    }
    /// Seed.
    ///
    /// Context: any.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
}

/// `struct fault_attr` with its running state.
#[derive(Clone, Debug)]
pub struct FaultAttr {
    /// `dname`.
    pub name: &'static str,
    /// Settings (times and space count down here).
    pub cfg: FaultConfig,
    /// `count` for the interval.
    pub count: u64,
    rng: u64,
}

/// What `should_fail_ex` decided and whether it wants its report printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultDecision {
    /// Go ahead.
    Pass,
    /// Fail; print the report at this verbosity (0 = nothing).
    Fail { verbose: u32 },
}

impl FaultAttr {
    /// A fault attribute named `name` (e.g. `fail_page_alloc`, `failslab`).
    ///
    /// Context: any.
    pub fn new(name: &'static str, cfg: FaultConfig) -> Self {
        let rng = cfg.seed | 1;
        FaultAttr { name, cfg, count: 0, rng }
    }

    fn random_below_100(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % 100
    }

    /// `should_fail_ex(attr, size, flags)`; `nowarn` is `FAULT_NOWARN`.
    ///
    /// Context: any.
    pub fn should_fail_ex(&mut self, size: i64, nowarn: bool) -> FaultDecision {
        if self.cfg.probability == 0 {
            return FaultDecision::Pass;
        }
        if self.cfg.times == 0 {
            return FaultDecision::Pass;
        }
        if self.cfg.space > size {
            self.cfg.space -= size;
            return FaultDecision::Pass;
        }
        if self.cfg.interval > 1 {
            self.count += 1;
            if self.count % self.cfg.interval != 0 {
                return FaultDecision::Pass;
            }
        }
        if self.cfg.probability <= self.random_below_100() {
            return FaultDecision::Pass;
        }
        let verbose = if nowarn { 0 } else { self.cfg.verbose };
        let d = FaultDecision::Fail { verbose };
        if self.cfg.times != -1 && self.cfg.times > 0 {
            self.cfg.times -= 1;
        }
        d
    }

    /// The report line `fail_dump()` prints (with the counters as they are after the decrement, as the
    /// kernel reads them after... before; see `Machine::fail_dump`).
    ///
    /// Context: any.
    pub fn report_line(&self) -> String {
        format!(
            "name {}, interval {}, probability {}, space {}, times {}",
            self.name, self.cfg.interval, self.cfg.probability, self.cfg.space, self.cfg.times
        )
    }
}

/// `fail_page_alloc`.
#[derive(Clone, Debug)]
pub struct FailPageAlloc {
    /// Its attribute; `None` when not configured.
    pub attr: Option<FaultAttr>,
}

impl FailPageAlloc {
    /// From the machine config.
    ///
    /// Context: any.
    pub fn new(cfg: Option<FaultConfig>) -> Self {
        FailPageAlloc { attr: cfg.map(|c| FaultAttr::new("fail_page_alloc", c)) }
    }
}

impl Machine {
    /// `fail_dump()`: `FAULT_INJECTION: forcing a failure.` with the attribute's settings (values as they are
    /// before `times` is decremented, as in the kernel), and a stack dump with verbose > 1.
    ///
    /// Context: any.
    pub fn fail_dump(&mut self, line: &str, verbose: u32) {
        if verbose == 0 {
            return;
        }
        self.printk(LogLevel::Notice, &format!("FAULT_INJECTION: forcing a failure.\n{line}\n"));
        if verbose > 1 {
            self.dump_stack_with(&["should_fail_ex"]);
        }
    }

    /// Configures (or, with `None`, disables) `fail_page_alloc` at run time.
    ///
    /// Context: any.
    pub fn set_fail_page_alloc(&mut self, cfg: Option<FaultConfig>) {
        self.fail_page_alloc = FailPageAlloc::new(cfg);
    }

    /// `should_fail_alloc_page()`.
    ///
    /// Context: any.
    pub fn should_fail_alloc_page(&mut self, gfp: Gfp, order: u32) -> bool {
        let Some(attr) = self.fail_page_alloc.attr.as_mut() else {
            return false;
        };
        if order < attr.cfg.min_order {
            return false;
        }
        if gfp.intersects(Gfp::__GFP_NOFAIL) {
            return false;
        }
        if attr.cfg.ignore_gfp_highmem && gfp.intersects(Gfp::__GFP_HIGHMEM) {
            return false;
        }
        if attr.cfg.ignore_gfp_wait && gfp.intersects(Gfp::__GFP_DIRECT_RECLAIM) {
            return false;
        }
        let before = attr.report_line();
        match attr.should_fail_ex(1 << order, gfp.intersects(Gfp::__GFP_NOWARN)) {
            FaultDecision::Pass => false,
            FaultDecision::Fail { verbose } => {
                self.push_kframe("should_fail_alloc_page");
                self.fail_dump(&before, verbose);
                self.pop_frame();
                true
            }
        }
    }
}

impl Machine {
    /// A write to a fault-injection debugfs file (`fault_create_debugfs_attr()` and mm/failslab.c,
    /// mm/fail_page_alloc.c): `/sys/kernel/debug/{failslab,fail_page_alloc}/{probability,interval,times,space,
    /// verbose,task-filter,ignore-gfp-wait,ignore-gfp-highmem,min-order,cache-filter}`, as
    /// `echo value > path` does it.
    ///
    /// Context: process context (a shell). Returns `-ENOENT` for a file the kernel does not have, `-EINVAL`
    /// for a value it does not parse.
    pub fn debugfs_write(&mut self, path: &str, value: &str) -> Result<(), i32> {
        const ENOENT: i32 = -2;
        const EINVAL: i32 = -22;
        let rest = path.strip_prefix("/sys/kernel/debug/").ok_or(ENOENT)?;
        let (dir, file) = rest.split_once('/').ok_or(ENOENT)?;
        let v = value.trim();
        let num = || v.parse::<i64>().map_err(|_| EINVAL);
        // debugfs_create_bool(): Y/y/1 and N/n/0.
        let boolean = || match v.chars().next() {
            Some('Y' | 'y' | '1') => Ok(true),
            Some('N' | 'n' | '0') => Ok(false),
            _ => Err(EINVAL),
        };
        let mut cfg = match dir {
            "failslab" => self.slab.failslab.as_ref().map(|a| a.cfg.clone()).unwrap_or_default(),
            "fail_page_alloc" => self.fail_page_alloc.attr.as_ref().map(|a| a.cfg.clone()).unwrap_or_default(),
            _ => return Err(ENOENT),
        };
        match file {
            "probability" => cfg.probability = num()?.clamp(0, 100) as u64,
            "interval" => cfg.interval = num()?.max(1) as u64,
            "times" => cfg.times = num()?,
            "space" => cfg.space = num()?,
            "verbose" => cfg.verbose = num()?.max(0) as u32,
            "task-filter" => cfg.task_filter = boolean()?,
            "ignore-gfp-wait" if dir == "failslab" => {
                self.slab.cfg.failslab_ignore_gfp_wait = boolean()?;
                return Ok(());
            }
            "cache-filter" if dir == "failslab" => {
                self.slab.cfg.failslab_cache_filter = boolean()?;
                return Ok(());
            }
            "ignore-gfp-wait" => cfg.ignore_gfp_wait = boolean()?,
            "ignore-gfp-highmem" if dir == "fail_page_alloc" => cfg.ignore_gfp_highmem = boolean()?,
            "min-order" if dir == "fail_page_alloc" => cfg.min_order = num()?.max(0) as u32,
            _ => return Err(ENOENT),
        }
        if dir == "failslab" {
            match self.slab.failslab.as_mut() {
                Some(a) => a.cfg = cfg,
                None => self.slab.failslab = Some(FaultAttr::new("failslab", cfg)),
            }
        } else {
            match self.fail_page_alloc.attr.as_mut() {
                Some(a) => a.cfg = cfg,
                None => self.fail_page_alloc = FailPageAlloc::new(Some(cfg)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_and_times() {
        let mut a = FaultAttr::new("x", FaultConfig::default().probability(100).interval(3).times(2));
        let v: Vec<bool> = (0..9).map(|_| matches!(a.should_fail_ex(1, false), FaultDecision::Fail { .. })).collect();
        assert_eq!(v, [false, false, true, false, false, true, false, false, false]);
    }

    #[test]
    fn space_and_probability_deterministic() {
        let mut a = FaultAttr::new("x", FaultConfig::default().probability(50).times(-1).space(3).seed(9));
        let mut b = a.clone();
        let va: Vec<_> = (0..50).map(|_| a.should_fail_ex(1, false)).collect();
        let vb: Vec<_> = (0..50).map(|_| b.should_fail_ex(1, false)).collect();
        assert_eq!(va, vb);
        assert_eq!(va[..3], [FaultDecision::Pass; 3]);
        let fails = va.iter().filter(|d| matches!(d, FaultDecision::Fail { .. })).count();
        assert!(fails > 10 && fails < 40, "{fails}");
    }
}
