"""Timing: `suites` (benchmark cases from real networks' layer shapes in `networks/*.csv`, and
sweeps), `timers` (raw samples with torch.utils.benchmark and CUDA events, budgets, held
memory), `timed` (the timed call: fresh inputs per block, a share of them verified), `peaks`
(the machine's copy and matmul rates for the roofline), `machine` (what the run ran on), and
`bench` (a bench task: one implementation, one case, one device). Imports `checking` and below."""
from harness._old_paths import old_names

__getattr__ = old_names("harness.timing", "harness.timing.timers")  # the 0.1.0 module's names
