"""A kernel compiled with torch.compile (its own module: importing it imports torch._dynamo)."""
import torch
import torch.nn.functional as F


def _eager_conv2d(input, weight, bias, stride, padding, dilation, groups):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


_STATIC = torch.compile(_eager_conv2d, backend="eager", dynamic=False)


def conv2d_compiled_static(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.compile'd with static shapes: every new shape recompiles, and past the recompile
    limit torch.compile would run it eagerly."""
    return _STATIC(input, weight, bias, stride, padding, dilation, groups)
