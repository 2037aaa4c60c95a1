"""Which regions where kernels break a drawn case reaches, told from the case alone."""
from __future__ import annotations

import math

from harness.cases import Case, special_kinds
from harness.draws import GRID

TILE = 8  # past the first row or column tile of any kernel tiling by 8 or more
SIDE_NAMES = ("depth", "rows", "cols")  # the last one to three of these name the sides


def regions(case: Case) -> set[str]:
    """The regions this case is in (a case may be in several)."""
    n, c, *sides = case.input_shape
    out = case.output_shape()
    extent, stride, pads = case.spec.window(case.shapes, case.kwargs)
    names = SIDE_NAMES[-len(sides):]
    found = {name for name, o in zip(names, out[2:]) if o > TILE}
    if max(n * c, out[0] * out[1]) > GRID:
        found.add("launch_planes")
    if max(*out[2:], *sides) > GRID:
        found.add("launch_sides")
    if any(o == 1 and s > 1 for o, s in zip(out[2:], stride)):
        found.add("out1_strided")
    if any(s > e for s, e in zip(stride, extent)):
        found.add("gaps")
    if any(e >= size + sum(p) for e, size, p in zip(extent, sides, pads)):
        found.add("full_window")
    if any(sum(p) for p in pads):
        found.add("pad_windows")
    if case.kwargs.get("ceil_mode") and any(
            (o - 1) * s + e > size + sum(p) for o, s, e, size, p in
            zip(out[2:], stride, extent, sides, pads)):
        found.add("ceil_overhang")
    if case.spec.weighted:
        groups = case.kwargs.get("groups", 1)
        out_channels = case.spec.out_channels(case.weight_shape, case.kwargs)
        if groups > 1 and case.input_shape[1] == groups and out_channels > groups:
            found.add("multiplier")
        if out[0] * math.prod(out[2:]) >= 2048:
            found.add("long_grad_weight")
    elif case.dtype in ("float16", "bfloat16") and case.reduction_length() >= 2048:
        found.add("long_half_pool")
    found |= {f"special:{kind}" for kind in special_kinds(case)}
    return found
