"""ops: the output-shape rule agrees with torch on every drawn case; counts are positive."""
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from harness.checking.strategies import cases
from harness.ops.cases import Case
from harness.ops.catalog import OPS, UnknownOp, get_op
from harness.ops.geometry import pool_out_len


def meta_shape(case: Case) -> tuple:
    tensors = [torch.empty(case.input_shape, device="meta")]
    if case.spec.weighted:
        tensors.append(torch.empty(case.weight_shape, device="meta"))
    out = case.spec.reference(*tensors, **case.kwargs)
    return tuple(out.shape)


@pytest.mark.parametrize("op", list(OPS))
def test_output_shape_matches_torch(op):
    @settings(max_examples=100 if op.endswith("2d") else 40, deadline=None)
    @given(cases(op))
    def inner(case):
        assert case.output_shape() == _shape_from_torch(case)
    inner()


def _shape_from_torch(case: Case) -> tuple:
    """The reference's output shape: on the meta device where it has a kernel, else on
    tensors of zeros (tiny cases)."""
    try:
        return meta_shape(case)
    except (NotImplementedError, RuntimeError):
        tensors = [torch.zeros(s) for s in case.shapes if s]
        return tuple(case.spec.reference(*tensors, **case.kwargs).shape)


def test_get_op_by_name_and_functional():
    assert get_op(F.conv2d) is get_op("conv2d")
    assert get_op(F.conv3d).name == "conv3d" and get_op("max_pool1d").functional is F.max_pool1d
    with pytest.raises(UnknownOp, match="op='conv4d'"):
        get_op("conv4d")


def test_ceil_mode_last_window_starts_inside():
    # 5 wide, kernel 2, stride 2, ceil: the third window starts at 4, inside: 3 outputs
    assert pool_out_len(5, 2, 2, 0, 1, True) == 3
    # 4 wide, kernel 2, stride 2, pad 1, ceil: a window starting at 5 would lie in padding only
    assert pool_out_len(4, 2, 2, 1, 1, True) == 3


def test_flops_and_bytes():
    conv = OPS["conv2d"]
    shapes = ((1, 3, 8, 8), (4, 3, 3, 3))
    assert conv.flops(shapes, {}) == 2 * 4 * 6 * 6 * 27
    assert conv.bytes_moved(shapes, {}) == 4 * (192 + 108 + 144)
