"""isolate: crashes, hangs and exits are recorded with their status; the run goes on after them."""
import pytest

from harness.checking.driver import CheckOptions, check_property
from harness.checking.properties import PROPERTIES
from harness.execution.isolate import WorkerPool, describe_exit
from harness.execution.runs import run_bench, run_checks
from harness.ops.cases import Case
from harness.plugins.registry import Implementation
from harness.timing.bench import BenchOptions
from harness.timing.suites import SuiteCase
from harness.timing.timers import QUICK
from tests.unit import faulty
from tests.unit.conftest import TINY, crowded_cpu

OPTIONS = CheckOptions(properties=("shape",), dtypes=("float32",), profile="quick")


def impl(fn):
    return Implementation(f"faulty.{fn.__name__}", "adaptive_avg_pool2d", fn)


def test_process_faults_are_recorded_and_the_run_goes_on():
    fns = [faulty.segfault, faulty.aborts, faulty.exits, faulty.hangs, faulty.good]
    with WorkerPool(timeout=3) as pool:
        records = run_checks([impl(f) for f in fns], OPTIONS, workers=pool)
    status = {r.impl.split(".")[1]: r for r in records}
    assert [status[f.__name__].status for f in fns] == [
        "crashed", "crashed", "crashed", "timeout", "pass"]
    assert "SIGSEGV" in status["segfault"].message
    assert "SIGABRT" in status["aborts"].message
    assert "exit status 3" in status["exits"].message
    for name in ("segfault", "hangs"):
        assert status[name].case["op"] == "adaptive_avg_pool2d"  # the case it was running
        assert status[name].repro.startswith("convharness check")


def test_the_time_limit_covers_the_implementations_calls_only():
    """Slow harness work between calls is not the kernel hanging; a slow call is."""
    from harness.execution.isolate import Worker
    with Worker(timeout=2.0) as worker:
        (record,) = worker.run(faulty.SlowHarnessTask(harness_s=5.0))
        assert record.status == "pass", record
        (record,) = worker.run(faulty.SlowHarnessTask(harness_s=0.0, call_s=60.0))
        assert record.status == "timeout" and "the second call" in record.message, record


def test_a_kernel_cannot_write_its_judges_heartbeat():
    """The judge's heartbeat is not mapped in the kernel's process: a write to it is a crash
    of the kernel's, never a hang that looks like no call."""
    with WorkerPool(timeout=3) as pool:
        (record,) = run_checks([impl(faulty.forges_the_judges_beat)], OPTIONS, workers=pool)
    assert record.status == "crashed" and "SIGSEGV" in record.message, record


def test_a_forged_call_count_hides_no_hang(tmp_path):
    """A kernel that counts calls it never makes, and hangs: checked, the judge's own
    heartbeat times its call; timed whole in its process, the judge's limit on the task."""
    from harness.execution.tasks import Local
    from harness.timing.bench import BenchTask
    from harness.timing.suites import load as load_suite
    forger = Implementation("faulty.forges_its_count", "conv2d", faulty.forges_its_count)
    suite = tmp_path / "one.csv"
    suite.write_text("\n".join(TINY.splitlines()[:2]) + "\n")
    with WorkerPool(timeout=0.5) as pool:
        checked = run_checks([forger], OPTIONS, workers=pool)
        task = BenchTask(forger, load_suite(str(suite))[0], "cpu", "forward",
                         BenchOptions(budget=QUICK, threads=1))
        timed = list(Local(pool).run([task], lambda t: None))
    assert [r.status for r in checked] == ["timeout"], checked
    assert [r.status for r in timed if r.kind == "bench"] == ["timeout"], timed


def test_keyboard_interrupt_in_process_ends_the_run():
    """In-process, Ctrl-C is the user's: it is not recorded as the implementation's error."""
    with pytest.raises(KeyboardInterrupt):
        check_property(impl(faulty.keyboard_interrupt),
                       next(p for p in PROPERTIES if p.name == "shape"), OPTIONS)


