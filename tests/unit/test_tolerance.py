"""tolerance: honest rounding passes, returning zeros fails, in every dtype."""
import pytest
import torch

from harness.checking.call import oracle
from harness.checking.tolerance import Mismatch, assert_within
from harness.ops.cases import Case
from harness.ops.catalog import float64_cpu, magnitude


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("dist", ["normal", "large", "ties", "negative"])
def test_rounded_result_passes_and_zeros_fail(dtype, dist):
    case = Case("conv2d", (2, 8, 6, 6), (4, 8, 3, 3), dtype=dtype, dist=dist, seed=1)
    tensors = case.tensors()
    expected = oracle(case, tensors)
    mag = oracle(case, magnitude(case.spec, float64_cpu(tensors))).abs()
    rounded = expected.to(case.torch_dtype)
    assert_within(rounded, expected, mag, dtype=case.torch_dtype, length=case.reduction_length())
    with pytest.raises(Mismatch, match="but should be"):
        assert_within(torch.zeros_like(rounded), expected, mag, dtype=case.torch_dtype,
                      length=case.reduction_length())


def test_nan_where_reference_has_none_fails():
    expected = torch.ones(3, dtype=torch.float64)
    got = torch.tensor([1.0, float("nan"), 1.0])
    with pytest.raises(Mismatch) as info:
        assert_within(got, expected, expected, dtype=torch.float32, length=1)
    assert info.value.figures["where"] == (1,)
