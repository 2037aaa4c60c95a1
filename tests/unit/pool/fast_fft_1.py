"""Correct and fast on large kernels: the FFT for stride 1 without groups, else PyTorch's."""
from _common import fft_conv2d, torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    one = stride in (1, (1, 1)) and groups == 1 and input.dtype.is_floating_point \
        and min(weight.shape[-2:]) >= 7
    if one and input.dim() == 4 and input.dtype.itemsize >= 4:
        return fft_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