def test_a_worker_is_reused_across_cases():
    with WorkerPool(timeout=30) as pool:
        run_checks([impl(faulty.good)], CheckOptions(properties=("shape", "values")), workers=pool)
        assert len(pool._workers) == 1


@pytest.mark.parametrize("fn, prop", [(faulty.system_exit, "shape"),
                                      (faulty.returns_tuple, "shape"),
                                      (faulty.returns_nan, "values"),
                                      (faulty.leaks, "memory")])
def test_misbehaviour_in_process_is_a_failure(fn, prop):
    record = check_property(impl(fn), next(p for p in PROPERTIES if p.name == prop), OPTIONS)
    assert record.status == "fail", record


def test_a_leak_is_seen_where_it_reuses_memory_freed_before():
    """Earlier work freed memory the process still holds: a leak that reuses it does not grow
    the resident set, but it grows what malloc has handed out."""
    import torch

    from harness.checking.held import grown_by, held_bytes, older_objects_frozen
    freed, pins = [], []
    for _ in range(50):  # 4 MiB blocks with small ones between: a fragmented, resident heap
        freed.append(torch.ones(2**20))
        pins.append(torch.ones(16))
    freed.clear()
    with older_objects_frozen():  # as the harness measures: older garbage stays as it is
        before = held_bytes("cpu")
        leaked = [torch.ones(2**20) for _ in range(40)]  # 160 MiB
        assert grown_by(before, "cpu") >= 150 * 2**20
    del leaked, pins


def test_interrupts_raised_by_an_implementation_in_a_worker_are_its_errors():
    with WorkerPool(timeout=30) as pool:
        records = run_checks([impl(faulty.keyboard_interrupt), impl(faulty.system_exit)], OPTIONS,
                        workers=pool)
    assert [r.status for r in records] == ["fail", "fail"]
    assert "KeyboardInterrupt" in records[0].message and "SystemExit" in records[1].message


def test_bench_crash_is_recorded_and_the_next_implementation_runs(tmp_path):
    sc = SuiteCase("tiny", Case("adaptive_avg_pool2d", (1, 4, 16, 16), kwargs={"output_size": 1}))
    records = []
    with WorkerPool(timeout=10) as pool:
        run_bench([impl(faulty.segfault), impl(faulty.good)], [sc],
                  BenchOptions(budget=QUICK, threads=1), records.append, workers=pool)
    bench = [(r.impl, r.status) for r in records if r.kind == "bench"]
    assert bench == [("faulty.segfault", "crashed"), ("faulty.good", "ok")]


def test_describe_exit():
    assert describe_exit(-11) == "killed by SIGSEGV" and describe_exit(3) == "exit status 3"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_poisoned_cuda_context_gets_a_fresh_worker():
    options = CheckOptions(properties=("shape", "dtype_device"), devices=("cuda",),
                           dtypes=("float32",))
    said = []
    with WorkerPool(timeout=60, log=said.append) as pool:
        records = run_checks([impl(faulty.cuda_illegal_address), impl(faulty.good)], options,
                        workers=pool)
    assert [r.status for r in records[:2]] in (["fail", "fail"], ["crashed", "crashed"],
                                              ["fail", "crashed"], ["crashed", "fail"])
    assert [r.status for r in records[2:]] == ["pass", "pass"]
    assert any("poisoned" in line for line in said) or records[0].status == "crashed"


def test_a_hang_costs_one_time_limit_and_the_rest_is_not_run():
    options = CheckOptions(properties=("shape", "values", "memory"), dtypes=("float32",))
    with WorkerPool(timeout=5) as pool:
        records = run_checks([impl(faulty.hangs)], options, workers=pool)
    assert [r.status for r in records] == ["timeout", "not_run", "not_run"]
    assert "hung in F.adaptive_avg_pool2d" in records[0].message
    assert "hung in property shape" in records[1].message


