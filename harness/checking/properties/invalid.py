"""Invalid arguments: where the reference raises, the implementation must raise too."""
from __future__ import annotations

from harness.checking import call as check
from harness.checking.strategies import invalid_cases
from harness.ops.cases import Case
from harness.ops.catalog import float64_cpu
from harness.plugins.registry import Implementation


def _rejection(bad: Case) -> str | None:
    """Why the reference rejects `bad`, or None when it accepts it."""
    try:
        bad.spec.reference(*float64_cpu(bad.tensors()), **bad.kwargs)
    except Exception as exc:  # noqa: BLE001 - the reference rejects it, as intended
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return None


def prop_invalid_args(impl: Implementation, case: Case) -> None:
    """Only an ordinary exception counts as a rejection: an exit or a crash is a failure."""
    for bad in invalid_cases(impl.op):
        bad = bad.with_(dtype=case.dtype, device=case.device)
        reason = _rejection(bad)
        if reason is None:
            continue
        try:
            result = check.call(impl, bad, bad.tensors())
        except (check.ImplementationExit, check.OutOfMemory):
            raise
        except check.PropertyFailed:  # it raised: rejected, as intended
            continue
        shape = tuple(result.shape) if hasattr(result, "shape") else type(result).__name__
        raise check.PropertyFailed(f"returned {shape}, but the reference raises ({reason}) "
                                   f"[{bad.call_text()}]")
