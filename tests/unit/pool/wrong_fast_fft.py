"""Wrong and fast: the FFT, but with the kernel's spectrum conjugated the wrong way on large
kernels (it convolves instead of correlating)."""
from _common import fft_conv2d, torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if stride in (1, (1, 1)) and groups == 1 and min(weight.shape[-2:]) >= 5:
        return fft_conv2d(input, weight.flip(-1, -2), bias, stride, padding, dilation, groups)
    return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
