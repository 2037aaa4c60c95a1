"""Hypothesis strategies that build valid Cases by construction (no filtering), plus invalid ones.

Sizes are a strategy dimension. Most examples are tiny (fast, easy to shrink); a *tier* other
than "tiny" takes the case into one region where real kernels break: one dimension just past a
tile boundary (9 = 8+1 ... 129 = 128+1, so the last tile is partial for every tile up to 128),
past a CUDA grid axis (65,535 blocks), degenerate geometry, or a long reduction. Hypothesis
shrinks within the tier towards its smallest boundary, which names the bug: one row past the
tile, one plane past the limit.
"""
from __future__ import annotations

import math

from hypothesis import strategies as st

from harness.cases import DISTRIBUTIONS, Case
from harness.ops import INVALID_INPUT, OPS

MAX_SIDE = 6  # tiny input sides, so one example costs milliseconds
# Past 8, 16, 32, 64 and 128; 129 is partial for every tile up to 128, so it is drawn most.
BOUNDARY = (9, 17, 33, 65, 129, 129, 129)
BATCH = (5, 9, 17, 17)  # batch tiles are small: 17 is partial for tiles of 2 to 16
WINDOW_ROWS = (9, 17, 33)  # pooling windows taller than a row tile
# Input channels of the long-reduction tier (x 3x3 kernel: up to 9225 terms per output), the
# smaller ones first, so that shrinking moves towards them; long ones are drawn most.
LONG_REDUCTION = (33, 65, 129, 257, 513, 1025, 1025, 1025)
GRID = 65535  # blocks along a CUDA grid axis (y and z; one program per plane or row overflows)
LONG_PLANE = (56, 64, 65, 100, 112)  # the maps global pooling averages in SE blocks
DEGENERATE = {  # the geometry vendor libraries get wrong, one tier each
    "conv2d": ("out1_strided", "gaps", "full_window", "pad_windows", "multiplier"),
    "max_pool2d": ("out1_strided", "gaps", "full_window", "pad_windows", "ceil_overhang"),
    "avg_pool2d": ("out1_strided", "gaps", "full_window", "pad_windows", "ceil_overhang"),
    "adaptive_avg_pool2d": ("out1_strided", "wide_windows"),
}
_COMMON = ("rows", "cols", "batch", "launch_planes", "launch_rows", "launch_cols", "long_plane")
_LAUNCH = ("launch_planes", "launch_rows", "launch_cols")
LARGE = _LAUNCH + ("long_plane",)  # tens of thousands of elements: not in the mixed draws
TIERS = {op: (("out_channels", "in_channels", "reduction") if op == "conv2d" else
              ("channels", "window_rows")) + _COMMON + DEGENERATE[op] for op in DEGENERATE}
TINY_SHARE = 3  # in the mixed strategy, "tiny" is drawn this many times as often as each tier


def tier_names(op: str) -> tuple:
    return TIERS[op]


def _tiers(op: str, mix: str) -> st.SearchStrategy[str]:
    """'tiny' first (what shrinking moves towards); 'sizes': large tiers only; a tier's name:
    that tier alone."""
    if mix == "sizes":
        return st.sampled_from(TIERS[op])
    if mix == "mixed":  # the large tiers are for `sizes` and `gradients`, searched on their own
        cheap = tuple(t for t in TIERS[op] if t not in LARGE)
        return st.sampled_from(("tiny",) * TINY_SHARE + cheap)
    return st.just(mix)


@st.composite
def _int_or_pair(draw, low, high):
    """An int, or an (h, w) tuple: torch accepts both for every window argument."""
    h = draw(st.integers(low, high))
    if draw(st.booleans()):
        return h
    return (h, draw(st.integers(low, high)))


def _pairs(value):
    return value if isinstance(value, tuple) else (value, value)


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


