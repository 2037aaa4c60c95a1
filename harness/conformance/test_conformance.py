"""One test per (implementation, property); parametrized by the convharness pytest plugin."""
from harness.doors.pytest_plugin import assert_conforms


def test_conforms(conformance, conformance_runner, request):
    impl, prop = conformance
    assert_conforms(conformance_runner.record(impl, prop), request.node)
