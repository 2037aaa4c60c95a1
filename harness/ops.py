"""The contract: each op's stub signature, float64 reference, output-shape rule and work counts."""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Stub: the signature of F.conv2d."""


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Stub: the signature of F.max_pool2d."""


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Stub: the signature of F.avg_pool2d."""


def adaptive_avg_pool2d(input, output_size):
    """Stub: the signature of F.adaptive_avg_pool2d."""


def pair(value) -> tuple:
    """`3` -> (3, 3); `(2, 3)` -> (2, 3): how torch reads an int-or-tuple argument."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == 2 else (value[0], value[0])
    return (value, value)


def conv_out_len(size, kernel, stride, pad_lo, pad_hi, dilation):
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def conv_padding(kw: dict, weight_shape) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zero padding of a conv2d call, 'same' and 'valid' resolved."""
    padding = kw.get("padding", 0)
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for k, d in zip(weight_shape[2:], pair(kw.get("dilation", 1))):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def pool_out_len(size, kernel, stride, pad, dilation, ceil_mode):
    """torch's pooling rule: with ceil_mode the last window must start inside input or left pad."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_geometry(kw: dict) -> dict:
    """kernel, stride, padding and dilation of a pooling call as (h, w) pairs."""
    kernel = pair(kw["kernel_size"])
    stride = kw.get("stride")
    stride = kernel if stride is None or stride == () or stride == [] else pair(stride)
    return {"kernel": kernel, "stride": stride, "padding": pair(kw.get("padding", 0)),
            "dilation": pair(kw.get("dilation", 1))}


def adaptive_size(input_shape, output_size) -> tuple[int, int]:
    sizes = pair(output_size)
    return tuple(input_shape[-2 + i] if s is None else s for i, s in enumerate(sizes))


def _conv_shape(shapes, kw):
    (n, _, h, w), (k, _, r, s) = shapes[0], shapes[1]
    t, b, left, right = conv_padding(kw, shapes[1])
    (sh, sw), (dh, dw) = pair(kw.get("stride", 1)), pair(kw.get("dilation", 1))
    return (n, k, conv_out_len(h, r, sh, t, b, dh), conv_out_len(w, s, sw, left, right, dw))


def _pool_shape(shapes, kw):
    n, c, h, w = shapes[0]
    g = pool_geometry(kw)
    ceil = kw.get("ceil_mode", False)
    dims = [pool_out_len(size, *(g[key][i] for key in ("kernel", "stride", "padding", "dilation")),
                         ceil) for i, size in enumerate((h, w))]
    return (n, c, *dims)


def _adaptive_shape(shapes, kw):
    return (*shapes[0][:2], *adaptive_size(shapes[0], kw["output_size"]))


def _conv_window(shapes, kw) -> tuple:
    t, b, left, right = conv_padding(kw, shapes[1])
    d = pair(kw.get("dilation", 1))
    extent = [d[i] * (shapes[1][2 + i] - 1) + 1 for i in range(2)]
    return extent, pair(kw.get("stride", 1)), [(t, b), (left, right)]


def _pool_window(shapes, kw) -> tuple:
    g = pool_geometry(kw)
    extent = [g["dilation"][i] * (g["kernel"][i] - 1) + 1 for i in range(2)]
    return extent, g["stride"], [(p, p) for p in g["padding"]]


def _adaptive_window(shapes, kw) -> tuple:
    return [1, 1], (1, 1), [(0, 0), (0, 0)]


def _every_window_meets_input(shapes, kw) -> bool:
    """A max-pool window wholly in padding has no defined maximum."""
    g = pool_geometry(kw)
    out = _pool_shape(shapes, kw)[2:]
    for dim in range(2):
        size, k, s, p, d = (shapes[0][2 + dim], g["kernel"][dim], g["stride"][dim],
                            g["padding"][dim], g["dilation"][dim])
        for o in range(out[dim]):
            if not any(0 <= o * s - p + d * j < size for j in range(k)):
                return False
    return True


