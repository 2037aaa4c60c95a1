"""The judge's own clock on a kernel that runs in a process of its own.

The timings a benchmark ranks are taken in the kernel's process, which the kernel can make lie
(slow its clocks, run fast only when a timer calls it). The judge times the kernel too, from its
own process: batches of calls back to back, each call on contents of its own (windows of one
buffer, new values every batch), every output sent back in the reply and verified here against
the float64 oracle of what that call saw. So what the judge's clock timed was computed inside the
window, could not have been reused, and any of it may be verified: the calls whose outputs
are read and verified are drawn after the reply. The kernel process's CPU time (its
threads and the processes it started, from /proc) is read around the batches: a kernel given T
threads that used far more cores' time than T is not compared fairly with PyTorch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from harness.checking.call import PropertyFailed, expected_values
from harness.checking.properties.gradients import expected_grads
from harness.ops.cases import Case
from harness.timing.timed import Answer, step_grad_output, windows

BATCH_S = 0.03  # a batch of calls lasts about this long
MOST_CALLS = 64  # calls in a batch, at most (each verified here)
VERIFIED = 4  # calls of a batch whose outputs are read and verified, drawn after the reply
MOST_BYTES = 32 << 20  # inputs and outputs of a batch, at most (all alive till read)
CORES_MARGIN, CPU_FLOOR_S = 1.5, 0.05  # CPU time past this x threads x wall (+ floor): too many
# Past this share of a batch waiting for a CPU, the batch judges nothing: with several threads on
# a crowded machine, a thread that waits leaves the others spinning at a barrier, and a call
# took 10x its time and 15x its CPU (2 threads beside 2 CPU-bound processes on 2 cores).
BUSY_SHARE = 0.1


@dataclass(frozen=True)
class Clocked:
    """What the judge's clock saw of one pass: seconds a call (less what the kernel's thread
    making the calls waited for a CPU others held: a busy machine is not the kernel's), and the
    kernel process's CPU seconds over the same batches (`wall_s` long in all)."""

    seconds: float  # less what the calling threads waited for a CPU, at least its CPU time
    cpu_s: float
    wall_s: float
    calls: int
    busy: float = 0.0  # the share of the batches its threads waited for a CPU others held

    def too_busy(self, threads: int) -> bool:
        """The machine kept the kernel waiting too long to judge its speed by this batch, with
        several threads (one thread's waits are simply not counted)."""
        return threads > 1 and self.busy > BUSY_SHARE

    def cores(self) -> float:
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def too_many_cores(self, threads: int) -> bool:
        return self.cpu_s > CORES_MARGIN * threads * self.wall_s + CPU_FLOOR_S


def per_call(remote, case: Case, pass_: str, threads: int, seed: int,
             longer: int = 0) -> Clocked:
    """The judge's clock on one pass of `case` ('forward', 'backward' or 'both'): a backward
    is a batch of forward and backward calls less a batch of forward calls. `longer`: batches
    4**longer times as long (a second look, where a stall on a busy machine weighs less).
    PropertyFailed where an output it timed is wrong."""
    gen = torch.Generator().manual_seed(seed)
    grads, most, target = pass_ != "forward", _most_calls(case, 4 ** longer), BATCH_S * 4 ** longer
    calls, both = 1, _batch(remote, case, 1, gen, grads, threads)
    while calls < most and both.wall_s < target / 2:  # until the batch outweighs the channel
        calls = min(most, calls * 4)
        both = _batch(remote, case, calls, gen, grads, threads)
    if pass_ != "backward":
        return both
    fwd = _batch(remote, case, calls, gen, False, threads)
    return Clocked(max(both.seconds - fwd.seconds, 0.0), max(both.cpu_s - fwd.cpu_s, 0.0),
                   max(both.wall_s - fwd.wall_s, 0.0), calls, max(both.busy, fwd.busy))


def _most_calls(case: Case, times: int = 1) -> int:
    """Calls a batch may hold: `times` x MOST_CALLS, fewer where their inputs and outputs pass
    MOST_BYTES (from the shapes: nothing is made)."""
    elements = torch.Size(case.input_shape).numel() + torch.Size(case.output_shape()).numel()
    size = elements * torch.empty(0, dtype=case.torch_dtype).element_size()
    return max(1, min(times * MOST_CALLS, MOST_BYTES // max(size, 1)))


def _batch(remote, case: Case, calls: int, gen: torch.Generator, grads: bool,
           threads: int) -> Clocked:
    """`calls` calls timed, each on an input of its own (and a grad_output of its own); the
    outputs of VERIFIED of them, drawn after the reply (the kernel cannot know which), read and
    verified here after the clock stopped."""
    x, *rest = case.with_(device="cpu").tensors()
    inputs = windows(x, calls, gen)
    if grads:
        rest = [None if t is None else t.detach().requires_grad_() for t in rest]
        inputs = [w.detach().requires_grad_() for w in inputs]
        first = step_grad_output(case, 0).to(x.dtype)
        outs = windows(first, calls, gen)
    full = [[w, *rest] for w in inputs]  # None where the case has no such tensor
    sets = [[t for t in f if t is not None] for f in full]
    before, mine = scheduled(remote.pid), own_wait()
    took, outputs = remote.timed(sets, dict(case.kwargs), threads, outs if grads else [],
                                 read=VERIFIED)
    mine = own_wait() - mine
    cpu, held, waited = (now - then for now, then in zip(scheduled(remote.pid), before))
    for i, got in outputs.items():
        seen = full[i]
        got = list(got) if grads and isinstance(got, (tuple, list)) else [got]
        if not all(isinstance(g, torch.Tensor) for g in got):
            raise PropertyFailed(f"call {i + 1} of {calls} the judge timed returned "
                                 f"{[type(g).__name__ for g in got]}, not tensors")
        try:
            _answer(case, seen, outs[i] if grads else None).check(got, case)
        except PropertyFailed as exc:
            raise PropertyFailed(f"an output the judge timed (call {i + 1} of {calls}, on "
                                 f"contents of its own) is wrong: {exc}") from None
    busy = waited / max(1, threads) / max(took, 1e-9)
    # less what the kernel's calling thread and this one waited for a CPU (stalls of a busy
    # machine), but never less than the CPU time its threads spent
    seconds = max(took - held - mine, cpu / max(1, threads), 0.0)
    return Clocked(seconds / calls, cpu, took, calls, busy)


def _answer(case: Case, seen: list, grad: torch.Tensor | None) -> Answer:
    tensors = tuple(None if t is None else t.detach() for t in seen)
    values = expected_values(case, tensors)
    if grad is None:
        return Answer(values)
    return Answer(values, tuple(expected_grads(case, tensors, grad.detach().to(torch.float64))))


def own_wait() -> float:
    """Seconds this thread has been runnable but waited for a CPU (/proc's schedstat; 0 where
    it has none)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def scheduled(pid: int) -> tuple[float, float, float]:
    """(seconds on a CPU of process `pid`'s threads and of the processes it started, seconds
    its main thread (which makes the calls) was runnable but waited for a CPU, seconds all
    those threads waited), from /proc's schedstat (nanoseconds; zeros where /proc has no such
    process). Threads that ended are not counted."""
    ran = waited = main = 0
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    on, queued, _ = (int(v) for v in f.read().split())
                ran, waited = ran + on, waited + queued
                main += queued if task == str(pid) else 0
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
    return ran / 1e9, main / 1e9, waited / 1e9
