"""The call a benchmark times, and what each of its outputs must answer for (forward and backward)."""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable

import torch

from harness.checking.answers import Kept
from harness.checking.call import (PropertyFailed, Unsupported, assert_values, backward, call,
                                   expected_values, output_of, reseeded, timed_caller, write_values)
from harness.checking.properties.gradients import assert_grads, expected_grads, grad_output
from harness.ops.cases import Case
from harness.plugins.registry import Implementation

WARM_CALLS, WARM_S = 10, 0.02  # untimed calls after each verification: at most, or for so long
COLD_S = 0.05  # a call this long is not slowed measurably by caches a pause left cold
LATE_S = 1e-3  # device work still running this long after the timed stream finished: a cheat


@dataclass(frozen=True)
class Answer:
    """What the outputs of one call must be: the forward output's oracle values (as
    check.expected_values), the gradients' (as gradients.expected_grads), or both."""

    values: tuple | None = None
    grads: tuple = ()

    def check(self, outputs: list, case: Case) -> None:
        """The full comparison: PropertyFailed naming the worst element."""
        if self.values is not None:
            assert_values(outputs[0].detach(), case, self.values)
        if self.grads:
            assert_grads(outputs[-len(self.grads):], list(self.grads), case)

    def targets(self) -> list[tuple]:
        """(expected, allowed |error|) per output, for the quick comparison."""
        out = []
        if self.values is not None:
            expected, mag, sq, scale = self.values
            out.append((expected, mag, scale, sq, None))
        out += [(exact, mag, scale, None, length) for _, exact, mag, length, scale in self.grads]
        return out


# The answers to the turns of a timed call: a case's first input and recheck, forward and
# backward. Few, as they are made between the memory readings around the timing.
_TURNS = Kept(max_bytes=math.inf, max_count=6)


SHIFT = 64  # elements between the rotation's input windows: 64-byte aligned in any dtype


def rotation_inputs(case: Case, count: int, first: torch.Tensor | None = None
                    ) -> list[torch.Tensor]:
    """`count` inputs of the case's shape and layout, each with other values: windows of one
    buffer, each SHIFT elements past the one before, so that the rotation holds no more data
    in the caches than one input does (two separate inputs of a 56x56x256 map cost up to 15%
    on the CPU). The first window is the case's own input. An input that is not dense (a
    strided view) gets separate tensors instead. `first`: the case's input, where made."""
    first = case.tensors()[0] if first is None else first
    dense = first.is_contiguous() or first.is_contiguous(memory_format=torch.channels_last)
    if count == 1 or not dense:
        return [first, *(reseeded(case, step).tensors()[0] for step in range(1, count))]
    n, need = first.numel(), SHIFT * (count - 1)
    tail = reseeded(case).with_(input_shape=(need,), layout="contiguous").tensors()[0]
    buffer = torch.empty(n + need, dtype=first.dtype, device=first.device)
    windows = [buffer.as_strided(first.shape, first.stride(), k * SHIFT) for k in range(count)]
    with torch.no_grad():
        buffer[n:] = tail
        windows[0].copy_(first)
    return windows


def windows(first: torch.Tensor, count: int, gen: torch.Generator) -> list[torch.Tensor]:
    """`count` tensors like `first` (the first holding its values, the others new normal
    values): windows of one buffer SHIFT elements apart, or separate tensors where `first` is
    not dense."""
    dense = first.is_contiguous() or first.is_contiguous(memory_format=torch.channels_last)
    if count == 1 or not dense:
        return [first, *(torch.randn(first.shape, generator=gen, device=first.device
                                     ).to(first.dtype) for _ in range(count - 1))]
    n = first.numel()
    buffer = torch.randn(n + SHIFT * (count - 1), generator=gen, device=first.device
                         ).to(first.dtype)
    made = [buffer.as_strided(first.shape, first.stride(), k * SHIFT) for k in range(count)]
    with torch.no_grad():
        made[0].copy_(first)
    return made


