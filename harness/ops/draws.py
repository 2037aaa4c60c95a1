"""Hypothesis strategies of one call's arguments (shapes and keyword arguments, as plain dicts),
valid by construction, for every op family in any number of spatial dimensions.

Sizes are a strategy dimension. Most examples are tiny (fast, easy to shrink); a *tier* other
than "tiny" takes the case into one region where real kernels break: one dimension just past a
tile boundary (9 = 8+1 ... 129 = 128+1, so the last tile is partial for every tile up to 128),
past a CUDA grid axis (65,535 blocks), degenerate geometry, or a long reduction. Hypothesis
shrinks within the tier towards its smallest boundary, which names the bug: one row past the
tile, one plane past the limit. The op records (harness.ops.catalog) hold these strategies and
tiers.
"""
from __future__ import annotations

import math

from hypothesis import strategies as st

from harness.ops.geometry import extent as span
from harness.ops.geometry import ntuple

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
# Suffix of a degenerate tier drawn on one side only, the other sides ordinary (several
# outputs each): "out1_strided_side". The plain name makes every side degenerate at once.
ONE_SIDE = "_side"
MULTI_SIDE = ("out1_strided", "gaps", "full_window", "pad_windows", "ceil_overhang",
              "wide_windows", "output_padding")
# Where real kernels tile channels (GEMM blocks of 128 to 512, depthwise blocks up to 1,024):
# a tier per boundary, just past it (drawn first) or just below it, on tiny planes.
TILES = (128, 256, 512, 1024)
LONG_LINES = (1024, 2048, 4096)  # 1-D lengths real kernels tile by (past each)


def tile_tiers(dims: int, depthwise: bool) -> tuple:
    """Channel tiles ("channels_256"), depthwise groups ("depthwise_256") for convolutions, and
    for 1-D ops long lines ("length_2048"): heavier than tiny, so not in the mixed draws."""
    made = tuple(f"channels_{t}" for t in TILES)
    made += tuple(f"depthwise_{t}" for t in TILES) if depthwise else ()
    return made + (tuple(f"length_{n}" for n in LONG_LINES) if dims == 1 else ())


def _tile(tier: str, kind: str) -> int | None:
    """The boundary of a tile tier of `kind` ("channels_256" -> 256), else None."""
    return int(tier.rsplit("_", 1)[1]) if tier.startswith(kind + "_") else None


def _near(draw, boundary: int) -> int:
    """Just past a tile boundary (first: what shrinking keeps), or just below it."""
    return draw(st.sampled_from((boundary + 1, boundary - 1)))


def launch_tiers(dims: int) -> tuple:
    return ("launch_planes",) + tuple(f"launch_{side}" for side in SIDES[dims])


def large_tiers(dims: int) -> tuple:
    """Tens of thousands of elements: not in the mixed draws."""
    return launch_tiers(dims) + ("long_plane",)


def heavy(tier: str, dims: int) -> bool:
    """A tier for `sizes` and `gradients` only, not the mixed draws: large, or channel tiles."""
    return tier in large_tiers(dims) or tier.startswith(("channels_", "depthwise_", "length_"))


def tiers(first: tuple, degenerate: tuple, dims: int, depthwise: bool = False) -> tuple:
    """A family's tiers: its own, each side, batch, launch limits, a long plane, degenerate
    (on every side, then on one side), channel tiles."""
    sided = tuple(t + ONE_SIDE for t in degenerate if t in MULTI_SIDE) if dims > 1 else ()
    return (first + SIDES[dims] + ("batch",) + tile_tiers(dims, depthwise) + large_tiers(dims)
            + degenerate + sided)


def _degenerate(draw, tier: str, dims: int) -> tuple[str, tuple]:
    """(the tier's degenerate shape, which sides have it): every side, or for a one-side tier
    one side, the last first (what the first example and shrinking take), the others ordinary."""
    if not tier.endswith(ONE_SIDE):
        return tier, (True,) * dims
    side = draw(st.sampled_from(range(dims - 1, -1, -1)))
    return tier.removesuffix(ONE_SIDE), tuple(i == side for i in range(dims))


def conv_tiers(dims: int) -> tuple:
    return tiers(("out_channels", "in_channels", "reduction"), CONV_DEGENERATE, dims, True)


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


