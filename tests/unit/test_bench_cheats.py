"""Kernels that cheat only while timed are never ranked: every timed call sees input contents
no earlier call saw, timed blocks' outputs are verified, a stale object is caught;
every honest built-in is ranked. Statuses are asserted, never speeds."""
from dataclasses import replace

import pytest

from harness.execution.runs import run_bench
from harness.plugins.registry import Implementation, discover
from harness.timing.bench import BenchOptions
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK
from tests.unit import kernel_bugs as bugs

OPTIONS = BenchOptions(budget=QUICK, threads=1)
RESNET18 = load_suite("resnet18", batch=1, quick=True)


def _statuses(impls, suite=RESNET18, options=OPTIONS) -> list:
    records = []
    run_bench(impls, suite, options, records.append)
    return [r for r in records if r.kind == "bench"]


CHEATS = [(bugs.conv_lazy_when_timed, "timed block"),
          (bugs.conv_lazy_after_a_few_calls, "timed block"),
          (bugs.conv_returns_previous_output, "")]


@pytest.mark.parametrize("fn, words", CHEATS, ids=[c[0].__name__ for c in CHEATS])
def test_a_kernel_that_cheats_while_timed_is_never_ranked(fn, words):
    records = _statuses([Implementation(fn.__name__, "conv2d", fn)])
    assert records and all(r.status == "wrong" for r in records), \
        [(r.figures.get("label"), r.status) for r in records]
    assert all(words in r.message for r in records), records[0].message


def test_a_memo_keyed_by_version_is_never_served_while_timed():
    """Each timed call moves its inputs' version counters on: the memo misses every time, so
    what is timed is the real work, and the outputs are verified."""
    bugs.MEMO_HITS[0] = 0
    records = _statuses([Implementation("memo", "conv2d", bugs.conv_memo_by_version)])
    assert all(r.status == "ok" and r.figures["verified_blocks"] >= 1 for r in records)
    assert bugs.MEMO_HITS[0] == 0


def test_a_memo_keyed_by_contents_never_hits_while_timed():
    """Every timed call sees input contents no earlier call saw (a new window of the input
    buffer each call, new values between blocks): a memo keyed by a sample of the contents
    misses every time."""
    bugs.CONTENT_HITS[0] = 0
    records = _statuses([Implementation("memo", "conv2d", bugs.conv_memo_by_contents)])
    assert all(r.status == "ok" and r.figures["verified_blocks"] >= 1 for r in records)
    assert all(r.figures["blocks_seeing_an_input_twice"] == 0 for r in records)
    assert bugs.CONTENT_HITS[0] == 0


def test_every_honest_builtin_is_ranked_where_it_runs():
    impls = [i for i in discover().values() if "cpu" in i.devices and i.op == "conv2d"]
    records = _statuses(impls, RESNET18[1:4])  # 1x1 and 3x3, strided and not
    bad = [(r.impl, r.figures.get("label"), r.status, r.message[:200]) for r in records
           if r.status not in ("ok", "skipped", "unsupported")]
    assert not bad, bad
    assert {r.impl for r in records if r.status == "ok"} >= {"reference.conv2d", "im2col.conv2d"}


BACKWARD = replace(OPTIONS, passes=("backward", "both"))
# Which check catches it depends on which timed blocks were drawn for verification (drawn so
# the kernel cannot predict them; for slow calls on a busy machine, each block is one call):
# a verified timed block, or else the recheck on new values after timing. Either way: wrong.
BACKWARD_CHEATS = [(bugs.conv_backward_lazy_after_a_few_calls,
                    ("an output of timed block", "after timing, on new values"))]


@pytest.mark.parametrize("fn, words", BACKWARD_CHEATS, ids=[c[0].__name__ for c in BACKWARD_CHEATS])
def test_a_backward_that_cheats_while_timed_is_never_ranked(fn, words):
    """The gradients of the timed calls are verified too (a new grad_output each turn, its
    version moved on), and after timing new values go into the same grad_output tensor."""
    records = _statuses([Implementation(fn.__name__, "conv2d", fn)], RESNET18[:2], BACKWARD)
    assert {r.prop for r in records} == {"backward", "both"}
    assert all(r.status == "wrong" and "grad of" in r.message for r in records), \
        [(r.prop, r.status, r.message[:200]) for r in records]
    assert all(any(w in r.message for w in words) for r in records), \
        [r.message[:200] for r in records]


def test_a_backward_memo_keyed_by_address_never_hits_while_timed():
    """Each timed call has an input and a grad_output at addresses no earlier call used (windows
    of one buffer): gradients memoised by address are never served, so what is timed is the
    real work (the memo's growth is flagged as a possible leak)."""
    grads = bugs._GradsByAddress
    grads.memo.clear()
    grads.hits[0] = 0
    fn = bugs.conv_backward_cached_by_address
    records = _statuses([Implementation(fn.__name__, "conv2d", fn)], RESNET18[:2], BACKWARD)
    assert {r.prop for r in records} == {"backward", "both"}
    assert all(r.status == "ok" for r in records), [(r.prop, r.message) for r in records]
    assert grads.hits[0] == 0
    grads.memo.clear()


def test_every_honest_builtin_backward_is_ranked(tiny_suite):
    impls = [i for i in discover().values() if "cpu" in i.devices and i.op == "conv2d"
             and i.max_flops is None]
    records = _statuses(impls, load_suite(tiny_suite)[:1], BACKWARD)  # 3x3 stride 1: all run
    bad = [(r.impl, r.prop, r.status, r.message[:200]) for r in records if r.status != "ok"]
    assert not bad, bad
    assert {r.impl for r in records} >= {"reference.conv2d", "compiled.conv2d", "fft.conv2d",
                                          "winograd.conv2d", "im2col.conv2d"}
    assert all(r.figures["verified_blocks"] >= 1 for r in records)


def _side_stream_conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns at once; the work runs on a side stream the caller's stream does not wait for."""
    import torch
    import torch.nn.functional as F
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(10**8)  # a long kernel on the side stream
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def test_cuda_work_left_on_a_side_stream_is_never_ranked():
    import torch
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    options = BenchOptions(devices=("cuda",), budget=QUICK, threads=1)
    records = []
    run_bench([Implementation("side", "conv2d", _side_stream_conv)], RESNET18[:1], options,
              records.append)
    bench = [r for r in records if r.kind == "bench"]
    assert bench and all(r.status == "wrong" for r in bench), [r.message for r in bench]


def test_an_honest_kernel_slower_than_a_cache_warm_up_is_ranked():
    """A call over timed.COLD_S gets no warm-up calls between blocks, so a block's outputs are
    the last ones made: those whose inputs got new values since are not checked against them."""
    records = _statuses([Implementation("slow", "conv2d", bugs.conv_slow_but_right)],
                        RESNET18[1:2])
    assert records and all(r.status == "ok" for r in records), \
        [(r.status, r.message) for r in records]
    assert all(r.figures["blocks"] >= 2 for r in records), "one block shows no refresh"