def _step_tensors(case: Case, step: int) -> tuple:
    """Inputs of turn `step` on the CPU: the rotation's `step`-th input, the case's weights."""
    tensors = case.with_(device="cpu").tensors()
    if step:
        window = rotation_inputs(case.with_(device="cpu"), step + 1)[step]
        tensors = (window.clone(memory_format=torch.preserve_format), *tensors[1:])
    return tensors


def reference(case: Case, step: int = 0) -> tuple:
    """check.expected_values of `case`'s turn `step`."""
    key = f"{case.with_(device='cpu').to_json()}|{step}"
    return _TURNS.answered(key, lambda: expected_values(case, _step_tensors(case, step)))


def step_grad_output(case: Case, step: int) -> torch.Tensor:
    """The float64 grad_output of turn `step`: other values each turn."""
    return grad_output(reseeded(case, step), case.output_shape())


def answer(case: Case, step: int, pass_: str) -> Answer:
    """What turn `step` of a timed `pass_` must give."""
    values = reference(case, step) if pass_ != "backward" else None
    if pass_ == "forward":
        return Answer(values)
    key = f"{case.with_(device='cpu').to_json()}|{step}|grads"
    grads = _TURNS.answered(key, lambda: tuple(expected_grads(case, _step_tensors(case, step),
                                                      step_grad_output(case, step))))
    return Answer(values, grads)


WINDOWS = 4096  # input windows the timed calls slide over, one a call: at least this many
VERIFY_SHARE = 0.25  # of the timed blocks whose last output is verified, drawn unpredictably
BLOCK_S = 0.25  # the longest timed block expected (torch.utils.benchmark's are 10 to 100 ms)


