"""Benchmarks cannot be fooled: a memoised result is rechecked after timing, a throughput past
the machine's peak is suspect and never ranked, and --trace-ops shows what a kernel really calls."""
from dataclasses import replace

from harness.execution.runs import run_bench
from harness.plugins.registry import Implementation, load
from harness.reports.frames import bench_frame, peaks
from harness.timing.bench import BenchOptions, _over, judge
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK
from tests.unit import kernel_bugs

OPTIONS = BenchOptions(budget=QUICK, threads=1)


def _records(impls, suite, options=OPTIONS):
    records = []
    run_bench(impls, load_suite(suite), options, records.append)
    return records


def test_a_memoised_result_is_wrong_and_never_ranked(tiny_suite):  # noqa: F811
    """A result memoised by shape is served while timed: the verified blocks catch it. (One
    memoised by address is never served: each timed call has an input at a new address.)"""
    cheat = Implementation("cheat", "conv2d", kernel_bugs.conv_cached_by_shape)
    frame = bench_frame(_records([load("reference.conv2d"), cheat], tiny_suite))
    rows = frame[frame["impl"] == "cheat"]
    assert (rows["status"] == "wrong").all(), rows
    assert rows["message"].str.contains("timed block|after timing").all()
    assert rows["speedup"].isna().all()
    assert (frame[frame["impl"] == "reference.conv2d"]["status"] == "ok").all()


def test_the_machine_peak_is_measured(tiny_suite):  # noqa: F811
    roof = peaks(_records([load("reference.conv2d")], tiny_suite))["cpu"]
    assert roof["gflops"] > 0 and roof["gbs"] > 0


def test_suspect_is_decided_at_measurement_against_the_peak_floored_by_pytorch():
    """A busy machine measures a low peak: PyTorch's own rate on the same case, timed there and
    then, sets the bar; a time far past both is suspect, and the record says what it was
    judged against."""
    impl = load("im2col.conv2d")
    case = load_suite("resnet18", batch=1, quick=True)[0].case
    low = replace(OPTIONS, peaks={"cpu": {"gflops": 1e-3, "gbs": 1e-3}})
    status, _, roof = judge(impl, case, "forward", [1.0], low)  # a second a call: slow
    assert status == "ok" and "reference.conv2d" in roof["source"]
    status, why, roof = judge(impl, case, "forward", [1e-12], low)
    assert status == "suspect" and "not believed" in why and roof["gflops"] > 1e-3


def test_flop_saving_algorithms_are_judged_by_bandwidth_alone():
    roof = {"gflops": 100.0, "gbs": 100.0}
    assert not _over({"gflops": 500.0, "gbs": 1.0}, roof, flop_saving=True)
    assert _over({"gflops": 500.0, "gbs": 1.0}, roof, flop_saving=False)
    assert _over({"gflops": 1.0, "gbs": 900.0}, roof, flop_saving=True)


def test_reports_read_the_status_the_record_holds(tiny_suite):  # noqa: F811
    records = _records([load("reference.conv2d")], tiny_suite)
    marked = [replace(r, status="suspect") if r.kind == "bench" else r for r in records]
    frame = bench_frame(marked)
    assert (frame["status"] == "suspect").all() and frame["speedup"].isna().all()


def test_trace_ops_names_the_operators_called(tiny_suite):  # noqa: F811
    options = BenchOptions(budget=QUICK, threads=1, trace_ops=True)
    frame = bench_frame(_records([load("reference.conv2d"), load("im2col.conv2d")], tiny_suite,
                                 options))
    ops = dict(zip(frame["impl"], frame["aten_ops"]))
    assert "convolution" in ops["reference.conv2d"]
    assert "convolution" not in ops["im2col.conv2d"]
    assert "im2col" in ops["im2col.conv2d"] or "mm" in ops["im2col.conv2d"]
