"""The harness tells deliberately broken implementations from correct ones, naming the right property."""
from dataclasses import replace

import pytest
import torch

from harness.checking.driver import CheckOptions, check_property
from harness.plugins.registry import Implementation, discover
from tests.unit import broken
from tests.unit.conftest import OPTIONS, PROPS, verdict

# (implementation, op, property that must fail, a property that must still pass)
CAUGHT = [
    (broken.conv_pad_one_side, "conv2d", "values", "shape"),
    (broken.conv_flipped, "conv2d", "values", "shape"),
    (broken.conv_no_dilation, "conv2d", "shape", "dtype_device"),
    (broken.conv_group_slicing, "conv2d", "values", "shape"),
    (broken.conv_batch_bug, "conv2d", "values", "shape"),
    (broken.conv_bad_weight_grad, "conv2d", "gradients", "values"),
    (broken.conv_float32_inside, "conv2d", "values", "dtype_device"),
    (broken.conv_float32_inside, "conv2d", "gradcheck", "shape"),
    (broken.conv_mutates, "conv2d", "no_mutation", "values"),
    (broken.conv_zeros, "conv2d", "values", "shape"),
    (broken.conv_wrong_dtype, "conv2d", "dtype_device", "shape"),
    (broken.conv_crashes, "conv2d", "shape", None),
    (broken.conv_accepts_negative_padding, "conv2d", "invalid_args", "values"),
    (broken.max_pool_zero_pad, "max_pool2d", "values", "dtype_device"),
    (broken.max_pool_bad_indices, "max_pool2d", "indices", "values"),
    (broken.avg_pool_inverted_count, "avg_pool2d", "values", "shape"),
    (broken.adaptive_floor_windows, "adaptive_avg_pool2d", "values", "shape"),
    (broken.conv3d_depth_stride_ignored, "conv3d", "shape", "dtype_device"),
    (broken.conv1d_causal_padding, "conv1d", "shape", None),  # may leave no output
    (broken.conv_transpose2d_no_output_padding, "conv_transpose2d", "values", "shape"),
    (broken.max_pool1d_indices_of_the_window, "max_pool1d", "indices", "values"),
    (broken.adaptive_max_pool3d_floor_windows, "adaptive_max_pool3d", "values", "shape"),
    (broken.avg_pool1d_divides_by_the_window, "avg_pool1d", "values", "shape"),
]


@pytest.mark.parametrize("fn, op, fails, passes", CAUGHT,
                         ids=[f"{c[0].__name__}-{c[2]}" for c in CAUGHT])
def test_broken_implementation_fails_the_right_property(fn, op, fails, passes):
    record = verdict(fn, op, fails)
    assert record.status == "fail", record
    assert record.case is not None and record.repro.startswith("convharness check")
    if passes:  # without bfloat16: PyTorch's own op, which these wrap, fails there on its own
        no_bf16 = replace(OPTIONS, dtypes=("float64", "float32", "float16"))
        assert verdict(fn, op, passes, no_bf16).status == "pass"


def test_failure_names_the_error_figures():
    record = verdict(broken.conv_zeros, "conv2d", "values")
    assert {"max_abs", "max_rel", "where", "eps_units"} <= set(record.figures)
    assert "but should be" in record.message


def test_undeclared_forward_only_is_unsupported_not_failed():
    record = verdict(broken.conv_forward_only, "conv2d", "gradients", differentiable=None)
    assert record.status == "unsupported" and "not differentiable" in record.message


def test_declared_differentiable_without_history_fails():
    assert verdict(broken.conv_forward_only, "conv2d", "gradients",
                   differentiable=True).status == "fail"


def test_not_implemented_is_counted_as_unsupported_never_as_pass():
    record = verdict(broken.conv_no_groups, "conv2d", "values")
    assert record.status == "pass"
    assert record.counts.get("unsupported", 0) > 0


def test_undeclared_dtype_is_unsupported():
    impl = Implementation("f64only", "conv2d", broken.conv_flipped, dtypes=("float64",))
    record = check_property(impl, PROPS["values"], CheckOptions(dtypes=("float16",)))
    assert record.status == "unsupported"


DRAWS = ("values", "sizes", "special_values", "gradients", "layouts", "bounds")
# A compiled kernel compiles again for each new shape (these five properties took 194 s for
# compiled.conv2d, the slowest test of `tox -e slow`; its gradients alone 90 s). Its body is
# im2col's, whose properties are all drawn here, and the shipped suite draws every property of
# compiled.conv2d twice (the quick profile, seed 0, in `tox`; the ci profile in `tox -e slow`),
# its backward among them: here, on other cases, its forward.
COMPILED_DRAWS = ("values",)


# Slow: the shipped conformance suite (quick profile, seed 0: the 2-D ops in `tox`, the others in
# `tox -e slow`) draws these too, for every property of every built-in. Seeded, so that a red
# CI reproduces.
def _random_draws():
    """(implementation, properties) to draw; a compiled kernel's, a minute each, apart, so that
    pytest-xdist runs them at once."""
    for impl in sorted(discover().values(), key=lambda i: i.name):
        if impl.name.startswith("compiled."):
            for name in COMPILED_DRAWS:
                yield pytest.param(impl, (name,), id=f"{impl.name}-{name}")
        else:
            yield pytest.param(impl, DRAWS, id=impl.name)


@pytest.mark.slow
@pytest.mark.parametrize("impl, names", list(_random_draws()))
def test_builtins_raise_no_false_alarm_on_random_draws(impl, names):
    """Quick-profile draws (seed 1, other cases than tox's conformance run) of the properties
    where real kernels break."""
    if "cpu" not in impl.devices and not torch.cuda.is_available():
        pytest.skip(f"{impl.name} runs on {impl.devices} only")  # the one allowed skip
    options = CheckOptions(profile="quick", seed=1, devices=("cpu",) if "cpu" in impl.devices
                           else ("cuda",))
    for name in names:
        record = check_property(impl, PROPS[name], options)
        assert record.status in ("pass", "xfail"), record  # xfail: declared, with its reason


def test_noise_within_tolerance_is_nondeterministic_not_a_failure():
    """PyTorch's contract: every call within tolerance; bits only under --deterministic."""
    no_bf16 = replace(OPTIONS, dtypes=("float64", "float32", "float16"))  # PyTorch's bf16 bugs
    assert verdict(broken.conv_noisy, "conv2d", "deterministic", no_bf16).status == \
        "nondeterministic"
    strict = verdict(broken.conv_noisy, "conv2d", "deterministic",
                     replace(no_bf16, deterministic=True))
    assert strict.status == "fail" and "same bits" in strict.message, strict
