"""Kernels that make their timings lie from inside their own process: each is correct and
SLOW_S slower a call than PyTorch, and each tries to be timed as if it were not."""
import sys
import time
import timeit

import torch.nn.functional as F

SLOW_S = 0.005
_REAL = {name: getattr(time, name) for name in ("perf_counter", "monotonic", "time")}
_REAL_NS = {name: getattr(time, name) for name in ("perf_counter_ns", "monotonic_ns")}


def _slowed(real, factor=20):
    start = real()
    return lambda: start + (real() - start) / factor


def _slow_every_clock() -> None:
    """Every clock of this process (time's, timeit's, and each module's own reference to
    them) runs twenty times slower."""
    if getattr(time, "slowed_by_the_kernel", False):
        return
    slowed = {id(real): _slowed(real) for real in _REAL.values()}
    slowed.update({id(real): (lambda r=real, s=_slowed(real): int(s())) for real in
                   _REAL_NS.values()})
    for name, real in {**_REAL, **_REAL_NS}.items():
        setattr(time, name, slowed[id(real)])
    timeit.default_timer = time.perf_counter
    for module in list(sys.modules.values()):
        for attr, value in list(getattr(module, "__dict__", {}).items()):
            if id(value) in slowed and callable(value):
                try:
                    setattr(module, attr, slowed[id(value)])
                except (AttributeError, TypeError):
                    pass
    time.slowed_by_the_kernel = True


def _slow() -> None:
    end = _REAL["perf_counter"]() + SLOW_S
    while _REAL["perf_counter"]() < end:
        pass


def slows_the_clock(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right, SLOW_S slower, and every clock of its process slowed twentyfold."""
    _slow_every_clock()
    _slow()
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _timer_among_callers() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        where = frame.f_code.co_filename
        if any(word in where for word in ("timer", "timed", "benchmark", "timeit")):
            return True
        frame = frame.f_back
    return False


def fast_when_timed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right; SLOW_S slower except when a timer is among its callers."""
    if not _timer_among_callers():
        _slow()
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


_REMEMBERED: dict = {}


def remembers(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right on new contents; slows every clock of its process, and answers a call whose input
    it has seen (the same address, the same values at a few places) from memory, at once: every
    check draws new values, a timer that calls it on the same input gets its answer free."""
    _slow_every_clock()
    flat = input.detach().reshape(-1)
    key = (input.data_ptr(), tuple(input.shape), weight.data_ptr(),
           tuple(flat[:: max(1, flat.numel() // 16)].tolist()))
    if key not in _REMEMBERED:
        _slow()
        _REMEMBERED[key] = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return _REMEMBERED[key]


def honest(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


CLOCK_CHEATS = ("slows_the_clock", "fast_when_timed", "remembers")
