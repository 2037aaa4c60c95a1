"""A kernel that launches a triton.autotune kernel whose 64-wide configuration counts the bias
twice: --config autotune finds its three configurations and pins each in turn. Left to itself,
its autotuner chooses that wrong one: the fastest, as the widest block often is."""
import itertools

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

_TIMED = itertools.count()


def _timer(kernel_call, quantiles):
    """The autotuner's timer (a CPU has none of Triton's): runs the configuration, and ranks
    the configurations of each tuning round (3, in the order declared) last one fastest."""
    kernel_call()
    return [float(2 - next(_TIMED) % 3)] * len(quantiles)


@triton.autotune(configs=[triton.Config({"BLOCK": 16}), triton.Config({"BLOCK": 32}),
                          triton.Config({"BLOCK": 64})], key=["n"], restore_value=["y"],
                 do_bench=_timer)
@triton.jit
def add_bias(y, b, n, hw, k, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < n
    channel = (offs // hw) % k
    bias = tl.load(b + channel, mask=ok, other=0.0)
    if BLOCK == 64:  # the wrong configuration: its bias counted twice
        bias = bias * 2
    tl.store(y + offs, tl.load(y + offs, mask=ok) + bias, mask=ok)


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    y = F.conv2d(input, weight, None, stride, padding, dilation, groups).contiguous()
    if bias is not None:
        n = y.numel()
        add_bias[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](
            y, bias, n, y.shape[2] * y.shape[3], y.shape[1])
    return y
