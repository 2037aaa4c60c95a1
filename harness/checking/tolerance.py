"""The tolerance policy: error bounds scaled by dtype, reduction length and magnitude of the terms."""
from __future__ import annotations

import base64
import hashlib
import json
import math
import zlib

import numpy
import torch

# Each element may be off by a few roundings of its own value, plus accumulated rounding that
# grows like sqrt(terms) * eps * sum(|terms|). SLACK covers implementations that round partial
# sums in the working dtype (float16 and bfloat16 loops) without letting "return zeros" through.
SLACK = {torch.float64: 4.0, torch.float32: 4.0, torch.float16: 2.0, torch.bfloat16: 2.0}
# Fast algorithms (FFT, Winograd) are accurate normwise, not elementwise: an output whose own
# terms are tiny still carries rounding from its neighbours' terms. NORMWISE eps allows that
# much, relative to the largest sum of |terms| an output could have.
NORMWISE = 2.0
# Half-precision inputs are summed in float32 by every honest kernel (PyTorch's on CPU and CUDA,
# cuBLAS, Triton's dot): a forward result may carry a rounding of each term in its own dtype
# (the products), and its output rounding, but its sum is accumulated at this precision. A
# kernel that accumulates in half is off by about eps * sqrt(length) times more, and fails.
ACCUMULATOR = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


class Mismatch(AssertionError):
    """Values outside the tolerance; `figures` holds the error measures, `signature` which
    elements are off and where the result is not finite (to tell the same fault elsewhere)."""

    def __init__(self, message: str, figures: dict, signature: tuple = ()):
        super().__init__(message)
        self.figures = figures
        self.signature = signature


def fault_signature(what: str, actual: torch.Tensor, off: torch.Tensor) -> tuple:
    """(what, the elements off (packed), a digest of the non-finite pattern of `actual`, any
    non-finite): hashable, and the same in every process."""
    kinds = actual.isnan().to(torch.uint8) + 2 * actual.isposinf() + 3 * actual.isneginf()
    return (what, _packed(off), _digest(kinds), bool(kinds.any()))


def _packed(mask: torch.Tensor) -> str:
    """A boolean tensor as text: its shape, then its bits packed, compressed, in base64."""
    bits = numpy.packbits(mask.contiguous().flatten().numpy())
    return f"{list(mask.shape)}:{base64.b64encode(zlib.compress(bits.tobytes())).decode()}"


def off_elements(signature: tuple) -> torch.Tensor | None:
    """The elements off of a fault_signature, as a boolean tensor (None for another kind)."""
    if len(signature) != 4 or not isinstance(signature[1], str) or ":" not in signature[1]:
        return None
    shape, packed = signature[1].split(":", 1)
    shape = json.loads(shape)
    bits = numpy.frombuffer(zlib.decompress(base64.b64decode(packed)), dtype=numpy.uint8)
    count = math.prod(shape)
    return torch.from_numpy(numpy.unpackbits(bits)[:count].astype(bool)).reshape(shape)


def _digest(t: torch.Tensor) -> str:
    """A digest of a tensor's shape and contents, the same in every process."""
    data = str(tuple(t.shape)).encode() + t.contiguous().flatten().numpy().tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def bound(expected: torch.Tensor, magnitude: torch.Tensor, dtype: torch.dtype,
          length: int, scale: float | None = None,
          squares: torch.Tensor | None = None) -> torch.Tensor:
    """Per-element allowed |error| for a result in `dtype` summing `length` terms.

    `magnitude` is the sum of |terms| per element; `scale` the largest sum of |terms| the
    operands could give anywhere (default: the largest one they do give), which the normwise
    term is relative to. Underflow: each term may flush to zero at the accumulator's smallest
    normal, the result (and one subnormal input) at the dtype's. With `squares` (the root of
    the sum of terms squared, known for forward values), the accumulation is judged at the accumulator's precision (ACCUMULATOR); without
    it (gradients, whose backward kernels may sum in the dtype), at the dtype's own.
    """
    eps, slack = torch.finfo(dtype).eps, SLACK[dtype]
    if scale is None:
        scale = float(magnitude.max()) if magnitude.numel() else 0.0
    accumulator = ACCUMULATOR.get(dtype, dtype) if squares is not None else dtype
    acc = torch.finfo(accumulator).eps
    allowed = expected.abs().mul_(2 * slack * eps)  # one buffer, built in place: on a bench's
    if squares is not None:  # 11-million-element outputs each pass costs milliseconds
        allowed.add_(squares, alpha=slack * eps)
    allowed.add_(magnitude, alpha=slack * acc * math.sqrt(length))
    return allowed.add_(acc * NORMWISE * scale + torch.finfo(accumulator).tiny * length
                        + 2 * torch.finfo(dtype).tiny)


