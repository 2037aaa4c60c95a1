"""Gradient properties drive backward the way compiled functions accept: one backward per graph."""
import pytest
import torch
import torch.nn.functional as F

from harness.checking.call import PropertyFailed
from harness.checking.driver import CheckOptions, check_property
from harness.checking.properties import PROPERTIES
from harness.ops.cases import Case
from harness.plugins.registry import Implementation
from implementations import im2col

GRADCHECK = next(p for p in PROPERTIES if p.name == "gradcheck")


def fresh_compiled():
    """A new torch.compile'd conv2d, backward compiled with donated buffers. Dynamo caches per
    code object, and falls back to eager past its recompile limit: start from empty caches."""
    torch._dynamo.reset()
    compiled = torch.compile(im2col.conv2d, backend="aot_eager", dynamic=True)

    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        return compiled(input, weight, bias, stride, padding, dilation, groups)
    return conv2d


def test_plain_gradcheck_rejects_a_compiled_function():
    """What the property must avoid: gradcheck's retain_graph backward fails on it."""
    fn = fresh_compiled()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="donated buffers"):
        torch.autograd.gradcheck(fn, (x, w), fast_mode=True)


def test_compiled_implementation_passes_gradcheck():
    """On one case: each new shape costs a compilation, and the drawn cases of a compiled
    kernel are the shipped conformance suite's (compiled.conv2d)."""
    from harness.ops.cases import Case
    impl = Implementation("compiled", "conv2d", fresh_compiled(), dtypes=("float64", "float32"))
    case = Case("conv2d", (1, 2, 5, 6), (4, 1, 3, 2), bias=True, dtype="float64",
                kwargs={"stride": 2, "padding": 1, "groups": 2})
    record = check_property(impl, GRADCHECK, CheckOptions(profile="quick", case=case))
    assert record.status == "pass" and record.counts["pass"] == 1, record


def test_wrong_gradient_still_fails_gradcheck():
    from tests.unit.broken import conv_bad_weight_grad
    impl = Implementation("bad", "conv2d", conv_bad_weight_grad)
    assert check_property(impl, GRADCHECK, CheckOptions(profile="ci")).status == "fail"


OVERFLOWED = ('{"bias": false, "device": "cpu", "dist": "special", "dtype": "float32", '
              '"input_shape": [1, 3, 1, 5], "kwargs": {"groups": 3}, "layout": "contiguous", '
              '"op": "conv2d", "seed": 168615186, "weight_shape": [6, 1, 1, 1]}')


@pytest.mark.parametrize("name", ["reference.conv2d", "unfold_einsum.conv2d", "loops.conv2d"])
def test_special_gradients_keep_a_near_max_term_finite(name):
    """Found by a random draw: grad_output 1.52 times a near-max float32 input overflowed to inf
    and met the -inf input in the same weight-gradient sum, NaN where the float64 oracle said
    -inf: the harness's overflow, not the kernel's. A special case's grad_output is within 1."""
    from harness.checking.properties.gradients import grad_output, prop_gradients
    from harness.ops.cases import Case
    from harness.plugins.registry import load
    case = Case.from_json(OVERFLOWED)
    assert float(grad_output(case, case.output_shape()).abs().max()) <= 1.0
    prop_gradients(load(name), case)


TIED = Case("adaptive_max_pool2d", (1, 2, 3, 4), kwargs={"output_size": (1, 1)}, dist="ties",
            dtype="float64", seed=5)


def _routing_ties_to(last: bool, wrong: bool = False):
    """adaptive_max_pool2d sending each window's gradient to its first or last maximum (both
    PyTorch's contract: where return_indices points), or, if `wrong`, to its minimum."""
    def pool(input, output_size, return_indices=False):
        x = -input.detach() if wrong else input.detach()
        if last:  # the first maximum of the input turned around is the last of the input
            _, indices = F.adaptive_max_pool2d(x.flip(-2, -1), output_size, True)
            indices = x[0, 0].numel() - 1 - indices.flip(-2, -1)  # windows turn around too
        else:
            _, indices = F.adaptive_max_pool2d(x, output_size, True)
        out = input.flatten(2).gather(2, indices.flatten(2)).view(indices.shape)
        return (out, indices) if return_indices else out
    return pool


def test_tied_maxima_get_the_gradient_where_the_implementation_points():
    from harness.checking.properties.gradients import prop_gradients
    x = TIED.tensors()[0]
    assert (x == x.amax(dim=(2, 3), keepdim=True)).flatten(2).sum(2).max() > 1  # ties
    first, last = _routing_ties_to(False), _routing_ties_to(True)
    assert not torch.equal(first(x, (1, 1), True)[1], last(x, (1, 1), True)[1])
    for pool in (first, last):
        prop_gradients(Implementation("ties", TIED.op, pool), TIED)
    with pytest.raises(PropertyFailed, match="grad of input"):
        prop_gradients(Implementation("min", TIED.op, _routing_ties_to(False, wrong=True)), TIED)