def _stride_for(draw, tier: str, kernel: tuple):
    """Strides of a tier: moving by one or two along the large side; gaps (stride > kernel) or a
    strided single output where the tier asks; otherwise anything small."""
    if tier in ("launch_rows", "launch_cols"):
        return 1
    if tier in ("rows", "cols"):
        step = draw(st.integers(1, 2))
        return (step, 1) if tier == "rows" else (1, step)
    if tier == "gaps":
        return tuple(k + draw(st.integers(1, 2)) for k in kernel)
    if tier == "out1_strided":
        return (draw(st.integers(2, 3)), draw(st.integers(2, 3)))
    if tier == "multiplier":
        return (draw(st.integers(1, 2)), draw(st.integers(2, 3)))
    return draw(st.one_of(st.just(1), _int_or_pair(1, 3)))


def _plane(draw, tier: str, extent: tuple, stride: tuple, pads=(0, 0)) -> tuple[int, int]:
    """(H, W) of the input for a window of `extent` (dilated kernel) with `pads`."""
    need = [max(1, e - 2 * p) for e, p in zip(extent, pads)]
    if tier == "launch_rows":  # one long column of rows
        return need[0] + _past_grid(draw) - 1, need[1]
    if tier == "launch_cols":  # one long row of columns
        return need[0], need[1] + _past_grid(draw) - 1
    if tier == "long_plane":  # pools: one window over the whole map (conv draws its own)
        return need[0], need[1]
    if tier == "multiplier" and draw(st.booleans()):  # a single, strided output column
        return _side(draw, need[0]), need[1] + draw(st.integers(0, stride[1] - 1))
    if tier in ("out1_strided", "full_window"):  # exactly one window along each side
        return tuple(max(1, e - 2 * p + draw(st.integers(0, s - 1)) if tier == "out1_strided"
                         else e - 2 * p) for e, p, s in zip(extent, pads, stride))
    return (_side(draw, need[0], grow=tier == "rows"), _side(draw, need[1], grow=tier == "cols"))


@st.composite
def conv2d_args(draw, tier="tiny"):
    long = tier == "reduction"
    wide = tier in _LAUNCH + ("long_plane",)
    groups = 1 if long or wide else draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = tier == "multiplier" or (groups > 1 and tier != "in_channels"
                                         and draw(st.booleans()))
    groups = draw(st.integers(1, 4)) if tier == "multiplier" else groups
    c_group = 1 if depthwise else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 2 if depthwise else 3))
    k_group = draw(st.integers(2, 4)) if tier == "multiplier" else k_group
    kernel = 3 if long else draw(st.one_of(st.just(3), _int_or_pair(1, 4)))  # 3x3 often
    kernel = draw(st.sampled_from([1, 2])) if tier in ("launch_planes",) else kernel
    dilation = 1 if wide else draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    (r, s), (dh, dw) = _pairs(kernel), _pairs(dilation)
    extent = (dh * (r - 1) + 1, dw * (s - 1) + 1)
    stride = _stride_for(draw, tier, extent)
    padding = _conv_padding(draw, tier, stride, extent)
    pads = (0, 0) if isinstance(padding, str) else _pairs(padding)
    h, w = _plane(draw, tier, extent, _pairs(stride), pads)
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    if tier == "long_plane":  # grad of weight sums N * H_out * W_out terms
        h = w = draw(st.sampled_from(LONG_PLANE))
    if tier == "launch_planes":  # past the grid in output planes (N*K) or input planes (N*C)
        n, planes = _split(draw, _past_grid(draw))
        c_group, k_group = (planes, 1) if draw(st.booleans()) else (1, planes)
        h, w = draw(st.integers(r, 2)), draw(st.integers(s, 2))
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    kw = {k: v for k, v in kw.items() if v != defaults[k] and v != (defaults[k],) * 2}
    return dict(input_shape=(n, groups * c_group, h, w),
                weight_shape=(groups * k_group, c_group, r, s), bias=draw(st.booleans()), kwargs=kw)


