# failslab for this listing, as tests/listings/machines.rs sets it up on the simulated machine (see
# chapter 9): only caches marked with the `A` flag (`slab_debug=A,kmalloc-512` on the command line,
# listings/kernel/cmdline-overrides) fail, and only requests that cannot reclaim.
echo Y   > /sys/kernel/debug/failslab/cache-filter
echo Y   > /sys/kernel/debug/failslab/ignore-gfp-wait
echo 100 > /sys/kernel/debug/failslab/probability
echo -1  > /sys/kernel/debug/failslab/times
echo 0   > /sys/kernel/debug/failslab/verbose
