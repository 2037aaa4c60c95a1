"""`-j N`: checks on several lanes at once give the records of a serial run, in its order; a lane
whose kernel crashes or hangs costs that kernel only; a bad --jobs is a usage error."""
import pytest

from harness.checking.driver import CheckOptions
from harness.doors.cli import main
from harness.doors.options import UsageError, parse_jobs
from harness.execution.executors import executor_for
from harness.execution.runs import run_checks
from harness.plugins.registry import load
from harness.records.record import read_records
from tests.unit.conftest import run_dirs

PROPS = ("shape", "values", "sizes", "gradients", "no_mutation", "invalid_args")


def _matrix(records):
    """What the conformance matrix shows (the status; for a pass, its examples) and each
    failure's minimal case. How many examples passed before a failure was found and shrunk is
    not shown, and is not compared: it once differed by one in a loaded tox run, with the same
    status and minimal case."""
    return [(r.impl, r.prop, r.status, r.counts.get("pass", 0) if r.status == "pass" else None,
             r.case) for r in records]


def test_a_parallel_check_equals_the_serial_one_record_for_record():
    impls = [load(name) for name in ("reference.conv2d", "loops.conv2d")] + [
        load("tests.unit.broken:conv_no_dilation", op="conv2d"),
        load("tests.unit.broken:conv_flipped", op="conv2d")]
    options = CheckOptions(seed=3, properties=PROPS)
    serial = run_checks(impls, options)
    lanes = executor_for(jobs=3)
    try:
        parallel = run_checks(impls, options, executor=lanes)
    finally:
        lanes.close()
    assert _matrix(parallel) == _matrix(serial)
    assert {r.status for r in serial} >= {"pass", "fail"}  # both verdicts were in play


def test_isolated_lanes_record_a_crash_and_a_hang_and_run_the_rest(tmp_path):
    code = main(["check", "--impl", "tests.unit.faulty:segfault", "--impl",
                 "tests.unit.faulty:hangs", "--impl", "tests.unit.faulty:good",
                 "--op", "adaptive_avg_pool2d", "--property", "shape,values", "--timeout", "10",
                 "-j", "2", "--seed", "0", "--out", str(tmp_path)])
    (run,) = run_dirs(tmp_path)
    found = {(r.impl, r.prop): r.status for r in read_records(run)}
    assert code == 1
    assert found[("tests.unit.faulty:segfault", "shape")] == "crashed"
    assert found[("tests.unit.faulty:hangs", "shape")] == "timeout"
    assert found[("tests.unit.faulty:good", "shape")] == "pass"
    assert found[("tests.unit.faulty:good", "values")] == "pass"


class _Task:
    """A stand-in check task of an implementation named `impl`, property `prop`."""

    def __init__(self, impl: str, prop: str):
        from types import SimpleNamespace
        self.impl, self.prop = SimpleNamespace(name=impl, fn=None), prop
        self.key = self.fault("", "", None).key()

    def fault(self, status, message, case):
        from harness.records.record import Record
        return Record("check", self.impl.name, "conv2d", self.prop, status, message)

    def too_slow(self, record):
        return ""


def test_a_lane_spares_the_next_property_of_a_kernel_that_hung_in_it():
    """The lane is told of the hang as its task ends, before it begins the same kernel's next
    task (run_tasks reads the record later, from another thread)."""
    from harness.execution.parallel import Parallel
    from harness.execution.tasks import run_tasks
    ran = []

    def lane(task):
        ran.append(task.prop)
        status = "timeout" if task.prop == "shape" else "pass"
        yield task.fault(status, "no return; it hung in F.conv2d(input, weight)", None)
    tasks = [_Task("mine:conv2d", prop) for prop in ("shape", "values", "sizes")]
    records = run_tasks(tasks, Parallel([lane], []), lambda r: None)
    assert ran == ["shape"], ran
    assert [r.status for r in records] == ["timeout", "not_run", "not_run"]


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_a_bad_jobs_value_is_named(text):
    with pytest.raises(UsageError, match=f"--jobs='{text}'.*at least 1, or auto"):
        parse_jobs(text)
    assert parse_jobs("auto") >= 1 and parse_jobs("3") == 3


def test_a_crash_in_a_lane_of_built_ins_costs_its_check_not_the_run():
    """Built-ins run in worker lanes too (no time limit): PyTorch's own ops crash on some drawn
    cases, and a crash in this process would end the run."""
    impls = [load("tests.unit.faulty:segfault", op="adaptive_avg_pool2d"),
             load("reference.adaptive_avg_pool2d")]
    lanes = executor_for(jobs=2)  # not isolated: the lanes `check` gives the built-ins
    try:
        records = run_checks(impls, CheckOptions(seed=0, properties=("shape",)), executor=lanes)
    finally:
        lanes.close()
    assert {r.impl: r.status for r in records} == {"tests.unit.faulty:segfault": "crashed",
                                                   "reference.adaptive_avg_pool2d": "pass"}
