"""The fast built-ins against PyTorch, side by side in one run: the figures issue 5 asks for.

    python benchmarks/targets.py [--out reports] [--device cuda]

Runs `convharness bench` over resnet50 (batch 8) and the large-kernel suite on the CPU in
float32 (and resnet50 float16 forward on CUDA when asked), writes the report, and prints:
geometric-mean throughput of im2col against F.conv2d, fft against F.conv2d per large kernel,
winograd against im2col on the 3x3 stride-1 layers, triton against cuDNN.
"""
import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from harness.doors import cli


def geomean(values) -> float:
    values = [v for v in values if v and v > 0 and not math.isnan(v)]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def ratio(frame: pd.DataFrame, impl: str, base: str, rows=None) -> pd.Series:
    """Per case: base median / impl median (> 1: impl is faster)."""
    ok = frame[frame["status"] == "ok"]
    table = ok.pivot_table(index="case", columns="impl", values="median_s", aggfunc="last")
    if impl not in table or base not in table:
        return pd.Series(dtype=float)
    series = (table[base] / table[impl]).dropna()
    return series if rows is None else series[series.index.isin(rows)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="reports")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    conv = ["reference.conv2d", "im2col.conv2d", "winograd.conv2d", "fft.conv2d"]
    if args.device == "cuda":
        run = cli.bench(impl=["reference.conv2d", "triton.conv2d", "im2col.conv2d"],
                        device=["cuda"], suite=["resnet50"], dtype="float16",
                        out_root=args.out)
    else:
        run = cli.bench(impl=conv, suite=["resnet50", "large_kernels"], batch=args.batch,
                        out_root=args.out)
    cli.report(run)
    frame = pd.read_csv(Path(run) / "results.csv")
    lines = []
    if args.device == "cuda":
        r = ratio(frame, "triton.conv2d", "reference.conv2d")
        lines.append(f"triton / cuDNN throughput, resnet50 fp16 forward: geomean {geomean(r):.2f}x"
                     f" (min {r.min():.2f}, max {r.max():.2f}) over {len(r)} layers")
    else:
        r = ratio(frame, "im2col.conv2d", "reference.conv2d")
        lines.append(f"im2col / F.conv2d throughput, resnet50 batch {args.batch}: geomean "
                     f"{geomean(r[~r.index.str.startswith('large')]):.2f}x")
        fft = ratio(frame, "fft.conv2d", "reference.conv2d")
        for case, value in fft[fft.index.str.startswith("large_kernels")].items():
            lines.append(f"fft / F.conv2d {case}: {value:.2f}x")
        wino = ratio(frame, "winograd.conv2d", "im2col.conv2d")
        lines.append(f"winograd / im2col on the 3x3 stride-1 layers: geomean {geomean(wino):.2f}x"
                     f" over {len(wino)} layers ({', '.join(f'{v:.2f}' for v in wino)})")
    print("\n".join(lines))
    (Path(run) / "targets.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
