"""The textbook worked examples, as exact tests of every built-in."""
import pytest
import torch

from harness.check import Unsupported
from harness.examples import prop_examples
from harness.registry import Implementation, discover
from implementations.loops import corr2d


@pytest.mark.parametrize("impl", sorted(discover().values(), key=lambda i: i.name),
                         ids=lambda i: i.name)
def test_builtin_passes_worked_examples(impl):
    try:
        prop_examples(impl)
    except Unsupported as exc:  # a CUDA-only implementation on a machine without CUDA
        pytest.skip(str(exc))


def test_corr2d_textbook():
    x = torch.arange(9.0).view(3, 3)
    k = torch.tensor([[0.0, 1], [2, 3]])
    assert torch.equal(corr2d(x, k), torch.tensor([[19.0, 25], [37, 43]]))


def test_learning_the_kernel_catches_a_frozen_weight():
    def frozen(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return torch.nn.functional.conv2d(input, weight.detach() * 0 + torch.tensor([[[[1.0, 0]]]]))
    from harness.check import PropertyFailed
    with pytest.raises(PropertyFailed):
        prop_examples(Implementation("frozen", "conv2d", frozen, differentiable=True))
