"""Measurement quality of `convharness bench` (issue 3), as figures, not as timed tests.

    python benchmarks/quality.py

1. Fidelity: on resnet50 at batch 1 (CPU), the median that bench records for the reference
   against torch.utils.benchmark's blocked_autorange of the same call in the same process.
2. Repeatability: two back-to-back bench runs of the same suite, per-case ratio of medians.
3. Cost: wall time of the quick suites for all fast built-ins, and seconds per record for a run
   with 3x the jobs (linear growth means the same seconds per record).
"""
import argparse
import statistics
import sys
import tempfile
import time

import torch
import torch.utils.benchmark as tbench

from harness.checking.call import call
from harness.doors import cli
from harness.plugins.registry import discover, load
from harness.records.record import read_records
from harness.timing.bench import BenchOptions, bench_case
from harness.timing.suites import load as load_suite

FAST = [name for name in ("reference", "im2col", "unfold_einsum", "winograd", "fft",
                          "strided_pools")]


def fidelity(threads: int) -> list[str]:
    impl, lines, worst = load("reference.conv2d"), [], 0.0
    for sc in load_suite("resnet50", batch=1):
        (record,) = bench_case(impl, sc, "cpu", BenchOptions(threads=threads))
        case = sc.case.with_(device="cpu")
        tensors = case.tensors()
        direct = tbench.Timer("fn()", globals={"fn": lambda: call(impl, case, tensors)},
                              num_threads=threads).blocked_autorange(min_run_time=0.2).median
        dev = record.median / direct - 1
        worst = max(worst, abs(dev))
        lines.append(f"  {sc.label:<40} bench {record.median * 1e3:8.3f} ms  "
                     f"blocked_autorange {direct * 1e3:8.3f} ms  {dev:+.1%}")
    return [f"fidelity (target: within 5%): worst {worst:.1%}"] + lines


def _bench_run(out, **kw) -> tuple[float, list]:
    start = time.perf_counter()
    run = cli.bench(out_root=out, out=lambda text: None, **kw)
    return time.perf_counter() - start, [r for r in read_records(run) if r.kind == "bench"]


def repeatability(out, threads: int) -> list[str]:
    kw = dict(impl=["reference.conv2d"], suite=["resnet50"], batch=1, threads=threads)
    _, first = _bench_run(out, **kw)
    _, second = _bench_run(out, **kw)
    ratios = [b.median / a.median for a, b in zip(first, second)]
    worst = max(abs(r - 1) for r in ratios)
    return [f"repeatability (target: within 10% per case): worst {worst:.1%}, median "
            f"{statistics.median(abs(r - 1) for r in ratios):.1%} over {len(ratios)} cases"]


def cost(out) -> list[str]:
    fast = [name for name in discover() if name.split(".")[0] in FAST]
    wall, records = _bench_run(out, impl=fast, suite=["resnet50", "pools"], batch=1, quick=True)
    wall3, records3 = _bench_run(out, impl=fast, suite=["resnet50", "pools", "vgg16",
                                                         "mobilenet_v2", "resnet18", "pools"],
                                 batch=1, quick=True)
    return [f"cost (target: quick suites, all fast built-ins, under 2 minutes): {wall:.1f} s for "
            f"{len(records)} records ({wall / len(records):.3f} s each)",
            f"linearity: {wall3:.1f} s for {len(records3)} records ({wall3 / len(records3):.3f} "
            f"s each)"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        lines = [f"{args.threads} thread(s)"] + fidelity(args.threads) + repeatability(
            out, args.threads) + ([] if args.skip_cost else cost(out))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
