"""Inherited failures: a kernel's failure that PyTorch's own op shares, on the same case."""
from __future__ import annotations

import functools
import importlib
import json
import os
import subprocess
import sys

import torch

from harness.checking.call import PropertyFailed, as_checked
from harness.checking.tolerance import off_elements

# The harness's own tests judge "inherited" against a stand-in for PyTorch's ops that fails the
# same way on every call in regions they choose (PyTorch's own bugs show on some calls only):
# a module whose <op> functions take the place of F.<op>. Read once, when this module loads.
STANDIN_VARIABLE = "CONVHARNESS_PYTORCH_STANDIN"
_STANDIN = os.environ.get(STANDIN_VARIABLE, "")


def own_functional(op: str):
    """PyTorch's F.<op>, or the stand-in's <op> where one is set."""
    if _STANDIN:
        return getattr(importlib.import_module(_STANDIN), op)
    from harness.ops.catalog import OPS
    return OPS[op].functional


def pytorch_own(op: str, scribbled: int | None = None):
    """PyTorch's F.<op> itself as an implementation; with `scribbled`, each call made after
    scribble(scribbled)."""
    from harness.plugins.registry import Implementation
    functional = own_functional(op)
    if scribbled is None:
        return Implementation(f"F.{op}", op, functional)

    def after_scribbling(*args, **kwargs):
        scribble(scribbled)
        return functional(*args, **kwargs)
    return Implementation(f"F.{op}", op, after_scribbling)


def unsafe(case) -> bool:
    """PyTorch's own op may kill the process on `case` (implementations.reference knows where)."""
    from implementations.reference import unsafe_case
    return unsafe_case(case)


TRIES = 30  # PyTorch's kernels that return memory they never wrote fail on some calls only
# (one in five for bfloat16 conv_transpose2d's weight gradient on a cropped output), each time
# differently: enough calls of the minimal case to see it in all but one run in a thousand.
LARGE_TRIES = 3  # a large minimal case (a tile or launch tier): costly calls, no garbage seen


def inherited(prop, case, failure: PropertyFailed) -> bool:
    """PyTorch's own F.<op> fails `prop` on `case` (same device, dtype, layout, arguments and
    values) in the same way, or its answer changes from call to call, in one of a few tries.
    Where it may crash, this runs in a fresh process."""
    if unsafe(case):
        return _elsewhere(prop.name, case, failure.signature)
    return inherited_here(prop, case, failure.signature)


def inherited_here(prop, case, signature: tuple) -> bool:
    """`inherited` in this process: the same elements off, or the same non-finite pattern; or
    an unsettled answer (failing on one call, passing or failing otherwise on another: memory
    it never wrote), to which no kernel can be held."""
    seen, passed = set(), False
    with as_checked():  # as the kernel was called: one thread, the same PyTorch code path
        for attempt in range(_tries(case)):
            try:  # the first call as the kernel's was made, then after scribbling the heap
                prop.fn(pytorch_own(case.op, SCRIBBLES[attempt % len(SCRIBBLES)]), case)
                passed = True
            except PropertyFailed as theirs:
                seen.add(theirs.signature)
                if same_way(signature, theirs.signature) or within(signature, seen):
                    return True
            except Exception:  # noqa: BLE001 - unsupported, undefined: not shown to share it
                return False
    return bool(seen) and (passed or len(seen) > 1)


def within(mine: tuple, seen: set) -> bool:
    """Every element off in the kernel's answer (a values fault) is off in one of PyTorch's
    own answers `seen` of the same tensor: where PyTorch returns memory it never wrote, the
    kernel's leftovers and PyTorch's differ, but not where they lie."""
    off = off_elements(mine)
    if off is None or not off.any():
        return False
    theirs = [t for t in (off_elements(s) for s in seen if s[0] == mine[0])
              if t is not None and t.shape == off.shape]
    return bool(theirs) and not (off & ~functools.reduce(torch.logical_or, theirs)).any()


SCRIBBLES = (None, 0xFF, 0x7F, 0x41, 0xC1, 0x00)  # none (as the kernel was called), then
# bytes that read as NaN, about 3e38, 12 and -12 in float32 and bfloat16, and zero
SCRIBBLED = tuple(4 ** k for k in range(3, 9)) * 8  # 64 B to 64 KiB, eight blocks each: below
# malloc's mmap threshold, so freed they stay in the heap for the op's own allocations


