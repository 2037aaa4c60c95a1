"""Every call form and region is drawn in every run, and kernels wrong only there are caught
there, shrunk to the boundary: an omitted stride, one degenerate side, channel tiles of 128 to
1,024, 1-D lines past 1,024 to 4,096."""
from dataclasses import replace

import pytest

from harness.checking.driver import CheckOptions, _drive
from harness.checking.regions import forms, regions
from harness.checking.strategies import plain_cases
from harness.ops.cases import DTYPES, Case
from harness.ops.catalog import OPS
from harness.plugins.registry import Implementation
from tests.unit import draw_bugs as bugs
from tests.unit.conftest import PROPS, verdict

RUNS = (0, 1, 2)  # hypothesis seeds: each one run of a check


def _drawn(op: str, prop: str, seed: int, measure) -> set:
    """What `measure(case)` finds over the cases one check of `prop` draws (no kernel runs)."""
    found: set = set()
    impl = Implementation("shapes-only", op, lambda *a, **k: None)
    _drive(lambda case: found.update(measure(case)), impl, PROPS[prop], CheckOptions(seed=seed),
           tuple(DTYPES), ("cpu",))
    return found


def _optional(op: str) -> list[str]:
    return [name for name, p in OPS[op].signature.parameters.items()
            if p.default is not p.empty and name != "return_indices"]


@pytest.mark.parametrize("op", [op for op in OPS if _optional(op)])
def test_every_optional_argument_is_drawn_omitted_at_its_default_and_otherwise(op):
    for seed in RUNS:
        found = _drawn(op, "values", seed, forms)
        missing = [f"{name}:{form}" for name in _optional(op)
                   for form in ("omitted", "default", "given") if f"{name}:{form}" not in found]
        assert not missing, f"{op}, seed {seed}: never drawn {missing}"


@pytest.mark.parametrize("op", [op for op in OPS if _optional(op)])
def test_the_plain_calls_alone_give_every_optional_argument(op):
    """Tried first in every check, whatever hypothesis draws: `dilation` or `divisor_override`
    passed at a value of its own is never left to chance."""
    cases = plain_cases(op, dtype="float32", device="cpu", layout="contiguous", dist="normal")
    found = set().union(*map(forms, cases))
    assert not [name for name in _optional(op) if f"{name}:given" not in found], op


@pytest.mark.parametrize("op", ["conv_transpose1d", "conv_transpose2d", "conv1d", "max_pool1d"])
def test_a_single_strided_output_is_reached_in_every_check(op):
    for seed in RUNS:
        for prop in ("sizes", "gradients"):
            assert "out1_strided" in _drawn(op, prop, seed, regions), (op, prop, seed)


@pytest.mark.parametrize("op", ["conv2d", "max_pool3d", "conv_transpose2d", "avg_pool2d",
                                "conv3d"])
def test_each_degenerate_shape_is_drawn_on_one_side_with_the_others_ordinary(op):
    for seed in RUNS:
        found = _drawn(op, "sizes", seed, regions)
        shapes = {r.split(":")[0] for r in found if r.endswith(":one_side")}
        want = {"out1_strided", "gaps", "pad_windows"} & {t.removesuffix("_side")
                                                          for t in OPS[op].tiers}
        assert want <= shapes, (op, seed, sorted(found))


@pytest.mark.parametrize("op, tiles", [("conv2d", ("channels", "depthwise")),
                                       ("conv1d", ("channels", "depthwise", "length")),
                                       ("max_pool1d", ("channels", "length")),
                                       ("adaptive_avg_pool2d", ("channels",))])
def test_tiles_of_128_to_1024_and_long_lines_are_reached_in_every_run(op, tiles):
    for seed in RUNS:
        found = _drawn(op, "sizes", seed, regions)
        for kind in tiles:
            sizes = (1024, 2048, 4096) if kind == "length" else (128, 256, 512, 1024)
            missing = [f"{kind}_{n}" for n in sizes if f"{kind}_{n}" not in found]
            assert not missing, (op, seed, missing)


FLOAT32 = CheckOptions(profile="quick", dtypes=("float32",))

# (kernel, op, property, what the shrunk case must show)
CAUGHT = [
    (bugs.max_pool2d_omitted_stride_is_one, "max_pool2d", "values",
     lambda case: "stride" not in case.kwargs or case.kwargs["stride"] is None),
    (bugs.conv2d_one_strided_column, "conv2d", "sizes",
     lambda case: case.output_shape()[2:] == (2, 1)),
    (bugs.conv1d_depthwise_past_512, "conv1d", "sizes",
     lambda case: case.kwargs["groups"] == 513),
    (bugs.conv2d_k_tile_256, "conv2d", "sizes", lambda case: case.input_shape[1] == 257),
    (bugs.avg_pool1d_past_2048, "avg_pool1d", "sizes",
     lambda case: case.output_shape()[2] == 2049),
]


def _runs(seeds=(1, 2, 3)):
    for fn, op, prop, shows in CAUGHT:
        for seed in seeds:
            yield pytest.param(fn, op, prop, shows, seed, id=f"{fn.__name__}-seed{seed}",
                               marks=[pytest.mark.slow] if seed > 1 else [])


@pytest.mark.parametrize("fn, op, prop, shows, seed", list(_runs()))
def test_kernel_wrong_where_old_draws_missed_is_caught_in_every_run(fn, op, prop, shows, seed):
    record = verdict(fn, op, prop, replace(FLOAT32, seed=seed))
    assert record.status == "fail", record
    assert shows(Case.from_dict(record.case)), (record.case, record.message)
