"""The pytest door: `pytest --pyargs harness.conformance --impl module:attr` (registered via pytest11)."""
from __future__ import annotations

import pytest

from harness import options as opt
from harness.properties import PROPERTIES, properties_for
from harness.registry import ImplementationError, select
from harness.run import PROFILES, CheckOptions
from harness.summary import failure_lines


def pytest_addoption(parser):
    opt.add_options(parser.getgroup("convharness").addoption, opt.SELECTION)


def _options(config) -> CheckOptions:
    profile = config.getoption("hypothesis_profile", None)
    return opt.check_options(device=config.getoption("device"),
                             dtypes=config.getoption("dtypes"),
                             profile=profile if profile in PROFILES else "quick")


def _selection(config) -> list:
    try:
        op = opt.parse_op(config.getoption("op"))
        return select(config.getoption("impl") or (), op=op,
                      dtypes=opt.parse_dtypes(config.getoption("dtypes")),
                      forward_only=config.getoption("forward_only"))
    except (opt.UsageError, ImplementationError) as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc):
    if "conformance" not in metafunc.fixturenames:
        return
    impls = _selection(metafunc.config)
    order = {p.name: i for i, p in enumerate(PROPERTIES)}
    pairs = sorted(((impl, prop) for impl in impls for prop in properties_for(impl.op)),
                   key=lambda pair: order[pair[1].name])  # worked examples first
    metafunc.parametrize("conformance", pairs,
                         ids=[f"{impl.name}-{prop.name}" for impl, prop in pairs])


@pytest.fixture(scope="session")
def conformance_options(request) -> CheckOptions:
    try:
        return _options(request.config)
    except opt.UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def assert_conforms(record) -> None:
    """Skip what is unsupported or undefined; fail with the shrunk case and its reproduction."""
    if record.status in ("unsupported", "undefined"):
        pytest.skip(f"{record.status}: {record.message}")
    if record.status != "pass":
        pytest.fail("\n".join(failure_lines([record])), pytrace=False)
