"""Wrong: computes in bfloat16 whatever it is given (too coarse for float32 and float64)."""
from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    low = (input.bfloat16(), weight.bfloat16(), None if bias is None else bias.bfloat16())
    return torch_conv2d(*low, stride, padding, dilation, groups).to(input.dtype)
