"""Kernels with configurations: each configuration is checked and timed as an implementation of
its own; the one that is wrong fails alone and is never ranked, even where it is the fastest."""
import importlib.util
import os
import subprocess
import sys

import pytest

from harness.doors import cli
from harness.doors.options import UsageError, parse_config
from harness.plugins.registry import ImplementationError, implements, load, select
from harness.records.record import read_records

PROPS = "shape,values,sizes"
WRONG = "tuned.tail_dropped[block=4]"


def _check(run_dir, impl, lines, **extra):
    run_dir.mkdir(exist_ok=True)
    return cli.check(impl=[impl], properties=PROPS, seed=0, run_dir=run_dir, isolate=False,
                     jobs=1, out=lines.append, **extra)


def test_the_wrong_configuration_fails_alone_and_is_never_ranked(tmp_path, tiny_suite):
    import tests.unit.tuned_kernels  # noqa: F401 - registers them
    run_dir, lines = tmp_path / "run", []
    assert _check(run_dir, "tests.unit.tuned_kernels:tail_dropped", lines) == 1
    status = {}
    for r in read_records(run_dir):
        status.setdefault(r.impl, set()).add(r.status)
    assert status == {"tuned.tail_dropped[block=1]": {"pass"},
                      "tuned.tail_dropped[block=2]": {"pass"}, WRONG: {"pass", "fail"}}, status
    text = "\n".join(lines)
    assert "tuned.tail_dropped: 1 of 3 configurations fail: [block=4]" in text, text
    assert "--impl 'tests.unit.tuned_kernels:tail_dropped[block=4]'" in text  # and reproduces it
    cli.bench(impl=["tests.unit.tuned_kernels:tail_dropped"], op="conv2d", suite=[tiny_suite],
              quick=True, run_dir=run_dir, isolate=False, out=lines.append)
    timed = [r for r in read_records(run_dir) if r.kind == "bench"]
    assert {r.impl for r in timed} == set(status)
    wrong = [r for r in timed if r.impl == WRONG]
    assert wrong and all(r.status == "nonconforming" for r in wrong)
    right = [r for r in timed if r.impl != WRONG]
    assert all(r.status == "ok" for r in right)
    # (it is the fastest on purpose: the others compute their answer twice; no clock asserted)
    cli.report(run_dir, out=lines.append)
    page = (run_dir / "index.html").read_text()
    assert "Best configuration per case" in page and WRONG not in _best_rows(page)


def _best_rows(page: str) -> str:
    start = page.index(">Best configuration per case</h2>")  # the section, not the contents
    return page[start:page.index("</table>", start)]


def test_configurations_that_are_all_right_all_pass(tmp_path):
    lines = []
    assert _check(tmp_path / "run", "tests.unit.tuned_kernels:blocked", lines) == 0
    names = {r.impl for r in read_records(tmp_path / "run")}
    assert names == {f"tuned.blocked[block={b}]" for b in (1, 2, 4)}


def test_a_configuration_that_applies_to_some_calls_only_is_checked_on_those(tmp_path):
    """A configuration declines the calls it does not apply to (NotImplementedError, as for a
    dtype): those are unsupported for it, the rest are checked, and it conforms."""
    lines = []
    assert _check(tmp_path / "run", "tests.unit.tuned_kernels:wide_only", lines) == 0
    wide = [r for r in read_records(tmp_path / "run") if r.impl == "tuned.wide_only[block=8]"]
    assert "pass" in {r.status for r in wide} <= {"pass", "unsupported"}, wide
    assert sum(r.counts.get("declined", 0) for r in wide) > 0, [r.counts for r in wide]
    assert sum(r.counts.get("pass", 0) for r in wide) > 0, [r.counts for r in wide]


