"""Eats memory: holds more and more, 256 MB at a time, until it is stopped."""
import torch

HELD = []


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    while True:
        HELD.append(torch.ones(64 * 2**20))
