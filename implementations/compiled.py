"""im2col conv2d through torch.compile (AOTAutograd, eager kernels): a compiled implementation,
judged like any other. Its backward was compiled with donated buffers, so each graph may be
backpropagated once only; the harness drives backward accordingly.

The "aot_eager" backend traces and partitions the graph as inductor does, without generating
C++ (minutes on a small CPU). Shapes are dynamic; new argument values recompile.
"""
import torch
import torch.nn.functional as F

from harness.registry import implements
from implementations import im2col

_compiled = torch.compile(im2col.conv2d, backend="aot_eager", dynamic=True)


@implements(F.conv2d, name="compiled.conv2d", dtypes=("float64", "float32"))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _compiled(input, weight, bias, stride, padding, dilation, groups)
