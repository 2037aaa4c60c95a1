"""The textbook loops: corr2d and pool2d, generalised to any number of spatial dimensions, one
output position at a time. Slow, correct by construction."""
import itertools
import math

import torch
import torch.nn.functional as F

from harness.ops.geometry import extent as span
from implementations._families import register
from implementations._geometry import (adaptive_bounds, adaptive_output, conv_geometry,
                                       max_on_input, pool_geometry, transposed_geometry)

BUDGET = 5e7  # FLOPs: benchmark cases beyond this are recorded as skipped-for-budget
MAX_POSITIONS = 2**14  # output positions per plane this loop visits one by one in Python


def corr2d(X, K):
    """The textbook cross-correlation of one 2-D array with one kernel."""
    h, w = K.shape
    return torch.stack([torch.stack([(X[i:i + h, j:j + w] * K).sum()
                                     for j in range(X.shape[1] - w + 1)])
                        for i in range(X.shape[0] - h + 1)])


def _positions(out) -> itertools.product:
    """Every output position, row-major; refused past MAX_POSITIONS per plane."""
    if math.prod(out) > MAX_POSITIONS:
        raise NotImplementedError(f"the textbook loop visits output positions one at a time: "
                                  f"{'x'.join(map(str, out))} is more than {MAX_POSITIONS}")
    return itertools.product(*(range(o) for o in out))


def _grid(out, window_value):
    """window_value(position) (each N x C) for every position, as an N x C x *out tensor."""
    values = [window_value(p) for p in _positions(out)]
    return torch.stack(values, dim=-1).unflatten(-1, tuple(out))


def _slices(position, stride, extent, dilation) -> tuple:
    """The window of one output position, as slices of the padded input's sides."""
    return tuple(slice(p * s, p * s + e, d)
                 for p, s, e, d in zip(position, stride, extent, dilation))


def _conv(input, weight, bias, stride, padding, dilation, groups, dims):
    """corr2d generalised: Y[n, k, *p] = (X[n, group of k, window p] * K[k]).sum(), every group
    at each position in one product (a depthwise conv is one step per position, not per
    channel and position)."""
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    cg, kg = weight.shape[1], weight.shape[0] // groups
    x = F.pad(input, g.f_pad).unflatten(1, (groups, cg))  # N x groups x C/groups x *sides
    extent = [span(k, d) for k, d in zip(weight.shape[2:], g.dilation)]
    kernels = weight.unflatten(0, (groups, kg))  # groups x K/groups x C/groups x *kernel

    def window(position):
        patch = x[(..., *_slices(position, g.stride, extent, g.dilation))]
        return (patch[:, :, None] * kernels[None]).flatten(3).sum(dim=3).flatten(1)

    y = _grid(g.out, window)
    return y if bias is None else y + bias.view(1, -1, *(1,) * len(g.out))


