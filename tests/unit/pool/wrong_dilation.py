"""Wrong: ignores dilation."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if padding == "same":
        return torch_conv2d(input, weight, bias, stride, padding, 1, groups)
    try:
        return torch_conv2d(input, weight, bias, stride, padding, 1, groups)
    except RuntimeError:
        return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
