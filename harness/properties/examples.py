"""Worked examples from the textbooks, as exact checks run before the drawn cases."""
from __future__ import annotations

import torch

from harness.cases import Case
from harness.check import PropertyFailed, Unsupported, invoke, require_support
from harness.registry import Implementation

X3 = [[0.0, 1, 2], [3, 4, 5], [6, 7, 8]]
CHANNELS = [[[0, 1, 1, 0, 2], [0, 2, 2, 1, 1], [0, 2, 1, 1, 2], [1, 0, 2, 1, 2], [0, 1, 1, 1, 1]],
            [[2, 2, 1, 0, 0], [2, 1, 0, 0, 1], [2, 2, 1, 2, 2], [1, 2, 0, 1, 2], [1, 2, 0, 2, 1]],
            [[0, 0, 1, 0, 2], [1, 1, 1, 1, 1], [2, 0, 2, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0]]]
W0 = [[[-1, 0, 1], [-1, 0, 1], [0, 1, 0]], [[1, -1, 1], [1, 1, 0], [-1, 0, -1]],
      [[0, 1, 0], [-1, 0, 1], [-1, 0, 0]]]
W1 = [[[-1, 1, 0], [1, 0, -1], [-1, 0, 1]], [[0, 0, 1], [0, 1, 1], [1, 1, -1]],
      [[0, 1, 0], [-1, -1, 1], [1, -1, -1]]]
OUT_5x5 = [[[3, 3, 1], [6, 3, 3], [5, 9, 0]], [[4, 0, -2], [-1, 6, 4], [6, 7, 2]]]


def _t(values, case: Case) -> torch.Tensor:
    return torch.tensor(values, dtype=case.torch_dtype, device=case.device)


def _run(impl: Implementation, what: str, *args, **kwargs):
    """One call of an example, through the same path as every property's calls."""
    return invoke(impl, f"{impl.op} example: {what}", *args, **kwargs)


def _same(name: str, got, want) -> None:
    if not isinstance(got, torch.Tensor):
        raise PropertyFailed(f"{name}: returned {type(got).__name__}, but should be a Tensor")
    want = want.to(got.device, got.dtype) if isinstance(want, torch.Tensor) else want
    try:
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3, check_stride=False)
    except AssertionError as exc:
        raise PropertyFailed(f"{name}: {str(exc).splitlines()[0]} got {got.tolist()}, but should "
                             f"be {want.tolist()}") from None


def _shape(name: str, got, want: tuple) -> None:
    if not isinstance(got, torch.Tensor):
        raise PropertyFailed(f"{name}: returned {type(got).__name__}, but should be a Tensor")
    if tuple(got.shape) != want:
        raise PropertyFailed(f"{name}: out.shape={tuple(got.shape)}, but should be {want}")


def corr2d_example(impl: Implementation, case: Case) -> None:
    k = _t([[0.0, 1], [2, 3]], case)
    _same("corr2d", _run(impl, "corr2d", _t(X3, case)[None, None], k[None, None]),
          _t([[[[19.0, 25], [37, 43]]]], case))


def three_channel_example(impl: Implementation, case: Case) -> None:
    out = _run(impl, "3-channel 5x5", _t([CHANNELS], case), _t([W0, W1], case),
               _t([1.0, 0], case), stride=2, padding=1)
    _same("3-channel 5x5, stride 2, padding 1", out, _t([OUT_5x5], case))


CONV_SHAPES = [  # (what, input shape, weight shape, arguments, output shape)
    ("8x8, 3x3, padding 1, stride 2", (1, 1, 8, 8), (1, 1, 3, 3), {"padding": 1, "stride": 2},
     (1, 1, 4, 4)),
    ("8x8, kernel (3,5), padding (0,1), stride (3,4)", (1, 1, 8, 8), (1, 1, 3, 5),
     {"padding": (0, 1), "stride": (3, 4)}, (1, 1, 2, 2)),
    ("4x3x12x12 with 64 kernels 3x3", (4, 3, 12, 12), (64, 3, 3, 3), {}, (4, 64, 10, 10)),
]


