"""The wrong signature: conv2d without its optional arguments."""
from _common import torch_conv2d


def conv2d(x, w):
    return torch_conv2d(x, w)
