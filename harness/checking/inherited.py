"""Inherited failures: a kernel's failure that PyTorch's own op shares, on the same case."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

from harness.checking.call import PropertyFailed, as_checked

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


def pytorch_own(op: str):
    """PyTorch's F.<op> itself as an implementation."""
    from harness.plugins.registry import Implementation
    return Implementation(f"F.{op}", op, own_functional(op))


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
    own, seen, passed = pytorch_own(case.op), set(), False
    with as_checked():  # as the kernel was called: one thread, the same PyTorch code path
        for _ in range(_tries(case)):
            try:
                prop.fn(own, case)
                passed = True
            except PropertyFailed as theirs:
                if same_way(signature, theirs.signature):
                    return True
                seen.add(theirs.signature)
            except Exception:  # noqa: BLE001 - unsupported, undefined: not shown to share it
                return False
    return bool(seen) and (passed or len(seen) > 1)


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
