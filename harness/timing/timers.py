"""Raw timing samples: torch.utils.benchmark on CPU, CUDA events with an L2 flush on CUDA."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.utils.benchmark as tbench

from harness.checking.flags import intra_op_threads


@dataclass(frozen=True)
class Budget:
    """How long to spend timing one measurement (seconds of timed runs)."""

    min_run_time: float = 0.2
    warmup: float = 0.025  # CUDA: warm-up time, as triton.testing.do_bench
    max_samples: int = 200


QUICK = Budget(min_run_time=0.1, warmup=0.01, max_samples=50)


class RunQueue:
    """Seconds this process's threads have spent runnable but waiting for a CPU that other
    processes held (the run-queue delay of Linux's /proc schedstat), read cheaply from files
    kept open: `RunQueue().waited()`, None where the system does not keep it. A sleeping kernel
    does not wait in the run queue; a preempted one does."""

    def __init__(self):
        self._fds = []
        try:
            for task in os.listdir("/proc/self/task"):
                self._fds.append(os.open(f"/proc/self/task/{task}/schedstat", os.O_RDONLY))
        except OSError:
            self.close()

    def waited(self) -> float | None:
        if not self._fds:
            return None
        total = 0
        for fd in self._fds:
            try:
                total += int(os.pread(fd, 128, 0).split()[1])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended
        return total / 1e9

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def time_cpu(fn: Callable[[], object], *, threads: int, budget: Budget = Budget(),
             on_block: Callable[[], object] = lambda: None, waits: list | None = None
             ) -> list[float]:
    """Seconds per call, one sample per block of calls (torch.utils.benchmark.blocked_autorange);
    `on_block` runs after each block, outside the timed region. `waits`, where given, gets per
    sample the seconds per call its threads waited for a CPU during that block (None where the
    system does not say)."""
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    queue = RunQueue()
    waited_for_cpu = queue.waited
    during: list = [None]
    timeit = getattr(timer, "_timeit", None)  # the timed block itself, no more

    def block(number: int) -> float:
        queued = waited_for_cpu()
        seconds = timeit(number)
        now = waited_for_cpu()
        known = number and None not in (queued, now)
        during[0] = (now - queued) / number / max(1, threads) if known else None
        return seconds

    def after(number: int, seconds: float) -> None:
        if waits is not None:
            waits.append(during[0])
            during[0] = None
        on_block()

    if waits is not None and timeit is not None:
        timer._timeit = block
    try:
        measurement = timer.blocked_autorange(callback=after, min_run_time=budget.min_run_time)
    finally:
        queue.close()
    if waits is not None:
        del waits[budget.max_samples:]
    return list(measurement.times)[: budget.max_samples]


_CPU_FLUSH: dict = {}  # 64 MiB: more than the last-level cache of the CPUs it is meant for


def time_calls(fn: Callable[[], object], *, threads: int, budget: Budget = Budget(),
               on_block: Callable[[], object] = lambda: None,
               before: Callable[[], object] | None = None, cold: bool = False,
               waits: list | None = None) -> list[float]:
    """Seconds of single calls, each after `before()` (the next backward's fresh graph) and,
    when `cold`, after the caches were flushed (a buffer larger than any CPU's last-level
    cache written); neither is timed. Blocks of about a tenth of the budget, `on_block` after
    each."""
    import time
    flush = _CPU_FLUSH.setdefault("buffer", torch.zeros(16 * 2**20, dtype=torch.int32)) \
        if cold else None
    with intra_op_threads(threads), RunQueue() as queue:
        waited_for_cpu = queue.waited
        times, spent, block = [], 0.0, 0.0
        while spent < budget.min_run_time and len(times) < budget.max_samples or len(times) < 5:
            if before is not None:
                before()
            if flush is not None:
                flush.add_(1)
            queued = waited_for_cpu()
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
            if waits is not None:
                now = waited_for_cpu()
                waits.append(None if None in (queued, now) else (now - queued) / max(1, threads))
            spent, block = spent + times[-1], block + times[-1]
            if block > budget.min_run_time / 10:
                on_block()
                block = 0.0
        on_block()
        return times


_FLUSH: dict = {}


def _l2_flush_buffer(device) -> torch.Tensor:
    """A buffer bigger than any L2 cache (256 MB); writing it evicts what the last run left."""
    if device not in _FLUSH:
        _FLUSH[device] = torch.empty(64 * 1024 * 1024, dtype=torch.int32, device=device)
    return _FLUSH[device]


def time_cuda(fn: Callable[[], object], *, budget: Budget = Budget(),
              before: Callable[[], object] = lambda: None) -> list[float]:
    """Seconds per call from CUDA events, L2 flushed and `before()` run (untimed) before each;
    counts from time budgets."""
    flush = _l2_flush_buffer(torch.cuda.current_device())

    def evented(reps: int) -> list[float]:
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for s, e in zip(starts, ends):
            before()
            flush.zero_()
            s.record()
            fn()
            e.record()
        torch.cuda.synchronize()
        return [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)]

    estimate = max(sum(evented(5)) / 5, 1e-6)
    evented(max(1, min(1000, int(budget.warmup / estimate))))
    return evented(max(5, min(budget.max_samples, int(budget.min_run_time / estimate))))


CACHES = ("hot", "cold")


def measure(fn: Callable[[], object], device: str, *, threads: int, budget: Budget = Budget(),
            cache: str = "hot", on_block: Callable[[], object] = lambda: None,
            before: Callable[[], object] | None = None, waits: list | None = None
            ) -> tuple[list[float], int | None]:
    """(seconds per call samples, peak bytes allocated during one call or None on CPU).
    `waits` (CPU), where given, gets per sample the seconds per call spent waiting for a CPU
    that other processes held (RunQueue), or None where that is not known.
    `on_block` runs after each timed block, outside the timed region (verification); `before`,
    where given, runs before every call, untimed (so calls are timed one by one); `cache`
    "cold" flushes the caches before every call on the CPU (CUDA always flushes L2)."""
    if device == "cuda":
        times = time_cuda(fn, budget=budget, before=before or (lambda: None))
        on_block()
        torch.cuda.synchronize()
        if before is not None:
            before()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return times, torch.cuda.max_memory_allocated() - base
    if cache == "cold" or before is not None:
        return time_calls(fn, threads=threads, budget=budget, on_block=on_block, before=before,
                          cold=cache == "cold", waits=waits), None
    return time_cpu(fn, threads=threads, budget=budget, on_block=on_block, waits=waits), None


def _fastest(samples: list[tuple[list[float], int]]) -> tuple[list[float], int]:
    """Of (times, work) pairs, the one doing the most work per second (by median)."""
    import statistics
    return max(samples, key=lambda tw: tw[1] / statistics.median(tw[0]))


def peak_matmul(device: str, *, threads: int, dtype: str = "float32") -> tuple[list[float], int]:
    """Samples of the fastest of a few large matrix multiplies, float32 and `dtype`, and its
    FLOP count: the machine's measured compute peak. Each size runs as torch.matmul and as a
    convolution (a 1x1 one is a matrix multiply; the 3x3 one is what conv libraries tune
    best), since a BLAS and a conv library may reach different fractions of the real peak:
    PyTorch's own conv2d must never pass it."""
    import torch.nn.functional as F
    sizes = (4096, 8192) if device == "cuda" else (512, 1024, 2048)
    kinds = [torch.float32] if device == "cpu" else list(dict.fromkeys(
        [torch.float32, getattr(torch, dtype)]))  # half on a CPU is slower, never the peak
    samples = []
    for kind in kinds:
        for n in sizes:
            a, b = (torch.randn(n, n, device=device, dtype=kind) for _ in range(2))
            samples.append((measure(lambda: a @ b, device, threads=threads, budget=QUICK)[0],
                            2 * n ** 3))
        for c, r in ((1024, 1), (256, 3)):
            x = torch.randn(1, c, 32, 32, device=device, dtype=kind)
            w = torch.randn(c, c, r, r, device=device, dtype=kind)
            times, _ = measure(lambda: F.conv2d(x, w, padding=r // 2), device, threads=threads,
                               budget=QUICK)
            samples.append((times, 2 * c * c * r * r * 32 * 32))
    return _fastest(samples)


def peak_copy(device: str, *, threads: int) -> tuple[list[float], int]:
    """Samples of the fastest copy among a few sizes (cache-resident to far beyond the caches),
    and the bytes it moves (read + write): the measured bandwidth."""
    samples = []
    for elements in (2**16, 2**20, 2**23, 2**25):
        src = torch.empty(elements, dtype=torch.float32, device=device).fill_(1)
        dst = torch.empty_like(src)
        times, _ = measure(lambda: dst.copy_(src), device, threads=threads, budget=QUICK)
        samples.append((times, 2 * src.numel() * src.element_size()))
    return _fastest(samples)
