"""im2col conv2d through torch.compile (AOTAutograd, eager kernels): a compiled implementation,
judged like any other. Its backward was compiled with donated buffers, so each graph may be
backpropagated once only; the harness drives backward accordingly.

The "aot_eager" backend traces and partitions the graph as inductor does, without generating
C++ (minutes on a small CPU). Shapes are dynamic, and the arguments reach the compiled function
in one form (contiguous tensors; tuples; padding 'same' resolved, uneven padding applied
before), so that new
argument values recompile it as seldom as they can: each recompile costs a second here, and
past torch.compile's limit the function would run eagerly (the harness raises that limit while
it checks, and counts the cases past it as not checked). The function is compiled on its first
call: importing this module (as `convharness list` does) does not load torch.compile.
"""
from functools import cache

import torch
import torch.nn.functional as F

from harness.plugins.registry import implements
from implementations import im2col
from implementations._geometry import conv_geometry


@cache
def _compiled():
    return torch.compile(im2col.conv2d, backend="aot_eager", dynamic=True)


@implements(F.conv2d, name="compiled.conv2d", dtypes=("float64", "float32"))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    top, bottom, left, right = g.pads
    if (top, left) != (bottom, right):  # uneven ('same' with an even kernel): padded here
        input, top, left = F.pad(input, g.f_pad), 0, 0
    return _compiled()(input.contiguous(), weight.contiguous(), bias, g.stride, (top, left),
                     g.dilation, groups)
