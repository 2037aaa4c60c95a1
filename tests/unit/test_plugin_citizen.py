"""The pytest plugin in someone else's test suite: their options work, start-up stays light,
and the conformance suite runs the same on pytest-xdist as serially."""
import textwrap

import pytest

OTHER_CONFTEST = textwrap.dedent("""
    import sys

    def pytest_addoption(parser):
        for name in ("--device", "--impl", "--op", "--dtypes"):
            parser.addoption(name, default="theirs")

    def pytest_sessionfinish(session):
        heavy = sorted(m for m in ("torch", "pandas", "matplotlib") if m in sys.modules)
        print(f"HEAVY={heavy}")
    """)
OTHER_TEST = textwrap.dedent("""
    def test_their_own(request):
        assert request.config.getoption("--device") == "cuda:3"
        assert request.config.getoption("--impl") == "theirs"
    """)


def test_an_unrelated_suite_with_the_same_option_names_runs_as_before(pytester):
    pytester.makeconftest(OTHER_CONFTEST)
    pytester.makepyfile(test_theirs=OTHER_TEST)
    result = pytester.runpytest_subprocess("--device", "cuda:3", "-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HEAVY=[[][]]*"])  # nothing heavy imported at start-up


def test_convharness_options_and_profiles_are_namespaced(pytester):
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--convharness-impl*", "*--convharness-profile*"])
    from hypothesis import settings

    import harness.checking.driver  # noqa: F401 - registers the profiles
    settings.get_profile("convharness-thorough")
    with pytest.raises(Exception):
        settings.get_profile("thorough")  # a name someone else's suite may use


def test_an_unknown_profile_is_an_error(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "harness.conformance",
                                           "--convharness-impl", "reference.adaptive_avg_pool2d",
                                           "--convharness-profile", "slow")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--convharness-profile='slow'*"])


KERNELS = textwrap.dedent("""
    import torch
    import torch.nn.functional as F

    def good(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)

    def bad(input, output_size):
        return torch.zeros_like(F.adaptive_avg_pool2d(input, output_size))
    """)


def _outcomes(pytester, *extra):
    result = pytester.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", "kernels:good",
        "--convharness-impl", "kernels:bad", "--convharness-op", "adaptive_avg_pool2d",
        "-p", "no:cacheprovider", "-rA", "-k", "values or shape or examples or bounds", *extra)
    lines = [line for line in result.stdout.lines if line.startswith(("PASSED", "FAILED"))]
    return sorted(line.split(" - ")[0] for line in lines)


# Slow: test_pytest_door runs seven kernels' tests on pytest-xdist and serially and asserts the
# same status for each; this one does it for hypothesis-drawn failures that shrink.
@pytest.mark.slow
def test_xdist_gives_the_same_outcomes_as_a_serial_run(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(kernels=KERNELS)
    serial = _outcomes(pytester, "-n", "0")
    assert any(line.startswith("FAILED") and "kernels:bad-values" in line for line in serial)
    assert _outcomes(pytester, "-n", "2") == serial
