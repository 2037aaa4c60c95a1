"""conv2d as Tensor.unfold + einsum, and pools as unfold + max/mean, generalised and corrected.

The widely copied version pads into a new float32 zeros tensor, so it breaks for padding 0, tuple
strides, bias=None and float64. Here F.pad keeps dtype, device and autograd history.
"""
import torch
import torch.nn.functional as F

from harness.registry import KnownFailure, implements, special_inputs
from implementations.reference import TORCH_BF16_NONFINITE
from implementations._geometry import (adaptive_bounds, adaptive_output, average, conv_geometry,
                                       max_indices, max_on_input, pool_geometry)


def _windows(x, extent, stride, dilation):
    """N x C x Ho x Wo x kh x kw: every window of x, dilated, as a view."""
    patches = x.unfold(2, extent[0], stride[0]).unfold(3, extent[1], stride[1])
    return patches[..., ::dilation[0], ::dilation[1]]


@implements(F.conv2d, name="unfold_einsum.conv2d", known_failures=(TORCH_BF16_NONFINITE,))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    k, cg, r, s = weight.shape
    extent = (g.dilation[0] * (r - 1) + 1, g.dilation[1] * (s - 1) + 1)
    patches = _windows(F.pad(input, g.f_pad), extent, g.stride, g.dilation)
    n, _, ho, wo = patches.shape[:4]
    patches = patches.reshape(n, groups, cg, ho, wo, r, s)
    y = torch.einsum("ngchwkj,gdckj->ngdhw", patches, weight.view(groups, k // groups, cg, r, s))
    y = y.reshape(n, k, ho, wo)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def _pooled_windows(input, g, fill):
    h, w = input.shape[2:]
    ph, pw = g.padding
    x = F.pad(input, (pw, g.right_pad(w, 1), ph, g.right_pad(h, 0)), value=fill)
    return _windows(x, (g.extent(0), g.extent(1)), g.stride, g.dilation)


@implements(F.max_pool2d, name="unfold_einsum.max_pool2d")
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode)
    windows = _pooled_windows(input, g, float("-inf"))
    real = _pooled_windows(input.new_ones((1, 1, *input.shape[2:])), g, 0.0)
    out, where = max_on_input(windows.flatten(-2), real.flatten(-2))
    return (out, max_indices(where, g, input.shape[3], input.device)) if return_indices else out


@implements(F.avg_pool2d, name="unfold_einsum.avg_pool2d")
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    g = pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode)
    sums = _pooled_windows(input, g, 0.0).sum(dim=(-2, -1))
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


@implements(F.adaptive_avg_pool2d, name="unfold_einsum.adaptive_avg_pool2d", known_failures=(
    KnownFailure("the averaging matrices multiply every input, zeros included: 0 x inf is NaN "
                 "in outputs whose windows do not hold the infinity", special_inputs,
                 ("special_values",)),))
def adaptive_avg_pool2d(input, output_size):
    """Windows of unequal size: average rows, then columns, by two small matrices."""
    oh, ow = adaptive_output(input, output_size)
    rows = _averaging_matrix(input.shape[2], oh, input)
    cols = _averaging_matrix(input.shape[3], ow, input)
    return torch.einsum("oh,nchw,pw->ncop", rows, input, cols)
