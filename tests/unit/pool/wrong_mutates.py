"""Wrong: right values, but it zeroes the first element of its input (the caller's tensor)."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
    if input.numel():
        input.data[(0,) * input.dim()] = 0
    return out
