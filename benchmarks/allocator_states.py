"""One layer timed in each state of the CPU allocator (harness/timing/allocator.py): a plain loop
that drops each output at once, in a new process, and `convharness bench --alloc` of the same
layer. Prints ms and minor page faults per call.

    python benchmarks/allocator_states.py [--threads 2] [--calls 300]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LAYER = "N,C,H,W,K,R,S,stride,pad,dilation,groups,count\n1,64,56,56,256,1,1,1,0,1,1,1\n"
LOOP = """
import resource, sys, time
import torch, torch.nn.functional as F
from harness.timing.allocator import use
use(sys.argv[1])
torch.set_num_threads(int(sys.argv[2]))
x, w = torch.randn(1, 64, 56, 56), torch.randn(256, 64, 1, 1)
for _ in range(20):
    F.conv2d(x, w)
calls, faults, start = int(sys.argv[3]), resource.getrusage(resource.RUSAGE_SELF).ru_minflt, \\
    time.perf_counter()
for _ in range(calls):
    y = F.conv2d(x, w)
    del y
took = (time.perf_counter() - start) / calls
print(took * 1e3, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / calls)
"""


def loop(alloc: str, threads: int, calls: int) -> str:
    out = subprocess.run([sys.executable, "-c", LOOP, alloc, str(threads), str(calls)],
                         capture_output=True, text=True, check=True).stdout.split()
    return f"{float(out[0]):.3f} ms, {float(out[1]):.0f} page faults a call"


def bench(alloc: str, threads: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "layer.csv"
        suite.write_text(LAYER)
        subprocess.run([sys.executable, "-m", "harness", "bench", "--impl", "reference.conv2d",
                        "--suite", str(suite), "--threads", str(threads), "--alloc", alloc,
                        "--out", tmp], capture_output=True, check=True)
        record = json.loads(next(Path(tmp).glob("*/records.jsonl")).read_text().splitlines()[-1])
    return f"{statistics.median(record['times']) * 1e3:.3f} ms (median of {len(record['times'])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    print(f"F.conv2d 1x64x56x56 * 256x64x1x1, {args.threads} thread(s)")
    for alloc in ("as-is", "warm"):
        print(f"  {alloc:6} plain loop, new process: {loop(alloc, args.threads, args.calls)}")
        print(f"  {alloc:6} convharness bench:       {bench(alloc, args.threads)}")


if __name__ == "__main__":
    main()