def test_config_on_the_command_line_gives_an_undecorated_kernel_its_grid(tmp_path):
    lines = []
    assert _check(tmp_path / "run", "tests.unit.tuned_kernels:untuned", lines, op="conv2d",
                  config="block=2,3 scale=1.0") == 0
    assert {r.impl for r in read_records(tmp_path / "run")} == {
        f"tests.unit.tuned_kernels:untuned[block={b},scale=1.0]" for b in (2, 3)}
    (one,) = select(["tests.unit.tuned_kernels:untuned[block=3,scale=2.0]"], op="conv2d")
    assert one.config == (("block", 3), ("scale", 2.0))


@pytest.mark.parametrize("config, words", [
    ("blocks=2", "'blocks' is not a keyword"),
    ("block=two", "block='two' is a str, but should be an int"),
    ('[{"block": 2}, {"block": 2}]', "given twice"),
    ('{"block": 2}', "should be a non-empty list of dicts"),
])
def test_a_malformed_configuration_is_a_usage_error_naming_it(config, words):
    with pytest.raises(ImplementationError, match=words):
        select(["tests.unit.tuned_kernels:untuned"], op="conv2d", configs=parse_config(config))


def test_a_configuration_the_decorator_cannot_take_is_refused_at_import():
    import torch.nn.functional as F

    def fn(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, block=1):
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    with pytest.raises(ImplementationError, match="'BLOCK' is not a keyword"):
        implements(F.conv2d, name="tuned.refused", configs=[{"BLOCK": 1}])(fn)


def test_config_text_that_is_no_grid_nor_json_is_a_usage_error():
    for text in ("block", "[{", "=1"):
        with pytest.raises(UsageError, match="--config"):
            parse_config(text)


def test_a_pinned_name_loads_anywhere_a_name_does():
    impl = load("im2col.conv2d[chunk=1]")
    assert impl.name == "im2col.conv2d[chunk=1]" and impl.base == "im2col.conv2d"
    assert [i.name for i in select(["im2col.conv2d"])] == ["im2col.conv2d[chunk=0]",
                                                          "im2col.conv2d[chunk=1]"]


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_an_autotuned_kernel_s_configurations_are_found_and_pinned_in_turn(tmp_path):
    """Nothing declared: the triton.autotune kernel the function launches gives its three
    configurations; the wrong one fails alone (in worker processes, in the interpreter)."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "check", "--impl", "tests.unit.autotuned_kernels:conv",
         "--op", "conv2d", "--config", "autotune", "--dtypes", "float32", "--property",
         "values", "--seed", "0", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("tests.unit.autotuned_kernels:conv: 1 of 3 configurations fail: "
            "[BLOCK=64,num_warps=4,num_stages=3]") in result.stdout, result.stdout


AUTOTUNED_RUN = """
import os
import sys
from harness.doors import cli
out, suite = sys.argv[1:]
os.makedirs(out)
impl = dict(impl=["tests.unit.autotuned_kernels:conv"], op="conv2d", config="autotune",
            run_dir=out, isolate=False)
cli.check(properties="values", dtypes="float32", seed=0, jobs=1, **impl)
cli.bench(suite=[suite], quick=True, **impl)
cli.bench(impl=["tests.unit.autotuned_kernels:conv_declared"], suite=[suite], quick=True,
          run_dir=out, isolate=False)  # its configurations declared, its autotuner named
