"""Correct and slow: pads the input itself, then convolves twice, keeping the second."""
import torch.nn.functional as F

from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if isinstance(padding, str):
        return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    x = F.pad(input, (pw, pw, ph, ph))
    torch_conv2d(x, weight, bias, stride, 0, dilation, groups)
    return torch_conv2d(x, weight, bias, stride, 0, dilation, groups)
