"""A stand-in for PyTorch's own conv2d, for tests of "inherited": F.conv2d, but wrong or fatal on
every call in regions chosen here, where PyTorch's own bfloat16 bugs show on some calls only
(they read memory it never wrote). The harness judges by it where the environment names it:
CONVHARNESS_PYTORCH_STANDIN=tests.unit.standin_torch (harness.checking.inherited)."""
import os
import signal

import torch
import torch.nn.functional as F

from harness.ops.geometry import pair

MODULE = __name__
KERNEL = f"{__name__}:conv2d"  # a kernel that hands every call to "PyTorch"


def wrong_here(input, weight, out, stride) -> bool:
    """bfloat16, strided along the last side with one output column and several rows: the
    region of PyTorch 2.13's own bfloat16 bug, made to fail on every call."""
    return (input.dtype == torch.bfloat16 and pair(stride)[1] > 1
            and out.shape[-1] == 1 and out.shape[-2] > 1)


def fatal_here(input, weight, groups) -> bool:
    """bfloat16, channels_last, depthwise with a channel multiplier: where PyTorch 2.13's own
    kills the process on some calls."""
    return (input.dtype == torch.bfloat16 and input.dim() == 4
            and input.is_contiguous(memory_format=torch.channels_last)
            and not input.is_contiguous() and groups == input.shape[1] > 1
            and weight.shape[0] > groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """F.conv2d computed in float32 for bfloat16 (clear of PyTorch's own bfloat16 bugs), with
    the last row of a wrong_here output off by one, and the process killed where fatal_here."""
    if fatal_here(input, weight, groups):
        os.kill(os.getpid(), signal.SIGSEGV)
    low = input.dtype == torch.bfloat16
    cast = (lambda t: t.float()) if low else (lambda t: t)
    out = F.conv2d(cast(input), cast(weight), None if bias is None else cast(bias), stride,
                   padding, dilation, groups).to(input.dtype)
    if wrong_here(input, weight, out, stride):
        out = torch.cat([out[..., :-1, :], out[..., -1:, :] + 1], dim=-2)
    return out
