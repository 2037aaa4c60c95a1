"""Crashes politely: raises on every call."""


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise RuntimeError("CUDA error: an illegal memory access was encountered (pretend)")
