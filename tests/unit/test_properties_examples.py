"""The textbook worked examples, as exact tests of every built-in, in every dtype it declares."""
import pytest
import torch

from harness.checking.call import PropertyFailed, Unsupported
from harness.checking.properties.examples import prop_examples
from harness.ops.cases import Case
from harness.plugins.registry import Implementation, discover
from implementations.loops import corr2d

HERE = "cuda" if torch.cuda.is_available() else "cpu"


def runnable_here(impl) -> bool:
    """A CUDA-only built-in cannot run on a machine without CUDA: the one allowed skip."""
    return "cpu" in impl.devices or torch.cuda.is_available()


@pytest.mark.parametrize("impl", sorted(discover().values(), key=lambda i: i.name),
                         ids=lambda i: i.name)
def test_builtin_passes_worked_examples(impl):
    if not runnable_here(impl):
        pytest.skip(f"{impl.name} runs on {impl.devices} only")
    device = "cpu" if "cpu" in impl.devices else "cuda"
    for dtype in impl.dtypes:
        try:
            prop_examples(impl, Case(impl.op, (1, 1, 1, 1), dtype=dtype, device=device))
        except Unsupported:  # PyTorch's own kernels lack some dtypes on some devices
            if not impl.name.startswith("reference."):
                raise


def test_undeclared_dtype_is_unsupported():
    impl = Implementation("f32", "conv2d", torch.nn.functional.conv2d, dtypes=("float32",))
    with pytest.raises(Unsupported):
        prop_examples(impl, Case("conv2d", (1, 1, 1, 1), dtype="float16"))


def test_corr2d_textbook():
    x = torch.arange(9.0).view(3, 3)
    k = torch.tensor([[0.0, 1], [2, 3]])
    assert torch.equal(corr2d(x, k), torch.tensor([[19.0, 25], [37, 43]]))


def test_learning_the_kernel_catches_a_frozen_weight():
    def frozen(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return torch.nn.functional.conv2d(input, weight.detach() * 0 + torch.tensor([[[[1.0, 0]]]]))
    with pytest.raises(PropertyFailed):
        prop_examples(Implementation("frozen", "conv2d", frozen, differentiable=True),
                      Case("conv2d", (1, 1, 1, 1)))
