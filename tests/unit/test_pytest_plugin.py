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
    from harness.checking.properties import properties_for
    result.assert_outcomes(passed=len(properties_for("adaptive_avg_pool2d")))


def test_broken_implementation_fails_with_reproduction(kernels):
    result = kernels.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:bad",
        "--convharness-op", "adaptive_avg_pool2d", "-p", "no:cacheprovider",
        "-k", "examples or values")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] >= 2
    result.stdout.fnmatch_lines(["*test_conforms*mykernels:bad-values*",
                                 "*reproduce: convharness check --impl mykernels:bad*"])


def test_bad_impl_is_a_usage_error(kernels):
    result = kernels.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:missing",
        "--convharness-op", "conv2d", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*has no attribute 'missing'*"])


def test_a_declared_failure_is_an_xfail(pytester):
    pytester.makepyfile(mykernels=textwrap.dedent("""
        import torch.nn.functional as F
        from harness.plugins.registry import KnownFailure, implements

        def always(case):
            return True

        @implements(F.adaptive_avg_pool2d, name="mine.zeros",
                    known_failures=(KnownFailure("returns zeros on purpose", always, ("values",)),))
        def zeros(input, output_size):
            return 0 * F.adaptive_avg_pool2d(input, output_size)
        """))
    pytester.syspathinsert()
    result = pytester.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "mykernels:zeros",
        "-p", "no:cacheprovider", "-k", "values and not special", "-rx")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*returns zeros on purpose*"])