def _conv_padding(draw, tier, stride, extent):
    """'same' only with stride 1; windows hanging into the padding in the pad_windows tier."""
    if tier == "pad_windows":
        return tuple(draw(st.integers(max(1, e // 2), e)) for e in extent)
    if tier in ("launch_planes", "out1_strided", "full_window"):
        return 0
    choice = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
    if choice == "same" and stride not in (1, (1, 1)):
        choice = "valid"
    if choice == "int":
        return draw(st.integers(0, 2))
    if choice == "tuple":
        return (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    return choice


def _window(draw, tier, low=1, high=4) -> tuple:
    """(kernel argument, (kh, kw)): tall windows in the window_rows tier."""
    if tier == "window_rows":
        kernel = (draw(st.sampled_from(WINDOW_ROWS)), draw(st.integers(1, 3)))
        return kernel, kernel
    if tier in _LAUNCH:
        kernel = draw(st.sampled_from([1, 2, (2, 1)]))
        return kernel, _pairs(kernel)
    kernel = draw(_int_or_pair(low, high))
    return kernel, _pairs(kernel)


def _pool_padding(draw, tier, k) -> tuple:
    """At most half the window (torch's rule); at exactly half where windows must hang out."""
    if tier in _LAUNCH + ("long_plane", "out1_strided", "full_window"):
        return (0, 0)
    if tier == "pad_windows":
        return (max(1, k[0] // 2) if k[0] > 1 else 0, max(1, k[1] // 2) if k[1] > 1 else 0)
    return (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))


def _pool_kwargs(draw, tier) -> tuple[dict, tuple, tuple]:
    """(kwargs shared by max and avg pooling, (kh, kw), padding)."""
    kernel, k = _window(draw, tier, low=2 if tier == "pad_windows" else 1)
    stride = _stride_for(draw, tier, k)
    padding = _pool_padding(draw, tier, k)
    ceil = tier == "ceil_overhang" or (tier not in ("out1_strided", "full_window")
                                       and draw(st.booleans()))
    kw = {"kernel_size": kernel, "stride": stride,
          "padding": padding if padding[0] != padding[1] or draw(st.booleans()) else padding[0],
          "ceil_mode": ceil}
    return kw, k, padding


def _ceil_side(draw, extent, pad, stride) -> int:
    """An input side where ceil_mode adds a last window that hangs past the end."""
    base = max(1, extent - 2 * pad) + stride * draw(st.integers(0, 3))
    return base + draw(st.integers(1, max(1, stride - 1)))


@st.composite
def max_pool2d_args(draw, tier="tiny"):
    plain = tier in ("window_rows", "long_plane", "full_window") + _LAUNCH
    kw, k, padding = _pool_kwargs(draw, tier)
    kw["dilation"] = 1 if plain else draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    d = _pairs(kw["dilation"])
    extent = tuple(d[i] * (k[i] - 1) + 1 for i in range(2))
    if tier == "long_plane":  # a global max pool over the whole map
        side = draw(st.sampled_from(LONG_PLANE))
        kw.update(kernel_size=side, stride=None)
        extent = (side, side)
    return dict(input_shape=_pool_input(draw, tier, kw, extent, padding), kwargs=kw)


@st.composite
def avg_pool2d_args(draw, tier="tiny"):
    kw, k, padding = _pool_kwargs(draw, tier)
    kw.update(count_include_pad=draw(st.booleans()),
              divisor_override=draw(st.one_of(st.none(), st.integers(1, 5))))
    if tier == "long_plane":  # global average pooling of a large map
        side = draw(st.sampled_from(LONG_PLANE))
        kw.update(kernel_size=side, stride=None, divisor_override=None)
        k = (side, side)
    return dict(input_shape=_pool_input(draw, tier, kw, k, padding), kwargs=kw)


def _pool_input(draw, tier, kw, extent, padding) -> tuple:
    if tier == "ceil_overhang":
        s = _pairs(kw["stride"])
        if s[0] == 1 and s[1] == 1:
            kw["stride"] = s = (2, 2)
        shape = tuple(_ceil_side(draw, extent[i], padding[i], s[i]) for i in range(2))
    else:
        shape = _plane(draw, tier, extent, _pairs(kw["stride"] or extent), padding)
    n, c = _pool_planes(draw, tier)
    return (n, c, *shape)


def _pool_planes(draw, tier) -> tuple[int, int]:
    if tier == "launch_planes":
        return _split(draw, _past_grid(draw))
    return (_size(draw, tier, "batch", st.integers(1, 3), BATCH),
            _size(draw, tier, "channels", st.integers(1, 3)))


@st.composite
def adaptive_avg_pool2d_args(draw, tier="tiny"):
    """Tiers: a tall or wide input or output, tall windows (a tall input pooled to few rows),
    many channels or planes, a large batch, global pooling of a large map, one output from a
    larger input (out1_strided), windows that overlap or leave gaps between them."""
    n, c = _pool_planes(draw, tier)
    if tier == "window_rows":
        h, w = draw(st.sampled_from(WINDOW_ROWS)) * 2, draw(st.integers(1, MAX_SIDE))
        return _adaptive(n, c, h, w, (draw(st.integers(1, 2)), None))
    if tier == "long_plane":
        side = draw(st.sampled_from(LONG_PLANE))
        return _adaptive(n, c, side, side, draw(st.sampled_from([1, (1, 1)])))  # SE blocks
    if tier == "out1_strided":
        return _adaptive(n, c, draw(st.integers(2, 9)), draw(st.integers(2, 9)), 1)
    h, w = _plane(draw, tier, (1, 1), (1, 1))
    if tier == "launch_planes":
        h, w = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    big = tier in ("rows", "cols", "launch_rows", "launch_cols")
    out_h = draw(st.integers(max(1, h - 2), h + 2)) if big else draw(st.integers(1, h + 2))
    out_w = draw(st.integers(max(1, w - 2), w + 2)) if big else draw(st.integers(1, w + 2))
    if tier == "wide_windows":  # a third as many outputs as inputs: windows of 3 to 4
        out_h, out_w = max(1, h // 3), max(1, w // 3)
    options = [out_h, (out_h, out_w), (None, out_w), (out_h, None)]
    return _adaptive(n, c, h, w, draw(st.sampled_from(options[1:] if big else options)))


def _adaptive(n, c, h, w, output_size) -> dict:
    return dict(input_shape=(n, c, h, w), kwargs={"output_size": output_size})


ARGS = {"conv2d": conv2d_args, "max_pool2d": max_pool2d_args, "avg_pool2d": avg_pool2d_args,
        "adaptive_avg_pool2d": adaptive_avg_pool2d_args}
HALF = ("float16", "bfloat16")


def _dtype(tier: str, dtypes) -> st.SearchStrategy[str]:
    """Long reductions are drawn in half precision where it is asked for: it is there that a
    kernel accumulating in half shows (the error grows with the number of terms)."""
    half = tuple(d for d in HALF if d in dtypes)
    if tier == "reduction" and "float16" in dtypes:
        return st.just("float16")
    if tier == "long_plane" and half:
        return st.sampled_from(half)
    return st.sampled_from(dtypes)


@st.composite
def case_args(draw, op: str, mix: str, dtypes) -> dict:
    tier = draw(_tiers(op, mix))
    args = {**draw(ARGS[op](tier)), "dtype": draw(_dtype(tier, dtypes))}
    if tier == "long_plane" and not OPS[op].weighted:
        args["dist"] = "positive"  # where a half accumulator stagnates
    return args


def cases(op: str, *, dtypes=("float32",), devices=("cpu",), layouts=("contiguous",),
          dists=DISTRIBUTIONS, mix: str = "mixed") -> st.SearchStrategy[Case]:
    """Valid Cases of `op`, every argument drawn before the shapes that depend on it.

    `mix`: "mixed" (mostly tiny, some in the other tiers), "sizes" (the other tiers only),
    "tiny", or one tier's name.
    """
    def build(args, dist, **rest):
        return Case(op=op, **{"dist": dist, **args}, **rest)
    return st.builds(build, case_args(op, mix, tuple(dtypes)), st.sampled_from(dists),
                     device=st.sampled_from(devices), layout=st.sampled_from(layouts),
                     seed=st.integers(0, 2**31 - 1))


def strata(op: str, mix: str) -> tuple:
    """The tiers a property's examples are split over, each searched (and shrunk) on its own, so
    that every region is reached in every run: "sizes", every tier but tiny; "strata", tiny
    and every tier; otherwise one mixed search."""
    if mix == "sizes":
        return TIERS[op]
    if mix == "strata":
        return ("tiny",) + TIERS[op]
    return (mix,)


def invalid_cases(op: str) -> list[Case]:
    """Calls the reference rejects (the op record's): each implementation must reject them too."""
    return [Case(op, INVALID_INPUT, **bad) for bad in OPS[op].invalid]
