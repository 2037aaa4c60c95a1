"""A failure PyTorch's own op shares is shown as inherited, not blamed on the kernel (and
counted under --strict); a declared or inherited failure masks no other bug."""
import json
from dataclasses import replace

import pytest
import torch.nn.functional as F

from harness.checking import inherited
from harness.checking.driver import CheckOptions
from harness.checking.inherited import crashes_too
from harness.doors import cli
from harness.ops.cases import Case
from tests.unit import broken
from tests.unit import draw_bugs as bugs
from tests.unit import standin_torch
from tests.unit.conftest import verdict

# "PyTorch's own op" in these tests is tests.unit.standin_torch: F.conv2d, wrong on every call in
# bfloat16 with one strided output column and several rows, and fatal in bfloat16 channels_last
# depthwise with a channel multiplier (PyTorch 2.13's own bugs there show on some calls only:
# benchmarks/pytorch_own_bugs.py shows how often). KERNEL hands every call to it.
CASE = Case("conv2d", (2, 1, 5, 4), (1, 1, 3, 3), kwargs={"stride": (1, 2)}, bias=True,
            dtype="bfloat16")
KERNEL = standin_torch.KERNEL
# channels_last, depthwise with a channel multiplier, bfloat16: the stand-in kills the process.
CRASH = Case("conv2d", (1, 4, 6, 2), (8, 1, 1, 1), kwargs={"stride": (1, 2), "padding": (1, 1),
             "dilation": 2, "groups": 4}, dtype="bfloat16", layout="channels_last")


@pytest.fixture
def standin(monkeypatch):
    """The harness judges "inherited" by the stand-in, here and in the processes it starts."""
    monkeypatch.setenv(inherited.STANDIN_VARIABLE, standin_torch.MODULE)
    monkeypatch.setattr(inherited, "_STANDIN", standin_torch.MODULE)


def test_the_stand_in_fails_on_every_call_where_it_says(standin):
    x, w, b = CASE.tensors()
    want = F.conv2d(x.double(), w.double(), b.double(), stride=(1, 2))
    for _ in range(3):
        got = standin_torch.conv2d(x, w, b, stride=(1, 2)).double()
        assert (got - want)[..., -1, :].abs().min() > 0.5
        assert (got - want)[..., :-1, :].abs().max() < 0.1
    assert crashes_too(CRASH) and not crashes_too(CRASH.with_(dtype="float32"))


def test_a_failure_pytorch_shares_is_inherited_and_strict_counts_it(standin):
    options = CheckOptions(case=CASE)
    record = verdict(standin_torch.conv2d, "conv2d", "values", options)
    assert record.status == "inherited", record
    assert "PyTorch's own F.conv2d gives the same answer here" in record.message
    strict = verdict(standin_torch.conv2d, "conv2d", "values", replace(options, strict=True))
    assert strict.status == "fail" and "--strict" in strict.message, strict


def test_wrong_where_pytorch_is_right_or_wrong_another_way_is_the_kernels_failure(standin):
    other_way = verdict(broken.conv_zeros, "conv2d", "values", CheckOptions(case=CASE))
    assert other_way.status == "fail", other_way
    right = verdict(standin_torch.conv2d, "conv2d", "values",
                    CheckOptions(case=CASE.with_(dtype="float32")))
    assert right.status == "pass", right


def leftovers(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The stand-in's answer with other leftovers where it is wrong (the last row of a
    wrong_here output): NaN, as PyTorch's memory it never wrote held in another process."""
    out = standin_torch.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if standin_torch.wrong_here(input, weight, out, stride):
        out[..., -1, :] = float("nan")
    return out


def test_wrong_only_where_pytorch_is_wrong_but_with_other_values_is_inherited(standin):
    """PyTorch's unwritten memory holds other leftovers in the kernel's process than in the
    judge's: the kernel's elements off all lie among PyTorch's own."""
    record = verdict(leftovers, "conv2d", "values", CheckOptions(case=CASE))
    assert record.status == "inherited", record
    assert verdict(leftovers, "conv2d", "values",
                   CheckOptions(case=CASE.with_(dtype="float32"))).status == "pass"


