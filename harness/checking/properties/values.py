"""Properties of one forward call: shape, dtype and device, values, layouts, mutation, determinism."""
from __future__ import annotations

import torch

from harness.checking.call import (PropertyFailed, assert_values, call, expect_shape,
                                   forward_values, oracle, output_of, require_defined,
                                   shared_values)
from harness.ops.catalog import float64_cpu

__all__ = ["forward_values", "prop_shape", "prop_dtype_device", "prop_no_mutation",
           "prop_deterministic", "prop_layouts", "prop_sizes", "prop_indices", "prop_special_values"]


def prop_shape(impl, case) -> None:
    expect_shape(output_of(call(impl, case, case.tensors()), case), case)


def prop_dtype_device(impl, case) -> None:
    out = output_of(call(impl, case, case.tensors()), case)
    if out.dtype != case.torch_dtype or out.device.type != case.device:
        raise PropertyFailed(f"out.dtype={out.dtype}, out.device={out.device}, but should be "
                             f"{case.torch_dtype} on {case.device} [{case.call_text()}]")


def prop_no_mutation(impl, case) -> None:
    tensors = case.tensors()
    before = [None if t is None else t.clone() for t in tensors]
    call(impl, case, tensors)
    for name, old, new in zip(case.spec.tensor_args, before, tensors):
        if old is not None and not torch.equal(old.nan_to_num(), new.nan_to_num()):
            changed = int((old.nan_to_num() != new.nan_to_num()).sum())
            raise PropertyFailed(f"{name} was modified in place ({changed} elements changed) "
                                 f"[{case.call_text()}]")


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def prop_deterministic(impl, case) -> str | None:
    """PyTorch's contract: every call within tolerance. Two calls that differ in bits pass with
    the remark "nondeterministic" (a failure under --deterministic, as with
    torch.use_deterministic_algorithms)."""
    require_defined(case)
    tensors = case.tensors()
    reference = shared_values(case, tensors)
    first = output_of(call(impl, case, tensors), case).detach().clone()
    second = output_of(call(impl, case, tensors), case)
    for which, out in (("first", first), ("second", second)):
        try:
            assert_values(out, case, reference, what=f"out of the {which} call")
        except PropertyFailed as exc:
            raise PropertyFailed(f"called twice with the same inputs: {exc}", exc.figures,
                                 exc.signature) from None
    return None if same_bits(first, second.detach()) else "nondeterministic"


def prop_special_values(impl, case) -> None:
    """NaN, +-inf, -0.0, subnormals and near-max values in the input (the strategy plants
    them): NaN and infinities where PyTorch gives them, finite values within tolerance; for
    max_pool2d the index of a NaN maximum points at it."""
    forward_values(impl, case)
    if case.spec.indices:
        prop_indices(impl, case)


def prop_layouts(impl, case) -> None:
    """Values for channels_last and non-contiguous inputs (the strategy draws the layout)."""
    forward_values(impl, case)


def prop_sizes(impl, case) -> None:
    """Values at tile-boundary sizes (the strategy draws only large tiers)."""
    forward_values(impl, case)


def prop_indices(impl, case) -> None:
    """max_pool2d(return_indices=True): indices point at each window's maximum."""
    require_defined(case)
    tensors = case.tensors()
    out, idx = output_of(call(impl, case, tensors, return_indices=True), case, indices=True)
    expect_shape(out, case)
    ref_out, ref_idx = oracle(case, tensors, return_indices=True)
    if idx.dtype != torch.int64 or idx.shape != ref_idx.shape:
        raise PropertyFailed(f"indices dtype={idx.dtype} shape={tuple(idx.shape)}, but should be "
                             f"torch.int64 {tuple(ref_idx.shape)} [{case.call_text()}]")
    x = float64_cpu(tensors)[0].flatten(2)
    picked = x.gather(2, idx.cpu().flatten(2).clamp(0, x.shape[2] - 1)).view_as(ref_out)
    # an -inf maximum ties with the padding around it: its index is anyone's
    counted = ref_out != float("-inf")
    in_range = bool(((idx.cpu() >= 0) & (idx.cpu() < x.shape[2]))[counted].all())
    if not in_range or not same_bits(picked[counted], ref_out[counted]):
        raise PropertyFailed(f"indices do not point at the window maxima "
                             f"[{case.call_text()}, return_indices=True]")
    # ties (and -0.0 against 0.0, or an -inf maximum) leave the index to the implementation
    if case.dist not in ("ties", "special") and not torch.equal(idx.cpu(), ref_idx):
        raise PropertyFailed(f"indices differ from the reference's where the maximum is unique "
                             f"[{case.call_text()}]")
