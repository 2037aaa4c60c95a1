"""Argument checking and window geometry shared by the built-in implementations."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.ops.geometry import (adaptive_bounds, conv_out_len, conv_padding, extent, ntuple,
                                  pool_out_len, transposed_out_len)

__all__ = ["adaptive_bounds", "conv_geometry", "transposed_geometry", "pool_geometry",
           "adaptive_output", "max_indices", "average", "max_on_input", "f_pad"]


def _positive(name: str, value: tuple, low: int = 1) -> tuple:
    if min(value) < low:
        raise ValueError(f"{name}={value}, but should be >= {low}")
    return value


def _batched(input, dims: int) -> None:
    if input.dim() != dims + 2:
        raise ValueError(f"input.dim()={input.dim()}, but should be {dims + 2} (N, C and "
                         f"{dims} spatial)")


def f_pad(pairs) -> tuple:
    """(before, after) per side, outermost first, in F.pad's order: the last side first."""
    return tuple(p for pair in reversed(list(pairs)) for p in pair)


def _per_side(name: str, value, dims: int) -> tuple:
    """An int, or a tuple of one or `dims` entries, as one entry per side (torch's rule)."""
    if isinstance(value, (tuple, list)) and len(value) not in (1, dims):
        raise ValueError(f"{name}={tuple(value)}, but should be an int or {dims} ints")
    return ntuple(value, dims)


@dataclass(frozen=True)
class ConvGeometry:
    stride: tuple
    pads: tuple  # (before, after) per side, flat: top, bottom, left, right in 2-D
    dilation: tuple
    out: tuple  # output sides

    @property
    def f_pad(self) -> tuple:
        """The padding in F.pad's order (the last side first: left, right, top, bottom)."""
        return f_pad([self.pads[i:i + 2] for i in range(0, len(self.pads), 2)])


def conv_geometry(input, weight, stride, padding, dilation, groups) -> ConvGeometry:
    """Check a convolution call as torch does and resolve its padding and output size."""
    dims = weight.dim() - 2
    _batched(input, dims)
    stride = _positive("stride", _per_side("stride", stride, dims))
    dilation = _positive("dilation", _per_side("dilation", dilation, dims))
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding={padding!r}, but should be 'same', 'valid' or ints")
        if padding == "same" and any(s != 1 for s in stride):
            raise ValueError(f"padding='same' needs stride=1, but stride={stride}")
    else:
        _positive("padding", _per_side("padding", padding, dims), 0)
    (c, (k, cg)) = input.shape[1], weight.shape[:2]
    if groups < 1 or c % groups or k % groups or cg * groups != c:
        raise ValueError(f"input channels={c}, weight={tuple(weight.shape)}, groups={groups}: "
                         f"weight.shape[1] * groups should equal the input channels and groups "
                         f"should divide the output channels")
    pads = conv_padding({"padding": padding, "dilation": dilation}, weight.shape)
    out = tuple(conv_out_len(input.shape[2 + i], weight.shape[2 + i], stride[i], pads[2 * i],
                             pads[2 * i + 1], dilation[i]) for i in range(dims))
    _positive("output size", out)
    return ConvGeometry(stride, pads, dilation, out)


@dataclass(frozen=True)
class TransposedGeometry:
    stride: tuple
    padding: tuple
    output_padding: tuple
    dilation: tuple
    out: tuple  # output sides


def transposed_geometry(input, weight, stride, padding, output_padding, groups,
                        dilation) -> TransposedGeometry:
    """Check a transposed convolution call as torch does and compute its output size."""
    dims = weight.dim() - 2
    _batched(input, dims)
    stride = _positive("stride", _per_side("stride", stride, dims))
    dilation = _positive("dilation", _per_side("dilation", dilation, dims))
    padding = _positive("padding", _per_side("padding", padding, dims), 0)
    extra = _positive("output_padding", _per_side("output_padding", output_padding, dims), 0)
    if any(o >= max(s, d) for o, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"output_padding={extra}, but should be smaller than stride={stride} "
                         f"or dilation={dilation} on each side")
    c = input.shape[1]
    if groups < 1 or c % groups or weight.shape[0] != c:
        raise ValueError(f"input channels={c}, weight={tuple(weight.shape)}, groups={groups}: "
                         f"weight.shape[0] should equal the input channels, which groups "
                         f"should divide")
    out = tuple(transposed_out_len(input.shape[2 + i], weight.shape[2 + i], stride[i],
                                   padding[i], dilation[i], extra[i]) for i in range(dims))
    _positive("output size", out)
    return TransposedGeometry(stride, padding, extra, dilation, out)


