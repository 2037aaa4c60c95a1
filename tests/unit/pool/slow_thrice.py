"""Correct and slow: computes the convolution three times over."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    for _ in range(3):
        out = torch_conv2d(input.clone(), weight, bias, stride, padding, dilation, groups)
    return out