@pytest.mark.parametrize("strict, code", [(False, 0), (True, 1)])
def test_inherited_exits_0_and_is_listed_apart_unless_strict(tmp_path, monkeypatch, standin,
                                                             strict, code):
    monkeypatch.chdir(tmp_path)
    lines = []
    got = cli.check(impl=[KERNEL], op="conv2d", properties="values", case=CASE.to_json(),
                    strict=strict, isolate=False, out=lines.append)
    text = "\n".join(lines)
    assert got == code, text
    assert ("Inherited from PyTorch" in text) != strict, text
    index = next(tmp_path.glob("reports/*/index.html")).read_text()
    assert ("Inherited from PyTorch" in index) != strict


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow),
                                  pytest.param(3, marks=pytest.mark.slow)])
def test_a_kernel_handing_bfloat16_to_pytorch_is_never_blamed(tmp_path, monkeypatch, standin,
                                                              seed):
    """Seeded runs as a user makes them (a worker process: "PyTorch's" op may kill it), in
    which the stand-in's regions are drawn: never a failure of the kernel."""
    monkeypatch.chdir(tmp_path)
    lines = []
    code = cli.check(impl=[KERNEL], op="conv2d", properties="values,sizes,layouts",
                     dtypes="bfloat16", seed=str(seed), out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "XFAIL (torch)" in text, text  # the stand-in's region was reached, and excused


def test_a_crash_pytorchs_own_op_shares_is_inherited(tmp_path, monkeypatch, standin):
    """In a worker process (the kernel crashes it), through the CLI door."""
    monkeypatch.chdir(tmp_path)
    lines = []
    code = cli.check(impl=[KERNEL], op="conv2d", properties="values", case=CRASH.to_json(),
                     isolate=True, out=lines.append)
    text = "\n".join(lines)
    assert code == 0 and "crashes the process" in text, text


def test_a_declared_failure_masks_no_other_bug():
    declared = dict(known_failures=(bugs.ONE_CHANNEL,))
    options = CheckOptions(dtypes=("float32",), seed=1)
    alone = verdict(bugs.conv2d_declared_only, "conv2d", "values", options, **declared)
    assert alone.status == "xfail", alone
    both = verdict(bugs.conv2d_declared_and_batch_bug, "conv2d", "values", options, **declared)
    assert both.status == "fail", both
    case = Case.from_dict(both.case)
    assert case.input_shape[0] > 1 and case.input_shape[1] > 1, both.case


def test_run_never_ranks_what_its_own_check_rejected(tmp_path, tiny_suite):
    """One verdict across check and bench: timed, shown, marked, never ranked."""
    from harness.records.record import read_records
    run_dir, lines = tmp_path / "run", []
    run_dir.mkdir()
    wrong = "tests.unit.broken:conv_no_dilation"  # wrong with dilation; the suite has none
    assert cli.check(impl=[wrong], op="conv2d", properties="shape", run_dir=run_dir,
                     isolate=False, out=lines.append) == 1
    cli.bench(impl=[wrong, "reference.conv2d"], op="conv2d", suite=[tiny_suite], quick=True,
              run_dir=run_dir, isolate=False, out=lines.append)
    status = {(r.impl, json.dumps(r.case)): r.status for r in read_records(run_dir)
              if r.kind == "bench"}
    assert set(status.values()) == {"nonconforming", "ok"}, status
    assert all(s == "nonconforming" for (impl, _), s in status.items() if impl == wrong)
    cli.report(run_dir, out=lines.append)
    assert "does not conform" in (run_dir / "index.html").read_text()


# PyTorch 2.13's bfloat16 CPU conv_transpose2d returns, on some calls only (one in five to
# twenty), a weight gradient of memory it never wrote where a kernel tap reaches no output.
UNWRITTEN = Case("conv_transpose2d", (1, 1, 1, 1), (1, 1, 3, 3),
                 kwargs={"stride": (1, 2), "padding": (0, 1)}, dtype="bfloat16")


def test_the_shipped_reference_steers_clear_of_pytorchs_unsettled_gradient():
    from implementations import reference
    for _ in range(20):
        record = verdict(reference.conv_transpose2d, "conv_transpose2d", "gradients",
                         CheckOptions(case=UNWRITTEN))
        assert record.status == "pass", record


def test_checked_calls_run_on_one_thread_and_the_setting_is_restored():
    import torch
    seen, before = [], torch.get_num_threads()

    def counting(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        seen.append(torch.get_num_threads())
        return bugs.conv2d_via_pytorch(input, weight, bias, stride, padding, dilation, groups)

    assert verdict(counting, "conv2d", "values", CheckOptions(case=CASE.with_(
        dtype="float32", dist="normal"))).status == "pass"
    assert seen and set(seen) == {1} and torch.get_num_threads() == before
