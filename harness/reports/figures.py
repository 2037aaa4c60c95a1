"""Figures for the report (matplotlib, Agg): throughput over a suite, scaling, roofline."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatter  # noqa: E402


def _marker(op: str) -> str:
    """The op record's marker (imported when a figure is drawn: torch is not needed before)."""
    from harness.ops.catalog import OPS
    return OPS[op].marker if op in OPS else "o"


def _finish(ax, title: str, xlabel: str | None, ylabel: str, *, logx=True, legend=7,
            columns=0) -> None:
    """Log axes, labels, grid and legend: the look every figure shares. With `columns`, the
    legend stands beside the axes in that many columns (too many entries to lie over them)."""
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis) if logx else (ax.yaxis,):
        # plain tick labels (100, 0.1, 1e+08): the default ones are typeset as TeX, which
        # costs a third of the time a report takes to draw
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10, wrap=True)  # a narrow figure breaks it
    ax.grid(True, which="both", alpha=0.3)
    if columns:
        ax.legend(fontsize=legend, ncol=columns, loc="upper left", bbox_to_anchor=(1.02, 1),
                  borderaxespad=0)
    else:
        ax.legend(fontsize=legend)


def _save(fig, path: Path, *, beside=False) -> Path:
    """The figure as a PNG; `beside`: its bounds grown to hold a legend beside the axes."""
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight" if beside else None)
    plt.close(fig)
    return path


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["status"] == "ok") & frame["median_s"].notna()]


def throughput(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """GFLOP/s per suite case (a category axis, in suite order): one marker per implementation
    and case, side by side, not a line, since neighbouring layers are not a continuum."""
    ok = _ok(frame)
    cases = list(dict.fromkeys(frame["case"]))
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(cases) + 3), 4.2))
    impls = list(dict.fromkeys(ok["impl"]))
    for i, (impl, rows) in enumerate(ok.groupby("impl", sort=False)):
        shift = (i - (len(impls) - 1) / 2) * 0.6 / max(len(impls), 1)
        x = [cases.index(c) + shift for c in rows["case"]]
        ax.plot(x, rows["gflops"], marker=_marker(rows["op"].iloc[0]),
                linestyle="none", label=impl)
    for edge in range(len(cases) - 1):
        ax.axvline(edge + 0.5, color="#ddd", lw=0.5)
    ax.set_xticks(range(len(cases)), cases, rotation=60, ha="right", fontsize=7)
    _finish(ax, title, None, "GFLOP/s (higher is better)", logx=False)
    return _save(fig, path)


def scaling(frame: pd.DataFrame, title: str, path: Path) -> Path:
    """Median time against FLOPs, log-log, one line per implementation."""
    ok = _ok(frame)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for impl, rows in ok.groupby("impl"):
        ax.scatter(rows["flops"], rows["median_s"] * 1e3, s=18, label=impl)
    _finish(ax, title, "FLOPs per call", "median time (ms)")
    return _save(fig, path)


LEGEND_ROWS = 24  # entries in a column of the roofline's legend (one per implementation of an op)


def roofline(frame: pd.DataFrame, peak: dict, title: str, path: Path) -> Path:
    """Achieved GFLOP/s against arithmetic intensity, under the measured matmul and copy roofs."""
    ok = _ok(frame)
    has_roof = "gflops" in peak and "gbs" in peak
    columns = -(-(ok.groupby(["impl", "op"]).ngroups + has_roof) // LEGEND_ROWS)
    fig, ax = plt.subplots(figsize=(6 + 2.7 * columns, 4.2))  # the legend beside
    intensity = ok["flops"] / ok["bytes"]
    knee = peak["gflops"] / peak["gbs"] if has_roof else 1.0
    lo = max(min(intensity.min(), knee) / 2, 1e-3)
    hi = max(intensity.max(), knee) * 2
    xs = np.logspace(np.log10(lo), np.log10(hi), 100)
    if has_roof:
        ax.plot(xs, np.minimum(peak["gflops"], xs * peak["gbs"]), "k--", lw=1,
                label=f"roof: {peak['gflops']:.0f} GFLOP/s, {peak['gbs']:.0f} GB/s")
    colors = plt.get_cmap("tab20")
    for i, ((impl, op), rows) in enumerate(ok.groupby(["impl", "op"])):
        ax.scatter(rows["flops"] / rows["bytes"], rows["gflops"], s=20, label=impl,
                   color=colors(i % 20), marker=_marker(op))
    _finish(ax, title, "arithmetic intensity (FLOP / byte of compulsory traffic)", "GFLOP/s",
            legend=6, columns=max(1, columns))
    return _save(fig, path, beside=True)