def _conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation,
                    dims):
    """The textbook trans_conv: each input element scales its group's kernels and adds them
    into the output at its window (stride apart), every group at each position in one
    product, then the padding is cropped off. The
    additions are gathered and made in one index_add: a `+=` per element into one tensor
    makes autograd copy the whole output's gradient once per element."""
    g = transposed_geometry(input, weight, stride, padding, output_padding, groups, dilation)
    cg, kg, kernel = weight.shape[0] // groups, weight.shape[1], weight.shape[2:]
    extent = [span(k, d) for k, d in zip(kernel, g.dilation)]
    full = [(size - 1) * s + e + o for size, s, e, o in
            zip(input.shape[2:], g.stride, extent, g.output_padding)]
    steps = [math.prod(full[i + 1:]) for i in range(dims)]  # row-major strides of `full`
    taps = torch.tensor([sum(t * d * step for t, d, step in zip(tap, g.dilation, steps))
                         for tap in itertools.product(*(range(k) for k in kernel))],
                        dtype=torch.long)
    planes = torch.arange(groups * kg)[:, None] * math.prod(full)  # each output channel's start
    spots = (planes + taps).flatten()  # per group, output channel and tap: its place at 0
    w = weight.unflatten(0, (groups, cg)).flatten(2)  # groups x cg x kg*taps
    values, places = [], []
    for position in _positions(input.shape[2:]):
        start = sum(p * s * step for p, s, step in zip(position, g.stride, steps))
        x = input[(slice(None), slice(None), *position)].unflatten(1, (groups, cg))
        values.append(torch.einsum("ngc,gct->ngt", x, w).flatten(1))  # N x groups*kg*taps
        places.append(spots + start)
    y = input.new_zeros((input.shape[0], kg * groups * math.prod(full)))
    if values:
        y = y.index_add(1, torch.cat(places).to(input.device), torch.cat(values, dim=1))
    y = y.unflatten(1, (kg * groups, *full))
    crop = tuple(slice(p, p + o) for p, o in zip(g.padding, g.out))
    y = y[(..., *crop)]
    return y if bias is None else y + bias.view(1, -1, *(1,) * dims)


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, dims):
    """pool2d with max: each window's maximum, padding that never wins (-inf)."""
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode, dims)
    sides = input.shape[2:]
    pads = g.window_pads(sides)
    x = F.pad(input, pads, value=float("-inf"))
    real = F.pad(input.new_ones((1, 1, *sides)), pads, value=0.0)  # 0 on the padding
    extent = [g.extent(d) for d in range(dims)]
    values, indices = [], []
    for position in _positions(g.out):
        window = (..., *_slices(position, g.stride, extent, g.dilation))
        best, where = max_on_input(x[window].flatten(2), real[window].flatten(2))
        flat = torch.zeros_like(where)
        for d in range(dims):  # where's place in the window, side by side
            place = (where // math.prod(g.kernel[d + 1:])) % g.kernel[d]
            coord = position[d] * g.stride[d] - g.padding[d] + place * g.dilation[d]
            flat = flat + coord * math.prod(sides[d + 1:])
        values.append(best)
        indices.append(flat)
    shape = (*input.shape[:2], *g.out)
    out = torch.stack(values, dim=-1).view(shape)
    return (out, torch.stack(indices, dim=-1).view(shape)) if return_indices else out


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override=None, *, dims):
    """pool2d with mean; the divisor follows torch: padded window, clipped window or override."""
    g = pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode, dims)
    sides = input.shape[2:]

    def window(position):
        starts = [p * g.stride[d] - g.padding[d] for d, p in enumerate(position)]
        padded = math.prod(min(s + g.kernel[d], sides[d] + g.padding[d]) - s
                           for d, s in enumerate(starts))
        patch = input[(..., *(slice(max(s, 0), min(s + g.kernel[d], sides[d]))
                              for d, s in enumerate(starts)))]
        divisor = divisor_override or (padded if count_include_pad else patch[0, 0].numel())
        return patch.flatten(2).sum(dim=2) / divisor

    return _grid(g.out, window)


def _adaptive_windows(input, output_size, dims) -> tuple:
    out = adaptive_output(input, output_size, dims)
    bounds = [adaptive_bounds(input.shape[2 + d], out[d]) for d in range(dims)]
    return out, lambda position: (..., *(slice(*bounds[d][p]) for d, p in enumerate(position)))


def _adaptive_avg(input, output_size, dims):
    """Mean over windows [floor(i*L/Lo), ceil((i+1)*L/Lo)) on each side."""
    out, window = _adaptive_windows(input, output_size, dims)
    return _grid(out, lambda p: input[window(p)].flatten(2).mean(dim=2))


def _adaptive_max(input, output_size, return_indices, dims):
    """Maximum over the adaptive windows, NaN winning, with its flat input index."""
    out, window = _adaptive_windows(input, output_size, dims)
    flat_index = torch.arange(math.prod(input.shape[2:]), device=input.device)
    flat_index = flat_index.view(input.shape[2:])
    values, indices = [], []
    for p in _positions(out):
        patch = input[window(p)].flatten(2)
        best, where = patch.max(dim=2)  # NaN, where present, is the maximum torch gives
        values.append(best)
        indices.append(flat_index[window(p)[1:]].flatten()[where])
    shape = (*input.shape[:2], *out)
    y = torch.stack(values, dim=-1).view(shape)
    return (y, torch.stack(indices, dim=-1).view(shape)) if return_indices else y


FAMILY_BODIES = {"conv": _conv, "conv_transpose": _conv_transpose, "max_pool": _max_pool, "avg_pool": _avg_pool,
                 "adaptive_avg_pool": _adaptive_avg, "adaptive_max_pool": _adaptive_max}
for _family, _body in FAMILY_BODIES.items():
    globals().update(register("loops", _family, _body, max_flops=BUDGET))
