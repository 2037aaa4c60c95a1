"""Convolution as Tensor.unfold + einsum (im2col as a view, any number of spatial dimensions),
and pools as unfold + max/mean, generalised and corrected.

The widely copied version pads into a new float32 zeros tensor, so it breaks for padding 0, tuple
strides, bias=None and float64. Here F.pad keeps dtype, device and autograd history.
"""
import math
import string

import torch
import torch.nn.functional as F

from harness.ops.geometry import extent as span
from harness.plugins.registry import KnownFailure, special_inputs
from implementations._families import register
from implementations._geometry import (adaptive_bounds, adaptive_output, average, conv_geometry,
                                       f_pad, max_indices, max_on_input, pool_geometry,
                                       transposed_geometry)
from implementations.reference import TORCH_BF16_NONFINITE

SIDES = "hwd"  # einsum letters of the output sides
TAPS = "ijk"  # and of the kernel's


def _windows(x, extent, stride, dilation):
    """N x C x *out x *kernel: every window of x, dilated, as a view."""
    dims = len(extent)
    for d in range(dims):
        x = x.unfold(2 + d, extent[d], stride[d])
    return x[(..., *(slice(None, None, step) for step in dilation))]


def _conv(input, weight, bias, stride, padding, dilation, groups, dims):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    k, cg, *kernel = weight.shape
    dims = len(kernel)
    extent = [span(r, d) for r, d in zip(kernel, g.dilation)]
    patches = _windows(F.pad(input, g.f_pad), extent, g.stride, g.dilation)
    n, out = patches.shape[0], patches.shape[2:2 + dims]
    patches = patches.reshape(n, groups, cg, *out, *kernel)
    sides, taps = SIDES[:dims], TAPS[:dims]
    y = torch.einsum(f"ngc{sides}{taps},gec{taps}->nge{sides}", patches,
                     weight.view(groups, k // groups, cg, *kernel))
    y = y.reshape(n, k, *out)
    return y if bias is None else y + bias.view(1, -1, *(1,) * dims)


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    dims):
    """Zero insertion: a transposed convolution is a direct one (above) over the input with
    stride - 1 zeros between its elements, padded by the dilated kernel's extent - 1 - padding
    (output_padding more at the end), with the kernel flipped and its channel axes swapped."""
    g = transposed_geometry(input, weight, stride, padding, output_padding, groups, dilation)
    n, c, *sides = input.shape
    spread = input.new_zeros((n, c, *((size - 1) * s + 1 for size, s in zip(sides, g.stride))))
    spread[(..., *(slice(None, None, s) for s in g.stride))] = input
    edges = [span(k, d) - 1 - p for k, d, p in zip(weight.shape[2:], g.dilation, g.padding)]
    pads = f_pad((edge, edge + extra) for edge, extra in zip(edges, g.output_padding))  # < 0 crops
    cg, kg = c // groups, weight.shape[1]
    direct = weight.reshape(groups, cg, kg, *weight.shape[2:]).transpose(1, 2)
    direct = direct.reshape(groups * kg, cg, *weight.shape[2:]).flip(list(range(2, 2 + dims)))
    return _conv(F.pad(spread, pads), direct, bias, 1, 0, g.dilation, groups, dims)


def _pooled_windows(input, g, fill):
    sides, dims = input.shape[2:], len(g.out)
    x = F.pad(input, g.window_pads(sides), value=fill)
    return _windows(x, [g.extent(d) for d in range(dims)], g.stride, g.dilation)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims):
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, dims)
    windows = _pooled_windows(input, g, float("-inf")).flatten(-dims)
    real = _pooled_windows(input.new_ones((1, 1, *input.shape[2:])), g, 0.0).flatten(-dims)
    out, where = max_on_input(windows, real)
    return (out, max_indices(where, g, input.shape[2:], input.device)) if return_indices else out


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override=None, *, dims):
    g = pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode, dims)
    sums = _pooled_windows(input, g, 0.0).flatten(-dims).sum(dim=-1)
    return average(sums, input, g, count_include_pad, divisor_override)


MAX_MATRIX = 2**24  # elements of one averaging matrix (64 MiB in float32)


def _averaging_matrix(size, out, like):
    if size * out > MAX_MATRIX:
        raise NotImplementedError(f"an averaging matrix of {out}x{size} is more than "
                                  f"{MAX_MATRIX} elements")
    a = torch.zeros(out, size, dtype=like.dtype, device=like.device)
    for i, (start, end) in enumerate(adaptive_bounds(size, out)):
        a[i, start:end] = 1.0 / (end - start)
    return a


def _adaptive_avg(input, output_size, dims):
    """Windows of unequal size: average each side in turn, by one small matrix per side."""
    out = adaptive_output(input, output_size, dims)
    matrices = [_averaging_matrix(input.shape[2 + d], out[d], input) for d in range(dims)]
    sides, outs = SIDES[:dims], string.ascii_uppercase[:dims]
    spec = ",".join(f"{o}{s}" for o, s in zip(outs, sides))
    return torch.einsum(f"{spec},nc{sides}->nc{outs}", *matrices, input)


def _adaptive_max(input, output_size, return_indices, dims):
    """A box's maximum is the maximum, side by side, of each side's window maxima: one gather
    and max per side, the windows padded to the longest by repeating their last element."""
    out = adaptive_output(input, output_size, dims)
    values = input
    index = torch.arange(math.prod(input.shape[2:]), device=input.device)
    index = index.view(1, 1, *input.shape[2:]).expand(input.shape)
    for d in reversed(range(dims)):  # innermost first: ties go to the first in row-major order
        picks = _window_picks(input.shape[2 + d], out[d], input.device)  # out x longest
        axis = 2 + d
        shape = list(values.shape)
        shape[axis:axis + 1] = picks.shape
        flat = picks.flatten()
        gathered = values.index_select(axis, flat).view(shape)
        where = gathered.max(dim=axis + 1).indices  # NaN, where present, wins
        values = gathered.gather(axis + 1, where.unsqueeze(axis + 1)).squeeze(axis + 1)
        index = index.index_select(axis, flat).view(shape)
        index = index.gather(axis + 1, where.unsqueeze(axis + 1)).squeeze(axis + 1)
    return (values, index) if return_indices else values


def _window_picks(size: int, out: int, device) -> torch.Tensor:
    """out x longest window: each adaptive window's positions, its last repeated to fill."""
    bounds = adaptive_bounds(size, out)
    longest = max(end - start for start, end in bounds)
    return torch.tensor([[min(start + j, end - 1) for j in range(longest)]
                         for start, end in bounds], device=device)


ADAPTIVE_ZEROS = KnownFailure(
    "the averaging matrices multiply every input, zeros included: 0 x inf is NaN in outputs "
    "whose windows do not hold the infinity", special_inputs, ("special_values",))


for _family, _body, _known in (("conv", _conv, (TORCH_BF16_NONFINITE,)),
                               ("conv_transpose", _conv_transpose, (TORCH_BF16_NONFINITE,)),
                               ("max_pool", _max_pool, ()), ("avg_pool", _avg_pool, ()),
                               ("adaptive_avg_pool", _adaptive_avg, (ADAPTIVE_ZEROS,)),
                               ("adaptive_max_pool", _adaptive_max, ())):
    globals().update(register("unfold_einsum", _family, _body, known_failures=_known))
