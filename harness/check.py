"""Conformance properties: each takes (implementation, case) and raises when the property fails."""
from __future__ import annotations

import torch

from harness.cases import Case
from harness.ops import float64_cpu, magnitude
from harness.registry import Implementation
from harness.tolerance import Mismatch, assert_within


class Unsupported(Exception):
    """The implementation does not handle this case (it raised NotImplementedError, or declares so)."""


class Undefined(Exception):
    """The oracle has no defined answer for this case."""


CATCH_INTERRUPTS = False  # set in worker processes, where Ctrl-C cannot come from the user


class ImplementationExit(Exception):
    """The implementation raised SystemExit (or KeyboardInterrupt inside a worker)."""


class PropertyFailed(AssertionError):
    """A property does not hold; `figures` carries error measures where there are any."""

    def __init__(self, message: str, figures: dict | None = None):
        super().__init__(message)
        self.figures = figures or {}


def require_support(impl: Implementation, case: Case) -> None:
    if not impl.supports(case.dtype, case.device):
        raise Unsupported(f"{impl.name} declares dtypes={impl.dtypes}, devices={impl.devices}")


def call(impl: Implementation, case: Case, tensors: tuple, **extra):
    """Call the implementation as a user would: bias only when the case has one."""
    require_support(impl, case)
    args = [t for t in tensors if t is not None]
    try:
        return impl.fn(*args, **case.kwargs, **extra)
    except NotImplementedError as exc:
        raise Unsupported(f"NotImplementedError: {exc}") from None
    except (SystemExit, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt) and not CATCH_INTERRUPTS:
            raise  # in-process, Ctrl-C ends the run
        raise ImplementationExit(f"the implementation raised {type(exc).__name__}({exc})") from None


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
    """The reference on float64 CPU copies of the same inputs."""
    return case.spec.reference(*float64_cpu(tensors), **case.kwargs, **extra)


def require_defined(case: Case) -> None:
    if not case.reference_defined():
        raise Undefined("a max_pool2d window lies wholly in the padding: the reference is undefined")


def expected_values(case: Case, tensors: tuple) -> tuple:
    """(oracle output, sum of |terms| per element, normwise scale) for the tolerance."""
    expected = oracle(case, tensors)
    mag = oracle(case, magnitude(case.spec, float64_cpu(tensors))).abs()
    return expected, mag, normwise_scale(case, tensors)


def forward_values(impl, case, reference: tuple | None = None) -> None:
    """Values against the oracle; `reference` is expected_values() when the caller has it."""
    require_defined(case)
    tensors = case.tensors()
    # the oracle runs before the call: an implementation may mutate its inputs
    expected, mag, scale = reference or expected_values(case, tensors)
    out = output_of(call(impl, case, tensors), case)
    expect_shape(out, case)
    try:
        assert_within(out, expected, mag, dtype=case.torch_dtype, length=case.reduction_length(),
                      scale=scale)
    except Mismatch as exc:
        raise PropertyFailed(f"{exc} [{case.call_text()}]", exc.figures) from None


def normwise_scale(case: Case, tensors: tuple) -> float:
    """The largest |terms| sum an output could have wherever its window lies: max |input| times
    the largest sum of |weights| of one output channel (plus |bias|); max |input| for pools."""
    x, *rest = float64_cpu(tensors)
    scale = float(x.abs().max()) if x.numel() else 0.0
    if case.op == "conv2d":
        weight, bias = rest
        scale *= float(weight.abs().flatten(1).sum(1).max()) if weight.numel() else 0.0
        scale += float(bias.abs().max()) if bias is not None and bias.numel() else 0.0
    return scale


def expect_shape(out, case) -> None:
    want = case.output_shape()
    if tuple(out.shape) != want:
        raise PropertyFailed(f"out.shape={tuple(out.shape)}, but should be {want} "
                             f"[{case.call_text()}]")


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
        if old is not None and not torch.equal(old, new):
            changed = int((old != new).sum())
            raise PropertyFailed(f"{name} was modified in place ({changed} elements changed) "
                                 f"[{case.call_text()}]")


def prop_deterministic(impl, case) -> None:
    tensors = case.tensors()
    first = output_of(call(impl, case, tensors), case)
    second = output_of(call(impl, case, tensors), case)
    same = first.shape == second.shape and bool(
        ((first == second) | (first.isnan() & second.isnan())).all())
    if not same:
        raise PropertyFailed(f"two calls with the same inputs differ [{case.call_text()}]")


def prop_layouts(impl, case) -> None:
    """Values for channels_last and non-contiguous inputs (the strategy draws the layout)."""
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


MEMORY_CASES = {"conv2d": Case("conv2d", (2, 16, 32, 32), (16, 16, 3, 3), kwargs={"padding": 1}),
                "max_pool2d": Case("max_pool2d", (2, 16, 64, 64), kwargs={"kernel_size": 2}),
                "avg_pool2d": Case("avg_pool2d", (2, 16, 64, 64), kwargs={"kernel_size": 2}),
                "adaptive_avg_pool2d": Case("adaptive_avg_pool2d", (2, 16, 64, 64),
                                            kwargs={"output_size": 7})}
MEMORY_CALLS = 40


def prop_memory(impl, case) -> None:
    """Memory does not keep growing across repeated calls (a leak)."""
    from harness.timing import LEAK_BYTES, resident_bytes
    case = MEMORY_CASES[impl.op].with_(device=case.device, dtype=case.dtype)
    tensors = case.tensors()
    for _ in range(5):  # warm the allocators
        call(impl, case, tensors)
    before = resident_bytes(case.device)
    for _ in range(MEMORY_CALLS):
        call(impl, case, tensors)
    growth = resident_bytes(case.device) - before
    if growth > LEAK_BYTES:
        raise PropertyFailed(f"memory grew by {growth / 2**20:.0f} MiB over {MEMORY_CALLS} calls, "
                             f"but should stay within {LEAK_BYTES / 2**20:.0f} MiB "
                             f"[{case.call_text()}]")
