"""On a local Ray cluster, check and bench give the records a local run gives; crashes and hangs
are recorded and the run completes. Skipped where ray is not installed."""
import sys

import pytest

from harness.checking.driver import CheckOptions
from harness.doors.cli import main
from harness.execution.runs import run_bench, run_checks
from harness.plugins.registry import Implementation, load
from harness.timing.bench import BenchOptions
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK
from tests.unit import faulty

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
OPTIONS = CheckOptions(properties=("shape", "values"), dtypes=("float32",))


def impl(fn):
    return Implementation(f"faulty.{fn.__name__}", "adaptive_avg_pool2d", fn)


@pytest.fixture(scope="module")
def cluster():
    from harness.execution.cluster import RayExecutor
    executor = RayExecutor("local", timeout=10, threads=1)
    yield executor
    executor.close()


def _outcome(records):
    return sorted((r.key(), r.status) for r in records if r.kind in ("check", "bench"))


def test_check_on_the_cluster_matches_a_local_run(cluster):
    impls = [load("reference.adaptive_avg_pool2d"), impl(faulty.good)]
    remote = run_checks(impls, OPTIONS, executor=cluster)
    assert _outcome(remote) == _outcome(run_checks(impls, OPTIONS))
    assert all(r.host for r in remote)


def test_bench_on_the_cluster_matches_a_local_run(cluster, tiny_suite):  # noqa: F811
    impls, cases = [load("reference.conv2d"), load("im2col.conv2d")], load_suite(tiny_suite)
    options = BenchOptions(budget=QUICK, threads=1)
    remote, local = [], []
    run_bench(impls, cases, options, remote.append, executor=cluster)
    run_bench(impls, cases, options, local.append)
    assert _outcome(remote) == _outcome(local), [  # why, where a status differs
        (r.impl, r.status, r.message) for r in remote + local if r.status not in ("ok", "pass")]
    assert any(r.kind == "peak" for r in remote) and all(r.device_name for r in remote)


def test_crashes_and_hangs_on_the_cluster_are_recorded(cluster):
    impls = [impl(faulty.segfault), impl(faulty.hangs), impl(faulty.good)]
    records = run_checks(impls, CheckOptions(properties=("shape",), dtypes=("float32",)),
                    executor=cluster)
    status = {r.impl: r.status for r in records}
    assert status == {"faulty.segfault": "crashed", "faulty.hangs": "timeout",
                      "faulty.good": "pass"}


def test_without_ray_the_cluster_option_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    code = main(["check", "--impl", "reference.conv2d", "--property", "shape", "--cluster",
                 "local", "--out", str(tmp_path)])
    assert code == 2 and "pip install convharness[ray]" in capsys.readouterr().err


def test_a_pool_on_the_cluster_keeps_each_candidates_line_and_budget(cluster):
    from pathlib import Path

    from harness.execution.resolve import selected
    from harness.execution.tasks import Ledger
    from harness.plugins.pool import expanded
    pool = Path(__file__).parent / "pool"
    specs, pooled = expanded([f"{pool}/same_as_torch_1.py", f"{pool}/wrong_no_bias.py",
                              f"{pool}/broken_*.py"], "conv2d")
    impls = selected(specs, pooled | set(specs), op="conv2d")
    options = CheckOptions(properties=("shape", "values"), dtypes=("float32",), seed=1)
    records = run_checks(impls, options, executor=cluster)
    status = {(r.impl.rsplit("/", 1)[-1], r.prop): r.status for r in records}
    assert status[("same_as_torch_1.py:conv2d", "values")] == "pass"
    assert status[("wrong_no_bias.py:conv2d", "values")] == "fail"
    assert status[("broken_import.py:conv2d", "loads")] == "error"
    three = CheckOptions(properties=("shape", "values", "dtype_device"), dtypes=("float32",),
                         seed=1)
    spent = run_checks(impls[:1], three, executor=cluster, ledger=Ledger(1e-6))
    # the tasks begun at once (a slot each) run; one begun after a charge from its node does not
    statuses = [r.status for r in spent]
    assert set(statuses) == {"pass", "over_budget"} and len(statuses) == 3, statuses
