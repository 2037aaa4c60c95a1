"""Every region where real kernels break is reached, forward and backward, and a kernel wrong
only there fails with the boundary case; correct kernels with unusual features pass; faults of
the kernel are the kernel's; warnings land in the record; determinism is PyTorch's contract."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from harness.checking.driver import CheckOptions
from harness.doors import cli
from harness.ops.cases import Case
from harness.plugins.registry import load
from tests.unit import draw_bugs
from tests.unit import kernel_bugs as bugs
from tests.unit import standin_torch
from tests.unit.conftest import PROPS, verdict

# F.conv2d-based kernels skip bfloat16: PyTorch's own CPU conv has known bfloat16 bugs there.
NO_BF16 = CheckOptions(profile="ci", dtypes=("float64", "float32", "float16"))


def _lean(prop: str):
    """The property with half the ci profile's examples (still derandomized; every tier is
    still searched, at least twice): these kernels are slow on 65,536-plane cases."""
    return replace(PROPS[prop], examples=PROPS[prop].examples / 2)


def _output(record) -> tuple:
    return Case.from_dict(record.case).output_shape()


# (kernel, op, property, what the shrunk case must show)
REGIONS = [
    (bugs.conv_row_tail, "conv2d", "sizes", lambda r: _output(r)[2] == 65),
    (bugs.avg_pool_row_tail, "avg_pool2d", "sizes", lambda r: _output(r)[2] == 65),
    (bugs.conv_grid_planes, "conv2d", "sizes",
     lambda r: _output(r)[0] * _output(r)[1] == 65536),
    (bugs.max_pool_grid_rows, "max_pool2d", "sizes", lambda r: _output(r)[2] == 65536),
    (bugs.conv_single_output_unstrided, "conv2d", "sizes", lambda r: _output(r)[2:] == (1, 1)),
    (bugs.adaptive_half_accumulator, "adaptive_avg_pool2d", "sizes",
     lambda r: r.case["dtype"] == "float16" and r.case["input_shape"][2] >= 56),
    (bugs.max_pool_ignores_nan, "max_pool2d", "special_values", lambda r: "nan" in r.message),
    (bugs.conv_clamps_infinities, "conv2d", "special_values", lambda r: "inf" in r.message),
    (bugs.conv_clamps_infinities, "conv2d", "special_gradients",
     lambda r: "grad of" in r.message),
    (bugs.conv_grad_weight_chunked, "conv2d", "gradients",
     lambda r: "grad of weight" in r.message and _output(r)[0] * _output(r)[2] * _output(r)[3]
     > 4096),
]


# Tiny draws reach a single strided output too (padding 0 and one-window sides are common).
ALSO_TINY = (bugs.conv_single_output_unstrided,)


@pytest.mark.parametrize("fn, op, prop, shows", REGIONS, ids=[r[0].__name__ for r in REGIONS])
def test_kernel_wrong_in_one_region_fails_there_with_the_boundary(fn, op, prop, shows):
    if fn not in ALSO_TINY:
        assert verdict(fn, op, replace(PROPS["values"], mix="tiny"), NO_BF16).status == "pass"
    record = verdict(fn, op, _lean(prop), NO_BF16)
    assert record.status == "fail", record
    assert shows(record), (record.case, record.message)


CORRECT = [bugs.conv_split_k_nondeterministic, bugs.conv_channels_last_output,
           bugs.conv_float64_inside, bugs.conv_warns]


@pytest.mark.parametrize("fn", CORRECT, ids=[f.__name__ for f in CORRECT])
def test_correct_kernels_with_unusual_features_pass(fn):
    for prop in ("sizes", "deterministic", "special_values", "gradients", "special_gradients"):
        record = verdict(fn, "conv2d", _lean(prop), NO_BF16)
        assert record.status in ("pass", "nondeterministic"), record


def test_split_k_is_nondeterministic_not_failed_unless_asked():
    record = verdict(bugs.conv_split_k_nondeterministic, "conv2d", "deterministic", NO_BF16)
    assert record.status == "nondeterministic" and "other bits" in record.message, record
    strict = verdict(bugs.conv_split_k_nondeterministic, "conv2d", "deterministic",
                     replace(NO_BF16, deterministic=True))
    assert strict.status == "fail" and "--deterministic" in strict.message, strict


def test_warnings_go_into_the_record_not_the_console(capfd):
    record = verdict(bugs.conv_warns, "conv2d", "values", NO_BF16)
    assert record.status == "pass"
    assert any("this kernel is experimental" in note for note in record.notes), record.notes
    assert "experimental" not in capfd.readouterr().err


FAULTS = [(bugs.conv_stale_output, "gradients"), (bugs.conv_on_meta, "values"),
          (bugs.conv_unreadable, "values"), (bugs.conv_modifies_saved, "gradients"),
          (bugs.conv_wrong_grad_shape, "gradients"), (bugs.conv_wrong_grad_shape, "gradcheck")]


@pytest.mark.parametrize("fn, prop", FAULTS, ids=[f"{f.__name__}-{p}" for f, p in FAULTS])
def test_a_kernels_fault_is_the_kernels_failure_not_the_harness(fn, prop):
    record = verdict(fn, "conv2d", prop, NO_BF16)
    assert record.status == "fail", record
    assert record.case is not None and record.repro


def test_meta_output_names_what_was_returned():
    record = verdict(bugs.conv_on_meta, "conv2d", "values", NO_BF16)
    assert "device=meta" in record.message, record.message


def test_declining_everything_is_unchecked_and_exits_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = []
    code = cli.check(impl=["tests.unit.kernel_bugs:conv_declines_everything"], op="conv2d",
                     properties="values,shape", isolate=False, out=lines.append)
    assert code == 1, "\n".join(lines)
    text = "\n".join(lines)
    assert "UNCHECKED" in text and "not written yet" in text


def test_a_declared_bug_is_reported_as_an_expected_failure_with_its_case():
    """A kernel wrong on every call where reference.conv2d declares PyTorch 2.13's own bfloat16
    bug (strided along W, one output column, several rows), declaring it as the reference
    does: XFAIL with the declared reason, the case shrunk into that region."""
    prop = replace(PROPS["sizes"], mix="out1_strided_side", examples=10,
                   layouts=("contiguous",))
    record = verdict(standin_torch.conv2d, "conv2d", prop,
                     CheckOptions(profile="ci", dtypes=("bfloat16",), covering=False),
                     known_failures=load("reference.conv2d").known_failures)
    assert record.status == "xfail", record  # (the rows reach where the stand-in kills us)
    assert "PyTorch 2.13" in record.message and record.case["dtype"] == "bfloat16"
    case = Case.from_dict(record.case)
    assert case.output_shape()[3] == 1 and case.output_shape()[2] > 1


def test_reference_steers_clear_of_pytorchs_unwritten_memory():
    """Found by this harness: PyTorch 2.13's CPU convolution in bfloat16, depthwise with a
    channel multiplier, returns memory it never wrote on degenerate sides (conv3d: an input of
    depth 1 padded to a kernel of 3) and can kill the process (so it is not called here). The
    shipped reference computes that region in float32, rounded to bfloat16."""
    from implementations.reference import reads_unwritten_memory
    case = Case("conv3d", (1, 2, 1, 1, 2), (4, 1, 3, 3, 3), kwargs={"groups": 2, "padding": 1},
                dtype="bfloat16", layout="channels_last")
    x, w, _ = case.tensors()
    assert reads_unwritten_memory(x) and reads_unwritten_memory(x.contiguous())
    assert not reads_unwritten_memory(x.float())
    got = load("reference.conv3d").fn(x, w, padding=1, groups=2)
    want = F.conv3d(x.double(), w.double(), padding=1, groups=2)
    assert got.dtype == torch.bfloat16 and (got.double() - want).abs().max() < 0.1
