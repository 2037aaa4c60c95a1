"""Hypothesis strategies that build valid Cases by construction (no filtering), plus invalid ones.

Sizes are a strategy dimension. Most examples are tiny (fast, easy to shrink); a *tier* other
than "tiny" makes one dimension large, at a tile boundary: the remainders just past the powers of
two that kernels tile by (9 = 8+1 ... 129 = 128+1), so the last tile is a partial one for every
tile size up to 128. Only one dimension grows per example, which bounds its cost. Hypothesis
shrinks the size to the smallest boundary that still fails, which names the tile.
"""
from __future__ import annotations

from hypothesis import strategies as st

from harness.cases import DISTRIBUTIONS, Case

MAX_SIDE = 6  # tiny input sides, so one example costs milliseconds
# Past 8, 16, 32, 64 and 128; 129 is partial for every tile up to 128, so it is drawn most.
BOUNDARY = (9, 17, 33, 65, 129, 129, 129)
BATCH = (5, 9, 17, 17)  # batch tiles are small: 17 is partial for tiles of 2 to 16
WINDOW_ROWS = (9, 17, 33)  # pooling windows taller than a row tile
# Input channels of the long-reduction tier (x 3x3 kernel: up to 9225 terms per output), the
# smaller ones first, so that shrinking moves towards them; long ones are drawn most.
LONG_REDUCTION = (33, 65, 129, 257, 513, 1025, 1025, 1025)
TIERS = {"conv2d": ("out_channels", "in_channels", "plane", "batch", "reduction"),
         "max_pool2d": ("channels", "plane", "batch", "window_rows"),
         "avg_pool2d": ("channels", "plane", "batch", "window_rows"),
         "adaptive_avg_pool2d": ("channels", "plane", "batch", "window_rows")}
TINY_SHARE = 3  # in the mixed strategy, "tiny" is drawn this many times as often as each tier


def tier_names(op: str) -> tuple:
    return TIERS[op]


def _tiers(op: str, mix: str) -> st.SearchStrategy[str]:
    """'tiny' first (what shrinking moves towards); 'sizes': large tiers only."""
    if mix == "sizes":
        return st.sampled_from(TIERS[op])
    if mix == "tiny":
        return st.just("tiny")
    return st.sampled_from(("tiny",) * TINY_SHARE + TIERS[op])


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


@st.composite
def conv2d_args(draw, tier="tiny"):
    long = tier == "reduction"
    groups = 1 if long else draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = groups > 1 and tier != "in_channels" and draw(st.booleans())
    c_group = 1 if depthwise else _size(draw, tier, "in_channels", st.integers(1, 3))
    c_group = draw(st.sampled_from(LONG_REDUCTION)) if long else c_group
    k_group = _size(draw, tier, "out_channels", st.integers(1, 2 if depthwise else 3))
    kernel = 3 if long else draw(st.one_of(st.just(3), _int_or_pair(1, 4)))  # 3x3 often
    dilation = draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    padding = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
    stride = 1 if padding == "same" else draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    (r, s), (dh, dw) = _pairs(kernel), _pairs(dilation)
    if padding == "int":
        padding = draw(st.integers(0, 2))
    elif padding == "tuple":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads = (0, 0) if isinstance(padding, str) else _pairs(padding)
    wide = tier == "plane"
    h = _side(draw, dh * (r - 1) + 1 - 2 * pads[0])
    w = _side(draw, dw * (s - 1) + 1 - 2 * pads[1], grow=wide)
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    kw = {k: v for k, v in kw.items() if v != defaults[k]}
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    return dict(input_shape=(n, groups * c_group, h, w),
                weight_shape=(groups * k_group, c_group, r, s), bias=draw(st.booleans()), kwargs=kw)


def _window(draw, tier, low=1, high=4) -> tuple:
    """(kernel argument, (kh, kw)): tall windows in the window_rows tier."""
    if tier == "window_rows":
        kernel = (draw(st.sampled_from(WINDOW_ROWS)), draw(st.integers(1, 3)))
        return kernel, kernel
    kernel = draw(_int_or_pair(low, high))
    return kernel, _pairs(kernel)


@st.composite
def max_pool2d_args(draw, tier="tiny"):
    kernel, k = _window(draw, tier)
    dilation = 1 if tier == "window_rows" else draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    d = _pairs(dilation)
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    kw = {"kernel_size": kernel, "stride": draw(st.one_of(st.none(), _int_or_pair(1, 3))),
          "padding": padding if draw(st.booleans()) or padding[0] != padding[1] else padding[0],
          "dilation": dilation, "ceil_mode": draw(st.booleans())}
    if tier == "plane":  # a wide output plane needs windows that move by one or two
        kw["stride"] = draw(st.sampled_from([1, (1, 1), (2, 1)]))
    shape = _pool_input(draw, tier, [d[i] * (k[i] - 1) + 1 - 2 * padding[i] for i in range(2)])
    return dict(input_shape=shape, kwargs=kw)


@st.composite
def avg_pool2d_args(draw, tier="tiny"):
    kernel, k = _window(draw, tier)
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    kw = {"kernel_size": kernel, "stride": draw(st.one_of(st.none(), _int_or_pair(1, 3))),
          "padding": padding if padding[0] != padding[1] else padding[0],
          "ceil_mode": draw(st.booleans()), "count_include_pad": draw(st.booleans()),
          "divisor_override": draw(st.one_of(st.none(), st.integers(1, 5)))}
    if tier == "plane":
        kw["stride"] = draw(st.sampled_from([1, (1, 1), (2, 1)]))
    shape = _pool_input(draw, tier, [k[i] - 2 * padding[i] for i in range(2)])
    return dict(input_shape=shape, kwargs=kw)


