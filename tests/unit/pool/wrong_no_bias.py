"""Wrong: forgets the bias."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch_conv2d(input, weight, None, stride, padding, dilation, groups)
