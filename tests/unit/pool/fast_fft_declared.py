"""Correct and fast, decorated: the FFT for every stride-1 call, declaring that a transform
spreads special values (so special_values is an expected failure, not a failing one)."""
import torch.nn.functional as F

from _common import fft_conv2d, torch_conv2d
from harness import implements
from harness.plugins.registry import SPREADS_SPECIAL_VALUES


@implements(F.conv2d, name="pool.fast_fft_declared", known_failures=[SPREADS_SPECIAL_VALUES])
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if stride in (1, (1, 1)) and groups == 1 and min(weight.shape[-2:]) >= 9 \
            and input.dtype.itemsize >= 4:
        return fft_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