def _conv_grad_reductions(shapes, kw) -> tuple:
    k, _, r, s = shapes[1]
    n, _, h, w = _conv_shape(shapes, kw)
    return ((k // kw.get("groups", 1)) * r * s, n * h * w, n * h * w)


def _numel(shape) -> int:
    return math.prod(shape) if shape else 0


def _conv_reduction(shapes, kw):
    _, cg, r, s = shapes[1]
    return cg * r * s


def _pool_reduction(shapes, kw):
    if "output_size" in kw:
        h, w = shapes[0][-2:]
        oh, ow = adaptive_size(shapes[0], kw["output_size"])
        return math.ceil(h / oh + 1) * math.ceil(w / ow + 1)
    return math.prod(pool_geometry(kw)["kernel"])


@dataclass(frozen=True)
class Op:
    """One op of the contract. `shapes` below is (input_shape, weight_shape or None)."""

    name: str
    functional: Callable
    stub: Callable
    tensor_args: tuple[str, ...]
    out_shape: Callable[[tuple, dict], tuple]
    reduction: Callable[[tuple, dict], int]
    linear: bool  # linear in every tensor argument: |terms| come from the reference on |inputs|
    window: Callable[[tuple, dict], tuple]  # (extent, stride, (pad before, after)) per dimension
    memory_call: tuple  # (input_shape, weight_shape or None, kwargs) the memory property repeats
    marker: str  # its marker in figures
    grad_reduction: Callable[[tuple, dict], tuple] | None = None  # terms per gradient element of
    # each tensor argument; None: the forward's reduction length, for the one tensor argument
    defined: Callable[[tuple, dict], bool] = lambda shapes, kw: True  # the oracle has an answer
    ops_per_term: int = 1  # a multiply-add counts 2 FLOPs, a pool's compare or add 1
    indices: bool = False  # takes return_indices: a max op, whose tied maxima split no gradient
    invalid: tuple = ()  # calls on an input of INVALID_INPUT the reference rejects, as dicts of
    # Case fields (weight_shape, kwargs): every implementation must reject them too

    @property
    def weighted(self) -> bool:
        """A convolution: input, weight and an optional bias (a pool has the input only)."""
        return "weight" in self.tensor_args

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
        out = _numel(self.output_shape(shapes, kw))
        return self.ops_per_term * out * self.reduction_length(shapes, kw)

    def bytes_moved(self, shapes, kw, itemsize: int = 4) -> int:
        """Compulsory traffic: every input read once, the output written once."""
        total = sum(_numel(s) for s in shapes if s) + _numel(self.output_shape(shapes, kw))
        return total * itemsize

    def reference(self, *tensors, **kw) -> Any:
        with warnings.catch_warnings():  # the oracle's notices are not the implementation's
            warnings.simplefilter("ignore")
            return self.functional(*tensors, **kw)


_POOL_CALL = ((2, 16, 32, 32), None, {"kernel_size": 2})
INVALID_INPUT = (1, 2, 5, 5)
_CONV_INVALID = (
    dict(weight_shape=(2, 2, 3, 3), kwargs={"stride": 0}),
    dict(weight_shape=(2, 2, 3, 3), kwargs={"padding": -1}),
    dict(weight_shape=(2, 3, 3, 3)),                         # channel mismatch
    dict(weight_shape=(3, 1, 3, 3), kwargs={"groups": 2}),   # groups vs out channels
    dict(weight_shape=(2, 2, 7, 7)),                         # kernel larger than input
    dict(weight_shape=(2, 2, 3, 3), kwargs={"padding": "same", "stride": 2}),
    dict(weight_shape=(2, 2, 3, 3), kwargs={"dilation": 0}))
_POOL_INVALID = tuple(dict(kwargs=kw) for kw in (
    {"kernel_size": 3, "padding": 2}, {"kernel_size": 0}, {"kernel_size": 7},
    {"kernel_size": 2, "stride": 0}))
OPS: dict[str, Op] = {
    "conv2d": Op("conv2d", F.conv2d, conv2d, ("input", "weight", "bias"), _conv_shape,
                 _conv_reduction, linear=True, window=_conv_window,
                 memory_call=((2, 8, 16, 16), (8, 8, 3, 3), {"padding": 1}), marker="o",
                 grad_reduction=_conv_grad_reductions, ops_per_term=2, invalid=_CONV_INVALID),
    "max_pool2d": Op("max_pool2d", F.max_pool2d, max_pool2d, ("input",), _pool_shape,
                     _pool_reduction, linear=False, window=_pool_window, memory_call=_POOL_CALL,
                     marker="^", defined=_every_window_meets_input, indices=True,
                     invalid=_POOL_INVALID + (dict(kwargs={"kernel_size": 2, "dilation": 0}),)),
    "avg_pool2d": Op("avg_pool2d", F.avg_pool2d, avg_pool2d, ("input",), _pool_shape,
                     _pool_reduction, linear=True, window=_pool_window, memory_call=_POOL_CALL,
                     marker="s", invalid=_POOL_INVALID),
    "adaptive_avg_pool2d": Op("adaptive_avg_pool2d", F.adaptive_avg_pool2d, adaptive_avg_pool2d,
                              ("input",), _adaptive_shape, _pool_reduction, linear=True,
                              window=_adaptive_window, marker="D",
                              memory_call=((2, 16, 32, 32), None, {"output_size": 7}),
                              invalid=(dict(kwargs={"output_size": (0, 2)}),
                                       dict(kwargs={"output_size": -1}))),
}


class UnknownOp(ValueError):
    """A name or functional that is not one of the four ops."""


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
    (exact for conv2d; for the average pools an upper bound, the divisor being >= 1)."""
    return tuple(None if t is None else t * t for t in tensors)


def float64_cpu(tensors) -> tuple:
    return tuple(None if t is None else t.detach().to("cpu", torch.float64) for t in tensors)