@st.composite
def adaptive_avg_pool2d_args(draw, tier="tiny"):
    """Tiers: wide output plane (from a wide input), tall windows (a tall input pooled to few
    rows), many channels, a large batch."""
    tall = tier == "window_rows"
    shape = _pool_input(draw, "plane" if tier == "plane" else tier, [1, 1])
    if tall:
        shape = (*shape[:2], draw(st.sampled_from(WINDOW_ROWS)) * 2, shape[3])
    h, w = shape[2:]
    out_h = draw(st.integers(1, 2)) if tall else draw(st.integers(1, h + 2))
    out_w = draw(st.integers(max(1, w - 2), w + 2)) if tier == "plane" else \
        draw(st.integers(1, w + 2))
    options = [(out_h, out_w), (out_h, None)] if tall else \
        [out_h, (out_h, out_w), (None, out_w), (out_h, None)]
    return dict(input_shape=shape, kwargs={"output_size": draw(st.sampled_from(options))})


def _pool_input(draw, tier, extents) -> tuple:
    n = _size(draw, tier, "batch", st.integers(1, 3), BATCH)
    c = _size(draw, tier, "channels", st.integers(1, 3))
    return (n, c, _side(draw, extents[0]), _side(draw, extents[1], grow=tier == "plane"))


ARGS = {"conv2d": conv2d_args, "max_pool2d": max_pool2d_args, "avg_pool2d": avg_pool2d_args,
        "adaptive_avg_pool2d": adaptive_avg_pool2d_args}
HALF = ("float16", "bfloat16")


def _dtype(tier: str, dtypes) -> st.SearchStrategy[str]:
    """Long reductions are drawn in float16 where it is asked for: it is there that a kernel
    accumulating in half shows (the error grows with the number of terms)."""
    if tier == "reduction" and "float16" in dtypes:
        return st.just("float16")
    return st.sampled_from(dtypes)


@st.composite
def case_args(draw, op: str, mix: str, dtypes) -> dict:
    tier = draw(_tiers(op, mix))
    return {**draw(ARGS[op](tier)), "dtype": draw(_dtype(tier, dtypes))}


def cases(op: str, *, dtypes=("float32",), devices=("cpu",), layouts=("contiguous",),
          dists=DISTRIBUTIONS, mix: str = "mixed") -> st.SearchStrategy[Case]:
    """Valid Cases of `op`, every argument drawn before the shapes that depend on it.

    `mix`: "mixed" (mostly tiny, some at tile boundaries), "sizes" (tile boundaries only) or
    "tiny".
    """
    return st.builds(lambda args, **rest: Case(op=op, **args, **rest),
                     case_args(op, mix, tuple(dtypes)), device=st.sampled_from(devices),
                     layout=st.sampled_from(layouts), dist=st.sampled_from(dists),
                     seed=st.integers(0, 2**31 - 1))


def tier_of(case: Case) -> str:
    """Which tier a drawn case belongs to, from its sizes (for coverage figures)."""
    n, c, h, w = case.input_shape
    if case.op == "conv2d":
        k, cg = case.weight_shape[:2]
        groups = case.kwargs.get("groups", 1)
        checks = [("reduction", cg >= 257 and case.weight_shape[2:] == (3, 3)),
                  ("in_channels", cg >= BOUNDARY[0]),
                  ("out_channels", k // groups >= BOUNDARY[0])]
    else:
        kernel = _pairs(case.kwargs.get("kernel_size", 1))
        tall = kernel[0] >= WINDOW_ROWS[0] if case.op != "adaptive_avg_pool2d" else \
            h >= 2 * WINDOW_ROWS[0]
        checks = [("channels", c >= BOUNDARY[0]), ("window_rows", tall)]
    checks += [("batch", n >= BATCH[0]), ("plane", w > MAX_SIDE + 4)]
    return next((name for name, hit in checks if hit), "tiny")


def invalid_cases(op: str) -> list[Case]:
    """Calls the reference rejects: each implementation must reject them too."""
    x = (1, 2, 5, 5)
    if op == "conv2d":
        bad = [dict(weight_shape=(2, 2, 3, 3), kwargs={"stride": 0}),
               dict(weight_shape=(2, 2, 3, 3), kwargs={"padding": -1}),
               dict(weight_shape=(2, 3, 3, 3)),                      # channel mismatch
               dict(weight_shape=(3, 1, 3, 3), kwargs={"groups": 2}),  # groups vs out channels
               dict(weight_shape=(2, 2, 7, 7)),                      # kernel larger than input
               dict(weight_shape=(2, 2, 3, 3), kwargs={"padding": "same", "stride": 2}),
               dict(weight_shape=(2, 2, 3, 3), kwargs={"dilation": 0})]
        return [Case(op, x, **b) for b in bad]
    if op == "adaptive_avg_pool2d":
        return [Case(op, x, kwargs={"output_size": (0, 2)}),
                Case(op, x, kwargs={"output_size": -1})]
    bad = [{"kernel_size": 3, "padding": 2}, {"kernel_size": 0}, {"kernel_size": 7},
           {"kernel_size": 2, "stride": 0}]
    if op == "max_pool2d":
        bad.append({"kernel_size": 2, "dilation": 0})
    return [Case(op, x, kwargs=b) for b in bad]
