"""Benchmarks cannot be fooled: a memoised result is rechecked after timing, a throughput past
the machine's peak is suspect and never ranked, and --trace-ops shows what a kernel really calls."""
import pandas as pd

from harness.bench import BenchOptions, run_bench
from harness.frames import bench_frame, mark_suspect, peaks
from harness.records import Record
from harness.registry import Implementation, load
from harness.suites import load as load_suite
from harness.timing import QUICK
from tests.unit import kernel_bugs

OPTIONS = BenchOptions(budget=QUICK, threads=1)


def _records(impls, suite, options=OPTIONS):
    records = []
    run_bench(impls, load_suite(suite), options, records.append)
    return records


def test_a_memoised_result_is_wrong_after_timing(tiny_suite):  # noqa: F811
    cheat = Implementation("cheat", "conv2d", kernel_bugs.conv_cached_by_address)
    frame = bench_frame(_records([load("reference.conv2d"), cheat], tiny_suite))
    rows = frame[frame["impl"] == "cheat"]
    assert (rows["status"] == "wrong").all(), rows
    assert rows["message"].str.contains("after timing, on new values").all()
    assert rows["speedup"].isna().all()
    assert (frame[frame["impl"] == "reference.conv2d"]["status"] == "ok").all()


def test_the_machine_peak_is_measured(tiny_suite):  # noqa: F811
    roof = peaks(_records([load("reference.conv2d")], tiny_suite))["cpu"]
    assert roof["gflops"] > 0 and roof["gbs"] > 0


def test_pytorch_own_best_floors_a_peak_measured_low():
    """A busy machine measures a low peak: PyTorch's own best in the run then sets the bar, so
    neither PyTorch nor a kernel near it is suspect, while one far past it still is."""
    rows = pd.DataFrame({"impl": ["reference.conv2d", "near.conv2d", "cheat.conv2d"],
                         "op": ["conv2d"] * 3, "device": ["cpu"] * 3, "status": ["ok"] * 3,
                         "gflops": [100.0, 120.0, 1000.0], "gbs": [1.0, 1.0, 1.0],
                         "flop_saving": [False] * 3, "message": [""] * 3})
    marked = mark_suspect(rows, {"cpu": {"gflops": 10.0, "gbs": 100.0}})
    assert list(marked["status"]) == ["ok", "ok", "suspect"]


def test_throughput_past_the_peak_is_suspect(tiny_suite):  # noqa: F811
    records = _records([load("reference.conv2d"), load("im2col.conv2d")], tiny_suite)
    # im2col made 10^5 times faster than it was: far past the peak and PyTorch's own best
    faked = [Record(**{**r.__dict__, "times": tuple(t / 1e5 for t in r.times)})
             if r.impl == "im2col.conv2d" else r for r in records]
    frame = bench_frame(faked)
    fake = frame[frame["impl"] == "im2col.conv2d"]
    assert (fake["status"] == "suspect").all() and fake["speedup"].isna().all()
    assert (frame[frame["impl"] == "reference.conv2d"]["status"] == "ok").all()


def test_flop_saving_algorithms_are_judged_by_bandwidth_alone():
    rows = pd.DataFrame({"impl": ["fft.conv2d", "cheat.conv2d", "fft.conv2d"],
                         "op": ["conv2d"] * 3, "device": ["cpu"] * 3, "status": ["ok"] * 3,
                         "gflops": [500.0, 500.0, 1.0], "gbs": [1.0, 1.0, 900.0],
                         "flop_saving": [True, False, True], "message": [""] * 3})
    marked = mark_suspect(rows, {"cpu": {"gflops": 100.0, "gbs": 100.0}})
    assert list(marked["status"]) == ["ok", "suspect", "suspect"]


def test_trace_ops_names_the_operators_called(tiny_suite):  # noqa: F811
    options = BenchOptions(budget=QUICK, threads=1, trace_ops=True)
    frame = bench_frame(_records([load("reference.conv2d"), load("im2col.conv2d")], tiny_suite,
                                 options))
    ops = dict(zip(frame["impl"], frame["aten_ops"]))
    assert "convolution" in ops["reference.conv2d"]
    assert "convolution" not in ops["im2col.conv2d"]
    assert "im2col" in ops["im2col.conv2d"] or "mm" in ops["im2col.conv2d"]
