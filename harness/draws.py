"""Hypothesis strategies of one call's arguments (shapes and keyword arguments, as plain dicts),
valid by construction, for every op family in any number of spatial dimensions.

Sizes are a strategy dimension. Most examples are tiny (fast, easy to shrink); a *tier* other
than "tiny" takes the case into one region where real kernels break: one dimension just past a
tile boundary (9 = 8+1 ... 129 = 128+1, so the last tile is partial for every tile up to 128),
past a CUDA grid axis (65,535 blocks), degenerate geometry, or a long reduction. Hypothesis
shrinks within the tier towards its smallest boundary, which names the bug: one row past the
tile, one plane past the limit. The op records (harness.ops) hold these strategies and tiers.
"""
from __future__ import annotations

import math

from hypothesis import strategies as st

from harness.geometry import extent as span
from harness.geometry import ntuple

MAX_SIDE = 6  # tiny input sides, so one example costs milliseconds
# Past 8, 16, 32, 64 and 128; 129 is partial for every tile up to 128, so it is drawn most.
BOUNDARY = (9, 17, 33, 65, 129, 129, 129)
BATCH = (5, 9, 17, 17)  # batch tiles are small: 17 is partial for tiles of 2 to 16
WINDOW_ROWS = (9, 17, 33)  # pooling windows taller than a row tile
# Input channels of the long-reduction tier (x 3x3 kernel: up to 9225 terms per output), the
# smaller ones first, so that shrinking moves towards them; long ones are drawn most.
LONG_REDUCTION = (33, 65, 129, 257, 513, 1025, 1025, 1025)
GRID = 65535  # blocks along a CUDA grid axis (y and z; one program per plane or row overflows)
LONG_PLANE = (56, 64, 65, 100, 112)  # the 2-D maps global pooling averages in SE blocks
# Named sides, outermost first: a tier along each ("rows": a tall input, "launch_cols": past the
# grid in columns). In 1-D the one side is "cols", the innermost, as in 2-D and 3-D.
SIDES = {1: ("cols",), 2: ("rows", "cols"), 3: ("depth", "rows", "cols")}
CONV_DEGENERATE = ("out1_strided", "gaps", "full_window", "pad_windows", "multiplier")
POOL_DEGENERATE = ("out1_strided", "gaps", "full_window", "pad_windows", "ceil_overhang")
ADAPTIVE_DEGENERATE = ("out1_strided", "wide_windows")


def launch_tiers(dims: int) -> tuple:
    return ("launch_planes",) + tuple(f"launch_{side}" for side in SIDES[dims])


def large_tiers(dims: int) -> tuple:
    """Tens of thousands of elements: not in the mixed draws."""
    return launch_tiers(dims) + ("long_plane",)


def tiers(first: tuple, degenerate: tuple, dims: int) -> tuple:
    """A family's tiers: its own, each side, batch, launch limits, a long plane, degenerate."""
    return first + SIDES[dims] + ("batch",) + large_tiers(dims) + degenerate


def conv_tiers(dims: int) -> tuple:
    return tiers(("out_channels", "in_channels", "reduction"), CONV_DEGENERATE, dims)


def pool_tiers(dims: int) -> tuple:
    return tiers(("channels", "window_rows"), POOL_DEGENERATE, dims)


def adaptive_tiers(dims: int) -> tuple:
    return tiers(("channels", "window_rows"), ADAPTIVE_DEGENERATE, dims)


def _side_index(tier: str, dims: int) -> int | None:
    """Which side a tier ('rows', 'launch_rows') makes large, or None."""
    name = tier.removeprefix("launch_")
    return SIDES[dims].index(name) if name in SIDES[dims] else None


@st.composite
def _int_or_tuple(draw, low, high, dims):
    """An int, or a tuple of one per side: torch accepts both for every window argument."""
    first = draw(st.integers(low, high))
    if draw(st.booleans()):
        return first
    return (first, *(draw(st.integers(low, high)) for _ in range(dims - 1)))