def first_reaches(tier: str) -> bool:
    """A tier whose first example (hypothesis's simplest) already reaches its region: a
    degenerate shape on the last side, or just past a channel tile or a long line."""
    return tier.endswith(ONE_SIDE) or tier.startswith(("channels_", "depthwise_", "length_"))


def _free(tier: str, dims: int) -> bool:
    """A tier whose stride may be anything small (or, for a pool, omitted)."""
    bound = ("multiplier", "gaps", "out1_strided", "ceil_overhang", "window_rows")
    return (tier not in bound and _side_index(tier, dims) is None
            and not tier.startswith(("launch_", "length_")))


def _stride_for(draw, tier: str, kernel: tuple, mask: tuple):
    """Strides of a tier: moving by one or two along the large side; gaps (stride > kernel) or a
    strided single output on the degenerate sides (`mask`), one or two on the others;
    otherwise anything small."""
    dims = len(kernel)
    big = _side_index(tier, dims)
    if tier.startswith(("launch_", "length_")):
        return 1
    if big is not None:
        step = draw(st.integers(1, 2))
        return tuple(step if i == big else 1 for i in range(dims))
    if tier == "gaps":
        return tuple(k + draw(st.integers(1, 2)) if bad else draw(st.integers(1, 2))
                     for k, bad in zip(kernel, mask))
    if tier == "out1_strided":
        return tuple(draw(st.integers(2, 3)) if bad else draw(st.integers(1, 2)) for bad in mask)
    if tier == "multiplier":
        return (*(draw(st.integers(1, 2)) for _ in kernel[1:]), draw(st.integers(2, 3)))
    return draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))


def _ordinary(draw, need: int, stride: int) -> int:
    """A side with several outputs (two to five): beside a degenerate one."""
    return need + stride * draw(st.integers(1, 4))


def _plane(draw, tier: str, extent: tuple, stride: tuple, pads=None, mask=None) -> tuple:
    """Input sides for a window of `extent` (dilated kernel) with `pads` on each side; in a
    degenerate tier the degenerate shape on the sides of `mask`, several outputs on the others."""
    dims = len(extent)
    pads, mask = pads or (0,) * dims, mask or (True,) * dims
    need = [max(1, e - 2 * p) for e, p in zip(extent, pads)]
    big = _side_index(tier, dims)
    if tier.startswith("launch_") and big is not None:  # one long line along that side
        return tuple(n + _past_grid(draw) - 1 if i == big else n for i, n in enumerate(need))
    if tier.startswith("length_"):  # a 1-D line just past (or below) a long tile
        return tuple(n + _near(draw, _tile(tier, "length")) - 1 for n in need)
    if tier == "long_plane":  # pools: one window over the whole map (conv draws its own)
        return tuple(need)
    if tier == "multiplier" and draw(st.booleans()):  # a single, strided output column
        return (*(_side(draw, n) for n in need[:-1]),
                need[-1] + draw(st.integers(0, stride[-1] - 1)))
    if not all(mask):  # one degenerate side: the others ordinary, several outputs each
        sides = [_ordinary(draw, n, s) for n, s in zip(need, stride)]
        side = mask.index(True)
        sides[side] = _plane(draw, tier, (extent[side],), (stride[side],), (pads[side],))[0]
        return tuple(sides)
    if tier in ("out1_strided", "full_window"):  # exactly one window along each side
        return tuple(max(1, e - 2 * p + draw(st.integers(0, s - 1)) if tier == "out1_strided"
                         else e - 2 * p) for e, p, s in zip(extent, pads, stride))
    if tier.startswith(("channels_", "depthwise_")):  # tiny planes under many channels
        return tuple(n + draw(st.integers(0, 1)) for n in need)
    return tuple(_side(draw, n, grow=i == big) for i, n in enumerate(need))


def is_default(value, default, dims: int) -> bool:
    """`value` is `default`, or that default written once per side."""
    return value == default or (default is not None and value == (default,) * dims)


def _call_form(draw, kw: dict, defaults: dict, dims: int, spellings=None) -> dict:
    """The arguments as users write them: an optional argument at its default is omitted
    (first: the first example and shrinking take it, `F.max_pool2d(x, 2)`) or passed as that
    default (`stride=None`, or another spelling of it from `spellings`); other values are
    passed. So every optional argument is drawn omitted, as its default, and otherwise."""
    out = {}
    for key, value in kw.items():
        if key in defaults and is_default(value, defaults[key], dims):
            forms = ("omitted", value, *(spellings or {}).get(key, ()))
            value = draw(st.sampled_from(forms))
            if value == "omitted":
                continue
        out[key] = value
    return out


CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}


def _bias(draw, kw: dict) -> bool:
    """A bias tensor, or none: omitted (first), or passed as bias=None (in `kw`)."""
    if draw(st.booleans()):
        return True
    if draw(st.booleans()):
        kw["bias"] = None
    return False


def _channels(draw, tier):
    """(groups, input channels per group, output channels per group) of a channel-tile tier,
    else None."""
    tile, groups = _tile(tier, "channels"), _tile(tier, "depthwise")
    if tile:
        return 1, _near(draw, tile), _near(draw, tile)
    if groups:
        return _near(draw, groups), 1, draw(st.integers(1, 2))
    return None


@st.composite
def conv_args(draw, dims: int, tier: str = "tiny"):
    tier, mask = _degenerate(draw, tier, dims)
    long = tier == "reduction"
    wide = tier in large_tiers(dims)
    small = _tile(tier, "channels") or tier.startswith("length_")
    groups = 1 if long or wide or small else draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = tier == "multiplier" or (groups > 1 and tier != "in_channels"
                                         and draw(st.booleans()))
    groups = draw(st.integers(1, 4)) if tier == "multiplier" else groups
    c_group = 1 if depthwise else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 2 if depthwise else 3))
    k_group = draw(st.integers(2, 4)) if tier == "multiplier" else k_group
    groups, c_group, k_group = _channels(draw, tier) or (groups, c_group, k_group)
    kernel = 3 if long else draw(st.one_of(st.just(3), _int_or_tuple(1, 4, dims)))  # 3x3 often
    kernel = draw(st.sampled_from([1, 2])) if tier == "launch_planes" or small else kernel
    dilation = 1 if wide or small else draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))
    kernel_t, dilation_t = ntuple(kernel, dims), ntuple(dilation, dims)
    extent = tuple(span(k, d) for k, d in zip(kernel_t, dilation_t))
    stride = _stride_for(draw, tier, extent, mask)
    padding = _conv_padding(draw, tier, ntuple(stride, dims), extent, mask)
    pads = None if isinstance(padding, str) else ntuple(padding, dims)
    sides = _plane(draw, tier, extent, ntuple(stride, dims), pads, mask)
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    if tier == "long_plane":  # grad of weight sums N * (output elements of a plane) terms
        sides = _long_sides(draw, dims)
    if tier == "launch_planes":  # past the grid in output planes (N*K) or input planes (N*C)
        n, planes = _split(draw, _past_grid(draw))
        c_group, k_group = (planes, 1) if draw(st.booleans()) else (1, planes)
        sides = tuple(draw(st.integers(k, 2)) for k in kernel_t)
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    bias = _bias(draw, kw)
    return dict(input_shape=(n, groups * c_group, *sides),
                weight_shape=(groups * k_group, c_group, *kernel_t), bias=bias,
                kwargs=_call_form(draw, kw, CONV_DEFAULTS, dims))


