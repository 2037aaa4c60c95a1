"""The tolerance policy: error bounds scaled by dtype, reduction length and magnitude of the terms."""
from __future__ import annotations

import math

import torch

# Each element may be off by a few roundings of its own value, plus accumulated rounding that
# grows like sqrt(terms) * eps * sum(|terms|). SLACK covers implementations that round partial
# sums in the working dtype (float16 and bfloat16 loops) without letting "return zeros" through.
SLACK = {torch.float64: 4.0, torch.float32: 4.0, torch.float16: 2.0, torch.bfloat16: 2.0}
# Fast algorithms (FFT, Winograd) are accurate normwise, not elementwise: an output whose own
# terms are tiny still carries rounding from its neighbours' terms. NORMWISE eps allows that
# much, relative to the largest sum of |terms| an output could have.
NORMWISE = 2.0


class Mismatch(AssertionError):
    """Values outside the tolerance; `figures` holds the error measures."""

    def __init__(self, message: str, figures: dict):
        super().__init__(message)
        self.figures = figures


def bound(expected: torch.Tensor, magnitude: torch.Tensor, dtype: torch.dtype,
          length: int, scale: float | None = None) -> torch.Tensor:
    """Per-element allowed |error| for a result in `dtype` summing `length` terms.

    `scale` is the largest sum of |terms| the operands could give anywhere (default: the
    largest one they do give); the normwise term is relative to it.
    """
    info = torch.finfo(dtype)
    local = 2 * expected.abs() + math.sqrt(length) * magnitude
    if scale is None:
        scale = float(magnitude.max()) if magnitude.numel() else 0.0
    normwise = NORMWISE * scale
    return SLACK[dtype] * info.eps * local + info.eps * normwise + info.tiny * length


def figures(actual: torch.Tensor, expected: torch.Tensor, allowed: torch.Tensor,
            dtype: torch.dtype) -> dict:
    """Max abs and rel error, where the worst element is, and error in units of eps."""
    err = (actual - expected).abs()
    err = torch.where(torch.isnan(actual) ^ torch.isnan(expected), math.inf, err)
    err = torch.where((actual == expected) | (actual.isnan() & expected.isnan()), 0.0, err)
    ratio = err / allowed
    worst = int(torch.argmax(torch.nan_to_num(ratio, nan=math.inf)))
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), err.shape))
    eps = torch.finfo(dtype).eps
    rel = err / expected.abs().clamp_min(torch.finfo(dtype).tiny)
    return {"max_abs": float(err.max()), "max_rel": float(rel.max()), "where": where,
            "actual": float(actual.flatten()[worst]), "expected": float(expected.flatten()[worst]),
            "eps_units": float(err.flatten()[worst]
                               / (eps * max(abs(float(expected.flatten()[worst])), eps))),
            "worst_over_allowed": float(ratio.flatten()[worst]), "mismatched": int((ratio > 1).sum()),
            "elements": err.numel()}


def assert_within(actual: torch.Tensor, expected: torch.Tensor, magnitude: torch.Tensor, *,
                  dtype: torch.dtype, length: int, what: str = "out",
                  scale: float | None = None) -> None:
    """Raise Mismatch naming the worst element unless every element is within the bound."""
    if actual.numel() == 0:
        return
    actual = actual.detach().to("cpu", torch.float64)
    allowed = bound(expected, magnitude, dtype, length, scale)
    fig = figures(actual, expected, allowed, dtype)
    if fig["mismatched"]:
        raise Mismatch(
            f"{what}: {fig['mismatched']}/{fig['elements']} elements off; worst at {fig['where']}: "
            f"{fig['actual']:.6g}, but should be {fig['expected']:.6g} "
            f"(abs err {fig['max_abs']:.3g}, {fig['eps_units']:.3g} eps, "
            f"{fig['worst_over_allowed']:.3g}x the tolerance)", fig)
