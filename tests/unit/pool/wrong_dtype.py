"""Wrong: returns float64 whatever it is given."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch_conv2d(input, weight, bias, stride, padding, dilation, groups).double()
