"""Correct and slow on large inputs: waits 40 ms before each call on one."""
import time

from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if input.numel() > 10_000:
        time.sleep(0.04)
    return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
