"""The call path every property shares: calling an implementation, the oracle, and the verdicts."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable

import torch

from harness.checking.answers import answered
from harness.checking.captured import captured
from harness.checking.tolerance import Mismatch, assert_within
from harness.ops.cases import Case
from harness.ops.catalog import float64_cpu, magnitude, squares
from harness.plugins.registry import Implementation


class Unsupported(Exception):
    """The implementation does not handle this case (it raised NotImplementedError, or declares so)."""

    def __init__(self, message: str, *, declined: bool = False):
        super().__init__(message)
        self.declined = declined  # it raised NotImplementedError: no declaration explains it


class Undefined(Exception):
    """The oracle has no defined answer for this case."""


class HarnessError(Exception):
    """A fault of the harness itself (the oracle, a strategy, hypothesis), never the candidate's."""


CATCH_INTERRUPTS = False  # set in worker processes, where Ctrl-C cannot come from the user
_progress: Callable[[str | None], object] | None = None  # a worker's heartbeat
LAST = {"calls": 0, "returned": "nothing"}  # calls so far, and what the latest one returned


def on_call(callback: Callable[[str | None], object] | None) -> None:
    """Tell `callback` when each call of the implementation starts (with what it is) and when
    it ends (None): the time limit covers the implementation's own calls and nothing else."""
    global _progress
    _progress = callback


@contextlib.contextmanager
def calling(what: str):
    """Code of the implementation runs inside (its forward, or its backward)."""
    LAST["calls"] += 1
    if _progress is not None:
        _progress(what)
    try:
        with captured():
            yield
    finally:
        if _progress is not None:
            _progress(None)


def returned(value) -> str:
    """A short description of what an implementation returned, for messages."""
    if isinstance(value, torch.Tensor):
        return (f"{type(value).__name__}(shape={tuple(value.shape)}, dtype={value.dtype}, "
                f"device={value.device}, layout={value.layout})")
    if isinstance(value, tuple):
        return "(" + ", ".join(returned(v) for v in value) + ")"
    return type(value).__name__


class PropertyFailed(AssertionError):
    """A property does not hold; `figures` carries error measures where there are any, and
    `signature` what tells this fault from another (tolerance.fault_signature; by default the
    message, which names the case and the values)."""

    def __init__(self, message: str, figures: dict | None = None, signature: tuple = ()):
        super().__init__(message)
        self.figures = figures or {}
        self.signature = signature or (message,)


class ImplementationExit(PropertyFailed):
    """The implementation raised SystemExit (or KeyboardInterrupt inside a worker)."""


class OutOfMemory(PropertyFailed):
    """The implementation ran out of memory (MemoryError, torch.OutOfMemoryError)."""


def require_support(impl: Implementation, case: Case) -> None:
    if not impl.supports(case.dtype, case.device):
        raise Unsupported(f"{impl.name} declares dtypes={impl.dtypes}, devices={impl.devices}")


def invoke(impl: Implementation, what: str, *args, **kwargs):
    """Call impl.fn; whatever it raises becomes a verdict (unsupported, failed, out of memory)."""
    try:
        with calling(what):
            result = impl.fn(*args, **kwargs)
        LAST["returned"] = returned(result)
        return result
    except BaseException as exc:  # noqa: BLE001 - an implementation may raise anything
        raise verdict(exc, what) from None


RECOMPILE_LIMIT = 256  # torch.compile's recompiles of one function while it is checked


