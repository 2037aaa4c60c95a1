"""The textbook loops: corr2d and pool2d, one output position at a time. Slow, correct by construction."""
import torch
import torch.nn.functional as F

from harness.registry import implements
from implementations._geometry import (adaptive_bounds, adaptive_output, conv_geometry,
                                       max_on_input, pool_geometry)

BUDGET = 5e7  # FLOPs: benchmark cases beyond this are recorded as skipped-for-budget


def corr2d(X, K):
    """The textbook cross-correlation of one 2-D array with one kernel."""
    h, w = K.shape
    return torch.stack([torch.stack([(X[i:i + h, j:j + w] * K).sum()
                                     for j in range(X.shape[1] - w + 1)])
                        for i in range(X.shape[0] - h + 1)])


MAX_POSITIONS = 2**14  # output positions per plane this loop visits one by one in Python


def _within_budget(out) -> None:
    if out[0] * out[1] > MAX_POSITIONS:
        raise NotImplementedError(f"the textbook loop visits output positions one at a time: "
                                  f"{out[0]}x{out[1]} is more than {MAX_POSITIONS}")


def _grid(out, window_value):
    """Stack window_value(i, j) (each N x C) into an N x C x Ho x Wo tensor."""
    _within_budget(out)
    return torch.stack([torch.stack([window_value(i, j) for j in range(out[1])], dim=-1)
                        for i in range(out[0])], dim=-2)


@implements(F.conv2d, name="loops.conv2d", max_flops=BUDGET)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """corr2d generalised: Y[n, k, i, j] = (X[n, group of k, window i, j] * K[k]).sum()."""
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    x = F.pad(input, g.f_pad)
    (sh, sw), (dh, dw), (r, s) = g.stride, g.dilation, weight.shape[2:]
    cg, kg = weight.shape[1], weight.shape[0] // groups
    outputs = []
    for group in range(groups):
        xg = x[:, group * cg:(group + 1) * cg]
        kernels = weight[group * kg:(group + 1) * kg]

        def window(i, j):
            patch = xg[:, :, i * sh:i * sh + dh * (r - 1) + 1:dh, j * sw:j * sw + dw * (s - 1) + 1:dw]
            return (patch[:, None] * kernels[None]).sum(dim=(2, 3, 4))

        outputs.append(_grid(g.out, window))
    y = torch.cat(outputs, dim=1)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


@implements(F.max_pool2d, name="loops.max_pool2d", max_flops=BUDGET)
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """pool2d with max: each window's maximum, padding that never wins (-inf)."""
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode)
    h, w = input.shape[2:]
    (ph, pw), kw = g.padding, g.kernel[1]
    pads = (pw, g.right_pad(w, 1), ph, g.right_pad(h, 0))
    x = F.pad(input, pads, value=float("-inf"))
    real = F.pad(input.new_ones((1, 1, h, w)), pads, value=0.0)  # 0 on the padding
    (sh, sw), (dh, dw) = g.stride, g.dilation
    _within_budget(g.out)
    values, indices = [], []
    for i in range(g.out[0]):
        for j in range(g.out[1]):
            rows = slice(i * sh, i * sh + g.extent(0), dh)
            cols = slice(j * sw, j * sw + g.extent(1), dw)
            best, where = max_on_input(x[:, :, rows, cols].flatten(2),
                                       real[:, :, rows, cols].flatten(2))
            row = i * sh - ph + (where // kw) * dh
            col = j * sw - pw + (where % kw) * dw
            values.append(best)
            indices.append(row * w + col)
    shape = (*input.shape[:2], *g.out)
    out = torch.stack(values, dim=-1).view(shape)
    return (out, torch.stack(indices, dim=-1).view(shape)) if return_indices else out


@implements(F.avg_pool2d, name="loops.avg_pool2d", max_flops=BUDGET)
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """pool2d with mean; the divisor follows torch: padded window, clipped window or override."""
    g = pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode)
    h, w = input.shape[2:]

    def window(i, j):
        (h0, h1), (w0, w1) = (_span(i, g, 0, h), _span(j, g, 1, w))
        padded = (min(h0 + g.kernel[0], h + g.padding[0]) - h0) * (
            min(w0 + g.kernel[1], w + g.padding[1]) - w0)
        patch = input[:, :, max(h0, 0):h1, max(w0, 0):w1]
        divisor = divisor_override or (padded if count_include_pad else patch[0, 0].numel())
        return patch.sum(dim=(2, 3)) / divisor

    return _grid(g.out, window)


def _span(index, g, dim, size):
    start = index * g.stride[dim] - g.padding[dim]
    return start, min(start + g.kernel[dim], size)


@implements(F.adaptive_avg_pool2d, name="loops.adaptive_avg_pool2d", max_flops=BUDGET)
def adaptive_avg_pool2d(input, output_size):
    """Mean over windows [floor(i*H/Ho), ceil((i+1)*H/Ho)) on each side."""
    out = adaptive_output(input, output_size)
    rows, cols = adaptive_bounds(input.shape[2], out[0]), adaptive_bounds(input.shape[3], out[1])
    return _grid(out, lambda i, j: input[:, :, rows[i][0]:rows[i][1],
                                         cols[j][0]:cols[j][1]].mean(dim=(2, 3)))
