"""Argument checking and window geometry shared by the built-in implementations."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.ops import conv_out_len, conv_padding, pair, pool_out_len


def _positive(name: str, value: tuple, low: int = 1) -> tuple:
    if min(value) < low:
        raise ValueError(f"{name}={value}, but should be >= {low}")
    return value


def _four_d(input) -> None:
    if input.dim() != 4:
        raise ValueError(f"input.dim()={input.dim()}, but should be 4 (N, C, H, W)")


@dataclass(frozen=True)
class ConvGeometry:
    stride: tuple
    pads: tuple  # top, bottom, left, right
    dilation: tuple
    out: tuple  # Ho, Wo

    @property
    def f_pad(self) -> tuple:
        """The padding in F.pad's order (left, right, top, bottom)."""
        top, bottom, left, right = self.pads
        return (left, right, top, bottom)


def conv_geometry(input, weight, stride, padding, dilation, groups) -> ConvGeometry:
    """Check a conv2d call as torch does and resolve its padding and output size."""
    _four_d(input)
    stride, dilation = _positive("stride", pair(stride)), _positive("dilation", pair(dilation))
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding={padding!r}, but should be 'same', 'valid' or ints")
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"padding='same' needs stride=1, but stride={stride}")
    else:
        _positive("padding", pair(padding), 0)
    (c, (k, cg)) = input.shape[1], weight.shape[:2]
    if groups < 1 or c % groups or k % groups or cg * groups != c:
        raise ValueError(f"input channels={c}, weight={tuple(weight.shape)}, groups={groups}: "
                         f"weight.shape[1] * groups should equal the input channels and groups "
                         f"should divide the output channels")
    pads = conv_padding({"padding": padding, "dilation": dilation}, weight.shape)
    out = tuple(conv_out_len(input.shape[2 + i], weight.shape[2 + i], stride[i], pads[2 * i],
                             pads[2 * i + 1], dilation[i]) for i in range(2))
    _positive("output size", out)
    return ConvGeometry(stride, pads, dilation, out)


@dataclass(frozen=True)
class PoolGeometry:
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple

    def extent(self, dim: int) -> int:
        return self.dilation[dim] * (self.kernel[dim] - 1) + 1

    def right_pad(self, size: int, dim: int) -> int:
        """Padding past the end that makes room for every window (ceil_mode windows included)."""
        need = (self.out[dim] - 1) * self.stride[dim] + self.extent(dim)
        return max(self.padding[dim], need - size - self.padding[dim])


def pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode) -> PoolGeometry:
    """Check a pooling call as torch does and compute its output size."""
    _four_d(input)
    kernel = _positive("kernel_size", pair(kernel_size))
    stride = kernel if stride is None or stride == [] else _positive("stride", pair(stride))
    padding, dilation = _positive("padding", pair(padding), 0), _positive("dilation", pair(dilation))
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding={padding}, but should be at most half of kernel_size={kernel}")
    out = tuple(pool_out_len(input.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i],
                             ceil_mode) for i in range(2))
    _positive("output size", out)
    return PoolGeometry(kernel, stride, padding, dilation, out)


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """The [start, end) of each adaptive window along one side."""
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def adaptive_output(input, output_size) -> tuple:
    _four_d(input)
    sizes = tuple(input.shape[2 + i] if s is None else s for i, s in enumerate(pair(output_size)))
    return _positive("output_size", sizes)


def max_indices(where, g: PoolGeometry, width: int, device):
    """Flat input indices (row * W + col) of each window's maximum, from its place in the window."""
    ho = torch.arange(g.out[0], device=device).view(-1, 1)
    wo = torch.arange(g.out[1], device=device).view(1, -1)
    row = ho * g.stride[0] - g.padding[0] + (where // g.kernel[1]) * g.dilation[0]
    col = wo * g.stride[1] - g.padding[1] + (where % g.kernel[1]) * g.dilation[1]
    return row * width + col


def _window_counts(size: int, g: PoolGeometry, dim: int, count_include_pad: bool, device):
    """Per output position along one side: elements in the padded window, or in the input."""
    start = torch.arange(g.out[dim], device=device) * g.stride[dim] - g.padding[dim]
    end = torch.clamp(start + g.kernel[dim], max=size + g.padding[dim])
    inside = torch.clamp(end, max=size) - torch.clamp(start, min=0)
    return end - start if count_include_pad else inside


def average(sums, input, g: PoolGeometry, count_include_pad: bool, divisor_override):
    """Window sums divided as torch's avg_pool2d divides them."""
    if divisor_override:
        return sums / divisor_override
    h, w = input.shape[2:]
    rows = _window_counts(h, g, 0, count_include_pad, input.device)
    cols = _window_counts(w, g, 1, count_include_pad, input.device)
    return sums / (rows.view(-1, 1) * cols.view(1, -1)).to(input.dtype)


def max_on_input(flat, real):
    """(max, index) over the last dim of windows `flat`, the index on an input element where the
    max ties with -inf padding (`real`: 1 on input elements, 0 on padding, broadcastable), as
    torch picks: the first input element of a window of -inf. The gradient reaches the input."""
    import torch
    out, where = flat.max(dim=-1)
    real = (real > 0).expand(*where.shape, flat.shape[-1])
    on_padding = ~real.gather(-1, where.unsqueeze(-1)).squeeze(-1)
    if not on_padding.any():
        return out, where
    where = torch.where(on_padding, real.to(torch.uint8).argmax(dim=-1), where)
    return flat.gather(-1, where.unsqueeze(-1)).squeeze(-1), where