@dataclass(frozen=True)
class PoolGeometry:
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out: tuple

    def extent(self, dim: int) -> int:
        return extent(self.kernel[dim], self.dilation[dim])

    def window_pads(self, sides) -> tuple:
        """F.pad's padding that gives every window (ceil_mode ones included) its input."""
        return f_pad([(self.padding[d], self.right_pad(size, d)) for d, size in enumerate(sides)])

    def right_pad(self, size: int, dim: int) -> int:
        """Padding past the end that makes room for every window (ceil_mode windows included)."""
        need = (self.out[dim] - 1) * self.stride[dim] + self.extent(dim)
        return max(self.padding[dim], need - size - self.padding[dim])


def pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode,
                  dims: int = 2) -> PoolGeometry:
    """Check a pooling call as torch does and compute its output size."""
    _batched(input, dims)
    kernel = _positive("kernel_size", _per_side("kernel_size", kernel_size, dims))
    stride = kernel if stride is None or stride == [] else _positive(
        "stride", _per_side("stride", stride, dims))
    padding = _positive("padding", _per_side("padding", padding, dims), 0)
    dilation = _positive("dilation", _per_side("dilation", dilation, dims))
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding={padding}, but should be at most half of kernel_size={kernel}")
    out = tuple(pool_out_len(input.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i],
                             ceil_mode) for i in range(dims))
    _positive("output size", out)
    return PoolGeometry(kernel, stride, padding, dilation, out)


def adaptive_output(input, output_size, dims: int = 2) -> tuple:
    _batched(input, dims)
    sizes = tuple(input.shape[2 + i] if s is None else s
                  for i, s in enumerate(_per_side("output_size", output_size, dims)))
    return _positive("output_size", sizes)


def max_indices(where, g: PoolGeometry, sides: tuple, device):
    """Flat input indices (row * W + col in 2-D) of each window's maximum, from `where`, its
    flat place in the (undilated) window."""
    dims = len(sides)
    flat = torch.zeros((), dtype=torch.long, device=device)
    rest = where
    for dim in reversed(range(dims)):  # the window's place, innermost side first
        place, rest = rest % g.kernel[dim], rest // g.kernel[dim]
        start = torch.arange(g.out[dim], device=device) * g.stride[dim] - g.padding[dim]
        start = start.view(-1, *(1,) * (dims - 1 - dim))
        coord = start + place * g.dilation[dim]
        flat = flat + coord * math.prod(sides[dim + 1:])
    return flat


def _window_counts(size: int, g: PoolGeometry, dim: int, count_include_pad: bool, device):
    """Per output position along one side: elements in the padded window, or in the input."""
    start = torch.arange(g.out[dim], device=device) * g.stride[dim] - g.padding[dim]
    end = torch.clamp(start + g.kernel[dim], max=size + g.padding[dim])
    inside = torch.clamp(end, max=size) - torch.clamp(start, min=0)
    return end - start if count_include_pad else inside


def average(sums, input, g: PoolGeometry, count_include_pad: bool, divisor_override):
    """Window sums divided as torch's average pools divide them."""
    if divisor_override:
        return sums / divisor_override
    dims = len(g.out)
    divisor = torch.ones((), dtype=torch.long, device=input.device)
    for dim in range(dims):
        counts = _window_counts(input.shape[2 + dim], g, dim, count_include_pad, input.device)
        divisor = divisor * counts.view(-1, *(1,) * (dims - 1 - dim))
    return sums / divisor.to(input.dtype)


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
