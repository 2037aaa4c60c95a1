"""tolerance: honest rounding passes, returning zeros fails, in every dtype."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checking.call import oracle
from harness.checking.tolerance import (Mismatch, _finite_figures, assert_within, bound,
                                        figures)
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


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["float32", "float16", "bfloat16"]), st.integers(1, 64),
       st.floats(1e-9, 1e-1), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_few_pass_comparison_gives_the_full_ones_figures(dtype, length, noise, sq, scaled,
                                                          seed):
    """The finite case's quick path (_finite_figures) returns what the full comparison does,
    passing or not; anything it does not pass goes to the full comparison."""
    gen = torch.Generator().manual_seed(seed)
    expected = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    mag = expected.abs() * 2 + torch.rand(5, 7, generator=gen, dtype=torch.float64)
    squares = mag / 2 if sq else None
    scale = float(mag.max()) * 1.5 if scaled else None
    actual = expected + noise * torch.randn(5, 7, generator=gen, dtype=torch.float64)
    dt = getattr(torch, dtype)
    quick = _finite_figures(actual, expected, mag, dt, length, scale, squares)
    allowed = bound(expected, mag, dt, length, scale, squares)
    full = figures(actual, expected, allowed, dt)
    assert quick["where"] == full["where"] and quick["mismatched"] == full["mismatched"]
    for key in ("max_abs", "max_rel", "eps_units", "worst_over_allowed"):
        assert quick[key] == pytest.approx(full[key], rel=1e-12), key
