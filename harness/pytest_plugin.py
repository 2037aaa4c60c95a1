"""The pytest door: `pytest --pyargs harness.conformance --convharness-impl module:attr`.

Registered through the pytest11 entry point, so it loads in every pytest session of the
environment convharness is installed in. It stays out of the way there: its options carry a
prefix (`--convharness-impl`, ...), it imports nothing heavy (torch, pandas, hypothesis
profiles) until a test asks for the `conformance` fixture, and it parametrizes nothing else.
"""
from __future__ import annotations

import os

import pytest

from harness import options as opt

PREFIX = opt.PYTEST_PREFIX


def pytest_addoption(parser):
    group = parser.getgroup("convharness", "convharness conformance (harness.conformance)")
    opt.add_options(group.addoption, opt.PYTEST, prefix=PREFIX)


def _values(config) -> dict:
    key = PREFIX.replace("-", "_")
    raw = {key + o.dest: config.getoption(key + o.dest) for o in opt.PYTEST}
    try:
        return opt.values(raw, opt.PYTEST, prefix=PREFIX)
    except opt.UsageError as exc:
        raise pytest.UsageError(str(exc).replace("--", f"--{PREFIX}", 1)) from None


def _ours(config) -> bool:
    """A session that runs convharness's conformance suite (not someone else's tests)."""
    named = config.getoption(PREFIX.replace("-", "_") + "impl")
    return bool(named) or any("harness.conformance" in str(a) for a in config.args)


def pytest_configure(config):
    if _ours(config):
        _values(config)  # a bad value is a usage error now, not at collection
        _one_gpu_per_worker(os.environ)


def _one_gpu_per_worker(env) -> None:
    """Under pytest-xdist, worker gwN sees GPU N mod the visible ones (before CUDA starts)."""
    worker = env.get("PYTEST_XDIST_WORKER", "")
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if not worker.startswith("gw") or len(visible) < 2:
        return
    env["CUDA_VISIBLE_DEVICES"] = visible[int(worker[2:]) % len(visible)]


def _pairs(config) -> list:
    from harness.properties import PROPERTIES, properties_for
    from harness.registry import ImplementationError, select
    v = _values(config)
    try:
        impls = select(v["impl"] or (), op=v["op"], dtypes=v["dtypes"],
                       forward_only=v["forward_only"])
    except (opt.UsageError, ImplementationError) as exc:
        raise pytest.UsageError(str(exc)) from None
    order = {p.name: i for i, p in enumerate(PROPERTIES)}
    pairs = [(impl, prop) for impl in sorted(impls, key=lambda i: i.name)
             for prop in properties_for(impl.op)]
    return sorted(pairs, key=lambda pair: order[pair[1].name])  # worked examples first


def pytest_generate_tests(metafunc):
    if "conformance" not in metafunc.fixturenames:
        return
    pairs = _pairs(metafunc.config)
    metafunc.parametrize("conformance", pairs,
                         ids=[f"{impl.name}-{prop.name}" for impl, prop in pairs])


@pytest.fixture(scope="session")
def conformance_options(request):
    from harness.run import check_options
    return check_options(_values(request.config))


RECORD_KEY = "convharness_record"  # a test's record, in its report's user_properties


def assert_conforms(record, node=None) -> None:
    """Skip what is unsupported or undefined; xfail what the implementation declares; fail with
    the shrunk case and its reproduction. The record rides on the test's report (`node`), so
    the session can tell an implementation that declined everything (xdist included)."""
    from harness.statuses import PASSING
    from harness.summary import failure_lines
    if node is not None:
        node.user_properties.append((RECORD_KEY, record.to_json()))
    if record.status in ("unsupported", "undefined"):
        pytest.skip(f"{record.status}: {record.message}")
    if record.status == "xfail":
        pytest.xfail("\n".join(failure_lines([record])))
    if record.status not in PASSING:
        pytest.fail("\n".join(failure_lines([record])), pytrace=False)


def pytest_runtest_logreport(report):
    if report.when != "teardown":
        return
    for key, value in getattr(report, "user_properties", ()):
        if key == RECORD_KEY:
            _SEEN.append(value)


_SEEN: list = []  # records of this session's conformance tests (on the xdist controller too)


def pytest_sessionfinish(session, exitstatus):
    """An implementation that declined every case was never checked: the session fails."""
    if not _SEEN or hasattr(session.config, "workerinput"):
        return
    import json

    from harness.records import Record
    from harness.run import unchecked
    records = [Record.from_dict(json.loads(text)) for text in _SEEN]
    _SEEN.clear()
    found = [unchecked(impl, op, [r for r in records if r.impl == impl])
             for impl, op in dict.fromkeys((r.impl, r.op) for r in records)]
    found = [r for r in found if r is not None]
    if found:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for record in found:
            if reporter is not None:
                reporter.write_line(f"convharness: {record.impl}: UNCHECKED: {record.message}",
                                    red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
