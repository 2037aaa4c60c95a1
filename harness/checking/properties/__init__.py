"""The table of conformance properties: what each checks, on which ops, over which drawn cases.

One module per family: values (one forward call), gradients, integrity (caching, lateness,
aliasing, out-of-bounds writes), memory, invalid arguments, worked examples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.checking.properties import examples, gradients, integrity, invalid, memory, values
from harness.ops.cases import DISTRIBUTIONS, LAYOUTS, Case
from harness.ops.catalog import OPS
from harness.plugins.registry import Implementation

ALL_OPS = tuple(OPS)


@dataclass(frozen=True)
class Property:
    name: str
    fn: Callable[[Implementation, Case], None]
    doc: str
    ops: tuple = ALL_OPS
    drawn: bool = True  # False: runs once per dtype and device on fixed inputs
    layouts: tuple = ("contiguous",)
    dists: tuple = DISTRIBUTIONS
    grad: bool = False  # needs a differentiable implementation
    mix: str = "mixed"  # "mixed" (mostly tiny), "sizes" (every other tier, each searched on its
    # own), "strata" (tiny and every other tier, each on its own), "tiny" (strategies.strata)
    examples: float = 1.0  # times the profile's max_examples

    def dists_for(self, op: str) -> tuple:
        # Which of tied maxima gets the gradient is unspecified: no ties for max-pool gradients.
        if self.grad and OPS[op].indices:
            return tuple(d for d in self.dists if d != "ties")
        return self.dists


PROPERTIES = (
    Property("examples", examples.prop_examples, "worked textbook examples, exact",
             drawn=False),
    Property("shape", values.prop_shape, "output shape follows the op's rule"),
    Property("dtype_device", values.prop_dtype_device, "output dtype and device match the input"),
    Property("values", values.forward_values, "values match the float64 oracle within tolerance"),
    Property("sizes", values.prop_sizes, "values in every region where kernels break: partial "
             "last tiles in each dimension, past the CUDA grid limit, degenerate geometry, long "
             "half-precision reductions; every layout", mix="sizes", examples=2.0,
             layouts=LAYOUTS),
    Property("special_values", values.prop_special_values, "NaN, +-inf, -0.0, subnormals and "
             "near-max inputs give what PyTorch gives (NaN and inf where it has them)",
             dists=("special",), mix="tiny"),
    Property("no_mutation", values.prop_no_mutation, "input tensors are not modified"),
    Property("deterministic", values.prop_deterministic, "the same call twice: both within "
             "tolerance (bits may differ, shown as nondeterministic; --deterministic: same bits)"),
    Property("fresh_results", integrity.prop_fresh_results, "new values in the same or new "
             "tensors give new results (nothing cached by address or shape)"),
    Property("complete_on_return", integrity.prop_complete_on_return, "the output is complete "
             "when the call returns (no thread or side stream still writing)"),
    Property("no_aliasing", integrity.prop_no_aliasing, "the output shares no memory with the "
             "inputs, and the next call does not overwrite it"),
    Property("bounds", integrity.prop_bounds, "no writes outside the input views (NaN sentinels "
             "before, after and between the elements)"),
    Property("gradients", gradients.prop_gradients, "gradients match the oracle's (shared "
             "grad_output), in every region `sizes` reaches too", grad=True, mix="strata"),
    Property("special_gradients", gradients.prop_gradients, "gradients with NaN, +-inf, -0.0, "
             "subnormal and near-max inputs: NaN and inf where PyTorch's have them", grad=True,
             dists=("special",), mix="tiny"),
    Property("gradcheck", gradients.prop_gradcheck, "autograd.gradcheck in float64 (fast mode)",
             grad=True, dists=("normal",), mix="tiny"),  # sizes are for `gradients`
    Property("invalid_args", invalid.prop_invalid_args, "raises where the reference raises",
             drawn=False),
    Property("layouts", values.prop_layouts, "channels_last and non-contiguous inputs",
             layouts=("channels_last", "noncontiguous")),
    Property("memory", memory.prop_memory, "no memory growth across repeated calls (leaks)",
             drawn=False),
    Property("indices", values.prop_indices, "return_indices=True points at the maxima",
             ops=tuple(name for name, op in OPS.items() if op.indices)),
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
