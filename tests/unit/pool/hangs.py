"""Hangs: spins forever on the first call."""


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    while True:
        pass
