"""Which regions where kernels break a drawn case reaches, told from the case alone."""
from __future__ import annotations

import math

from harness.ops.cases import Case, special_kinds
from harness.ops.draws import GRID, LONG_LINES, TILES, is_default

TILE = 8  # past the first row or column tile of any kernel tiling by 8 or more
LARGE = 2**15  # elements of an input or output beyond which a case is large (a launch tier's)
SIDE_NAMES = ("depth", "rows", "cols")  # the last one to three of these name the sides


def large(case: Case) -> bool:
    """A case of the large tiers (past a launch limit, a long plane): where a kernel that loops
    in Python may take longer than the time limit without being wrong. The stand-in case of a
    property with fixed inputs (the worked examples': a weighted op's, with no weight) is not."""
    if case.spec.weighted and case.weight_shape is None:
        return False
    return max(math.prod(case.input_shape), math.prod(case.output_shape())) >= LARGE


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
    found |= _one_side(found, out[2:], stride, extent, sides, pads)
    found |= _tiles(case, out)
    found |= {f"special:{kind}" for kind in special_kinds(case)}
    return found


def _one_side(found: set, out, stride, extent, sides, pads) -> set:
    """A degenerate shape on some side while another side has several outputs."""
    several = [o > 1 for o in out]
    shapes = {"out1_strided": [o == 1 and s > 1 for o, s in zip(out, stride)],
              "gaps": [s > e for s, e in zip(stride, extent)],
              "full_window": [e >= n + sum(p) for e, n, p in zip(extent, sides, pads)],
              "pad_windows": [sum(p) > 0 for p in pads]}
    return {f"{name}:one_side" for name, on in shapes.items() if name in found
            and any(a and any(b for j, b in enumerate(several) if j != i)
                    for i, a in enumerate(on))}


def _tiles(case: Case, out) -> set:
    """Channels (per group), depthwise groups or a 1-D line just below or past a tile of 128 to
    4,096 (within one of 128, 256, 512, 1,024; past 1,024, 2,048, 4,096 for a line)."""
    n, c, *sides = case.input_shape
    found = set()
    groups = case.kwargs.get("groups", 1)
    counts = {c // groups, out[1] // groups}
    depthwise = case.spec.weighted and groups > 1 and c == groups
    for tile in TILES:
        if any(abs(k - tile) == 1 for k in counts):
            found.add(f"channels_{tile}")
        if depthwise and abs(groups - tile) == 1:
            found.add(f"depthwise_{tile}")
    for line in LONG_LINES if len(sides) == 1 else ():
        if line < max(sides[0], out[2]) <= line + 64:
            found.add(f"length_{line}")
    return found


def forms(case: Case) -> set[str]:
    """How each optional argument of the call is written: "stride:omitted", "stride:default"
    (passed at its default, or as the kernel size for a pool's stride), "stride:given"."""
    found = set()
    for name, param in case.spec.signature.parameters.items():
        if param.default is param.empty or name == "return_indices":
            continue
        if name == "bias" and case.spec.weighted:
            form = "given" if case.bias else "default" if "bias" in case.kwargs else "omitted"
        elif name not in case.kwargs:
            form = "omitted"
        else:
            form = "default" if _at_default(case, name, param.default) else "given"
        found.add(f"{name}:{form}")
    return found


def _at_default(case: Case, name: str, default) -> bool:
    value = case.kwargs[name]
    if name == "stride" and default is None and value == case.kwargs.get("kernel_size"):
        return True
    return is_default(value, default, case.spec.dims)
