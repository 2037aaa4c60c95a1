"""The pytest door: `pytest --pyargs harness.conformance --convharness-impl module:attr`.

Registered through the pytest11 entry point, so it loads in every pytest session of the
environment convharness is installed in. It stays out of the way there: its options carry a
prefix (`--convharness-impl`, ...), it imports nothing heavy (torch, pandas, hypothesis
profiles) unless the session runs `harness.conformance` or names an implementation, and it
parametrizes nothing else.
"""
from __future__ import annotations

import os

import pytest

from harness.doors import options as opt

PREFIX = opt.PYTEST_PREFIX


def pytest_addoption(parser):
    group = parser.getgroup("convharness", "convharness conformance (harness.conformance)")
    opt.add_options(group.addoption, opt.PYTEST, prefix=PREFIX)


PLAN = pytest.StashKey()  # options.CheckPlan, built once per process from the options
RUN = pytest.StashKey()  # pytest_session.SessionRun, in the process that reports
RUN_DIR = "convharness_run_dir"  # the run directory, as xdist workers are told it
SEED = "convharness_seed"  # the session's seed, as xdist workers are told it


def _plan(config):
    """The session's CheckPlan: the implementations selected once, options checked once."""
    from harness.plugins.registry import ImplementationError
    if PLAN not in config.stash:
        key = PREFIX.replace("-", "_")
        raw = {key + o.dest: config.getoption(key + o.dest) for o in opt.PYTEST}
        try:
            plan = opt.check_plan(raw, opt.PYTEST, prefix=PREFIX)
        except opt.UsageError as exc:
            raise pytest.UsageError(str(exc).replace("--", f"--{PREFIX}", 1)) from None
        except ImplementationError as exc:
            raise pytest.UsageError(str(exc)) from None
        from dataclasses import replace

        from harness.checking.driver import run_seed
        given = getattr(config, "workerinput", {}).get(SEED)  # one seed for the whole session
        config.stash[PLAN] = replace(plan, options=run_seed(plan.options, given))
    return config.stash[PLAN]


def _ours(config) -> bool:
    """A session that runs convharness's conformance suite (not someone else's tests)."""
    named = config.getoption(PREFIX.replace("-", "_") + "impl")
    where = ("harness.conformance", os.path.join("harness", "conformance"))
    return bool(named) or any(w in str(a) for a in config.args for w in where)


def pytest_configure(config):
    if not _ours(config):
        return
    _one_gpu_per_worker(os.environ)  # before anything may start CUDA
    plan = _plan(config)  # a bad value is a usage error now, not at collection
    if not hasattr(config, "workerinput"):
        from harness.doors.pytest_session import SessionRun
        config.stash[RUN] = SessionRun(plan.out_root, plan.isolate)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist: each worker learns the session's run directory."""
    run = node.config.stash.get(RUN, None)
    if run is not None:
        node.workerinput[RUN_DIR] = str(run.dir)
        node.workerinput[SEED] = _plan(node.config).options.seed


def pytest_report_header(config):
    if RUN in config.stash:
        options = _plan(config).options
        seeded = "" if options.seed is None else (
            f", seed {options.seed} (--{PREFIX}seed {options.seed} draws these cases again)")
        from harness.execution.executors import sandbox_for
        return f"convharness: profile {options.profile}{seeded}; " \
               f"{sandbox_for(_plan(config).isolate)}"
    return None


