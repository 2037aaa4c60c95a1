"""Named benchmark suites: real-network layer shapes (CSV), parameter sweeps, and user CSV files."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from harness.cases import Case

SUITE_DIR = Path(__file__).parent / "suites"
CONV_NET = ("N", "C", "H", "W", "K", "R", "S", "stride", "pad", "dilation", "groups")
CONV_DEEPBENCH = ("N", "C", "H", "W", "K", "R", "S", "pad_h", "pad_w", "stride_h", "stride_w")
POOL = ("op", "N", "C", "H", "W")


class SuiteError(ValueError):
    """An unknown suite name or a malformed suite file."""


@dataclass(frozen=True)
class SuiteCase:
    """One benchmark shape: a label for tables and the call, with dtype and device filled later."""

    label: str
    case: Case
    count: int = 1  # how often the layer occurs in the network


def _int(row: dict, field: str, where: str, default=None) -> int:
    text = (row.get(field) or "").strip()
    if not text:
        if default is None:
            raise SuiteError(f"{where}: field {field!r} is empty, but should be an integer")
        return default
    try:
        return int(text)
    except ValueError:
        raise SuiteError(f"{where}: field {field}={text!r}, but should be an integer") from None


def _bool(row: dict, field: str, default: bool) -> bool:
    text = (row.get(field) or "").strip().lower()
    return default if not text else text in ("true", "1", "yes")


def _conv(row: dict, where: str) -> Case:
    n, c, h, w, k, r, s = (_int(row, f, where) for f in ("N", "C", "H", "W", "K", "R", "S"))
    if "stride" in row:
        stride, pad = _int(row, "stride", where), _int(row, "pad", where)
        stride, pad = (stride, stride), (pad, pad)
    else:
        stride = (_int(row, "stride_h", where), _int(row, "stride_w", where))
        pad = (_int(row, "pad_h", where), _int(row, "pad_w", where))
    dilation, groups = _int(row, "dilation", where, 1), _int(row, "groups", where, 1)
    if c % groups or k % groups:
        raise SuiteError(f"{where}: groups={groups} should divide C={c} and K={k}")
    return Case("conv2d", (n, c, h, w), (k, c // groups, r, s), kwargs={
        "stride": stride, "padding": pad, "dilation": dilation, "groups": groups})


def _pool(row: dict, where: str) -> Case:
    op = (row.get("op") or "").strip()
    shape = tuple(_int(row, f, where) for f in ("N", "C", "H", "W"))
    if op == "adaptive_avg_pool2d":
        return Case(op, shape, kwargs={"output_size": (_int(row, "output_h", where),
                                                       _int(row, "output_w", where))})
    if op not in ("max_pool2d", "avg_pool2d"):
        raise SuiteError(f"{where}: field op={op!r}, but should be max_pool2d, avg_pool2d or "
                         f"adaptive_avg_pool2d")
    kw = {"kernel_size": (_int(row, "kernel_h", where), _int(row, "kernel_w", where)),
          "stride": (_int(row, "stride_h", where), _int(row, "stride_w", where)),
          "padding": (_int(row, "pad_h", where, 0), _int(row, "pad_w", where, 0)),
          "ceil_mode": _bool(row, "ceil_mode", False)}
    if op == "avg_pool2d":
        kw["count_include_pad"] = _bool(row, "count_include_pad", True)
    return Case(op, shape, kwargs=kw)


def _label(case: Case, source: str, index: int) -> str:
    n, c, h, w = case.input_shape
    if case.spec.weighted:
        k, _, r, s = case.weight_shape
        kw = case.kwargs
        extra = f" s{kw['stride'][0]}" + (f" g{kw['groups']}" if kw["groups"] > 1 else "")
        return f"{source}#{index} {c}>{k} {h}x{w} k{r}x{s}{extra}"
    return f"{source}#{index} {case.op} {c}x{h}x{w}"


def read_csv(path: Path, name: str | None = None) -> list[SuiteCase]:
    """Parse a suite file; a malformed one raises SuiteError naming the line and the field."""
    name = name or Path(path).stem
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        kind = _kind(columns, path)
        cases = []
        for line, row in enumerate(reader, start=2):
            where = f"{path}, line {line}"
            case = _conv(row, where) if kind == "conv" else _pool(row, where)
            source = (row.get("source") or name).strip()
            cases.append(SuiteCase(_label(case, source, line - 1), case,
                                   _int(row, "count", where, 1)))
    if not cases:
        raise SuiteError(f"{path}: no rows (expected a header line and one row per layer)")
    return cases


def _kind(columns: set, path) -> str:
    if set(POOL) <= columns:
        return "pool"
    if set(CONV_NET[:7]) <= columns and ({"stride", "pad"} <= columns
                                         or set(CONV_DEEPBENCH[7:]) <= columns):
        return "conv"
    raise SuiteError(f"{path}, line 1: columns {sorted(columns)}, but should include "
                     f"{','.join(CONV_NET)} (network), {','.join(CONV_DEEPBENCH)} (DeepBench) or "
                     f"{','.join(POOL)},kernel_h,... (pools)")


def sweep(name: str) -> list[SuiteCase]:
    """One parameter varied at a time around a 64-channel 3x3 layer on 28x28."""
    base = dict(n=1, c=64, h=28, k=64, r=3, stride=1, groups=1)
    values = {"channels": ("c", [16, 32, 64, 128, 256]), "size": ("h", [7, 14, 28, 56, 112]),
              "kernel": ("r", [1, 3, 5, 7, 11, 15]), "stride": ("stride", [1, 2, 3, 4]),
              "groups": ("groups", [1, 2, 4, 16, 64]), "batch": ("n", [1, 2, 4, 8, 16])}
    key, options = values[name]
    cases = []
    for i, value in enumerate(options, start=1):
        p = {**base, key: value}
        if key == "c":
            p["k"] = value
        case = Case("conv2d", (p["n"], p["c"], p["h"], p["h"]),
                    (p["k"], p["c"] // p["groups"], p["r"], p["r"]),
                    kwargs={"stride": (p["stride"],) * 2, "padding": (p["r"] // 2,) * 2,
                            "dilation": 1, "groups": p["groups"]})
        cases.append(SuiteCase(f"sweep-{name}#{i} {key}={value}", case))
    return cases


SWEEPS = ("channels", "size", "kernel", "stride", "groups", "batch")


def names() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.csv")) + [f"sweep-{s}" for s in SWEEPS]


def load(name: str, *, batch: int | None = None, quick: bool = False) -> list[SuiteCase]:
    """A suite by name, or a CSV path; `batch` overrides N; `quick` keeps a spread of a few."""
    if name.startswith("sweep-") and name[6:] in SWEEPS:
        cases = sweep(name[6:])
    elif (SUITE_DIR / f"{name}.csv").is_file():
        cases = read_csv(SUITE_DIR / f"{name}.csv", name)
    elif name.endswith(".csv") and Path(name).is_file():
        cases = read_csv(Path(name))
    else:
        raise SuiteError(f"--suite={name!r}, but should be one of {', '.join(names())} or a "
                         f"path to a .csv file")
    if batch is not None:
        if batch < 1:
            raise SuiteError(f"--batch={batch}, but should be >= 1")
        cases = [_rebatch(sc, batch) for sc in cases]
    return quick_subset(cases) if quick else cases


def _rebatch(sc: SuiteCase, batch: int) -> SuiteCase:
    return SuiteCase(sc.label, sc.case.with_(input_shape=(batch, *sc.case.input_shape[1:])),
                     sc.count)


def quick_subset(cases: list[SuiteCase], size: int = 5) -> list[SuiteCase]:
    """A few cases spread over the suite's range of work, smallest to largest."""
    ordered = sorted(cases, key=lambda sc: sc.case.spec.flops(sc.case.shapes, sc.case.kwargs))
    if len(ordered) <= size:
        return ordered
    picks = sorted({round(i * (len(ordered) - 1) / (size - 1)) for i in range(size)})
    return [ordered[i] for i in picks]
