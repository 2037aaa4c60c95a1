"""pytest_plugin end to end: the shipped suite runs from any directory against a plugged-in impl."""
import textwrap

import pytest

KERNELS = textwrap.dedent("""
    import torch
    import torch.nn.functional as F

    def good(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)

    def bad(input, output_size):
        return torch.zeros_like(F.adaptive_avg_pool2d(input, output_size))
    """)


@pytest.fixture
def kernels(pytester):
    pytester.makepyfile(mykernels=KERNELS)
    pytester.syspathinsert()
    return pytester


def test_correct_implementation_passes(kernels):
    result = kernels.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:good",
        "--convharness-op", "adaptive_avg_pool2d", "-p", "no:cacheprovider")
    from harness.properties import properties_for
    result.assert_outcomes(passed=len(properties_for("adaptive_avg_pool2d")))


def test_broken_implementation_fails_with_reproduction(kernels):
    result = kernels.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:bad",
        "--convharness-op", "adaptive_avg_pool2d", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 2
    result.stdout.fnmatch_lines(["*test_conforms*mykernels:bad-values*",
                                 "*reproduce: convharness check --impl mykernels:bad*"])


def test_bad_impl_is_a_usage_error(kernels):
    result = kernels.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:missing",
        "--convharness-op", "conv2d", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*has no attribute 'missing'*"])
