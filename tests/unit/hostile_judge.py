"""Kernels that go after the judge's answers and verdicts from their own process, as the exploit
reports against other harnesses describe: each computes nothing right (zeros, or 1% off) and
tries to pass anyway. Where the judge shared their process, each passed; across the boundary
each must fail on its own values."""
import gc
import sys
import threading
import time

import torch
import torch.nn.functional as F


def _zeros(input, weight, bias, stride, padding, dilation, groups):
    return 0 * F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def patches_the_judge(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Zeros; every comparison it can find (torch.testing's, the harness's) made to agree."""
    def agree(*args, **kwargs):
        return {}
    torch.testing.assert_close = agree
    for name, module in list(sys.modules.items()):
        for attr in ("assert_close", "assert_within", "assert_values", "same_bits"):
            if name.startswith(("harness", "torch.testing")) and hasattr(module, attr):
                setattr(module, attr, agree if attr != "same_bits" else (lambda *a: True))
    return _zeros(input, weight, bias, stride, padding, dilation, groups)


def rewrites_the_oracle(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1% off; writes itself into the op record, where the oracle and PyTorch's reruns look."""
    for module in list(sys.modules.values()):
        ops = getattr(module, "OPS", None)
        if isinstance(ops, dict) and "conv2d" in ops:
            spec = ops["conv2d"]
            for field in ("functional", "reference"):
                try:
                    object.__setattr__(spec, field, rewrites_the_oracle)
                except (AttributeError, TypeError):
                    pass
    return 1.01 * F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def answers_from_frames(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Computes nothing: returns the float64 answer found among its callers' local variables
    (the shape it must have is that of any conv2d output of these arguments)."""
    want = F.conv2d(input.detach(), weight.detach(), None, stride, padding, dilation,
                    groups).shape
    frame = sys._getframe(1)
    while frame is not None:
        for value in frame.f_locals.values():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, torch.Tensor) and v.dtype == torch.float64 and v.shape == want \
                        and v.device == input.device:
                    return v.to(input.dtype).clone()
        frame = frame.f_back
    return torch.zeros(want, dtype=input.dtype, device=input.device)


def answers_from_gc(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Computes nothing: returns the newest float64 tensor of the output's shape in memory."""
    want = F.conv2d(input.detach(), weight.detach(), None, stride, padding, dilation,
                    groups).shape
    found = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)
             and o.dtype == torch.float64 and o.shape == want]
    if found:
        return found[-1].to(input.dtype).clone()
    return torch.zeros(want, dtype=input.dtype, device=input.device)


class _Agreeable(torch.Tensor):
    """A tensor that says yes to every comparison made of it."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("equal", "allclose"):
            return True
        if name in ("eq", "__eq__", "isclose", "le", "__le__", "ge", "__ge__", "lt", "__lt__"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})


def subclass_agrees(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Zeros, in a tensor subclass that answers every comparison itself."""
    out = _zeros(input, weight, bias, stride, padding, dilation, groups)
    return out.as_subclass(_Agreeable)


def finishes_later(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns an empty buffer at once and writes the answer into it from a thread, 20 ms on."""
    out = F.conv2d(input.detach(), weight.detach(),
                   None if bias is None else bias.detach(), stride, padding, dilation, groups)
    late = torch.zeros_like(out)

    def write():
        time.sleep(0.02)
        late.copy_(out)
    threading.Thread(target=write, daemon=True).start()
    return late


CHECK_CHEATS = ("patches_the_judge", "rewrites_the_oracle", "answers_from_frames",
                "answers_from_gc", "subclass_agrees", "finishes_later")


def honest(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The control: right, and nothing else."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
