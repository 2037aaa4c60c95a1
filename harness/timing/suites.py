"""Named benchmark suites: real-network layer shapes (CSV), parameter sweeps, and user CSV files."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from harness.ops.cases import Case
from harness.ops.geometry import ntuple

SUITE_DIR = Path(__file__).parent / "networks"
CONV_NET = ("N", "C", "H", "W", "K", "R", "S", "stride", "pad", "dilation", "groups")
CONV_DEEPBENCH = ("N", "C", "H", "W", "K", "R", "S", "pad_h", "pad_w", "stride_h", "stride_w")
POOL = ("op", "N", "C", "H", "W")
CALLS = ("op", "input")  # any op: shapes as 8x512x3199, every other column an argument
NOT_ARGUMENTS = ("source", "op", "input", "weight", "bias", "count")


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


def _shape(row: dict, field: str, where: str) -> tuple | None:
    text = (row.get(field) or "").strip()
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise SuiteError(f"{where}: field {field}={text!r}, but should be a shape such as "
                         f"8x512x3199") from None


def _argument(text: str, field: str, where: str):
    """'2' -> 2, '1x2x2' -> (1, 2, 2), 'true' -> True, 'same' -> 'same', 'none' -> None."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    if lowered in ("same", "valid"):
        return lowered
    try:
        parts = tuple(int(part) for part in lowered.split("x"))
    except ValueError:
        raise SuiteError(f"{where}: field {field}={text!r}, but should be an integer, a tuple "
                         f"such as 1x2x2, true, false, none, same or valid") from None
    return parts[0] if len(parts) == 1 else parts


def _call(row: dict, where: str) -> Case:
    """A row of the calls format: op, input shape, weight shape, bias, any arguments."""
    from harness.ops.catalog import UnknownOp, get_op
    name = (row.get("op") or "").strip()
    try:
        op = get_op(name)
    except UnknownOp as exc:
        raise SuiteError(f"{where}: field {exc}") from None
    params = list(op.signature.parameters)[len(op.tensor_args):]
    kwargs = {}
    for field, text in row.items():
        if field in NOT_ARGUMENTS or not (text or "").strip():
            continue
        if field not in params:
            raise SuiteError(f"{where}: column {field!r} is not an argument of {name}, which "
                             f"takes {', '.join(params)}")
        kwargs[field] = _argument(text.strip(), field, where)
    input_shape, weight_shape = _shape(row, "input", where), _shape(row, "weight", where)
    if input_shape is None or len(input_shape) != op.dims + 2:
        raise SuiteError(f"{where}: field input={row.get('input')!r}, but should be a shape of "
                         f"{op.dims + 2} sides for {name}")
    if op.weighted and (weight_shape is None or len(weight_shape) != op.dims + 2):
        raise SuiteError(f"{where}: field weight={row.get('weight')!r}, but should be a shape of "
                         f"{op.dims + 2} sides for {name}")
    return Case(name, input_shape, weight_shape if op.weighted else None,
                bias=op.weighted and _bool(row, "bias", False), kwargs=kwargs)


def _sizes(shape) -> str:
    return "x".join(map(str, shape))


def _label(case: Case, source: str, index: int) -> str:
    """'resnet50#3 64>256 56x56 k1x1 s1', 'c3d#2 max_pool3d 64x16x112x112'."""
    c, sides = case.input_shape[1], _sizes(case.input_shape[2:])
    if not case.spec.weighted:
        return f"{source}#{index} {case.op} {c}x{sides}"
    stride = ntuple(case.kwargs.get("stride", 1), case.spec.dims)
    stride = stride[0] if len(set(stride)) == 1 else _sizes(stride)
    groups = case.kwargs.get("groups", 1)
    k = case.spec.out_channels(case.weight_shape, case.kwargs)
    return (f"{source}#{index} {c}>{k} {sides} "
            f"k{_sizes(case.weight_shape[2:])} s{stride}"
            + (f" g{groups}" if groups > 1 else ""))


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
            if None in row:
                raise SuiteError(f"{where}: {len(row) - 1 + len(row[None])} fields, but the "
                                 f"header has {len(row) - 1} columns")
            case = {"conv": _conv, "pool": _pool, "calls": _call}[kind](row, where)
            source = (row.get("source") or name).strip()
            cases.append(SuiteCase(_label(case, source, line - 1), case,
                                   _int(row, "count", where, 1)))
    if not cases:
        raise SuiteError(f"{path}: no rows (expected a header line and one row per layer)")
    return cases


def _kind(columns: set, path) -> str:
    if set(CALLS) <= columns:
        return "calls"
    if set(POOL) <= columns:
        return "pool"
    if set(CONV_NET[:7]) <= columns and ({"stride", "pad"} <= columns
                                         or set(CONV_DEEPBENCH[7:]) <= columns):
        return "conv"
    raise SuiteError(f"{path}, line 1: columns {sorted(columns)}, but should include "
                     f"{','.join(CONV_NET)} (network), {','.join(CONV_DEEPBENCH)} (DeepBench) or "
                     f"{','.join(POOL)},kernel_h,... (pools) or {','.join(CALLS)},weight,... (any op)")


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


def load(name: str, *, batch: int | None = None, quick: bool | int = False) -> list[SuiteCase]:
    """A suite by name, or a CSV path; `batch` overrides N; `quick` keeps a spread of a few
    (a number: that many of a suite of one op)."""
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
    if not quick:
        return cases
    return quick_subset(cases) if quick is True else quick_subset(cases, int(quick))


def _rebatch(sc: SuiteCase, batch: int) -> SuiteCase:
    return SuiteCase(sc.label, sc.case.with_(input_shape=(batch, *sc.case.input_shape[1:])),
                     sc.count)


def quick_subset(cases: list[SuiteCase], size: int = 5) -> list[SuiteCase]:
    """A few cases of each op: for a suite of one op, `size` spread over its range of work,
    smallest to largest; for a suite of several (pools, video3d), the smallest and the middle
    case of each op, so that every op of the suite is timed."""
    ops = list(dict.fromkeys(sc.case.op for sc in cases))
    if len(ops) > 1:
        return [sc for op in ops for sc in _spread([c for c in cases if c.case.op == op], 2,
                                                    middle=True)]
    return _spread(cases, size)


def _spread(cases: list[SuiteCase], size: int, middle: bool = False) -> list[SuiteCase]:
    ordered = sorted(cases, key=lambda sc: sc.case.spec.flops(sc.case.shapes, sc.case.kwargs))
    if len(ordered) <= size:
        return ordered
    last = (len(ordered) - 1) // 2 if middle else len(ordered) - 1
    picks = sorted({round(i * last / (size - 1)) for i in range(size)})
    return [ordered[i] for i in picks]