def _conv_padding(draw, tier, stride: tuple, extent: tuple, mask: tuple):
    """'same' only with stride 1; windows hanging into the padding on the sides of `mask` in
    the pad_windows tier; none on the degenerate sides of one window."""
    if tier in ("pad_windows", "out1_strided", "full_window"):
        if all(mask) and tier != "pad_windows":
            return 0
        return tuple((draw(st.integers(max(1, e // 2), e)) if tier == "pad_windows" else 0)
                     if bad else draw(st.integers(0, 2)) for e, bad in zip(extent, mask))
    if tier == "launch_planes":
        return 0
    choice = draw(st.sampled_from(["zero", "int", "tuple", "valid", "same"]))
    if choice == "same" and any(s != 1 for s in stride):
        choice = "valid"
    if choice == "zero":  # the default, often: users omit it or write padding=0
        return 0
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


def _pool_padding(draw, tier, kernel: tuple, mask: tuple) -> tuple:
    """At most half the window (torch's rule); at exactly half where windows must hang out;
    none on the degenerate sides of one window, nor in the large tiers."""
    if tier in large_tiers(len(kernel)) or tier.startswith("length_"):
        return (0,) * len(kernel)
    if tier in ("out1_strided", "full_window"):
        return tuple(0 if bad else draw(st.integers(0, k // 2)) for k, bad in zip(kernel, mask))
    if tier == "pad_windows":
        return tuple((max(1, k // 2) if k > 1 else 0) if bad else draw(st.integers(0, k // 2))
                     for k, bad in zip(kernel, mask))
    return tuple(draw(st.integers(0, k // 2)) for k in kernel)


def _pool_kwargs(draw, tier, dims, mask) -> tuple[dict, tuple, tuple]:
    """(kwargs shared by max and avg pooling, kernel per side, padding per side); the stride
    is None (the kernel's, as torch takes an omitted one) half the time where it is free."""
    kernel, k = _window(draw, tier, dims, low=2 if tier == "pad_windows" else 1)
    default = _free(tier, dims) and draw(st.sampled_from(("default", "drawn"))) == "default"
    stride = None if default else _stride_for(draw, tier, k, mask)
    padding = _pool_padding(draw, tier, k, mask)
    ceil = tier == "ceil_overhang" or (tier not in ("out1_strided", "full_window")
                                       and draw(st.booleans()))
    same = len(set(padding)) == 1
    kw = {"kernel_size": kernel, "stride": stride,
          "padding": padding[0] if same and draw(st.booleans()) else padding, "ceil_mode": ceil}
    return kw, k, padding


def _pool_form(draw, kw: dict, dims: int, **defaults) -> dict:
    """The call form of a pool's arguments: stride omitted, None or the kernel size where it
    is the kernel's; the others omitted or given at their defaults."""
    return _call_form(draw, kw, {"stride": None, "padding": 0, "ceil_mode": False, **defaults},
                      dims, {"stride": (kw["kernel_size"],)})


def _ceil_side(draw, extent, pad, stride) -> int:
    """An input side where ceil_mode adds a last window that hangs past the end."""
    base = max(1, extent - 2 * pad) + stride * draw(st.integers(0, 3))
    return base + draw(st.integers(1, max(1, stride - 1)))


@st.composite
def max_pool_args(draw, dims: int, tier: str = "tiny"):
    tier, mask = _degenerate(draw, tier, dims)
    plain = tier in ("window_rows", "long_plane", "full_window") + launch_tiers(dims)
    kw, k, padding = _pool_kwargs(draw, tier, dims, mask)
    kw["dilation"] = 1 if plain else draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims)))
    extent = tuple(span(a, d) for a, d in zip(k, ntuple(kw["dilation"], dims)))
    if tier == "long_plane":  # a global max pool over the whole map
        extent = _long_sides(draw, dims)
        kw.update(kernel_size=extent, stride=None)
    shape = _pool_input(draw, tier, kw, extent, padding, mask)
    return dict(input_shape=shape, kwargs=_pool_form(draw, kw, dims, dilation=1))


@st.composite
def avg_pool_args(draw, dims: int, tier: str = "tiny", divisor: bool = True,
                  sides_hold_kernel: bool = False):
    """`divisor`: the op takes divisor_override (avg_pool1d does not). `sides_hold_kernel`:
    every side of the input is at least the kernel, padding aside (torch's avg_pool3d rejects
    a smaller input)."""
    tier, mask = _degenerate(draw, tier, dims)
    kw, k, padding = _pool_kwargs(draw, tier, dims, mask)
    kw["count_include_pad"] = draw(st.sampled_from((True, False)))
    if divisor:
        kw["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    if tier == "long_plane":  # global average pooling of a large map
        k = _long_sides(draw, dims)
        kw.update(kernel_size=k, stride=None)
        kw.pop("divisor_override", None)
    room = (0,) * dims if sides_hold_kernel else padding
    shape = _pool_input(draw, tier, kw, k, room, mask)
    return dict(input_shape=shape, kwargs=_pool_form(draw, kw, dims, count_include_pad=True,
                                                     divisor_override=None))


def _pool_input(draw, tier, kw, extent, padding, mask) -> tuple:
    dims = len(extent)
    if tier == "ceil_overhang":  # a last window past the end on the sides of `mask`
        s = tuple(max(2, one) if bad else one
                  for one, bad in zip(ntuple(kw["stride"], dims), mask))
        kw["stride"] = s
        sides = tuple(_ceil_side(draw, extent[i], padding[i], s[i]) if mask[i] else
                      _ordinary(draw, max(1, extent[i] - 2 * padding[i]), s[i])
                      for i in range(dims))
    else:
        sides = _plane(draw, tier, extent, ntuple(kw["stride"] or extent, dims), padding, mask)
    return (*_pool_planes(draw, tier), *sides)


def _pool_planes(draw, tier) -> tuple[int, int]:
    if tier == "launch_planes":
        return _split(draw, _past_grid(draw))
    if _tile(tier, "channels"):
        return draw(st.integers(1, 2)), _near(draw, _tile(tier, "channels"))
    return (_size(draw, tier, "batch", st.integers(1, 3), BATCH),
            _size(draw, tier, "channels", st.integers(1, 3)))


@st.composite
def adaptive_args(draw, dims: int, tier: str = "tiny"):
    """Tiers: a long input or output along each side, tall windows (a tall input pooled to few
    rows), many channels or planes, a large batch, global pooling of a large map, one output
    from a larger input (out1_strided), windows that overlap or leave gaps between them; the
    degenerate ones on every side or on one."""
    tier, mask = _degenerate(draw, tier, dims)
    planes = _pool_planes(draw, tier)
    if tier == "window_rows":
        sides = (draw(st.sampled_from(WINDOW_ROWS)) * 2,
                 *(draw(st.integers(1, MAX_SIDE)) for _ in range(dims - 1)))
        return _adaptive(planes, sides, (draw(st.integers(1, 2)), *(None,) * (dims - 1)))
    if tier == "long_plane":  # global pooling, as in squeeze-and-excitation blocks
        return _adaptive(planes, _long_sides(draw, dims), draw(st.sampled_from([1, (1,) * dims])))
    if tier == "out1_strided":
        sides = tuple(draw(st.integers(2, 9)) for _ in range(dims))
        if all(mask):
            return _adaptive(planes, sides, 1)
        return _adaptive(planes, sides, tuple(1 if bad else draw(st.integers(2, s))
                                              for s, bad in zip(sides, mask)))
    sides = _plane(draw, tier, (1,) * dims, (1,) * dims)
    if tier == "launch_planes":
        sides = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    big = _side_index(tier, dims) is not None or tier.startswith("length_")
    outs = tuple(draw(st.integers(max(1, s - 2), s + 2)) if big else draw(st.integers(1, s + 2))
                 for s in sides)
    if tier == "wide_windows":  # a third as many outputs as inputs: windows of 3 to 4
        outs = tuple(max(1, s // 3) if bad else out for s, out, bad in zip(sides, outs, mask))
    options = [outs]
    if dims > 1:  # None keeps a side (not in 1-D, where torch wants ints)
        options += [(None, *outs[1:]), (*outs[:-1], None)]
    if not big:  # an int: that many outputs along every side
        options.append(outs[0])
    return _adaptive(planes, sides, draw(st.sampled_from(options)))


def _adaptive(planes, sides, output_size) -> dict:
    return dict(input_shape=(*planes, *sides), kwargs={"output_size": output_size})


TRANSPOSED_DEGENERATE = ("out1_strided", "gaps", "pad_windows", "output_padding", "multiplier")


def conv_transpose_tiers(dims: int) -> tuple:
    return tiers(("out_channels", "in_channels", "reduction"), TRANSPOSED_DEGENERATE, dims, True)


TRANSPOSED_DEFAULTS = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                       "dilation": 1}


@st.composite
def conv_transpose_args(draw, dims: int, tier: str = "tiny"):
    """A transposed convolution: each input element scatters a window into the output, the
    windows `stride` apart, overlapping where the kernel is longer than the stride; `gaps`:
    shorter (outputs between windows get the bias only); `pad_windows`: the padding crops the
    output's edges; `output_padding`: one more row or column at the end (each on every side,
    or on one)."""
    tier, mask = _degenerate(draw, tier, dims)
    long, wide = tier == "reduction", tier in large_tiers(dims)
    small = _tile(tier, "channels") or tier.startswith("length_")
    groups = 1 if long or wide or small else draw(st.sampled_from([1, 1, 2, 3]))
    groups = draw(st.integers(2, 4)) if tier == "multiplier" else groups
    c_group = 1 if tier == "multiplier" else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 3))
    k_group = draw(st.integers(2, 4)) if tier == "multiplier" else k_group
    groups, c_group, k_group = _channels(draw, tier) or (groups, c_group, k_group)
    kernel = ntuple(3 if long else draw(st.one_of(st.just(3), _int_or_tuple(1, 4, dims))), dims)
    kernel = ntuple(draw(st.sampled_from([1, 2])), dims) if wide or small else kernel
    dilation = (1,) * dims if wide or long or small else ntuple(
        draw(st.one_of(st.just(1), _int_or_tuple(1, 3, dims))), dims)
    stride = _transposed_stride(draw, tier, kernel, dilation, mask)
    sides = _transposed_sides(draw, tier, dims, mask)
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    if tier == "long_plane":  # grad of weight sums N * (input elements of a plane) terms
        sides = _long_sides(draw, dims)
    if tier == "launch_planes":
        n, planes = _split(draw, _past_grid(draw))
        c_group, k_group = (planes, 1) if draw(st.booleans()) else (1, planes)
        sides = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    extra = _output_padding(draw, tier, stride, dilation, mask, kernel)
    padding = tuple(_transposed_padding(draw, tier, *one) for one in
                    zip(sides, kernel, stride, dilation, extra, mask))
    padding = (0,) * dims if tier == "tiny" and draw(st.booleans()) else padding
    kw = {"stride": stride, "padding": padding, "output_padding": extra, "groups": groups,
          "dilation": dilation}
    bias = _bias(draw, kw)
    return dict(input_shape=(n, groups * c_group, *sides),
                weight_shape=(groups * c_group, k_group, *kernel), bias=bias,
                kwargs=_call_form(draw, kw, TRANSPOSED_DEFAULTS, dims))


def _transposed_sides(draw, tier, dims, mask) -> tuple:
    """Input sides: past a tile boundary or the grid along a large side, a long 1-D line, two
    or more beside a degenerate side, otherwise a few."""
    big = _side_index(tier, dims)
    if tier.startswith("length_"):
        return (_near(draw, _tile(tier, "length")),)
    return tuple(_past_grid(draw) if tier.startswith("launch_") and i == big else
                 draw(st.sampled_from(BOUNDARY)) if i == big else
                 1 if bad and tier == "out1_strided" else
                 draw(st.integers(1 if bad else 2, 4)) for i, bad in enumerate(mask))


def _output_padding(draw, tier, stride, dilation, mask, kernel) -> tuple:
    """One more row or column at the end where the output_padding tier asks (on the sides of
    `mask`, at least one of them), sometimes in the tiny tier, else none; out1_strided: one
    where the window's span is even, so that padding can crop the output to one element."""
    if tier == "out1_strided":
        return tuple((span(k, d) + 1) % 2 if bad else 0
                     for k, d, bad in zip(kernel, dilation, mask))
    room = [max(s, d) - 1 for s, d in zip(stride, dilation)]
    asked = tier == "output_padding"
    extra = tuple(draw(st.integers(0, r)) if (asked and bad) or
                  (tier == "tiny" and draw(st.booleans())) else 0
                  for r, bad in zip(room, mask))
    if asked and not any(e for e, bad in zip(extra, mask) if bad):
        extra = tuple(r if bad else e for r, e, bad in zip(room, extra, mask))
    return extra


def _transposed_stride(draw, tier, kernel, dilation, mask) -> tuple:
    """Windows overlapping, touching or (gaps) apart; at least 2 where output_padding needs room
    and on the degenerate sides of out1_strided."""
    if tier.startswith(("launch_", "length_")) or tier == "reduction":
        return (1,) * len(kernel)
    if tier == "gaps":
        return tuple(span(k, d) + draw(st.integers(1, 2)) if bad else draw(st.integers(1, 3))
                     for k, d, bad in zip(kernel, dilation, mask))
    return tuple(draw(st.integers(2 if tier in ("output_padding", "out1_strided") and bad else 1,
                                  3)) for bad in mask)


def _transposed_padding(draw, tier, side, kernel, stride, dilation, extra, bad) -> int:
    """Padding that leaves at least one output along the side (it crops the full output)."""
    full = (side - 1) * stride + span(kernel, dilation) + extra
    most = (full - 1) // 2
    if tier == "out1_strided" and bad:  # crops the output to one element
        return most
    if tier == "pad_windows" and bad:
        return min(most, max(1, span(kernel, dilation) // 2))
    return draw(st.integers(0, min(most, 2)))
