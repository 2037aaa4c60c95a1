"""Integrity: results that are computed now, for these inputs, into memory of their own.

Kernels found in the wild cheat or race in ways a single call never shows: a result cached from
an earlier call, a result still being written after the call returned, an output that shares
memory with an input or that the next call overwrites, writes outside the views they were given.
"""
from __future__ import annotations

import os
import threading
import time

import torch

from harness.checking.call import (PropertyFailed, assert_values, call, output_of, require_defined,
                                   reseeded, shared_values, write_values)
from harness.checking.properties.values import same_bits
from harness.ops.cases import Case

SETTLE_S = 0.05  # after a call returns, how long a late writer gets to show itself, at most
SETTLE_MIN_S = 1e-3  # and at least
MARGIN = 64  # sentinel elements before and after each guarded view


def _call(impl, case: Case, tensors: tuple) -> torch.Tensor:
    return output_of(call(impl, case, tensors), case)


def _reseeded(case: Case, step: int) -> tuple[Case, tuple]:
    new = reseeded(case, step)
    return new, new.tensors()


def prop_fresh_results(impl, case: Case) -> None:
    """New values in the same tensors, then new tensors of the same shape: each call must
    answer for the values it is given (no cache keyed by address or by shape)."""
    require_defined(case)
    tensors = case.tensors()
    first = _call(impl, case, tensors).detach().clone()
    for step, how in ((1, "after new values were written into the same input tensors"),
                      (2, "on new input tensors of the same shape")):
        new_case, values = _reseeded(case, step)
        reference = shared_values(new_case, values)
        if step == 1:
            write_values(tensors, values)
            values = tensors
        out = _call(impl, new_case, values)
        stale = " (it returned the first call's result again)" if same_bits(out, first) else ""
        try:
            assert_values(out, new_case, reference)
        except PropertyFailed as exc:
            raise PropertyFailed(f"{how}: {exc}{stale}", exc.figures,
                                 exc.signature) from None


def _settle(device: str, pid: int | None = None) -> None:
    """Give a late writer its chance: wait until no other thread of the kernel's process (this
    one, or process `pid`) has run, or waited for a CPU, over SETTLE_MIN_S (a writer that was
    still busy has then finished or gone to sleep), at most SETTLE_S. Waiting on the threads'
    own clocks rather than a fixed time keeps a busy machine, where the writer may wait long
    for a CPU, from hiding it."""
    if device == "cuda" and pid is None:
        torch.cuda.synchronize()
    deadline = time.monotonic() + SETTLE_S
    before = _others_activity(pid)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_MIN_S)
        now = _others_activity(pid)
        if now is not None and now == before and not any(runnable for *_, runnable in now):
            return
        before = now


def _others_activity(pid: int | None) -> tuple | None:
    """Each thread of process `pid` (or each other thread of this one): its time on a CPU and
    waiting for one (Linux's schedstat, in ns), and whether it is running or runnable now;
    None where /proc cannot tell, so the caller waits its longest."""
    me = str(threading.get_native_id()) if pid is None else ""
    root = f"/proc/{pid or 'self'}/task"
    try:
        return tuple((task, _read(f"{root}/{task}/schedstat"),
                      _read(f"{root}/{task}/stat").rpartition(b")")[2].split()[:1] == [b"R"])
                     for task in sorted(os.listdir(root)) if task != me)
    except OSError:
        return None


def _read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def remote_of(impl):
    """The stand-in that calls `impl` in the kernel's process (execution.kernel_client.Remote),
    or None where it runs in this one."""
    return getattr(impl.fn, "convharness_remote", None)


def prop_complete_on_return(impl, case: Case) -> None:
    """The output is complete when the call returns: taken at once it has the right values,
    and it does not change afterwards (no thread or side stream still writing it)."""
    require_defined(case)
    tensors = case.tensors()
    reference = shared_values(case, tensors)
    out = _call(impl, case, tensors)
    at_return = out.detach().clone()
    remote = remote_of(impl)
    _settle(case.device, remote and remote.pid)
    later = (remote.again(out) if remote else out).detach().clone()
    if not same_bits(at_return, later):
        changed = int((at_return.nan_to_num() != later.nan_to_num()).sum())
        raise PropertyFailed(f"out changed after the call returned ({changed} of {out.numel()} "
                             f"elements): the result was not complete on return "
                             f"[{case.call_text()}]")
    assert_values(at_return, case, reference, what="out as returned")


def _storage(t: torch.Tensor) -> int:
    """Where `t`'s memory is, in the process the kernel saw it in."""
    if hasattr(t, "convharness_storage"):
        return t.convharness_storage
    return t.untyped_storage().data_ptr() if t.numel() else -1


def prop_no_aliasing(impl, case: Case) -> None:
    """The output owns its memory: it shares none with the inputs, and a second call (other
    values) does not overwrite the first call's output."""
    tensors = case.tensors()
    out = _call(impl, case, tensors)
    for name, t in zip(case.spec.tensor_args, tensors):
        if t is not None and _storage(t) == _storage(out) != -1:
            raise PropertyFailed(f"out shares memory with {name}: the output aliases an input "
                                 f"[{case.call_text()}]")
    kept = out.detach().clone()
    second = _call(impl, case, _reseeded(case, 1)[1])
    if _storage(second) == _storage(out) != -1 or not same_bits(out.detach(), kept):
        raise PropertyFailed(f"the first call's output changed when the implementation was called "
                             f"again with other inputs: it reuses one output buffer "
                             f"[{case.call_text()}]")


def _guarded(t: torch.Tensor, gaps: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(view holding t's values, its NaN-filled buffer, mask of the buffer outside the view)."""
    step = 2 if gaps else 1
    strides, size = [], step
    for dim in reversed(t.shape):
        strides.insert(0, size)
        size *= max(dim, 1)
    buffer = torch.full((2 * MARGIN + size,), float("nan"), dtype=t.dtype, device=t.device)
    view = buffer.as_strided(t.shape, strides, MARGIN)
    with torch.no_grad():
        view.copy_(t)
    outside = torch.ones(buffer.shape, dtype=torch.bool, device=t.device)
    outside.as_strided(t.shape, strides, MARGIN).fill_(False)
    return view, buffer, outside


def prop_bounds(impl, case: Case) -> None:
    """Inputs handed over as views inside larger NaN-filled buffers (contiguous with NaN before
    and after, then strided with NaN between the elements too): no write may land outside the
    views, and reads outside them show up as wrong values."""
    require_defined(case)
    tensors = case.tensors()
    reference = shared_values(case, tensors)
    for gaps in (False, True):
        guarded = [None if t is None else _guarded(t, gaps) for t in tensors]
        views = tuple(None if g is None else g[0] for g in guarded)
        out = _call(impl, case, views)
        where = "strided views with NaN between" if gaps else "contiguous views with NaN around"
        for name, g in zip(case.spec.tensor_args, guarded):
            if g is not None and not bool(g[1][g[2]].isnan().all()):
                hit = int((~g[1][g[2]].isnan()).sum())
                raise PropertyFailed(f"{hit} element(s) written outside the view of {name} "
                                     f"({where}) [{case.call_text()}]")
        try:
            assert_values(out, case, reference)
        except PropertyFailed as exc:
            raise PropertyFailed(f"with inputs as {where}: {exc}", exc.figures,
                                 exc.signature) from None
