"""conv2d as im2col: F.unfold gathers every window into a column, then one matrix multiply.

A 1x1 stride-1 convolution needs no unfolding at all: the input already is the column matrix.
Groups become a batch dimension of the multiply. Backward comes from autograd through both ops.
"""
import torch
import torch.nn.functional as F

from harness.plugins.registry import implements
from implementations._geometry import conv_geometry


# Its one tuning parameter: how many samples are unfolded at once (0: the whole batch). The
# column matrix is kernel-area times the input's size; unfolding a few samples at a time bounds
# that memory at the cost of smaller multiplies.
CONFIGS = [{"chunk": 0}, {"chunk": 1}]


@implements(F.conv2d, name="im2col.conv2d", configs=CONFIGS)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, chunk=0):
    if 0 < chunk < input.shape[0]:
        return torch.cat([conv2d(part, weight, bias, stride, padding, dilation, groups)
                          for part in input.split(chunk)])
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    n = input.shape[0]
    k, cg, r, s = weight.shape
    top, bottom, left, right = g.pads
    if (r, s) == (1, 1) and g.stride == (1, 1) and not any(g.pads):
        cols = input.reshape(n, groups, cg, -1)  # already (C, H*W) per sample
    else:
        symmetric = top == bottom and left == right
        x = input if symmetric else F.pad(input, g.f_pad)
        pad = (top, left) if symmetric else 0
        cols = F.unfold(x, (r, s), dilation=g.dilation, padding=pad, stride=g.stride)
        cols = cols.view(n, groups, cg * r * s, -1)
    y = torch.matmul(weight.reshape(groups, k // groups, cg * r * s), cols)
    y = y.reshape(n, k, *g.out)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