def _side(draw, extent_needed: int, grow: bool = False) -> int:
    """An input side at least `extent_needed` (and at least 1): a few elements more, or, when
    this side is the large one, a tile-boundary number more (output side near the boundary)."""
    extra = draw(st.sampled_from(BOUNDARY)) - 1 if grow else draw(st.integers(0, MAX_SIDE - 1))
    return max(1, extent_needed) + extra


def _size(draw, tier, name, small, big=BOUNDARY) -> int:
    """A tile-boundary size when `tier` is `name`, else a tiny one from `small`."""
    return draw(st.sampled_from(big)) if tier == name else draw(small)


def _past_grid(draw) -> int:
    """A count just past a grid axis: shrinks to 65,536, one past the last block."""
    return GRID + draw(st.integers(1, 64))


def _split(draw, total: int) -> tuple[int, int]:
    """(n, c) with n * c at least `total`, n small: planes are (image, channel) pairs."""
    n = draw(st.integers(1, 3))
    return n, math.ceil(total / n)


def _long_sides(draw, dims: int) -> tuple:
    """A plane of as many elements as a 56x56 to 112x112 map, in any number of sides."""
    area = draw(st.sampled_from(LONG_PLANE)) ** 2
    return (round(area ** (1 / dims)),) * dims


def _stride_for(draw, tier: str, kernel: tuple):
    """Strides of a tier: moving by one or two along the large side; gaps (stride > kernel) or a
    strided single output where the tier asks; otherwise anything small."""
    dims = len(kernel)
    big = _side_index(tier, dims)
    if tier.startswith("launch_"):
        return 1
    if big is not None:
        step = draw(st.integers(1, 2))
        return tuple(step if i == big else 1 for i in range(dims))
    if tier == "gaps":
        return tuple(k + draw(st.integers(1, 2)) for k in kernel)
    if tier == "out1_strided":
        return tuple(draw(st.integers(2, 3)) for _ in kernel)
    if tier == "multiplier":
        return (*(draw(st.integers(1, 2)) for _ in kernel[1:]), draw(st.integers(2, 3)))
    return draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))


def _plane(draw, tier: str, extent: tuple, stride: tuple, pads=None) -> tuple:
    """Input sides for a window of `extent` (dilated kernel) with `pads` on each side."""
    pads = pads or (0,) * len(extent)
    need = [max(1, e - 2 * p) for e, p in zip(extent, pads)]
    big = _side_index(tier, len(extent))
    if tier.startswith("launch_") and big is not None:  # one long line along that side
        return tuple(n + _past_grid(draw) - 1 if i == big else n for i, n in enumerate(need))
    if tier == "long_plane":  # pools: one window over the whole map (conv draws its own)
        return tuple(need)
    if tier == "multiplier" and draw(st.booleans()):  # a single, strided output column
        return (*(_side(draw, n) for n in need[:-1]),
                need[-1] + draw(st.integers(0, stride[-1] - 1)))
    if tier in ("out1_strided", "full_window"):  # exactly one window along each side
        return tuple(max(1, e - 2 * p + draw(st.integers(0, s - 1)) if tier == "out1_strided"
                         else e - 2 * p) for e, p, s in zip(extent, pads, stride))
    return tuple(_side(draw, n, grow=i == big) for i, n in enumerate(need))


def _without_defaults(kw: dict, defaults: dict, dims: int) -> dict:
    return {k: v for k, v in kw.items() if v != defaults[k] and v != (defaults[k],) * dims}