def scribble(byte: int) -> None:
    """Fill the heap's free memory with `byte`, where an op's next allocations may come from:
    an op that returns memory it never wrote answers otherwise for each byte, where the same
    process's heap might hand it the same leftovers on every call (and the kernel's, others)."""
    blocks = [torch.full((size,), byte, dtype=torch.uint8) for size in SCRIBBLED]
    del blocks


def _tries(case) -> int:
    """TRIES, or LARGE_TRIES for a large case (an invalid call has no size: TRIES)."""
    from harness.checking.regions import large
    try:
        return LARGE_TRIES if large(case) else TRIES
    except Exception:  # noqa: BLE001 - arguments the op rejects: no output shape
        return TRIES


def same_way(mine: tuple, theirs: tuple) -> bool:
    """Two failures' signatures (check.PropertyFailed) show the same fault: equal, or for
    values (tolerance.fault_signature) the same tensor with the same non-finite pattern."""
    if mine == theirs:
        return True
    if len(mine) == len(theirs) == 4 and mine[0] == theirs[0]:
        return mine[2] == theirs[2] and mine[3]
    return False


def message(op: str, text: str, *, strict: bool, shares: str = "gives the same answer") -> str:
    """The record's message of an inherited failure: PyTorch's own op `shares` it."""
    head = ("inherited, counted as a failure under --strict: " if strict else "inherited: ")
    return f"{head}PyTorch's own F.{op} {shares} here\n{text}"


def _elsewhere(prop: str, case, signature: tuple) -> bool:
    """`inherited` in a fresh process, where PyTorch's op may crash: a crash is PyTorch's."""
    code = ("import json, sys; from harness.checking.inherited import here\n"
            "sys.exit(0 if here(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])) else 1)")
    status = _fresh_process(code, prop, case.to_json(), json.dumps(list(signature)))
    return status is not None and status <= 0


def here(prop: str, case_json: str, signature: list) -> bool:
    """inherited() of a property by name, run in this process."""
    from harness.checking.properties import PROPERTIES
    from harness.ops.cases import Case
    case = Case.from_json(case_json)
    found = next(p for p in PROPERTIES if p.name == prop)
    return inherited_here(found, case, tuple(signature))


CRASH_CHECK_S = 300  # a fresh interpreter imports torch, then makes its calls: wide margin
CRASH_PROCESSES, CRASH_CALLS = 3, 10  # PyTorch's crashes on memory it never wrote come on some
# calls only, and depend on what the process's heap holds: where PyTorch may crash (`unsafe`),
# several fresh processes of many calls (seen: one of three calls missed such a crash)


def crashes_too(case) -> bool:
    """PyTorch's own F.<op> kills a fresh process on `case` (same tensors, layout, arguments),
    as it did the worker that ran the kernel, in one of a few tries: its crash, inherited by a
    kernel that calls it."""
    code = "import sys; from harness.checking.inherited import call_own; call_own(sys.argv[1])"
    for _ in range(CRASH_PROCESSES if unsafe(case) else 1):
        status = _fresh_process(code, case.to_json())
        if status is not None and status < 0:
            return True
    return False


def call_own(case_json: str) -> None:
    """PyTorch's own op (or the stand-in) called CRASH_CALLS times on the case, as the kernel
    was."""
    from harness.ops.cases import Case
    case = Case.from_json(case_json)
    own, tensors = own_functional(case.op), case.tensors()
    with as_checked():
        for _ in range(CRASH_CALLS):
            case.spec.called(own, *tensors, **case.kwargs)


def _environment() -> dict:
    """This process's environment for a fresh one: the stand-in as read here, and modules
    found where they are found here."""
    path = os.pathsep.join(p for p in sys.path if p)
    return {**os.environ, STANDIN_VARIABLE: _STANDIN, "PYTHONPATH": path}


def _fresh_process(code: str, *args: str) -> int | None:
    """The exit status of `python -c code *args` (negative: killed by a signal), None if it
    ran past CRASH_CHECK_S."""
    try:
        return subprocess.run([sys.executable, "-c", code, *args], timeout=CRASH_CHECK_S,
                              env=_environment(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    except subprocess.TimeoutExpired:
        return None
