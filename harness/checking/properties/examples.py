"""Worked examples from the textbooks (the op record's), as exact checks run before the drawn
cases; where an example says so, the implementation's gradient must also learn its kernel."""
from __future__ import annotations

import torch

from harness.checking.call import PropertyFailed, Unsupported, invoke, require_support
from harness.ops.cases import Case
from harness.ops.catalog import get_op
from harness.ops.worked import Example
from harness.plugins.registry import Implementation

LEARNING_STEPS = 20


def _t(values, case: Case) -> torch.Tensor:
    return torch.tensor(values, dtype=case.torch_dtype, device=case.device)


def _tensors(example: Example, case: Case) -> list:
    if example.by_shape:
        return [torch.ones(shape, dtype=case.torch_dtype, device=case.device)
                for shape in example.tensors]
    return [_t(values, case) for values in example.tensors]


def _run(impl: Implementation, what: str, *args, **kwargs):
    """One call of an example, through the same path as every property's calls."""
    return invoke(impl, f"{impl.op} example: {what}", *args, **kwargs)


def _is_tensor(name: str, got) -> None:
    if not isinstance(got, torch.Tensor):
        raise PropertyFailed(f"{name}: returned {type(got).__name__}, but should be a Tensor")


def _same(name: str, got, want) -> None:
    _is_tensor(name, got)
    want = want.to(got.device, got.dtype)
    try:
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3, check_stride=False)
    except AssertionError as exc:
        raise PropertyFailed(f"{name}: {str(exc).splitlines()[0]} got {got.tolist()}, but should "
                             f"be {want.tolist()}") from None


def run_example(impl: Implementation, example: Example, case: Case) -> None:
    """Call the implementation on the example's tensors; compare values or shape exactly."""
    tensors = _tensors(example, case)
    got = _run(impl, example.what, *tensors, **example.kwargs)
    if example.by_shape:
        _is_tensor(example.what, got)
        if tuple(got.shape) != tuple(example.want):
            raise PropertyFailed(f"{example.what}: out.shape={tuple(got.shape)}, but should be "
                                 f"{tuple(example.want)}")
        return
    _same(example.what, got, _t(example.want, case))
    if (example.learn and impl.differentiable is not False
            and case.dtype in ("float32", "float64")):  # too coarse in half precision
        learn_kernel(impl, example, tensors[0], _t(example.want, case))


def learn_kernel(impl: Implementation, example: Example, x, y) -> None:
    """Train the example's kernel from a random start on (x, y): it should find it."""
    what = f"{example.what}: learning the kernel"
    kernel = torch.tensor(example.tensors[1], dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(kernel.shape, generator=gen).to(x.device, x.dtype))
    for _ in range(LEARNING_STEPS):
        loss = ((_run(impl, what, x, weight) - y) ** 2).sum()
        if not loss.requires_grad:
            if impl.differentiable:
                raise PropertyFailed(f"{what}: the output carries no grad_fn")
            return
        loss.backward()
        with torch.no_grad():
            weight -= 3e-2 * weight.grad
            weight.grad.zero_()
    found = weight.detach().flatten().float().cpu()
    if not torch.allclose(found, kernel.flatten(), atol=0.1) or loss.item() > 0.1:
        raise PropertyFailed(f"{what}: ended at {found.tolist()} with loss {loss.item():.3g}, "
                             f"but should be near {kernel.flatten().tolist()} with a small loss")


def prop_examples(impl: Implementation, case: Case) -> None:
    """Every worked example of the op in the case's dtype and device; those the implementation
    does not support are skipped, and the property is unsupported only when none could run."""
    require_support(impl, case)
    examples = get_op(impl.op).examples
    skipped = []
    for example in examples:
        try:
            run_example(impl, example, case)
        except Unsupported as exc:
            skipped.append(f"{example.what}: {exc}")
    if len(skipped) == len(examples):
        raise Unsupported("NotImplementedError in every example: " + "; ".join(skipped))