@contextlib.contextmanager
def compiled_as_asked():
    """While checking: a torch.compile'd implementation may recompile up to RECOMPILE_LIMIT
    times (its own limit, 8, is soon reached by drawn arguments: dtypes, layouts, sizes of
    one), and past that it raises instead of running eagerly unseen (judged as not checked
    there: `verdict`). Restored after; nothing is imported for implementations that use no
    torch.compile."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is None:
        yield
        return
    with dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True,
                             accumulated_recompile_limit=max(
                                 RECOMPILE_LIMIT, dynamo.config.accumulated_recompile_limit)):
        yield


# Checks run on one intra-op thread: their tensors are small, and beside another busy process
# (a second pytest-xdist worker, anything else on a shared machine) PyTorch's spinning threads
# made one check thirty times slower. Timing (bench) sets its own thread count.
CHECK_THREADS = 1


@contextlib.contextmanager
def as_checked(threads: int | None = None):
    """What every checked call runs under, the kernel's and PyTorch's own alike: TF32 and
    cudnn.benchmark off (float32 means float32), compiled kernels compiled
    (`compiled_as_asked`), CHECK_THREADS intra-op threads (or `threads`, for a timing)."""
    from harness.checking.flags import intra_op_threads, pinned_flags
    with pinned_flags(), compiled_as_asked(), intra_op_threads(threads or CHECK_THREADS):
        yield


def _fell_back(exc: BaseException) -> bool:
    """torch.compile reached its recompile limit (it would have run the function eagerly)."""
    return any(type(e).__name__ == "FailOnRecompileLimitHit" for e in (exc, exc.__cause__))


def verdict(exc: BaseException, what: str) -> BaseException:
    """What an exception raised by the implementation during `what` means to the harness."""
    if isinstance(exc, NotImplementedError):
        return Unsupported(f"NotImplementedError: {exc}", declined=True)
    if _fell_back(exc):
        return Unsupported(f"not checked: torch.compile reached its recompile limit "
                           f"({RECOMPILE_LIMIT} while checked) and would run the function eagerly "
                           f"here, not the compiled kernel [{what}]")
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return OutOfMemory(f"out of memory: {type(exc).__name__}: {str(exc)[:300]} [{what}]")
    if isinstance(exc, KeyboardInterrupt) and not CATCH_INTERRUPTS:
        return exc  # in-process, Ctrl-C ends the run
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return ImplementationExit(f"the implementation raised {type(exc).__name__}({exc}) "
                                  f"[{what}]")
    if not isinstance(exc, Exception):
        return exc  # GeneratorExit and the like: not the implementation's to turn into a verdict
    return PropertyFailed(f"raised {type(exc).__name__}: {str(exc)[:1000]} [{what}]")


def timed_caller(fn: Callable, what: str) -> Callable:
    """`fn` for a timed loop: the heartbeat around each call (so the per-call limit holds) and
    its exceptions as verdicts, nothing more; the loop's owner captures warnings once around
    the whole loop (`captured`). `invoke` adds about 10 us a call, more than many small
    kernels take."""
    def timed(*args, **kwargs):
        progress = _progress
        if progress is not None:
            progress(what)
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001
            raise verdict(exc, what) from None
        finally:
            if progress is not None:
                progress(None)
    return timed


def call(impl: Implementation, case: Case, tensors: tuple, **extra):
    """Call the implementation as a user would: bias only when the case has one."""
    require_support(impl, case)
    args = [t for t in tensors if t is not None]
    return invoke(impl, case.call_text(), *args, **case.kwargs, **extra)


def backward(out: torch.Tensor, inputs: list, grad_out: torch.Tensor, case: Case) -> tuple:
    """torch.autograd.grad through the implementation's backward; its errors are its failures."""
    try:
        with calling(f"backward of {case.call_text()}"):
            return torch.autograd.grad(out, inputs, grad_out, allow_unused=True)
    except (MemoryError, torch.OutOfMemoryError) as exc:
        raise OutOfMemory(f"out of memory in backward: {exc} [{case.call_text()}]") from None
    except Exception as exc:  # noqa: BLE001
        raise PropertyFailed(f"backward raised {type(exc).__name__}: {str(exc)[:500]} "
                             f"[{case.call_text()}]") from None


NEW_SEED = 7919  # the seed offset of the values written into the inputs for another call


def reseeded(case: Case, step: int = 1) -> Case:
    """The same call with other values (seed + step * NEW_SEED)."""
    return case.with_(seed=case.seed + NEW_SEED * step)


def write_values(tensors: tuple, values: tuple) -> None:
    """Copy `values` into the existing input tensors, in place (same addresses)."""
    with torch.no_grad():
        for t, v in zip(tensors, values):
            if t is not None:
                t.copy_(v)