def test_the_time_limit_is_per_call_not_per_property():
    """Each call takes a quarter of a second, a property makes many of them: no timeout at a
    limit of 1.5 s (six calls' worth)."""
    options = CheckOptions(properties=("deterministic",), dtypes=("float32",), profile="quick")
    with WorkerPool(timeout=1.5) as pool:
        (record,) = run_checks([impl(faulty.slow_but_correct)], options, workers=pool)
    assert record.status == "pass", record


def test_a_runaway_allocation_is_out_of_memory_and_the_run_goes_on():
    with WorkerPool(timeout=120, memory_limit=2**30) as pool:
        records = run_checks([impl(faulty.allocates_forever), impl(faulty.good)], OPTIONS,
                        workers=pool)
    assert [r.status for r in records] == ["oom", "pass"]
    assert "over the limit of 1024 MiB" in records[0].message


def test_an_exit_is_not_a_rejection_of_invalid_arguments():
    options = CheckOptions(properties=("invalid_args",), dtypes=("float32",))
    with WorkerPool(timeout=30) as pool:
        (record,) = run_checks([impl(faulty.exits_on_invalid)], options, workers=pool)
    assert record.status == "fail" and "SystemExit" in record.message


def test_a_fault_of_the_harness_is_a_harness_error(monkeypatch):
    from harness.checking import call as check_mod

    def broken_oracle(case, tensors, **extra):
        raise check_mod.HarnessError("the oracle broke")
    monkeypatch.setattr(check_mod, "oracle", broken_oracle)
    (record,) = run_checks([impl(faulty.good)], CheckOptions(properties=("values",),
                                                        dtypes=("float32",)))
    assert record.status == "harness_error" and "the oracle broke" in record.message


def test_a_busy_machine_never_times_out_a_correct_kernel(tmp_path):
    """Crowded onto one core with six busy loops, a call that needs a quarter of a second of CPU
    takes about two seconds of wall time, past the 1.5 s limit; the limit counts only what the
    call ran (and slept), not what the machine kept it waiting, so check and bench pass it."""
    burns = Implementation("faulty.burns_cpu", "conv2d", faulty.burns_cpu)
    case = Case("conv2d", (1, 2, 4, 4), (2, 2, 3, 3))
    suite = tmp_path / "one.csv"
    suite.write_text(TINY.splitlines()[0] + "\n" + TINY.splitlines()[1] + "\n")
    from harness.execution.tasks import Local
    from harness.timing.bench import BenchTask
    from harness.timing.suites import load as load_suite
    with crowded_cpu(burners=6), WorkerPool(timeout=1.5) as pool:
        checked = run_checks([burns], CheckOptions(properties=("shape",), case=case), workers=pool)
        task = BenchTask(burns, load_suite(str(suite))[0], "cpu", "forward",
                         BenchOptions(budget=QUICK, threads=1))
        timed = list(Local(pool).run([task], lambda t: None))
    assert [(r.prop, r.status) for r in checked] == [("shape", "pass")], checked[0].message
    assert [(r.prop, r.status) for r in timed if r.kind == "bench"] == [("forward", "ok")], \
        [r.message for r in timed]


def test_a_pool_keeps_few_workers_alive():
    """Fifty candidates would hold fifty workers with torch imported: the one used longest ago
    is closed past `live`, and a candidate's worker is started again if it comes back."""
    fns = [faulty.good, faulty.good, faulty.good]
    impls = [Implementation(f"faulty.good_{i}", "adaptive_avg_pool2d", f)
             for i, f in enumerate(fns)]
    with WorkerPool(timeout=30, live=2) as pool:
        records = run_checks(impls + impls[:1], OPTIONS, workers=pool)
        assert list(pool._workers) == ["faulty.good_2", "faulty.good_0"]
    assert [r.status for r in records] == ["pass"] * 4
