"""Implementations that misbehave at the process level: crash, hang, exit, leak, return garbage."""
import ctypes
import os
import time

import torch
import torch.nn.functional as F

_KEPT = []


def segfault(input, output_size):
    ctypes.string_at(0)  # a real SIGSEGV


def aborts(input, output_size):
    os.abort()


def exits(input, output_size):
    os._exit(3)


def hangs(input, output_size):
    time.sleep(3600)


def system_exit(input, output_size):
    raise SystemExit(1)


def keyboard_interrupt(input, output_size):
    raise KeyboardInterrupt


def returns_tuple(input, output_size):
    return (F.adaptive_avg_pool2d(input, output_size),)


def returns_nan(input, output_size):
    out = F.adaptive_avg_pool2d(input, output_size).clone()
    out.view(-1)[0] = float("nan")
    return out


def leaks(input, output_size):
    _KEPT.append(torch.ones(2**20))  # 4 MiB per call, never freed
    return F.adaptive_avg_pool2d(input, output_size)


def good(input, output_size):
    return F.adaptive_avg_pool2d(input, output_size)


def cuda_illegal_address(input, output_size):
    """Writes far outside any allocation: a sticky CUDA error that poisons the context."""
    import triton
    import triton.language as tl

    @triton.jit
    def wild_store(ptr):
        tl.store(ptr + (1 << 40), 1.0)

    wild_store[(1,)](input)
    torch.cuda.synchronize()
    return F.adaptive_avg_pool2d(input, output_size)


def allocates_forever(input, output_size):
    """Grows without end: 256 MiB per step, touched so it is resident."""
    while True:
        _KEPT.append(torch.ones(2**26))


def slow_but_correct(input, output_size):
    """A quarter of a second per call: many calls per property, each far within the limit."""
    time.sleep(0.25)
    return F.adaptive_avg_pool2d(input, output_size)


def exits_on_invalid(input, output_size):
    """Right on valid arguments; exits the process instead of raising on invalid ones."""
    sizes = output_size if isinstance(output_size, tuple) else (output_size, output_size)
    if any(s is not None and s <= 0 for s in sizes):
        raise SystemExit(2)
    return F.adaptive_avg_pool2d(input, output_size)


class SlowHarnessTask:
    """A task whose calls of the implementation are quick (or, with `hang`, never return) while
    the harness's own work between them is slow: only the calls may count against --timeout."""

    def __init__(self, harness_s: float, call_s: float = 0.0):
        self.harness_s, self.call_s = harness_s, call_s
        self.key = f"slow-harness-{harness_s}-{call_s}"

    def execute(self, on_case):
        from harness.checking.call import calling
        from harness.records.record import Record
        with calling("a quick call"):
            pass
        time.sleep(self.harness_s)  # the oracle, shrinking: the harness's time
        with calling("the second call"):
            time.sleep(self.call_s)
        yield Record(kind="check", impl="slow", op="conv2d", prop="shape", status="pass")

    def fault(self, status, message, case):
        from harness.records.record import Record
        return Record(kind="check", impl="slow", op="conv2d", prop="shape", status=status,
                      message=message)


def burns_cpu(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A correct conv2d after a quarter of a second of one core's work on every call."""
    end = time.thread_time() + 0.25
    while time.thread_time() < end:
        pass
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _serving_frame():
    """The kernel process's loop, among this call's callers (kernel_server.serve)."""
    import sys
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "serve":
        frame = frame.f_back
    return frame


def forges_the_judges_beat(input, *args, **kwargs):
    """Zeroes its judge's heartbeat (the worker's 'a call started at'), so that its hang would
    look like no call at all, then hangs."""
    import multiprocessing as mp
    beat = mp.current_process()._args[1]  # as the worker handed it to the kernel's process
    beat[0] = 0.0
    time.sleep(3600)


def forges_its_count(input, *args, **kwargs):
    """Counts calls that never happen from a thread, every 10 ms (each looks short), and hangs."""
    import threading
    seq = _serving_frame().f_locals["seq"]

    def forge():
        while True:
            seq.value += 2
            time.sleep(0.01)
    threading.Thread(target=forge, daemon=True).start()
    time.sleep(3600)
