"""One test per (implementation, property); parametrized by the convharness pytest plugin."""
from harness.pytest_plugin import assert_conforms
from harness.run import check_property


def test_conforms(conformance, conformance_options, request):
    impl, prop = conformance
    assert_conforms(check_property(impl, prop, conformance_options), request.node)