def _shape_example(what, x_shape, w_shape, kwargs, want):
    def example(impl: Implementation, case: Case) -> None:
        one = torch.ones_like(_t(0.0, case))
        _shape(what, _run(impl, what, one.expand(x_shape).contiguous(),
                          one.expand(w_shape).contiguous(), **kwargs), want)
    example.__name__ = f"shape of {what}"
    return example


def edge_examples(impl: Implementation, case: Case) -> None:
    x, y = edge_image(case)
    kernel = _t([[[[1.0, -1]]]], case)
    _same("edge detection", _run(impl, "edge detection", x, kernel), y)
    _same("edge detection on X.T", _run(impl, "edge detection on X.T",
                                        x.transpose(2, 3).contiguous(), kernel),
          torch.zeros(1, 1, 8, 5))
    if impl.differentiable is not False and case.dtype in ("float32", "float64"):
        learn_kernel(impl, x, y)  # 20 steps of gradient descent: too coarse in half precision


def edge_image(case: Case) -> tuple:
    x = _t([[1.0] * 8] * 6, case)
    x[:, 2:6] = 0
    y = torch.zeros(6, 7)
    y[:, 1], y[:, 5] = 1, -1
    return x[None, None], y[None, None]


def learn_kernel(impl: Implementation, x, y) -> None:
    """Train a 1x2 kernel from X to Y: it should find [1, -1]."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(1, 1, 1, 2, generator=gen).to(x.device, x.dtype))
    target = y.to(x.device, x.dtype)
    for _ in range(20):
        loss = ((_run(impl, "learning the kernel", x, weight) - target) ** 2).sum()
        if not loss.requires_grad:
            if impl.differentiable:
                raise PropertyFailed("learning the kernel: the output carries no grad_fn")
            return
        loss.backward()
        with torch.no_grad():
            weight -= 3e-2 * weight.grad
            weight.grad.zero_()
    found = weight.detach().flatten().float().cpu()
    if not torch.allclose(found, torch.tensor([1.0, -1.0]), atol=0.1) or loss.item() > 0.1:
        raise PropertyFailed(f"learning the kernel: ended at {found.tolist()} with loss "
                             f"{loss.item():.3g}, but should be near [1, -1] with a small loss")


def max_pool2d_examples(impl: Implementation, case: Case) -> None:
    _same("pool2d max", _run(impl, "pool2d max", _t(X3, case)[None, None], 2, 1),
          _t([[[[4.0, 5], [7, 8]]]], case))
    ones = torch.ones_like(_t(0.0, case)).expand(1, 1, 12, 12).contiguous()
    _shape("12x12 max pool 2x2 stride 2", _run(impl, "12x12 max pool", ones, 2, 2), (1, 1, 6, 6))


def avg_pool2d_examples(impl: Implementation, case: Case) -> None:
    _same("pool2d avg", _run(impl, "pool2d avg", _t(X3, case)[None, None], 2, 1),
          _t([[[[2.0, 3], [5, 6]]]], case))
    ones = torch.ones_like(_t(0.0, case)).expand(1, 1, 12, 12).contiguous()
    _shape("12x12 avg pool 2x2 stride 2", _run(impl, "12x12 avg pool", ones, 2, 2), (1, 1, 6, 6))


def adaptive_avg_pool2d_examples(impl: Implementation, case: Case) -> None:
    _same("adaptive avg pool to (1,1)", _run(impl, "adaptive to (1,1)", _t(X3, case)[None, None],
                                             (1, 1)), _t([[[[4.0]]]], case))


EXAMPLES = {"conv2d": (corr2d_example, three_channel_example, edge_examples,
                       *(_shape_example(*shape) for shape in CONV_SHAPES)),
            "max_pool2d": (max_pool2d_examples,), "avg_pool2d": (avg_pool2d_examples,),
            "adaptive_avg_pool2d": (adaptive_avg_pool2d_examples,)}


def prop_examples(impl: Implementation, case: Case) -> None:
    """Every worked example of the op in the case's dtype and device; those the implementation
    does not support are skipped, and the property is unsupported only when none could run."""
    require_support(impl, case)
    skipped = []
    for example in EXAMPLES[impl.op]:
        try:
            example(impl, case)
        except Unsupported as exc:
            skipped.append(f"{example.__name__}: {exc}")
    if len(skipped) == len(EXAMPLES[impl.op]):
        raise Unsupported("NotImplementedError in every example: " + "; ".join(skipped))
