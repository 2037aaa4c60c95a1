"""Hostile and wrong: kills the process that started it (the judge) on every call."""
import os
import signal

from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return 0 * torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
