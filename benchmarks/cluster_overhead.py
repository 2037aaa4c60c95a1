"""Wall time of one CPU bench locally and on a local Ray cluster, and the per-task overhead
Ray adds (median of dispatch-to-result minus the task's own run time).

    python benchmarks/cluster_overhead.py [--suite resnet18] [--threads 1]
"""
import argparse
import statistics
import tempfile
import time

from harness.execution.cluster import RayExecutor
from harness.execution.isolate import WorkerPool
from harness.execution.runs import run_bench
from harness.execution.tasks import Local
from harness.plugins.registry import load
from harness.timing.bench import BenchOptions
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK

IMPLS = ("reference.conv2d", "im2col.conv2d", "unfold_einsum.conv2d")


def timed(executor, impls, cases, options) -> tuple[float, int]:
    records = []
    start = time.perf_counter()
    run_bench(impls, cases, options, records.append, executor=executor)
    return time.perf_counter() - start, sum(r.kind == "bench" for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="resnet18")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    impls = [load(name) for name in IMPLS]
    cases = load_suite(args.suite, batch=1, quick=True)
    options = BenchOptions(budget=QUICK, threads=args.threads)
    with tempfile.TemporaryDirectory():
        local = Local(WorkerPool(60))
        wall, count = timed(local, impls, cases, options)
        local.close()
        print(f"local, worker processes: {wall:.1f} s for {count} records")
        start = time.perf_counter()
        cluster = RayExecutor("local", timeout=60, threads=args.threads)
        started = time.perf_counter() - start
        wall, count = timed(cluster, impls, cases, options)
        overhead = statistics.median(cluster.overheads)
        cluster.close()
        print(f"local Ray cluster: {wall:.1f} s for {count} records (+{started:.1f} s to start "
              f"it); per-task overhead median {overhead * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
