"""The table of conformance properties: what each checks, on which ops, over which drawn cases."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness import check, examples, grads
from harness.cases import DISTRIBUTIONS, Case
from harness.registry import Implementation
from harness.strategies import invalid_cases

ALL_OPS = ("conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")


def prop_invalid_args(impl: Implementation, case: Case) -> None:
    """Where the reference raises, the implementation must raise too."""
    dtype = "float32" if "float32" in impl.dtypes else impl.dtypes[0]
    for bad in invalid_cases(impl.op):
        bad = bad.with_(dtype=dtype, device=case.device)
        try:
            check.oracle(bad, bad.tensors())
        except Exception as ref_exc:  # the reference rejects it, as intended
            reason = f"{type(ref_exc).__name__}: {str(ref_exc).splitlines()[0][:120]}"
        else:
            continue
        try:
            result = check.call(impl, bad, bad.tensors())
        except check.Unsupported:
            raise
        except Exception:
            continue
        shape = tuple(result.shape) if hasattr(result, "shape") else type(result).__name__
        raise check.PropertyFailed(f"returned {shape}, but the reference raises ({reason}) "
                                   f"[{bad.call_text()}]")


@dataclass(frozen=True)
class Property:
    name: str
    fn: Callable[[Implementation, Case], None]
    doc: str
    ops: tuple = ALL_OPS
    drawn: bool = True  # False: runs once on fixed inputs (examples, invalid arguments)
    layouts: tuple = ("contiguous",)
    dists: tuple = DISTRIBUTIONS
    grad: bool = False  # needs a differentiable implementation

    def dists_for(self, op: str) -> tuple:
        # Which of tied maxima gets the gradient is unspecified: no ties for max-pool gradients.
        if self.grad and op == "max_pool2d":
            return tuple(d for d in self.dists if d != "ties")
        return self.dists


PROPERTIES = (
    Property("examples", examples.prop_examples, "worked textbook examples, exact",
             drawn=False),
    Property("shape", check.prop_shape, "output shape follows the op's rule"),
    Property("dtype_device", check.prop_dtype_device, "output dtype and device match the input"),
    Property("values", check.forward_values, "values match the float64 oracle within tolerance"),
    Property("no_mutation", check.prop_no_mutation, "input tensors are not modified"),
    Property("deterministic", check.prop_deterministic, "the same call twice gives the same bits"),
    Property("gradients", grads.prop_gradients, "gradients match the oracle's (shared grad_output)",
             grad=True),
    Property("gradcheck", grads.prop_gradcheck, "autograd.gradcheck in float64", grad=True,
             dists=("normal",)),
    Property("invalid_args", prop_invalid_args, "raises where the reference raises", drawn=False),
    Property("layouts", check.prop_layouts, "channels_last and non-contiguous inputs",
             layouts=("channels_last", "noncontiguous")),
    Property("memory", check.prop_memory, "no memory growth across repeated calls (leaks)",
             drawn=False),
    Property("indices", check.prop_indices, "return_indices=True points at the maxima",
             ops=("max_pool2d",)),
)


def properties_for(op: str, names=None) -> list[Property]:
    chosen = [p for p in PROPERTIES if op in p.ops]
    if names:
        unknown = set(names) - {p.name for p in PROPERTIES}
        if unknown:
            raise ValueError(f"property={sorted(unknown)}, but should be among "
                             f"{[p.name for p in PROPERTIES]}")
        chosen = [p for p in chosen if p.name in names]
    return chosen
