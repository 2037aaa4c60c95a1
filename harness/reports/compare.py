"""Compare two runs: per-case ratio of medians, a Mann-Whitney U test on the raw samples, marks."""
from __future__ import annotations

import math

import pandas as pd
from scipy.stats import mannwhitneyu

from harness.records.record import Record, read_records

ALPHA = 0.05
NOISE = 0.02  # ratios within 2% of 1 are unchanged whatever the test says


def _bench(records: list[Record]) -> dict:
    return {r.key(): r for r in records if r.kind == "bench"}


def _left_out(a: Record, b: Record) -> str:
    """Why a pair of measurements is not compared ('' where it is): only verified, believed
    times (status ok, as decided when they were measured) are."""
    for run, r in (("base", a), ("new", b)):
        if r.status != "ok" or not r.times:
            return f"left out: {r.status} in the {run} run ({r.message[:120]})"
    return ""


def _mark(ratio: float, p: float) -> str:
    if p < ALPHA and ratio > 1 + NOISE:
        return "slower"
    if p < ALPHA and ratio < 1 - NOISE:
        return "faster"
    return "unchanged"


def compare(base_dir, new_dir) -> pd.DataFrame:
    """One row per measurement present in both runs (keys carry no host, so runs from two
    clusters compare; the device models are columns); ratio = new median / base median."""
    base, new = _bench(read_records(base_dir)), _bench(read_records(new_dir))
    rows = []
    for key in base.keys() & new.keys():
        a, b = base[key], new[key]
        row = {"impl": b.impl, "op": b.op, "case": b.figures.get("label", ""), "pass": b.prop,
               "device": b.device, "dtype": b.dtype, "base_model": a.device_name,
               "new_model": b.device_name, "base_ms": math.nan, "new_ms": math.nan,
               "ratio": math.nan, "p_value": math.nan, "mark": _left_out(a, b)}
        if not row["mark"]:
            p = mannwhitneyu(a.times, b.times, alternative="two-sided").pvalue \
                if len(a.times) > 1 and len(b.times) > 1 else 1.0
            row.update(base_ms=a.median * 1e3, new_ms=b.median * 1e3,
                       ratio=b.median / a.median, p_value=p,
                       mark=_mark(b.median / a.median, p))
        rows.append(row)
    columns = ["impl", "op", "case", "pass", "device", "dtype", "base_model", "new_model",
               "base_ms", "new_ms", "ratio", "p_value", "mark"]
    return pd.DataFrame(rows, columns=columns).sort_values(["op", "impl", "case"]).reset_index(
        drop=True)


def regressions(table: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Significant slowdowns by more than `factor`."""
    return table[(table["mark"] == "slower") & (table["ratio"] > factor)]