cli.report(out)
"""
CHOSEN = "[BLOCK=64,num_warps=4,num_stages=3]"  # the wrong one: see autotuned_kernels


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_the_autotuner_s_own_choice_is_timed_and_judged_against_the_best(tmp_path):
    """Timed as users call it, the kernel runs the configuration its autotuner chose: that
    choice is recorded per case, and a wrong choice is never ranked, however fast."""
    suite = tmp_path / "biased.csv"
    suite.write_text("op,input,weight,bias,padding\nconv2d,1x4x8x8,4x4x3x3,true,1\n"
                     "conv2d,1x8x6x6,8x8x1x1,true,0\n")
    result = subprocess.run([sys.executable, "-c", AUTOTUNED_RUN, str(tmp_path / "run"),
                             str(suite)], env={**os.environ, "TRITON_INTERPRET": "1"},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    timed = [r for r in read_records(tmp_path / "run") if r.kind == "bench"]
    shipped = [r for r in timed if r.impl == "tests.unit.autotuned_kernels:conv"]
    assert len(shipped) == 2 and all(r.figures["autotuner_chose"] == CHOSEN and
                                     r.status == "wrong" and CHOSEN in r.message
                                     for r in shipped), shipped
    assert {r.status for r in timed if r.impl.endswith(CHOSEN)} == {"wrong"}
    declared = [r for r in timed if r.impl == "autotuned.declared"]
    assert len(declared) == 2 and all(r.figures["autotuner_chose"] == "[BLOCK=64]" and
                                      r.status == "wrong" for r in declared), declared
    best = _best_rows((tmp_path / "run" / "index.html").read_text())
    for choice in (CHOSEN, "[BLOCK=64]"):  # the choice of each case, never its best
        assert best.count(f"<td>{choice}</td>\n      <td>wrong") == 2, best
    assert best.count("BLOCK=64") == 4, best


def test_the_autotuner_s_choice_is_shown_against_the_best_configuration():
    """Its time over the best conforming configuration's, where its choice conforms."""
    from harness.records.record import Record
    from harness.reports.frames import bench_frame, best_configurations

    def timed(impl, ms, **figures):
        return Record(kind="bench", impl=impl, op="conv2d", prop="forward", status="ok",
                      case={"label": "c"}, device="cpu", dtype="float32",
                      figures={"label": "c", **figures}, times=(ms / 1e3,) * 3)
    frame = bench_frame([timed("k[b=1]", 2.0), timed("k[b=2]", 1.0),
                         timed("k", 1.5, autotuner_chose="[b=1]")])
    (row,) = best_configurations(frame).to_dict("records")
    assert (row["best configuration"], row["autotuner's choice"], row["its time / best"]) == (
        "[b=2]", "[b=1]", "1.5"), row


def test_a_right_output_of_a_choice_that_failed_its_check_is_never_ranked():
    from harness.plugins.registry import Implementation
    from harness.timing.bench import BenchOptions, _nonconforming
    options = BenchOptions(nonconforming={"k[b=1]": "values"})
    why = _nonconforming(Implementation("k", "conv2d", None), {"autotuner_chose": "[b=1]"},
                         options)
    assert "its autotuner chose [b=1], which does not conform: failed values" in why
    assert not _nonconforming(Implementation("k", "conv2d", None), {"autotuner_chose": "[b=2]"},
                              options)


def test_autotune_where_there_is_no_autotuned_kernel_says_so():
    with pytest.raises(ImplementationError, match="names 0 triton.autotune kernels"):
        select(["tests.unit.tuned_kernels:untuned"], op="conv2d", configs="autotune")


def test_configurations_that_supported_no_case_are_not_said_to_conform():
    """A CUDA kernel's configurations on a CPU machine: every property unsupported, so the
    summary says they were not checked, never that they conform."""
    from harness.records.record import Record
    from harness.reports.summary import configuration_lines

    def rec(impl, status):
        return Record(kind="check", impl=impl, op="conv2d", prop="values", status=status)
    lines = configuration_lines([rec("k.conv2d[B=16]", "unsupported"),
                                 rec("k.conv2d[B=32]", "unsupported"),
                                 rec("j.conv2d[B=16]", "pass"), rec("j.conv2d[B=32]", "unsupported"),
                                 rec("f.conv2d[B=16]", "pass"), rec("f.conv2d[B=16]", "fail")])
    assert lines == ["k.conv2d: none of 2 configurations checked here (each supported no case)",
                     "j.conv2d: 1 of 2 configurations conform; 1 not checked here (each "
                     "supported no case)", "f.conv2d: 1 of 1 configurations fail: [B=16]"]
