"""Properties of one forward call: shape, dtype and device, values, layouts, mutation, determinism."""
from __future__ import annotations

import torch

from harness.check import (PropertyFailed, call, expect_shape, forward_values, oracle,
                           output_of, require_defined)
from harness.ops import float64_cpu

__all__ = ["forward_values", "prop_shape", "prop_dtype_device", "prop_no_mutation",
           "prop_deterministic", "prop_layouts", "prop_sizes", "prop_indices"]


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


def prop_deterministic(impl, case) -> None:
    tensors = case.tensors()
    first = output_of(call(impl, case, tensors), case)
    second = output_of(call(impl, case, tensors), case)
    if not same_bits(first, second):
        raise PropertyFailed(f"two calls with the same inputs differ [{case.call_text()}]")


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
    in_range = bool(((idx >= 0) & (idx < x.shape[2])).all())
    if not in_range or not torch.equal(picked, ref_out):
        raise PropertyFailed(f"indices do not point at the window maxima "
                             f"[{case.call_text(fn='F.max_pool2d')}, return_indices=True]")
    if case.dist != "ties" and not torch.equal(idx.cpu(), ref_idx):
        raise PropertyFailed(f"indices differ from the reference's where the maximum is unique "
                             f"[{case.call_text()}]")
