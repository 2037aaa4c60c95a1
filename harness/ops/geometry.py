"""Shape arithmetic of convolution and pooling calls, for any number of spatial dimensions.

Plain integers and tuples (no torch): the op records, the strategies and the built-ins share it.
"""
from __future__ import annotations

import math


def ntuple(value, n: int) -> tuple:
    """`3` -> (3,) * n; a tuple of n -> itself; a tuple of one -> repeated: how torch reads an
    int-or-tuple argument."""
    if isinstance(value, (tuple, list)):
        return tuple(value) if len(value) == n else (value[0],) * n
    return (value,) * n


def pair(value) -> tuple:
    return ntuple(value, 2)


def spatial(shape) -> int:
    """Spatial dimensions of an (N, C, ...) shape."""
    return len(shape) - 2


def conv_out_len(size, kernel, stride, pad_lo, pad_hi, dilation):
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def conv_padding(kw: dict, weight_shape) -> tuple:
    """(before, after) zero padding of each spatial dimension of a convolution, flat:
    (top, bottom, left, right) in 2-D; 'same' and 'valid' resolved."""
    dims = spatial(weight_shape)
    padding = kw.get("padding", 0)
    if padding == "valid":
        return (0, 0) * dims
    if padding == "same":
        pads = []
        for k, d in zip(weight_shape[2:], ntuple(kw.get("dilation", 1), dims)):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    return tuple(p for one in ntuple(padding, dims) for p in (one, one))


def transposed_out_len(size, kernel, stride, pad, dilation, output_padding):
    return (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1


def pool_out_len(size, kernel, stride, pad, dilation, ceil_mode):
    """torch's pooling rule: with ceil_mode the last window must start inside input or left pad."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def pool_window(kw: dict, dims: int) -> dict:
    """kernel, stride, padding and dilation of a pooling call, one entry per dimension."""
    kernel = ntuple(kw["kernel_size"], dims)
    stride = kw.get("stride")
    stride = kernel if stride is None or stride == () or stride == [] else ntuple(stride, dims)
    return {"kernel": kernel, "stride": stride, "padding": ntuple(kw.get("padding", 0), dims),
            "dilation": ntuple(kw.get("dilation", 1), dims)}


def adaptive_size(input_shape, output_size) -> tuple:
    """The output sides of an adaptive pool (None keeps the input's side)."""
    dims = spatial(input_shape)
    sizes = ntuple(output_size, dims)
    return tuple(input_shape[2 + i] if s is None else s for i, s in enumerate(sizes))


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """The [start, end) of each adaptive window along one side."""
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def extent(kernel: int, dilation: int) -> int:
    """Input elements a dilated window spans along one side."""
    return dilation * (kernel - 1) + 1
