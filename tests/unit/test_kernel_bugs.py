"""Kernels wrong the way real ones are (tile tails, half accumulation, caching, racing, aliasing,
out-of-view access) fail the right property; slow but correct ones pass everything they support."""
from dataclasses import replace

import pytest

from harness.checking.driver import CheckOptions
from tests.unit import kernel_bugs as bugs
from tests.unit import slow_kernels as slow
from tests.unit.conftest import PROPS, run_dirs, verdict

TINY_VALUES = replace(PROPS["values"], mix="tiny")
# The tiny draws alone: the covering array's rows reach past the tiles (and in every layout),
# where these kernels fail `values` too.
DRAWS_ONLY = CheckOptions(profile="ci", covering=False)

# (kernel, op, where the shrunk case must name the boundary: (field, index, value))
TILE_TAILS = [
    (bugs.conv_out_channel_tail, "conv2d", ("weight_shape", 0, 65)),
    (bugs.conv_in_channel_tail, "conv2d", ("weight_shape", 1, 33)),
    (bugs.conv_batch_tail, "conv2d", ("input_shape", 0, 9)),
    (bugs.max_pool_window_row_tail, "max_pool2d", ("kernel_size", 0, 9)),
]


@pytest.mark.parametrize("fn, op, boundary", TILE_TAILS, ids=[t[0].__name__ for t in TILE_TAILS])
def test_tile_tail_fails_sizes_and_shrinks_to_the_boundary(fn, op, boundary):
    assert verdict(fn, op, TINY_VALUES, DRAWS_ONLY).status == "pass"  # right on small inputs
    record = verdict(fn, op, "sizes")
    assert record.status == "fail", record
    field, index, value = boundary
    got = record.case[field] if field in record.case else record.case["kwargs"][field]
    assert (got[index] if isinstance(got, list) else got) == value, record.case


def test_plane_tail_shrinks_to_an_output_just_past_the_tile():
    record = verdict(bugs.conv_plane_tail, "conv2d", "sizes")
    assert record.status == "fail", record
    from harness.ops.cases import Case
    assert Case.from_dict(record.case).output_shape()[-1] == 65


def test_half_accumulation_fails_on_long_float16_reductions():
    assert verdict(bugs.conv_half_accumulator, "conv2d", TINY_VALUES, DRAWS_ONLY).status == "pass"
    record = verdict(bugs.conv_half_accumulator, "conv2d", "sizes")
    assert record.status == "fail", record
    assert record.case["dtype"] == "float16" and record.case["weight_shape"][1] >= 33


# (kernel, property that must fail, a property that must pass, words the message must hold)
MISBEHAVING = [
    (bugs.conv_cached_by_address, "fresh_results", "shape", "same input tensors"),
    (bugs.conv_cached_by_shape, "fresh_results", "shape", "first call's result"),
    (bugs.conv_lazy, "complete_on_return", "shape", "out as returned"),
    # "out as returned" where a busy machine let the writer finish before the output was read
    (bugs.conv_late_writer, "complete_on_return", "shape", "returned"),
    (bugs.conv_into_input, "no_aliasing", "shape", "aliases an input"),
    (bugs.conv_reused_buffer, "no_aliasing", "values", "reuses one output buffer"),
    (bugs.conv_writes_past_end, "bounds", "values", "written outside the view of input"),
    (bugs.conv_assumes_contiguous, "bounds", "values", "strided views with NaN between"),
]


@pytest.mark.parametrize("fn, fails, passes, words", MISBEHAVING,
                         ids=[m[0].__name__ for m in MISBEHAVING])
def test_misbehaving_kernel_fails_its_own_property(fn, fails, passes, words):
    record = verdict(fn, "conv2d", fails)
    assert record.status == "fail", record
    assert words in record.message and record.repro.startswith("convharness check")
    # without bfloat16: PyTorch's own F.conv2d, which these wrap, returns memory it never
    # wrote there (different on every call: its failures are its own, not these kernels')
    no_bf16 = CheckOptions(profile="ci", dtypes=("float64", "float32", "float16"),
                           covering=False)  # the rows' strided views reach what `bounds` does
    assert verdict(fn, "conv2d", passes, no_bf16).status == "pass"


SLOW = [(slow.python_conv2d, "conv2d"), (slow.numpy_conv2d, "conv2d"),
        (slow.python_adaptive_avg_pool2d, "adaptive_avg_pool2d")]
SLOW_PROPS = ("values", "sizes", "fresh_results", "no_aliasing", "bounds", "gradients")


# The ci profile draws twice the examples of quick for the same properties: `tox -e slow`.
# Pure-Python conv2d (51 s in the quick profile) runs there only: a slow forward-only kernel
# as numpy_conv2d (a conv2d) and python_adaptive_avg_pool2d (pure Python) are in the quick one.
def _runs(fn, op):
    for profile in ("ci",) if fn is slow.python_conv2d else ("ci", "quick"):
        yield pytest.param(fn, op, profile, id=f"{fn.__name__}-{profile}",
                           marks=[pytest.mark.slow] if profile == "ci" else [])


@pytest.mark.parametrize("fn, op, profile", [run for fn, op in SLOW for run in _runs(fn, op)])
def test_slow_correct_kernels_raise_no_false_alarm(fn, op, profile):
    options = CheckOptions(profile=profile, dtypes=("float64", "float32", "float16"))
    pure_python = fn.__name__.startswith("python_")  # a thousand times slower: fewer properties
    for name in SLOW_PROPS[:2] + SLOW_PROPS[-1:] if pure_python else SLOW_PROPS:
        record = verdict(fn, op, name, options)
        expected = "unsupported" if name == "gradients" else "pass"  # no autograd: forward-only
        assert record.status == expected, record


def test_a_kernel_slow_only_on_large_inputs_keeps_its_matrix(tmp_path, monkeypatch):
    """Slow is not wrong: a timeout on a large tier skips the large tiers from then on (said in
    the record, with the case and a hint), and every property still runs on ordinary sizes."""
    from harness.doors import cli
    from harness.records.record import read_records
    monkeypatch.chdir(tmp_path)
    lines = []
    code = cli.check(impl=["tests.unit.slow_kernels:adaptive_avg_pool2d_slow_on_large"],
                     op="adaptive_avg_pool2d", properties="sizes,values,gradients",
                     timeout=10, dtypes="float32", seed="1", out=lines.append)
    assert code == 0, "\n".join(lines)
    (run,) = run_dirs(tmp_path / "reports")
    records = {r.prop: r for r in read_records(run) if r.kind == "check"}
    assert {r.status for r in records.values()} == {"pass"}, records
    for prop in ("sizes", "gradients"):
        assert "too slow, not wrong" in records[prop].message
        assert "raise --timeout" in records[prop].message and records[prop].counts["too_slow"]
    assert records["values"].counts["pass"] > 0
