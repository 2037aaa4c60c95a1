"""Hypothesis strategies that build valid Cases by construction (no filtering), plus invalid ones."""
from __future__ import annotations

from hypothesis import strategies as st

from harness.cases import DISTRIBUTIONS, Case

MAX_SIDE = 6  # input sides stay small so one example costs milliseconds


@st.composite
def _int_or_pair(draw, low, high):
    """An int, or an (h, w) tuple: torch accepts both for every window argument."""
    h = draw(st.integers(low, high))
    if draw(st.booleans()):
        return h
    return (h, draw(st.integers(low, high)))


def _pairs(value):
    return value if isinstance(value, tuple) else (value, value)


def _side(draw, extent_needed: int) -> int:
    """An input side at least `extent_needed` (and at least 1), a few elements more at most."""
    return max(1, extent_needed) + draw(st.integers(0, MAX_SIDE - 1))


@st.composite
def conv2d_args(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = groups > 1 and draw(st.booleans())
    c_group = 1 if depthwise else draw(st.integers(1, 3))
    k_group = draw(st.integers(1, 2)) if depthwise else draw(st.integers(1, 3))
    kernel = draw(st.one_of(st.just(3), _int_or_pair(1, 4)))  # 3x3, the common case, often
    dilation = draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    padding = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
    stride = 1 if padding == "same" else draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    (r, s), (dh, dw) = _pairs(kernel), _pairs(dilation)
    if padding == "int":
        padding = draw(st.integers(0, 2))
    elif padding == "tuple":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads = (0, 0) if isinstance(padding, str) else _pairs(padding)
    h = _side(draw, dh * (r - 1) + 1 - 2 * pads[0])
    w = _side(draw, dw * (s - 1) + 1 - 2 * pads[1])
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
    kw = {k: v for k, v in kw.items() if v != defaults[k]}
    n = draw(st.integers(1, 3))
    return dict(input_shape=(n, groups * c_group, h, w),
                weight_shape=(groups * k_group, c_group, r, s), bias=draw(st.booleans()), kwargs=kw)


@st.composite
def max_pool2d_args(draw):
    kernel = draw(_int_or_pair(1, 4))
    k = _pairs(kernel)
    dilation = draw(st.one_of(st.just(1), _int_or_pair(1, 3)))
    d = _pairs(dilation)
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    kw = {"kernel_size": kernel, "stride": draw(st.one_of(st.none(), _int_or_pair(1, 3))),
          "padding": padding if draw(st.booleans()) or padding[0] != padding[1] else padding[0],
          "dilation": dilation, "ceil_mode": draw(st.booleans())}
    shape = _pool_input(draw, [d[i] * (k[i] - 1) + 1 - 2 * padding[i] for i in range(2)])
    return dict(input_shape=shape, kwargs=kw)


@st.composite
def avg_pool2d_args(draw):
    kernel = draw(_int_or_pair(1, 4))
    k = _pairs(kernel)
    padding = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    kw = {"kernel_size": kernel, "stride": draw(st.one_of(st.none(), _int_or_pair(1, 3))),
          "padding": padding if padding[0] != padding[1] else padding[0],
          "ceil_mode": draw(st.booleans()), "count_include_pad": draw(st.booleans()),
          "divisor_override": draw(st.one_of(st.none(), st.integers(1, 5)))}
    shape = _pool_input(draw, [k[i] - 2 * padding[i] for i in range(2)])
    return dict(input_shape=shape, kwargs=kw)


@st.composite
def adaptive_avg_pool2d_args(draw):
    shape = _pool_input(draw, [1, 1])
    h, w = shape[2:]
    out_h, out_w = draw(st.integers(1, h + 2)), draw(st.integers(1, w + 2))
    output_size = draw(st.sampled_from([out_h, (out_h, out_w), (None, out_w), (out_h, None)]))
    return dict(input_shape=shape, kwargs={"output_size": output_size})


def _pool_input(draw, extents) -> tuple:
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, _side(draw, extents[0]), _side(draw, extents[1]))


ARGS = {"conv2d": conv2d_args, "max_pool2d": max_pool2d_args, "avg_pool2d": avg_pool2d_args,
        "adaptive_avg_pool2d": adaptive_avg_pool2d_args}


def cases(op: str, *, dtypes=("float32",), devices=("cpu",), layouts=("contiguous",),
          dists=DISTRIBUTIONS) -> st.SearchStrategy[Case]:
    """Valid Cases of `op`, every argument drawn before the shapes that depend on it."""
    return st.builds(lambda args, **rest: Case(op=op, **args, **rest), ARGS[op](),
                     dtype=st.sampled_from(dtypes), device=st.sampled_from(devices),
                     layout=st.sampled_from(layouts), dist=st.sampled_from(dists),
                     seed=st.integers(0, 2**31 - 1))


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