class Timed:
    """The function to time and what it must answer for. Each call takes the next of many
    windows of one input buffer, 64 elements past the one before (`rotation_inputs`: no more
    data in the caches than one input), with a grad_output of its own where there is a
    backward; between timed blocks, untimed, the buffers get new values. So every timed call
    sees input contents no earlier call saw: a result memoised by address, version, or contents
    (whole or sampled) is never served. Each call moves its input's (or grad_output's) version
    counter on. Only the latest call's outputs are kept (freed before the next call, as an
    untimed loop would). Outside the timed region they are checked against the float64 oracle
    of the contents that call saw: after a share of the timed blocks drawn so that the kernel
    cannot predict which (on the CPU, `check_block`, which then warms the caches again), after
    the events and a synchronize on CUDA, and after timing the last timed outputs where they
    were not verified yet (`verify`). The weights are shared
    (caching a prepared weight is fair). `rotation`: the windows (1: one input, for comparison)."""

    def __init__(self, impl: Implementation, case: Case, pass_: str, *,
                 rotation: int | None = None):
        self.impl, self.pass_, self.case = impl, pass_, case
        first = case.tensors()
        self.rest = first[1:]
        dense = first[0].is_contiguous() or first[0].is_contiguous(
            memory_format=torch.channels_last)
        self.each: float | None = None  # seconds a call took before timing, where measured
        self.rotation = rotation or (WINDOWS if dense else 2)  # a strided view: two tensors
        self.separate = 1 if dense else self.rotation  # inputs apart in memory, to warm each
        self.sets = [(x, *self.rest) for x in rotation_inputs(case, self.rotation, first[0])]
        need = self._windows_needed() if rotation is None else self.rotation
        if need > self.rotation:  # a new buffer, made before the first is freed
            self.rotation = need
            self.sets = [(x, *self.rest) for x in rotation_inputs(case, need, first[0])]
        self.last: tuple | None = None  # (turn, outputs) of the latest call
        self.turn, self.blocks, self.calls, self.fresh_from = 0, 0, 0, 0
        self.verified, self.repeated = 0, 0  # blocks verified; blocks that outran the windows
        self._draw = random.SystemRandom()  # which blocks are verified: not the kernel's guess
        self._gen = torch.Generator(device=case.device).manual_seed(case.seed + 1)
        self.before: Callable[[], None] | None = None  # untimed work before each call
        self._graph: dict = {}  # backward: {turn: the forward output its backward runs on}
        self._call = self._prepare(case, pass_)

    def _windows_needed(self) -> int:
        """Enough windows for the longest block of calls at this kernel's speed, so that no
        block sees an input twice: a few untimed calls on the last windows (each moving its
        version on, as a timed call does) estimate it; at least the windows there are."""
        if self.rotation < WINDOWS:
            return self.rotation  # a strided view: separate tensors, not windows of one buffer
        fn = timed_caller(self.impl.fn, "")
        for calls in (1, 3):  # one call shows a slow kernel; three time a fast one
            start = time.perf_counter()
            for k in range(calls):
                x, *rest = self.sets[-1 - k]
                torch.autograd.graph.increment_version(x)
                fn(x, *(t for t in rest if t is not None), **self.case.kwargs)
            each = self.each = max((time.perf_counter() - start) / calls, 1e-7)
            if 2 * BLOCK_S / each <= self.rotation:
                return self.rotation
        return min(1 << 17, int(2 * BLOCK_S / each))

    def _prepare(self, case: Case, pass_: str) -> Callable[[int], list]:
        """The call of turn i, returning its outputs; support was checked before timing."""
        what, kwargs = case.call_text(), case.kwargs
        fn = timed_caller(self.impl.fn, what)
        if pass_ == "forward":
            args = [[t for t in s if t is not None] for s in self.sets]
            return lambda i: [output_of(fn(*args[i], **kwargs), case)]
        self.sets = [tuple(None if t is None else t.requires_grad_() for t in s)
                     for s in self.sets]
        used = [[t for t in s if t is not None] for s in self.sets]
        out = output_of(call(self.impl, case, self.sets[0]), case)
        if not out.requires_grad:
            raise Unsupported("not differentiable: no backward to time")
        first = step_grad_output(case, 0).to(out.device, out.dtype)
        self.grad_outs = windows(first, self.rotation, self._gen)
        grads = timed_caller(torch.autograd.grad, f"backward of {what}")
        if pass_ == "backward":  # on the graph before() made: one backward a graph, as in
            self._forward = lambda i: output_of(fn(*used[i], **kwargs), case)  # training
            self.before = self._next_graph
            return lambda i: list(grads(self._graph.pop(i), used[i], self.grad_outs[i]))

        def both(i):
            out = output_of(fn(*used[i], **kwargs), case)
            return [out, *grads(out, used[i], self.grad_outs[i])]
        return both

    def _next_graph(self) -> None:
        """Before each timed backward, untimed: a fresh forward of the next turn, whose graph
        that backward consumes (torch.compile'd functions allow one backward per graph)."""
        i = (self.turn + 1) % self.rotation
        self._graph = {i: self._forward(i)}

    def __call__(self) -> None:
        i = self.turn = (self.turn + 1) % self.rotation
        self.calls += 1
        if self.pass_ != "backward":
            torch.autograd.graph.increment_version(self.sets[i][0])
        if self.pass_ != "forward":
            torch.autograd.graph.increment_version(self.grad_outs[i])
        self.last = None  # freed first, so the call may reuse its memory
        self.last = (i, self._call(i))

    def check_block(self, *_) -> None:
        """After each timed CPU block: for a share of the blocks, drawn unpredictably, the
        block's last outputs against the oracle of what that call saw; then new values in the
        buffers (no later call sees an earlier one's input) and warm caches again."""
        self.blocks += 1
        if self.last is not None and (self.blocks == 1 or self._draw.random() < VERIFY_SHARE):
            self.verify()
        self._refresh()
        self._warm()

    def _answer(self, i: int) -> Answer:
        """What turn i's outputs must be, from the contents that call saw."""
        seen = tuple(None if t is None else t.detach().to("cpu") for t in self.sets[i])
        values = expected_values(self.case, seen) if self.pass_ != "backward" else None
        if self.pass_ == "forward":
            return Answer(values)
        grad = self.grad_outs[i].detach().to("cpu", torch.float64)
        return Answer(values, tuple(expected_grads(self.case, seen, grad)))

    def _refresh(self) -> None:
        """New values in every input (and grad_output) buffer, untimed; a block that made
        more calls than there are windows saw some input twice, and is counted."""
        self.repeated += self.calls - self.fresh_from > self.rotation
        self.fresh_from = self.calls
        self.last = None  # its inputs get other values: it can no longer be checked
        if self.rotation == 1:
            return  # one input: the comparison that rotation_cost.py makes
        grads = getattr(self, "grad_outs", [])
        with torch.no_grad():
            for buffer in {id(b): b for b in (t._base for t in [self.sets[0][0], *grads[:1]])
                           if b is not None}.values():
                buffer.normal_(generator=self._gen)

    def verify(self, *_) -> None:
        """The latest outputs against the oracle of what that call saw, by the full comparison."""
        if self.case.device == "cuda":
            self.blocks += 1
            _no_late_streams()
        if self.last is not None:
            i, outputs = self.last
            self.verified += 1
            try:
                self._answer(i).check(outputs, self.case)
            except PropertyFailed as exc:
                raise PropertyFailed(f"an output of timed block {self.blocks} (input {i + 1} "
                                     f"of {self.rotation}) is wrong: {exc}") from None
            self.last = None  # verified: not again

    def recheck(self) -> None:
        """After timing: new values written into the first turn's tensors must give new results
        (forward, and gradients for a new grad_output), so a memoised or lazy result cannot
        have been timed as a fast one."""
        new = reseeded(self.case, self.rotation)
        tensors = self.sets[0]
        write_values(tensors, new.with_(device="cpu").tensors())
        outputs = [output_of(call(self.impl, self.case, tensors), self.case)]
        if self.pass_ != "forward":  # new values in the same grad_output tensor too
            grad = self.grad_outs[0]
            write_values((grad,), (step_grad_output(new, 0),))
            used = [t for t in tensors if t is not None]
            outputs += backward(outputs[0], used, grad, self.case)
        if self.case.device == "cuda":
            torch.cuda.synchronize()
        try:
            Answer(reference(new), answer(new, 0, self.pass_).grads).check(outputs, self.case)
        except PropertyFailed as exc:
            raise PropertyFailed(f"after timing, on new values in the same inputs: {exc}") \
                from None

    def _warm(self) -> None:
        """A pause between blocks lets the caches (and the core's clock) go cold: a few calls,
        not timed, before the next block, for WARM_S and at most WARM_CALLS, each separate
        input touched (the windows of one buffer are warm after one call); none where a call
        takes over COLD_S (its own first microseconds warm the caches). Measured on resnet50
        batch 1 on a 2-core VM: without them, a 50 ms pause made the next block's calls up to
        1.7x slower."""
        if self.each is not None and self.each > COLD_S:
            return
        deadline = time.perf_counter() + WARM_S
        for done in range(1, WARM_CALLS + 1):
            if self.before is not None:
                self.before()
            self()
            if done >= self.separate and time.perf_counter() > deadline:
                break
        self.last = None  # untimed: nothing to verify


def _no_late_streams() -> None:
    """The timed stream is done; the whole device must be done too: work left on a side stream
    was never inside the CUDA events, so its time was not counted."""
    torch.cuda.current_stream().synchronize()
    start = time.perf_counter()
    torch.cuda.synchronize()
    late = time.perf_counter() - start
    if late > LATE_S:
        raise PropertyFailed(f"work was still running on another stream {late * 1e3:.1f} ms "
                             f"after the timed stream finished: its time was not counted")
