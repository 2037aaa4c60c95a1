"""The contract: one record per op, holding everything the harness knows about it.

A record gives the op's stub signature and float64 reference, its output-shape rule and work
counts, its strategies (size tiers, degenerate and invalid cases), worked examples, memory case,
tolerance inputs and undefined-reference rule. Every list of ops derives from OPS; the records
of one family differ only in the number of spatial dimensions.
"""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F

import harness.ops.draws as draws
import harness.ops.worked as worked
from harness.ops.families import FAMILIES, op_name
from harness.ops.geometry import (adaptive_size, conv_out_len, conv_padding, extent, ntuple,
                                  pool_out_len, pool_window, spatial, transposed_out_len)

__all__ = ["OPS", "Op", "UnknownOp", "get_op", "magnitude", "squares", "float64_cpu"]


# Stubs: the signatures of the functionals (torch's builtins have no inspectable signature).
def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Stub: the signature of F.conv1d, F.conv2d and F.conv3d."""


def conv_transpose(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                   dilation=1):
    """Stub: the signature of F.conv_transpose1d, 2d and 3d (groups before dilation)."""


def max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
             return_indices=False):
    """Stub: the signature of F.max_pool1d, F.max_pool2d and F.max_pool3d."""


def avg_pool(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
    """Stub: the signature of F.avg_pool2d and F.avg_pool3d."""


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Stub: the signature of F.avg_pool1d (no divisor_override)."""


def adaptive_avg_pool(input, output_size):
    """Stub: the signature of F.adaptive_avg_pool1d, 2d and 3d."""


def adaptive_max_pool(input, output_size, return_indices=False):
    """Stub: the signature of F.adaptive_max_pool1d, 2d and 3d."""


def _numel(shape) -> int:
    return math.prod(shape) if shape else 0


def _conv_shape(shapes, kw):
    x, w = shapes
    pads = conv_padding(kw, w)
    dims = spatial(x)
    stride, dilation = ntuple(kw.get("stride", 1), dims), ntuple(kw.get("dilation", 1), dims)
    return (x[0], w[0], *(conv_out_len(x[2 + i], w[2 + i], stride[i], pads[2 * i],
                                       pads[2 * i + 1], dilation[i]) for i in range(dims)))


def _transposed_geometry(shapes, kw) -> dict:
    dims = spatial(shapes[0])
    return {key: ntuple(kw.get(key, default), dims) for key, default in
            (("stride", 1), ("padding", 0), ("output_padding", 0), ("dilation", 1))}


def _conv_transpose_shape(shapes, kw):
    (x, w), g = shapes, _transposed_geometry(shapes, kw)
    return (x[0], w[1] * kw.get("groups", 1), *(
        transposed_out_len(size, k, s, p, d, o) for size, k, s, p, d, o in
        zip(x[2:], w[2:], g["stride"], g["padding"], g["dilation"], g["output_padding"])))


