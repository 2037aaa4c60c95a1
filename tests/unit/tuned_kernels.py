"""Kernels with configurations, for test_configs.py: a channel-blocked conv2d whose reduction
over input channels goes `block` channels at a time, as a tiled kernel's does."""
import torch
import torch.nn.functional as F

from harness import implements

BLOCKS = [{"block": 1}, {"block": 2}, {"block": 4}]


def _blocked(input, weight, bias, stride, padding, dilation, groups, block, tail):
    if groups != 1:
        raise NotImplementedError("channel blocks of one group only")
    channels = input.shape[1]
    end = channels if tail else channels - channels % block
    wide = torch.float64 if input.dtype == torch.float64 else torch.float32  # the accumulator
    out = F.conv2d(input, torch.zeros_like(weight), bias, stride, padding, dilation).to(wide)
    for start in range(0, end, block):
        stop = min(start + block, channels)
        out = out + F.conv2d(input[:, start:stop], weight[:, start:stop], None, stride,
                             padding, dilation).to(wide)
    return out.to(input.dtype)


@implements(F.conv2d, name="tuned.tail_dropped", configs=BLOCKS)
def tail_dropped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, block=1):
    """Block 4 forgets the last channels when their count is not a multiple of 4, and is the
    fastest on purpose: the others compute their answer twice."""
    if block != 4:
        _blocked(input, weight, bias, stride, padding, dilation, groups, block, True)
    return _blocked(input, weight, bias, stride, padding, dilation, groups, block, block != 4)


@implements(F.conv2d, name="tuned.blocked", configs=BLOCKS)
def blocked(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, block=1):
    """Every block size right."""
    return _blocked(input, weight, bias, stride, padding, dilation, groups, block, True)


def untuned(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, block=1,
            scale=1.0):
    """Undecorated: configurations come from --config."""
    return _blocked(input, weight, bias, stride, padding, dilation, groups, block, True) * \
        torch.tensor(scale, dtype=input.dtype)


@implements(F.conv2d, name="tuned.wide_only", configs=[{"block": 1}, {"block": 8}])
def wide_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, block=1):
    """Block 8 applies to calls with at least 8 input channels only, and says so on others."""
    if input.shape[1] < block:
        raise NotImplementedError(f"block={block} needs at least {block} input channels")
    return _blocked(input, weight, bias, stride, padding, dilation, groups, block, True)