@st.composite
def conv_args(draw, dims: int, tier: str = "tiny"):
    long = tier == "reduction"
    wide = tier in large_tiers(dims)
    groups = 1 if long or wide else draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = tier == "multiplier" or (groups > 1 and tier != "in_channels"
                                         and draw(st.booleans()))
    groups = draw(st.integers(1, 4)) if tier == "multiplier" else groups
    c_group = 1 if depthwise else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 2 if depthwise else 3))
    k_group = draw(st.integers(2, 4)) if tier == "multiplier" else k_group
    kernel = 3 if long else draw(st.one_of(st.just(3), _int_or_tuple(1, 4, dims)))  # 3x3 often
    kernel = draw(st.sampled_from([1, 2])) if tier == "launch_planes" else kernel
    dilation = 1 if wide else draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))
    kernel_t, dilation_t = ntuple(kernel, dims), ntuple(dilation, dims)
    extent = tuple(span(k, d) for k, d in zip(kernel_t, dilation_t))
    stride = _stride_for(draw, tier, extent)
    padding = _conv_padding(draw, tier, ntuple(stride, dims), extent)
    pads = None if isinstance(padding, str) else ntuple(padding, dims)
    sides = _plane(draw, tier, extent, ntuple(stride, dims), pads)
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    if tier == "long_plane":  # grad of weight sums N * (output elements of a plane) terms
        sides = _long_sides(draw, dims)
    if tier == "launch_planes":  # past the grid in output planes (N*K) or input planes (N*C)
        n, planes = _split(draw, _past_grid(draw))
        c_group, k_group = (planes, 1) if draw(st.booleans()) else (1, planes)
        sides = tuple(draw(st.integers(k, 2)) for k in kernel_t)
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    return dict(input_shape=(n, groups * c_group, *sides),
                weight_shape=(groups * k_group, c_group, *kernel_t), bias=draw(st.booleans()),
                kwargs=_without_defaults(kw, defaults, dims))