def _conv_transpose_reduction(shapes, kw):
    """Terms of one output element: each input channel of its group times the kernel taps
    that land on it, at most ceil(kernel / (stride / gcd(stride, dilation))) along a side."""
    (x, w), g = shapes, _transposed_geometry(shapes, kw)
    taps = math.prod(math.ceil(k / (s // math.gcd(s, d)))
                     for k, s, d in zip(w[2:], g["stride"], g["dilation"]))
    return (x[1] // kw.get("groups", 1)) * taps


def _conv_transpose_terms(shapes, kw) -> int:
    """Multiply-adds of one call: every input element times its group's kernels."""
    (x, w) = shapes
    return math.prod(x) * math.prod(w[1:])


def _conv_transpose_grad_reductions(shapes, kw) -> tuple:
    (x, w), out = shapes, _conv_transpose_shape(shapes, kw)
    return (math.prod(w[1:]), x[0] * math.prod(x[2:]), out[0] * math.prod(out[2:]))


def _conv_transpose_window(shapes, kw) -> tuple:
    g = _transposed_geometry(shapes, kw)
    return ([extent(k, d) for k, d in zip(shapes[1][2:], g["dilation"])], g["stride"],
            [(p, p) for p in g["padding"]])


def _uncropped_inputs(shapes, kw) -> torch.Tensor:
    """Input elements none of whose kernel taps falls in the cropped padding: elsewhere a NaN or
    infinity meets the padding's zeros in the weight's gradient, where PyTorch's own kernels
    disagree (0 in some, NaN in others): the answer there is no contract's."""
    (x, w), g = shapes, _transposed_geometry(shapes, kw)
    out = _conv_transpose_shape(shapes, kw)[2:]
    mask = torch.ones((), dtype=torch.bool)
    for d, size in enumerate(x[2:]):
        start = torch.arange(size) * g["stride"][d] - g["padding"][d]
        inside = (start >= 0) & (start + extent(w[2 + d], g["dilation"][d]) <= out[d])
        mask = mask.unsqueeze(-1) & inside
    return mask.view(1, 1, *x[2:])


def _pool_shape(shapes, kw):
    x = shapes[0]
    g = pool_window(kw, spatial(x))
    ceil = kw.get("ceil_mode", False)
    return (*x[:2], *(pool_out_len(size, g["kernel"][i], g["stride"][i], g["padding"][i],
                                   g["dilation"][i], ceil) for i, size in enumerate(x[2:])))


def _adaptive_shape(shapes, kw):
    return (*shapes[0][:2], *adaptive_size(shapes[0], kw["output_size"]))


def _conv_window(shapes, kw) -> tuple:
    w = shapes[1]
    pads = conv_padding(kw, w)
    dims = spatial(w)
    d = ntuple(kw.get("dilation", 1), dims)
    return ([extent(k, one) for k, one in zip(w[2:], d)], ntuple(kw.get("stride", 1), dims),
            [(pads[2 * i], pads[2 * i + 1]) for i in range(dims)])


def _pool_window(shapes, kw) -> tuple:
    g = pool_window(kw, spatial(shapes[0]))
    return ([extent(k, d) for k, d in zip(g["kernel"], g["dilation"])], g["stride"],
            [(p, p) for p in g["padding"]])


def _adaptive_window(shapes, kw) -> tuple:
    dims = spatial(shapes[0])
    return [1] * dims, (1,) * dims, [(0, 0)] * dims


def _every_window_meets_input(shapes, kw) -> bool:
    """A max-pool window wholly in padding has no defined maximum."""
    x = shapes[0]
    g = pool_window(kw, spatial(x))
    out = _pool_shape(shapes, kw)[2:]
    for dim, size in enumerate(x[2:]):
        k, s, p, d = (g[key][dim] for key in ("kernel", "stride", "padding", "dilation"))
        for o in range(out[dim]):
            if not any(0 <= o * s - p + d * j < size for j in range(k)):
                return False
    return True


def _conv_reduction(shapes, kw):
    return math.prod(shapes[1][1:])


def _conv_grad_reductions(shapes, kw) -> tuple:
    w = shapes[1]
    out = _conv_shape(shapes, kw)
    per_plane = out[0] * math.prod(out[2:])
    return ((w[0] // kw.get("groups", 1)) * math.prod(w[2:]), per_plane, per_plane)


def _pool_reduction(shapes, kw):
    return math.prod(pool_window(kw, spatial(shapes[0]))["kernel"])


def _adaptive_reduction(shapes, kw):
    x = shapes[0]
    return math.prod(math.ceil(size / out + 1)
                     for size, out in zip(x[2:], adaptive_size(x, kw["output_size"])))


@dataclass(frozen=True)
class Op:
    """One op of the contract. `shapes` below is (input_shape, weight_shape or None)."""

    name: str
    family: str  # ops of one family differ only in their spatial dimensions
    dims: int
    functional: Callable
    stub: Callable
    tensor_args: tuple[str, ...]
    out_shape: Callable[[tuple, dict], tuple]
    reduction: Callable[[tuple, dict], int]
    linear: bool  # linear in every tensor argument: |terms| come from the reference on |inputs|
    window: Callable[[tuple, dict], tuple]  # (extent, stride, (pad before, after)) per dimension
    args: Callable  # tier -> a strategy of {input_shape, weight_shape, bias, kwargs} dicts
    tiers: tuple  # the size tiers `args` takes besides "tiny"
    memory_call: tuple  # (input_shape, weight_shape or None, kwargs) the memory property repeats
    marker: str  # its marker in figures
    examples: tuple = ()  # worked.Example entries, exact
    grad_reduction: Callable[[tuple, dict], tuple] | None = None  # terms per gradient element of
    # each tensor argument; None: the forward's reduction length, for the one tensor argument
    defined: Callable[[tuple, dict], bool] = lambda shapes, kw: True  # the oracle has an answer
    ops_per_term: int = 1  # a multiply-add counts 2 FLOPs, a pool's compare or add 1
    weight_out_dim: int = 0  # the weight's dimension of output channels (1: transposed)
    special_sites: Callable[[tuple, dict], Any] = lambda shapes, kw: None  # a mask of the input
    # where special values may be planted (None: anywhere)
    terms: Callable[[tuple, dict], int] | None = None  # multiply-adds (or window elements) of
    # one call; None: output elements times the reduction length
    indices: bool = False  # takes return_indices: a max op, whose tied maxima split no gradient
    invalid: tuple = ()  # calls on an input of `invalid_input` the reference rejects, as dicts
    # of Case fields (weight_shape, kwargs): every implementation must reject them too
    plain: tuple = ()  # the calls users write most, optional arguments omitted, as dicts of
    # Case fields (`F.max_pool2d(x, 2)`), and one with every optional argument given: every
    # drawn property tries them first

    @property
    def weighted(self) -> bool:
        """A convolution: input, weight and an optional bias (a pool has the input only)."""
        return "weight" in self.tensor_args

    def out_channels(self, weight_shape, kw) -> int:
        """Output channels of a weighted op (the bias's length)."""
        per_group = weight_shape[self.weight_out_dim]
        return per_group * (kw.get("groups", 1) if self.weight_out_dim else 1)

    def per_output_channel(self, weight):
        """The weight as (output channel within the group) x (all else): its rows' |sums|
        bound one output element's sum of |weights|."""
        return weight.transpose(0, self.weight_out_dim).flatten(1)

    def per_input_channel(self, weight):
        """The weight as (input channel within the group) x (all else)."""
        return weight.transpose(0, 1 - self.weight_out_dim).flatten(1)

    @property
    def invalid_input(self) -> tuple:
        return (1, 2) + (5,) * self.dims

    @property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.stub)

    def output_shape(self, shapes, kw) -> tuple:
        return tuple(self.out_shape(shapes, kw))

    def reduction_length(self, shapes, kw) -> int:
        """How many terms one output element sums (or compares)."""
        return max(1, self.reduction(shapes, kw))

    def grad_reduction_lengths(self, shapes, kw) -> tuple:
        """Per tensor argument, how many terms one element of its gradient sums."""
        if self.grad_reduction is None:
            return (self.reduction_length(shapes, kw),)
        return self.grad_reduction(shapes, kw)

    def flops(self, shapes, kw) -> int:
        """Multiply-adds count twice; a pool does one operation per window element."""
        if self.terms is not None:
            return self.ops_per_term * self.terms(shapes, kw)
        out = _numel(self.output_shape(shapes, kw))
        return self.ops_per_term * out * self.reduction_length(shapes, kw)

    def bytes_moved(self, shapes, kw, itemsize: int = 4) -> int:
        """Compulsory traffic: every input read once, the output written once."""
        total = sum(_numel(s) for s in shapes if s) + _numel(self.output_shape(shapes, kw))
        return total * itemsize

    def reference(self, *tensors, **kw) -> Any:
        """The functional on `tensors` (input, weight, bias or None), as `called`."""
        with warnings.catch_warnings():  # the oracle's notices are not the implementation's
            warnings.simplefilter("ignore")
            return self.called(self.functional, *tensors, **kw)

    @staticmethod
    def called(fn, *tensors, **kw) -> Any:
        """`fn` on `tensors` (input, weight, bias or None); a call that passes bias=None by
        name has no bias among them."""
        if "bias" in kw:
            tensors = tuple(t for t in tensors if t is not None)
        return fn(*tensors, **kw)


def _sides(dims: int, *sizes) -> tuple:
    """`sizes` repeated over `dims` sides: _sides(2, 3) -> (3, 3)."""
    return tuple(s for s in sizes for _ in range(dims))


def _conv(dims: int) -> Op:
    k3, k7 = _sides(dims, 3), _sides(dims, 7)
    invalid = (
        dict(weight_shape=(2, 2, *k3), kwargs={"stride": 0}),
        dict(weight_shape=(2, 2, *k3), kwargs={"padding": -1}),
        dict(weight_shape=(2, 3, *k3)),                         # channel mismatch
        dict(weight_shape=(3, 1, *k3), kwargs={"groups": 2}),   # groups vs out channels
        dict(weight_shape=(2, 2, *k7)),                         # kernel larger than input
        dict(weight_shape=(2, 2, *k3), kwargs={"padding": "same", "stride": 2}),
        dict(weight_shape=(2, 2, *k3), kwargs={"dilation": 0}))
    plane = {1: (256,), 2: (16, 16), 3: (8, 8, 8)}[dims]
    return Op(op_name("conv", dims), "conv", dims, getattr(F, f"conv{dims}d"), conv,
              ("input", "weight", "bias"), _conv_shape, _conv_reduction, linear=True,
              window=_conv_window, args=partial(draws.conv_args, dims),
              tiers=draws.conv_tiers(dims),
              memory_call=((2, 8, *plane), (8, 8, *k3), {"padding": 1}), marker="o",
              examples={1: worked.CONV1D, 2: worked.CONV2D, 3: worked.CONV3D}[dims],
              grad_reduction=_conv_grad_reductions, ops_per_term=2, invalid=invalid,
              plain=(_call((1, 2, *_sides(dims, 6)), (3, 2, *k3)),
                     _call((1, 2, *_sides(dims, 6)), (4, 2, *k3), bias=True, stride=2,
                           padding=1),
                     _call((1, 2, *_sides(dims, 7)), (4, 1, *k3), bias=True, stride=2,
                           padding=1, dilation=2, groups=2)))


def _conv_transpose(dims: int) -> Op:
    k3 = _sides(dims, 3)
    invalid = (
        dict(weight_shape=(2, 2, *k3), kwargs={"stride": 0}),
        dict(weight_shape=(2, 2, *k3), kwargs={"padding": -1}),
        dict(weight_shape=(2, 2, *k3), kwargs={"padding": 4}),  # no output left
        dict(weight_shape=(3, 2, *k3)),                         # channel mismatch
        dict(weight_shape=(2, 2, *k3), kwargs={"groups": 3}),
        dict(weight_shape=(2, 2, *k3), kwargs={"stride": 2, "output_padding": 2}),
        dict(weight_shape=(2, 2, *k3), kwargs={"dilation": 0}))
    plane = {1: (128,), 2: (12, 12), 3: (6, 6, 6)}[dims]
    return Op(op_name("conv_transpose", dims), "conv_transpose", dims,
              getattr(F, f"conv_transpose{dims}d"), conv_transpose, ("input", "weight", "bias"),
              _conv_transpose_shape, _conv_transpose_reduction, linear=True,
              window=_conv_transpose_window, args=partial(draws.conv_transpose_args, dims),
              tiers=draws.conv_transpose_tiers(dims),
              memory_call=((2, 8, *plane), (8, 8, *k3), {"stride": 2, "padding": 1}),
              marker="P", examples=worked.CONV_TRANSPOSE[dims],
              grad_reduction=_conv_transpose_grad_reductions, ops_per_term=2,
              terms=_conv_transpose_terms, weight_out_dim=1,
              special_sites=_uncropped_inputs, invalid=invalid,
              plain=(_call((1, 2, *_sides(dims, 3)), (2, 3, *k3)),
                     _call((1, 2, *_sides(dims, 3)), (2, 4, *k3), bias=True, stride=2,
                           padding=1, output_padding=1),
                     _call((1, 2, *_sides(dims, 3)), (2, 2, *k3), bias=True, stride=2,
                           padding=1, output_padding=1, groups=2, dilation=2)))


def _pool_invalid(dims: int) -> tuple:
    return tuple(dict(kwargs=kw) for kw in (
        {"kernel_size": 3, "padding": 2}, {"kernel_size": 0}, {"kernel_size": 7},
        {"kernel_size": 2, "stride": 0}))


def _call(input_shape, weight_shape=None, bias=False, **kwargs) -> dict:
    """Case fields of one call."""
    return dict(input_shape=input_shape, weight_shape=weight_shape, bias=bias, kwargs=kwargs)


def _pool_plain(dims: int, *kwargs) -> tuple:
    """`F.max_pool2d(x, 2)` and the like: keyword dicts on a 1x2x6... input."""
    return tuple(_call((1, 2, *_sides(dims, 6)), **kw) for kw in kwargs)


def _plane(dims: int) -> tuple:
    """A memory case's input: 16 channels of 1024 elements, whatever the dimensions."""
    return (2, 16, *{1: (1024,), 2: (32, 32), 3: (8, 8, 16)}[dims])


def _max_pool(dims: int) -> Op:
    return Op(op_name("max_pool", dims), "max_pool", dims, getattr(F, f"max_pool{dims}d"),
              max_pool, ("input",), _pool_shape, _pool_reduction, linear=False,
              window=_pool_window, args=partial(draws.max_pool_args, dims),
              tiers=draws.pool_tiers(dims), memory_call=(_plane(dims), None, {"kernel_size": 2}),
              marker="^", examples=worked.MAX_POOL[dims], defined=_every_window_meets_input,
              indices=True,
              invalid=_pool_invalid(dims) + (dict(kwargs={"kernel_size": 2, "dilation": 0}),),
              plain=_pool_plain(dims, {"kernel_size": 2},
                                {"kernel_size": 3, "stride": 2, "padding": 1},
                                {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                                 "ceil_mode": True}))


def _avg_pool(dims: int) -> Op:
    return Op(op_name("avg_pool", dims), "avg_pool", dims, getattr(F, f"avg_pool{dims}d"),
              avg_pool1d if dims == 1 else avg_pool, ("input",), _pool_shape, _pool_reduction,
              linear=True, window=_pool_window,
              args=partial(draws.avg_pool_args, dims, divisor=dims > 1,
                           sides_hold_kernel=dims == 3),
              tiers=draws.pool_tiers(dims), memory_call=(_plane(dims), None, {"kernel_size": 2}),
              marker="s", examples=worked.AVG_POOL[dims], invalid=_pool_invalid(dims),
              plain=_pool_plain(dims, {"kernel_size": 2},
                                {"kernel_size": 3, "stride": 1, "padding": 1},
                                {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                 "count_include_pad": False,
                                 **({"divisor_override": 2} if dims > 1 else {})}))


def _adaptive(family: str, dims: int) -> Op:
    maximum = family == "adaptive_max_pool"
    return Op(op_name(family, dims), family, dims, getattr(F, f"{family}{dims}d"),
              adaptive_max_pool if maximum else adaptive_avg_pool, ("input",), _adaptive_shape,
              _adaptive_reduction, linear=not maximum, window=_adaptive_window,
              args=partial(draws.adaptive_args, dims), tiers=draws.adaptive_tiers(dims),
              memory_call=(_plane(dims), None, {"output_size": 3}),
              marker="v" if maximum else "D",
              examples=(worked.ADAPTIVE_MAX_POOL if maximum else worked.ADAPTIVE_AVG_POOL)[dims],
              indices=maximum,
              invalid=(dict(kwargs={"output_size": (2,) * (dims + 1)}),  # one side too many
                       dict(kwargs={"output_size": -1})),
              plain=_pool_plain(dims, {"output_size": 1}, {"output_size": 4}))


BUILDERS = {"conv": _conv, "conv_transpose": _conv_transpose, "max_pool": _max_pool, "avg_pool": _avg_pool,
            "adaptive_avg_pool": partial(_adaptive, "adaptive_avg_pool"),
            "adaptive_max_pool": partial(_adaptive, "adaptive_max_pool")}
OPS: dict[str, Op] = {op_name(family, dims): BUILDERS[family](dims)
                      for family, all_dims in FAMILIES.items() for dims in all_dims}


class UnknownOp(ValueError):
    """A name or functional that is not one of the ops."""


def get_op(key) -> Op:
    """Look an op up by name ('conv2d') or by its functional (F.conv2d)."""
    for op in OPS.values():
        if key == op.name or key is op.functional:
            return op
    raise UnknownOp(f"op={key!r}, but should be one of {', '.join(OPS)}")


def magnitude(op: Op, tensors: tuple) -> tuple:
    """Inputs whose reference output bounds the sum of |terms| of each output element."""
    if op.linear:
        return tuple(None if t is None else t.abs() for t in tensors)
    return tensors


def squares(op: Op, tensors: tuple) -> tuple:
    """Inputs whose reference output bounds the sum of terms squared of each output element
    (exact for convolutions; for the average pools an upper bound, the divisor being >= 1)."""
    return tuple(None if t is None else t * t for t in tensors)


def float64_cpu(tensors) -> tuple:
    return tuple(None if t is None else t.detach().to("cpu", torch.float64) for t in tensors)
