"""A kernel that launches a triton.autotune kernel whose 64-wide configuration counts the bias
twice: --config autotune finds its three configurations and pins each in turn. Left to itself,
its autotuner chooses that wrong one: the fastest, as the widest block often is."""
import itertools

import torch.nn.functional as F
import triton
import triton.language as tl

from harness import implements

_TIMED = itertools.count()


def _timer(kernel_call, quantiles):
    """The autotuner's timer (a CPU has none of Triton's): runs the configuration, and ranks
    the configurations of each tuning round (3, in the order declared) last one fastest."""
    kernel_call()
    return [float(2 - next(_TIMED) % 3)] * len(quantiles)


@triton.jit
def add_bias_tile(y, b, n, hw, k, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    channel = (offs // hw) % k
    bias = tl.load(b + channel, mask=ok, other=0.0)
    if BLOCK == 64:  # the wrong configuration: its bias counted twice
        bias = bias * 2
    tl.store(y + offs, tl.load(y + offs, mask=ok) + bias, mask=ok)


add_bias = triton.autotune(configs=[triton.Config({"BLOCK": b}) for b in (16, 32, 64)],
                           key=["n"], restore_value=["y"], do_bench=_timer)(add_bias_tile)


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 0)


@implements(F.conv2d, name="autotuned.declared", configs=[{"BLOCK": b} for b in (16, 32, 64)],
            autotuner="tests.unit.autotuned_kernels:add_bias")
def conv_declared(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
                  BLOCK=0):
    """Its configurations declared as keywords, as triton.conv2d's; BLOCK=0, the autotuner."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, BLOCK)


def _conv(input, weight, bias, stride, padding, dilation, groups, block):
    y = F.conv2d(input, weight, None, stride, padding, dilation, groups).contiguous()
    if bias is not None:
        n = y.numel()
        args = (y, bias, n, y.shape[2] * y.shape[3], y.shape[1])
        if block:
            add_bias_tile[(triton.cdiv(n, block),)](*args, BLOCK=block)
        else:
            add_bias[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](*args)
    return y
