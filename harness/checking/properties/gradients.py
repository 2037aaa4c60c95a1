"""Gradient properties: backward against the float64 oracle's, and autograd.gradcheck."""
from __future__ import annotations

import contextlib
import sys
from unittest import mock

import torch
from torch.autograd.gradcheck import GradcheckError

from harness.checking.answers import answered
from harness.checking.call import (PropertyFailed, Unsupported, backward, call, expect_shape,
                                   finite, oracle, output_of, require_defined)
from harness.checking.properties.values import same_bits
from harness.checking.tolerance import Mismatch, assert_within
from harness.ops.cases import Case
from harness.ops.catalog import float64_cpu, magnitude
from harness.plugins.registry import Implementation


def _leaves(tensors) -> tuple:
    return tuple(None if t is None else t.detach().requires_grad_() for t in tensors)


def differentiable_output(impl: Implementation, case: Case, leaves: tuple) -> torch.Tensor:
    """The forward output, or Unsupported when it carries no autograd history."""
    if impl.differentiable is False:
        raise Unsupported("not differentiable (declared forward-only)")
    out = output_of(call(impl, case, leaves), case)
    if not out.requires_grad:
        if impl.differentiable:
            raise PropertyFailed(f"{impl.name} declares differentiable=True, but its output has no "
                                 f"grad_fn [{case.call_text()}]")
        raise Unsupported("not differentiable (output carries no autograd history)")
    return out


def _max(t) -> float:
    """The largest finite magnitude (NaN and infinities are compared by position instead)."""
    return float(finite(t.detach()).abs().max()) if t is not None and t.numel() else 0.0


def grad_scales(case: Case, tensors: tuple, grad_out: torch.Tensor) -> tuple:
    """Per gradient, the largest |terms| sum any of its elements could have (the normwise scale
    of the tolerance), whatever the padding: products of max magnitudes and term counts."""
    g = _max(grad_out)
    lengths = case.grad_reduction_lengths()
    if not case.spec.weighted:
        return (g * lengths[0],)
    x, w = tensors[0], tensors[1]
    rows = case.spec.per_input_channel(finite(w.detach()).abs())
    per_channel = float(rows.sum(1).max()) if w.numel() else 0.0
    return (g * per_channel, g * _max(x) * lengths[1], g * lengths[2])


def _oracle_grads(case: Case, tensors: tuple, grad_out: torch.Tensor) -> tuple:
    """Reference gradients in float64, and bounds on the sum of |terms| of each."""
    def grads(inputs, g):
        leaves = _leaves(inputs)
        out = case.spec.reference(*leaves, **case.kwargs)
        used = [t for t in leaves if t is not None]
        got = iter(torch.autograd.grad(out, used, g))
        return [None if t is None else next(got) for t in leaves]

    exact = grads(float64_cpu(tensors), grad_out)
    mags = grads(magnitude(case.spec, float64_cpu(tensors)), grad_out.abs())
    return exact, [None if m is None else m.abs() for m in mags]


def expected_grads(case: Case, tensors: tuple, grad_out: torch.Tensor) -> list[tuple]:
    """Per tensor input used: (name, oracle gradient, sum of |terms|, terms summed by one
    element, normwise scale), the gradients' answer for `grad_out` (float64)."""
    exact, mags = _oracle_grads(case, tensors, grad_out)
    lengths, scales = case.grad_reduction_lengths(), grad_scales(case, tensors, grad_out)
    return [(name, exact[i], mags[i], lengths[i], scales[i])
            for i, (name, t) in enumerate(zip(case.spec.tensor_args, tensors)) if t is not None]


def assert_grads(got, expected: list[tuple], case: Case) -> None:
    """Gradients `got` (one per used input) against expected_grads(), or PropertyFailed."""
    for g, (name, exact, mag, length, scale) in zip(got, expected):
        if g is None:
            raise PropertyFailed(f"grad of {name} is None, but {name} is used "
                                 f"[{case.call_text()}]")
        try:
            assert_within(g, exact, mag, dtype=case.torch_dtype, length=length,
                          what=f"grad of {name}", scale=scale)
        except Mismatch as exc:
            raise PropertyFailed(f"{exc} [{case.call_text()}]", exc.figures,
                                 exc.signature) from None


def grad_output(case: Case, shape) -> torch.Tensor:
    """The seeded float64 grad_output the gradients of `case` are judged with. With special
    values it is at most 1 in magnitude: a near-max input times it stays finite in the input's
    dtype, so a weight gradient's terms cannot overflow into inf - inf = NaN where the oracle,
    in float64, has a finite term (or an infinity of the input's)."""
    gen = torch.Generator().manual_seed(case.seed + 1)
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    if case.dist == "special" and g.numel():
        g = g / max(1.0, float(g.abs().max()))
    return g