def _conv_padding(draw, tier, stride: tuple, extent: tuple):
    """'same' only with stride 1; windows hanging into the padding in the pad_windows tier."""
    if tier == "pad_windows":
        return tuple(draw(st.integers(max(1, e // 2), e)) for e in extent)
    if tier in ("launch_planes", "out1_strided", "full_window"):
        return 0
    choice = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
    if choice == "same" and any(s != 1 for s in stride):
        choice = "valid"
    if choice == "int":
        return draw(st.integers(0, 2))
    if choice == "tuple":
        return tuple(draw(st.integers(0, 2)) for _ in extent)
    return choice


def _window(draw, tier, dims, low=1, high=4) -> tuple:
    """(kernel argument, kernel per side): tall windows in the window_rows tier."""
    if tier == "window_rows":
        kernel = (draw(st.sampled_from(WINDOW_ROWS)),
                  *(draw(st.integers(1, 3)) for _ in range(dims - 1)))
        return kernel, kernel
    if tier in launch_tiers(dims):
        kernel = draw(st.sampled_from([1, 2, (2, *(1,) * (dims - 1))]))
        return kernel, ntuple(kernel, dims)
    kernel = draw(_int_or_tuple(low, high, dims))
    return kernel, ntuple(kernel, dims)


def _pool_padding(draw, tier, kernel: tuple) -> tuple:
    """At most half the window (torch's rule); at exactly half where windows must hang out."""
    if tier in large_tiers(len(kernel)) + ("out1_strided", "full_window"):
        return (0,) * len(kernel)
    if tier == "pad_windows":
        return tuple(max(1, k // 2) if k > 1 else 0 for k in kernel)
    return tuple(draw(st.integers(0, k // 2)) for k in kernel)


def _pool_kwargs(draw, tier, dims) -> tuple[dict, tuple, tuple]:
    """(kwargs shared by max and avg pooling, kernel per side, padding per side)."""
    kernel, k = _window(draw, tier, dims, low=2 if tier == "pad_windows" else 1)
    stride = _stride_for(draw, tier, k)
    padding = _pool_padding(draw, tier, k)
    ceil = tier == "ceil_overhang" or (tier not in ("out1_strided", "full_window")
                                       and draw(st.booleans()))
    same = len(set(padding)) == 1
    kw = {"kernel_size": kernel, "stride": stride,
          "padding": padding[0] if same and draw(st.booleans()) else padding, "ceil_mode": ceil}
    return kw, k, padding


def _ceil_side(draw, extent, pad, stride) -> int:
    """An input side where ceil_mode adds a last window that hangs past the end."""
    base = max(1, extent - 2 * pad) + stride * draw(st.integers(0, 3))
    return base + draw(st.integers(1, max(1, stride - 1)))


@st.composite
def max_pool_args(draw, dims: int, tier: str = "tiny"):
    plain = tier in ("window_rows", "long_plane", "full_window") + launch_tiers(dims)
    kw, k, padding = _pool_kwargs(draw, tier, dims)
    kw["dilation"] = 1 if plain else draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))
    extent = tuple(span(a, d) for a, d in zip(k, ntuple(kw["dilation"], dims)))
    if tier == "long_plane":  # a global max pool over the whole map
        extent = _long_sides(draw, dims)
        kw.update(kernel_size=extent, stride=None)
    return dict(input_shape=_pool_input(draw, tier, kw, extent, padding), kwargs=kw)


@st.composite
def avg_pool_args(draw, dims: int, tier: str = "tiny", divisor: bool = True,
                  sides_hold_kernel: bool = False):
    """`divisor`: the op takes divisor_override (avg_pool1d does not). `sides_hold_kernel`:
    every side of the input is at least the kernel, padding aside (torch's avg_pool3d rejects
    a smaller input)."""
    kw, k, padding = _pool_kwargs(draw, tier, dims)
    kw["count_include_pad"] = draw(st.booleans())
    if divisor:
        kw["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    if tier == "long_plane":  # global average pooling of a large map
        k = _long_sides(draw, dims)
        kw.update(kernel_size=k, stride=None)
        kw.pop("divisor_override", None)
    room = (0,) * dims if sides_hold_kernel else padding
    return dict(input_shape=_pool_input(draw, tier, kw, k, room), kwargs=kw)


def _pool_input(draw, tier, kw, extent, padding) -> tuple:
    dims = len(extent)
    if tier == "ceil_overhang":
        s = ntuple(kw["stride"], dims)
        if all(one == 1 for one in s):
            kw["stride"] = s = (2,) * dims
        sides = tuple(_ceil_side(draw, extent[i], padding[i], s[i]) for i in range(dims))
    else:
        sides = _plane(draw, tier, extent, ntuple(kw["stride"] or extent, dims), padding)
    return (*_pool_planes(draw, tier), *sides)


def _pool_planes(draw, tier) -> tuple[int, int]:
    if tier == "launch_planes":
        return _split(draw, _past_grid(draw))
    return (_size(draw, tier, "batch", st.integers(1, 3), BATCH),
            _size(draw, tier, "channels", st.integers(1, 3)))


@st.composite
def adaptive_args(draw, dims: int, tier: str = "tiny"):
    """Tiers: a long input or output along each side, tall windows (a tall input pooled to few
    rows), many channels or planes, a large batch, global pooling of a large map, one output
    from a larger input (out1_strided), windows that overlap or leave gaps between them."""
    planes = _pool_planes(draw, tier)
    if tier == "window_rows":
        sides = (draw(st.sampled_from(WINDOW_ROWS)) * 2,
                 *(draw(st.integers(1, MAX_SIDE)) for _ in range(dims - 1)))
        return _adaptive(planes, sides, (draw(st.integers(1, 2)), *(None,) * (dims - 1)))
    if tier == "long_plane":  # global pooling, as in squeeze-and-excitation blocks
        return _adaptive(planes, _long_sides(draw, dims), draw(st.sampled_from([1, (1,) * dims])))
    if tier == "out1_strided":
        return _adaptive(planes, tuple(draw(st.integers(2, 9)) for _ in range(dims)), 1)
    sides = _plane(draw, tier, (1,) * dims, (1,) * dims)
    if tier == "launch_planes":
        sides = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    big = _side_index(tier, dims) is not None
    outs = tuple(draw(st.integers(max(1, s - 2), s + 2)) if big else draw(st.integers(1, s + 2))
                 for s in sides)
    if tier == "wide_windows":  # a third as many outputs as inputs: windows of 3 to 4
        outs = tuple(max(1, s // 3) for s in sides)
    options = [outs]
    if dims > 1:  # None keeps a side (not in 1-D, where torch wants ints)
        options += [(None, *outs[1:]), (*outs[:-1], None)]
    if not big:  # an int: that many outputs along every side
        options.append(outs[0])
    return _adaptive(planes, sides, draw(st.sampled_from(options)))


def _adaptive(planes, sides, output_size) -> dict:
    return dict(input_shape=(*planes, *sides), kwargs={"output_size": output_size})


TRANSPOSED_DEGENERATE = ("gaps", "pad_windows", "output_padding", "multiplier")


def conv_transpose_tiers(dims: int) -> tuple:
    return tiers(("out_channels", "in_channels", "reduction"), TRANSPOSED_DEGENERATE, dims)


@st.composite
def conv_transpose_args(draw, dims: int, tier: str = "tiny"):
    """A transposed convolution: each input element scatters a window into the output, the
    windows `stride` apart, overlapping where the kernel is longer than the stride; `gaps`:
    shorter (outputs between windows get the bias only); `pad_windows`: the padding crops the
    output's edges; `output_padding`: one more row or column at the end."""
    long, wide = tier == "reduction", tier in large_tiers(dims)
    groups = 1 if long or wide else draw(st.sampled_from([1, 1, 2, 3]))
    groups = draw(st.integers(2, 4)) if tier == "multiplier" else groups
    c_group = 1 if tier == "multiplier" else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 3))
    k_group = draw(st.integers(2, 4)) if tier == "multiplier" else k_group
    kernel = ntuple(3 if long else draw(st.one_of(st.just(3), _int_or_tuple(1, 4, dims))), dims)
    kernel = ntuple(draw(st.sampled_from([1, 2])), dims) if wide else kernel
    dilation = (1,) * dims if wide or long else ntuple(
        draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims))), dims)
    stride = _transposed_stride(draw, tier, kernel, dilation)
    big = _side_index(tier, dims)
    sides = tuple(_past_grid(draw) if tier.startswith("launch_") and i == big else
                  draw(st.sampled_from(BOUNDARY)) if i == big else
                  draw(st.integers(1, 4)) for i in range(dims))
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    if tier == "long_plane":  # grad of weight sums N * (input elements of a plane) terms
        sides = _long_sides(draw, dims)
    if tier == "launch_planes":
        n, planes = _split(draw, _past_grid(draw))
        c_group, k_group = (planes, 1) if draw(st.booleans()) else (1, planes)
        sides = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) if tier == "output_padding" or
                  (tier == "tiny" and draw(st.booleans())) else 0
                  for s, d in zip(stride, dilation))
    if tier == "output_padding" and not any(extra):
        extra = tuple(max(s, d) - 1 for s, d in zip(stride, dilation))
    padding = tuple(_transposed_padding(draw, tier, *one) for one in
                    zip(sides, kernel, stride, dilation, extra))
    kw = {"stride": stride, "padding": padding, "output_padding": extra, "groups": groups,
          "dilation": dilation}
    defaults = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1}
    return dict(input_shape=(n, groups * c_group, *sides),
                weight_shape=(groups * c_group, k_group, *kernel), bias=draw(st.booleans()),
                kwargs=_without_defaults(kw, defaults, dims))


def _transposed_stride(draw, tier, kernel, dilation) -> tuple:
    """Windows overlapping, touching or (gaps) apart; at least 2 where output_padding needs room."""
    if tier.startswith("launch_") or tier == "reduction":
        return (1,) * len(kernel)
    if tier == "gaps":
        return tuple(span(k, d) + draw(st.integers(1, 2)) for k, d in zip(kernel, dilation))
    low = 2 if tier == "output_padding" else 1
    return tuple(draw(st.integers(low, 3)) for _ in kernel)


def _transposed_padding(draw, tier, side, kernel, stride, dilation, extra) -> int:
    """Padding that leaves at least one output along the side (it crops the full output)."""
    full = (side - 1) * stride + span(kernel, dilation) + extra
    most = (full - 1) // 2
    if tier == "pad_windows":
        return min(most, max(1, span(kernel, dilation) // 2))
    return draw(st.integers(0, min(most, 2)))