def output_of(result, case: Case, *, indices=False) -> torch.Tensor:
    """The output tensor of a call; a tuple only where return_indices asked for one."""
    if indices:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise PropertyFailed(f"returned {type(result).__name__}, but should be a tuple "
                                 f"(out, indices) [{case.call_text()}]")
        return result
    if not isinstance(result, torch.Tensor):
        raise PropertyFailed(f"returned {type(result).__name__}, but should be a Tensor "
                             f"[{case.call_text()}]")
    return result


def oracle(case: Case, tensors: tuple, **extra):
    """The reference on float64 CPU copies of the same inputs; its own faults are the harness's."""
    try:
        return case.spec.reference(*float64_cpu(tensors), **case.kwargs, **extra)
    except Exception as exc:  # noqa: BLE001
        raise HarnessError(f"the float64 oracle raised {type(exc).__name__}: {exc} "
                           f"[{case.call_text()}]") from None


def require_defined(case: Case) -> None:
    if not case.reference_defined():
        raise Undefined(f"a {case.op} window lies wholly in the padding: the reference is "
                        f"undefined")


def expected_values(case: Case, tensors: tuple) -> tuple:
    """(oracle output, sum of |terms|, root of the sum of terms squared, normwise scale)."""
    expected = oracle(case, tensors)
    exact = float64_cpu(tensors)
    mag = oracle(case, magnitude(case.spec, exact)).abs()
    sq = oracle(case, squares(case.spec, exact)).abs().sqrt() if case.spec.linear else mag
    return expected, mag, sq, normwise_scale(case, tensors)


def shared_values(case: Case, tensors: tuple) -> tuple:
    """expected_values of `case` on its own `tensors` (as case.tensors() made them, before any
    call), made once and shared by every implementation judged on the case."""
    return answered(f"{case.to_json()}|values", lambda: expected_values(case, tensors))


def assert_values(out, case: Case, reference: tuple, what: str = "out") -> dict:
    """`out` against expected_values() within the tolerance, or PropertyFailed with figures;
    the error figures when it is within."""
    expect_shape(out, case)
    expected, mag, sq, scale = reference
    try:
        return assert_within(out, expected, mag, dtype=case.torch_dtype,
                             length=case.reduction_length(), scale=scale, squares=sq, what=what)
    except Mismatch as exc:
        raise PropertyFailed(f"{exc} [{case.call_text()}]", exc.figures, exc.signature) from None


def forward_values(impl, case, reference: tuple | None = None) -> dict:
    """Values against the oracle; `reference` is expected_values() when the caller has it.
    Returns the error figures of a pass."""
    require_defined(case)
    tensors = case.tensors()
    # the oracle runs before the call: an implementation may mutate its inputs
    reference = reference or shared_values(case, tensors)
    return assert_values(output_of(call(impl, case, tensors), case), case, reference)


def normwise_scale(case: Case, tensors: tuple) -> float:
    """The largest |terms| sum an output could have wherever its window lies: max |input| times
    the largest sum of |weights| of one output channel (plus |bias|); max |input| for pools."""
    x, *rest = (None if t is None else finite(t) for t in float64_cpu(tensors))
    scale = float(x.abs().max()) if x.numel() else 0.0
    if case.spec.weighted:
        weight, bias = rest
        scale *= float(weight.abs().flatten(1).sum(1).max()) if weight.numel() else 0.0
        scale += float(bias.abs().max()) if bias is not None and bias.numel() else 0.0
    return scale


def finite(t: torch.Tensor) -> torch.Tensor:
    """`t` with NaN and infinities as zeros: what tolerances are scaled by."""
    return torch.where(t.isfinite(), t, 0.0)


def expect_shape(out, case) -> None:
    want = case.output_shape()
    if tuple(out.shape) != want:
        raise PropertyFailed(f"out.shape={tuple(out.shape)}, but should be {want} "
                             f"[{case.call_text()}]")