def prop_gradients(impl: Implementation, case: Case) -> None:
    """Gradients of every tensor input against the oracle's, with one shared grad_output."""
    require_defined(case)
    leaves = _leaves(case.tensors())
    grad_out = grad_output(case, case.output_shape())
    expected = answered(f"{case.to_json()}|grads",  # before the call, which may mutate
                        lambda: expected_grads(case, leaves, grad_out))
    out = differentiable_output(impl, case, leaves)
    expect_shape(out, case)
    used = [t for t in leaves if t is not None]
    got = backward(out, used, grad_out.to(out.dtype).to(out.device), case)
    try:
        assert_grads(got, expected, case)
    except PropertyFailed as failure:
        routed = _routed_by_own_indices(impl, case, grad_out)
        if routed is None:
            raise
        name, _, _, length, scale = expected[0]
        try:
            assert_grads(got, [(name, routed, routed.abs(), length, scale)], case)
        except PropertyFailed:
            raise failure from None


def _routed_by_own_indices(impl: Implementation, case: Case, grad_out) -> torch.Tensor | None:
    """Where a max op's input ties at a window's maximum (in its dtype: half precision rounds
    values together), which tied element gets the gradient is the implementation's choice, as
    in PyTorch: the gradient goes where its own return_indices point. That gradient (float64),
    if those indices point at every window's maximum; else None (the oracle's stands)."""
    if not case.spec.indices:
        return None
    tensors = case.tensors()
    try:
        _, idx = output_of(call(impl, case, tensors, return_indices=True), case, indices=True)
    except (PropertyFailed, Unsupported):
        return None
    ref_out = oracle(case, tensors)
    x = float64_cpu(tensors)[0].flatten(2)
    idx = idx.detach().cpu()
    if idx.dtype != torch.int64 or idx.shape != ref_out.shape:
        return None
    idx = idx.flatten(2)
    if bool(((idx < 0) | (idx >= x.shape[2])).any()):
        return None
    if not same_bits(x.gather(2, idx).view_as(ref_out), ref_out):
        return None
    routed = torch.zeros_like(x).scatter_add_(2, idx, grad_out.flatten(2))
    return routed.view(case.input_shape)


class _Recomputed(torch.autograd.Function):
    """Runs `fn` without a graph forward; each backward runs a fresh forward and one backward
    through it. gradcheck may then backpropagate as often as it likes (retain_graph=True):
    every backward of the implementation's own graph happens once, as torch.compile'd
    functions (donated buffers) require."""

    @staticmethod
    def forward(ctx, fn, *inputs):
        ctx.fn = fn
        ctx.save_for_backward(*inputs)
        with torch.no_grad():
            return fn(*inputs)

    @staticmethod
    def backward(ctx, grad):
        leaves = [t.detach().requires_grad_() for t in ctx.saved_tensors]
        with torch.enable_grad():
            out = ctx.fn(*leaves)
            got = torch.autograd.grad(out, leaves, grad, allow_unused=True)
        return (None, *got)


@contextlib.contextmanager
def _no_slow_rerun():
    """On a mismatch, fast-mode gradcheck recomputes whole Jacobians in slow mode, only for its
    message: thousands of calls per failure, and hypothesis fails many times while shrinking.
    Our message needs the first line only, so that rerun is skipped (where torch has it)."""
    module = sys.modules["torch.autograd.gradcheck"]
    name = "_run_slow_mode_and_get_error"
    if not hasattr(module, name):
        yield
        return
    with mock.patch.object(module, name, lambda *args, **kwargs: ""):
        yield


def prop_gradcheck(impl: Implementation, case: Case) -> None:
    """torch.autograd.gradcheck in float64 (finite differences against the backward), in fast
    mode: a few calls of the implementation, not one per input element."""
    require_defined(case)
    case = case.with_(dtype="float64", dist="normal")
    leaves = _leaves(case.tensors())
    differentiable_output(impl, case, leaves)
    used = tuple(t for t in leaves if t is not None)

    def fn(*inputs):
        return output_of(call(impl, case, inputs + (None,) * (len(leaves) - len(inputs))), case)

    try:
        with _no_slow_rerun():
            torch.autograd.gradcheck(lambda *xs: _Recomputed.apply(fn, *xs), used, eps=1e-6,
                                     atol=1e-5, rtol=1e-3, fast_mode=True)
    except GradcheckError as exc:
        first = str(exc).strip().splitlines()[0]
        raise PropertyFailed(f"gradcheck: {first} [{case.call_text()}]") from None
    except RuntimeError as exc:  # the implementation's backward raised inside gradcheck
        raise PropertyFailed(f"gradcheck: backward raised {type(exc).__name__}: "
                             f"{str(exc)[:300]} [{case.call_text()}]") from None
