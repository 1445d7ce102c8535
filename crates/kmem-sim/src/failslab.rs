//! failslab (mm/failslab.c): fault injection for slab allocations with the `ignore-gfp-wait` and
//! `cache-filter` knobs, on top of part 1's reusable [`crate::fault_inject::FaultAttr`]. Boot with
//! `SlabConfig::failslab` set, or configure at run time with [`Machine::set_failslab`].

#![forbid(unsafe_code)]

use crate::fault_inject::{FaultAttr, FaultConfig, FaultDecision};
use crate::gfp::Gfp;
use crate::machine::{Machine, MachineConfig};
use crate::slab_common::{CacheId, SlabConfig, SLAB_FAILSLAB};

impl MachineConfig {
    /// Slab boot options (builder).
    ///
    /// Context: any.
    pub fn slab_config(mut self, c: SlabConfig) -> Self {
        self.slab = c;
        self
    }

    /// `slab_debug=<opts>` on the command line (builder); `""` is a bare `slab_debug`.
    ///
    /// Context: any.
    pub fn slab_debug(mut self, opts: &str) -> Self {
        self.slab.slab_debug = Some(opts.to_string());
        self
    }
}

impl Machine {
    /// Configures failslab at run time (the debugfs files): the attribute (None disables it),
    /// `ignore-gfp-wait` and `cache-filter`.
    ///
    /// Context: any.
    pub fn set_failslab(&mut self, cfg: Option<FaultConfig>, ignore_gfp_wait: bool, cache_filter: bool) {
        self.slab.failslab = cfg.map(|c| FaultAttr::new("failslab", c));
        self.slab.cfg.failslab_ignore_gfp_wait = ignore_gfp_wait;
        self.slab.cfg.failslab_cache_filter = cache_filter;
    }

    /// Writing `/sys/kernel/slab/<cache>/failslab`: marks the cache for `cache-filter` (`-EINVAL` for a cache
    /// with aliases, as the kernel refuses when `refcount > 1`).
    ///
    /// Context: any.
    pub fn set_cache_failslab(&mut self, s: CacheId, on: bool) -> Result<(), i32> {
        let Some(Some(c)) = self.slab.caches.get_mut(s.0 as usize) else {
            return Err(-22);
        };
        if c.refcount > 1 {
            return Err(-22);
        }
        if on {
            c.flags |= SLAB_FAILSLAB;
        } else {
            c.flags &= !SLAB_FAILSLAB;
        }
        Ok(())
    }

    /// `should_failslab(s, gfp)`: never for the `kmem_cache` cache or `__GFP_NOFAIL`; skipped for requests
    /// that may reclaim while `ignore-gfp-wait` is set (the default); only for marked caches with
    /// `cache-filter`; `__GFP_NOWARN` silences the report.
    pub(crate) fn should_failslab(&mut self, s: CacheId, gfp: Gfp, entry: &'static str) -> bool {
        if Some(s) == self.slab.kmem_cache || gfp.intersects(Gfp::__GFP_NOFAIL) {
            return false;
        }
        if self.slab.cfg.failslab_ignore_gfp_wait && gfp.intersects(Gfp::__GFP_DIRECT_RECLAIM) {
            return false;
        }
        let (flags, size) = match self.cache(s) {
            Some(c) => (c.flags, c.object_size),
            None => return false,
        };
        if self.slab.cfg.failslab_cache_filter && flags & SLAB_FAILSLAB == 0 {
            return false;
        }
        let Some(attr) = self.slab.failslab.as_mut() else {
            return false;
        };
        let before = attr.report_line();
        match attr.should_fail_ex(size as i64, gfp.intersects(Gfp::__GFP_NOWARN)) {
            FaultDecision::Pass => false,
            FaultDecision::Fail { verbose } => {
                let depth = self.stack.frames.len();
                self.push_kframe(entry);
                self.push_kframe("should_failslab");
                self.fail_dump(&before, verbose);
                self.stack.frames.truncate(depth);
                true
            }
        }
    }
}