def _one_gpu_per_worker(env) -> None:
    """Under pytest-xdist, worker gwN sees GPU N mod the visible ones (before CUDA starts)."""
    worker = env.get("PYTEST_XDIST_WORKER", "")
    visible = [d for d in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if not worker.startswith("gw") or len(visible) < 2:
        return
    env["CUDA_VISIBLE_DEVICES"] = visible[int(worker[2:]) % len(visible)]


def _pairs(config) -> list:
    from types import SimpleNamespace

    from harness.checking.properties import PROPERTIES, properties_for
    from harness.plugins.pool import LOADS, refused
    order = {LOADS: -1, **{p.name: i for i, p in enumerate(PROPERTIES)}}
    # a refused candidate of a pool has one test, which fails with the reason
    pairs = [(impl, prop) for impl in sorted(_plan(config).impls, key=lambda i: i.name)
             for prop in ([SimpleNamespace(name=LOADS)] if refused(impl) else
                          properties_for(impl.op))]
    # worked examples first; then each property's implementations of one op side by side, so
    # the oracle answers the cases they share once (checking.answers); a kernel in a process
    # of its own (judged by a worker of its own, sharing no answers) all its properties at once
    from harness.execution.runs import deferred
    return sorted(pairs, key=lambda pair: (deferred(pair[0]), pair[0].name if deferred(
        pair[0]) else "", order[pair[1].name], pair[0].op))


def pytest_generate_tests(metafunc):
    if "conformance" not in metafunc.fixturenames:
        return
    pairs = _pairs(metafunc.config)
    metafunc.parametrize("conformance", pairs,
                         ids=[f"{impl.name}-{prop.name}" for impl, prop in pairs])


@pytest.fixture(scope="session")
def conformance_runner(request):
    """Runs each (implementation, property) as `check` does: module:attr implementations in
    worker processes (unless --convharness-no-isolate), under the time and memory limits."""
    from harness.doors.pytest_session import Runner
    config = request.config
    if hasattr(config, "workerinput") and RUN_DIR in config.workerinput:
        run_dir = config.workerinput[RUN_DIR]
    else:
        if RUN not in config.stash:
            pytest_configure(config)
        run_dir = config.stash[RUN].dir
    runner = Runner(_plan(config), run_dir)
    yield runner
    runner.close()


RECORD_KEY = "convharness_record"  # a test's record, in its report's user_properties


def assert_conforms(record, node=None) -> None:
    """Skip what is unsupported or undefined, or not run after a hang; xfail what the
    implementation declares or PyTorch's own op shares (inherited; under --convharness-strict it
    is a failure already); fail with the shrunk case and its reproduction. The record rides on the test's report (`node`), so
    the session can tell an implementation that declined everything (xdist included)."""
    from harness.records.statuses import PASSING
    from harness.reports.summary import failure_lines
    if node is not None:
        node.user_properties.append((RECORD_KEY, record.to_json()))
    if record.status in ("unsupported", "undefined"):
        pytest.skip(f"{record.status}: {record.message}")
    if record.status == "not_run":  # after a hang: the hang is the one failure
        pytest.skip(record.message)
    if record.status in ("xfail", "inherited"):
        pytest.xfail("\n".join(failure_lines([record])))
    if record.status not in PASSING:
        pytest.fail("\n".join(failure_lines([record])), pytrace=False)


def pytest_runtest_logreport(report):
    """In the process that reports: each test's record appended to records.jsonl as it ends."""
    if report.when != "teardown" or not _REPORTING:
        return
    import json

    from harness.records.record import Record
    for key, value in getattr(report, "user_properties", ()):
        if key == RECORD_KEY:
            _REPORTING[0].add(Record.from_dict(json.loads(value)))


_REPORTING: list = []  # [the SessionRun] while a session that reports is on


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    run = session.config.stash.get(RUN, None)
    if run is not None:
        _REPORTING[:] = [run]


def pytest_sessionfinish(session, exitstatus):
    """Write the report; an implementation that declined every case was never checked: the
    session fails."""
    run = session.config.stash.get(RUN, None)
    if run is None:
        return
    _REPORTING.clear()
    found = run.finish()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for record in found:
        if reporter is not None:
            reporter.write_line(f"convharness: {record.impl}: UNCHECKED: {record.message}",
                                red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    run = config.stash.get(RUN, None)
    if run is not None and run.report is not None:
        terminalreporter.write_line(f"convharness: records {run.dir / 'records.jsonl'}; "
                                    f"report: {run.report}")