def exact_target(expected: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The float64 answer, except where the dtype cannot hold it: a finite answer past the
    dtype's range is that infinity (as PyTorch rounds it)."""
    rounded = expected.to(dtype).to(torch.float64)
    return torch.where(expected.isfinite() & rounded.isinf(), rounded, expected)


def _error(actual: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """|actual - expected|, 0 where both are the same (NaN included), inf where one side is
    not finite and the other differs."""
    same = (actual == expected) | (actual.isnan() & expected.isnan())
    special = ~(actual.isfinite() & expected.isfinite())
    return torch.where(same, 0.0, torch.where(special, math.inf, (actual - expected).abs()))


def _ratio(actual, expected, allowed, err=None) -> torch.Tensor:
    """Each element's error (`err`, where the caller has it) in units of its allowed error
    (> 1: off)."""
    allowed = torch.where(expected.isfinite(), allowed, 1.0)
    err = _error(actual, expected) if err is None else err
    return torch.nan_to_num(err / allowed, nan=math.inf)


def figures(actual: torch.Tensor, expected: torch.Tensor, allowed: torch.Tensor,
            dtype: torch.dtype) -> dict:
    """Max abs and rel error, where the worst element is, and error in units of eps.
    NaN and infinities are compared by position and sign: a non-finite value on either side
    is right only where the other side has the same one."""
    err = _error(actual, expected)
    ratio = _ratio(actual, expected, allowed, err)
    worst = int(torch.argmax(ratio))
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), err.shape))
    eps = torch.finfo(dtype).eps
    rel = err / expected.abs().clamp_min(torch.finfo(dtype).tiny)
    return {"max_abs": float(err.max()), "max_rel": float(rel.nan_to_num(nan=math.inf).max()),
            "where": where, "actual": float(actual.flatten()[worst]),
            "expected": float(expected.flatten()[worst]),
            "eps_units": float(err.flatten()[worst]
                               / (eps * max(abs(float(expected.flatten()[worst])), eps))),
            "worst_over_allowed": float(ratio.flatten()[worst]),
            "mismatched": int((ratio > 1).sum()), "elements": err.numel()}


def assert_within(actual: torch.Tensor, expected: torch.Tensor, magnitude: torch.Tensor, *,
                  dtype: torch.dtype, length: int, what: str = "out",
                  scale: float | None = None, squares: torch.Tensor | None = None) -> dict:
    """Raise Mismatch naming the worst element unless every element is within the bound;
    return the error figures (worst error in units of the tolerance and of eps)."""
    if actual.numel() == 0:
        return {}
    actual = actual.detach().to("cpu", torch.float64)
    if _ordinary(actual, expected, magnitude, squares, dtype):
        fig = _finite_figures(actual, expected, magnitude, dtype, length, scale, squares)
        if not fig["mismatched"]:
            return fig  # else the full comparison below finds the same elements and says so
    magnitude = torch.where(magnitude.isfinite(), magnitude, 0.0)
    squares = None if squares is None else torch.where(squares.isfinite(), squares, 0.0)
    allowed = bound(torch.where(expected.isfinite(), expected, 0.0), magnitude, dtype, length,
                    scale, squares)
    target = exact_target(expected, dtype)
    fig = figures(actual, target, allowed, dtype)
    if fig["mismatched"]:
        off = _ratio(actual, target, allowed) > 1
        raise Mismatch(
            f"{what}: {fig['mismatched']}/{fig['elements']} elements off; worst at {fig['where']}: "
            f"{fig['actual']:.6g}, but should be {fig['expected']:.6g} "
            f"(abs err {fig['max_abs']:.3g}, {fig['eps_units']:.3g} eps, "
            f"{fig['worst_over_allowed']:.3g}x the tolerance)", fig,
            fault_signature(what, actual, off))
    return fig


def _ordinary(actual, expected, magnitude, squares, dtype) -> bool:
    """Every value finite and every answer within the dtype's range: the common case, which
    `_finite_figures` judges in a few passes (a sum is finite only where every term is)."""
    sums = [t.sum() for t in (actual, expected, magnitude, squares) if t is not None]
    if not all(bool(s.isfinite()) for s in sums):
        return False
    low, high = torch.aminmax(expected)
    return max(-float(low), float(high)) <= torch.finfo(dtype).max


def _finite_figures(actual, expected, magnitude, dtype, length, scale, squares) -> dict:
    """`figures` of finite tensors, as `exact_target` and `figures` give them, with few
    temporaries: on a bench's 11-million-element outputs each pass and each new buffer costs
    milliseconds."""
    eps = torch.finfo(dtype).eps
    allowed = bound(expected, magnitude, dtype, length, scale, squares)
    err = torch.sub(actual, expected).abs_()
    ratio = torch.div(err, allowed, out=allowed)
    worst = int(torch.argmax(ratio))
    where = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), err.shape))
    mismatched = int(torch.count_nonzero(ratio > 1))
    over = float(ratio.flatten()[worst])
    size = expected.abs().clamp_min_(torch.finfo(dtype).tiny)
    rel = torch.div(err, size, out=size)
    want = float(expected.flatten()[worst])
    return {"max_abs": float(err.max()), "max_rel": float(rel.max()), "where": where,
            "actual": float(actual.flatten()[worst]), "expected": want,
            "eps_units": float(err.flatten()[worst]) / (eps * max(abs(want), eps)),
            "worst_over_allowed": over, "mismatched": mismatched, "elements": err.numel()}
