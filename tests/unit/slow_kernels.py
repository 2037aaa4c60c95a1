"""Correct but slow implementations (pure Python, numpy): the harness must pass them."""
import time

import numpy as np
import torch
import torch.nn.functional as F

from implementations._geometry import adaptive_bounds, adaptive_output, conv_geometry


def python_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Nested Python loops over lists: no torch in the arithmetic, no autograd."""
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    x = F.pad(input, g.f_pad).tolist()
    w, b = weight.tolist(), bias.tolist() if bias is not None else None
    k, cg, r, s = weight.shape
    kg = k // groups
    (sh, sw), (dh, dw) = g.stride, g.dilation
    out = [[[[(b[o] if b else 0.0) + sum(
        x[n][(o // kg) * cg + c][i * sh + dh * p][j * sw + dw * q] * w[o][c][p][q]
        for c in range(cg) for p in range(r) for q in range(s))
        for j in range(g.out[1])] for i in range(g.out[0])] for o in range(k)]
        for n in range(input.shape[0])]
    return torch.tensor(out, dtype=torch.float64).to(input.dtype)


def python_adaptive_avg_pool2d(input, output_size):
    out = adaptive_output(input, output_size)
    rows, cols = adaptive_bounds(input.shape[2], out[0]), adaptive_bounds(input.shape[3], out[1])
    x = input.tolist()
    mean = [[[[sum(x[n][c][i][j] for i in range(*rows[p]) for j in range(*cols[q]))
               / ((rows[p][1] - rows[p][0]) * (cols[q][1] - cols[q][0]))
               for q in range(out[1])] for p in range(out[0])] for c in range(input.shape[1])]
            for n in range(input.shape[0])]
    return torch.tensor(mean, dtype=torch.float64).to(input.dtype)


def numpy_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """numpy's sliding windows and einsum, in float64."""
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    x = np.pad(input.detach().double().numpy(), ((0, 0), (0, 0), g.pads[:2], g.pads[2:]))
    k, cg, r, s = weight.shape
    (sh, sw), (dh, dw) = g.stride, g.dilation
    win = np.lib.stride_tricks.sliding_window_view(x, (dh * (r - 1) + 1, dw * (s - 1) + 1),
                                                   axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :g.out[0], :g.out[1]]
    win = win.reshape(x.shape[0], groups, cg, *g.out, r, s)
    w = weight.detach().double().numpy().reshape(groups, k // groups, cg, r, s)
    y = np.einsum("ngchwrs,gkcrs->ngkhw", win, w).reshape(x.shape[0], k, *g.out)
    if bias is not None:
        y = y + bias.detach().double().numpy()[None, :, None, None]
    return torch.from_numpy(np.ascontiguousarray(y)).to(input.dtype)


def adaptive_avg_pool2d_slow_on_large(input, output_size):
    """Correct; on a large input (tens of thousands of elements, where a kernel looping in
    Python takes minutes) it takes longer than any time limit."""
    if input.numel() >= 2**15:
        time.sleep(3600)
    return F.adaptive_avg_pool2d(input, output_size)
