"""Crashes: kills its own process with SIGSEGV on the first call."""
import os
import signal


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    os.kill(os.getpid(), signal.SIGSEGV)
