"""Wrong: a true convolution (the kernel flipped), not the correlation conv2d computes."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch_conv2d(input, weight.flip(-1, -2), bias, stride, padding, dilation, groups)
