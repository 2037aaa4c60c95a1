"""cases: JSON round trip, seeded tensors, layouts, the oracle's undefined max-pool windows."""
import torch

from harness.ops.cases import Case, describe, special_kinds


def conv_case(**kw):
    return Case("conv2d", (2, 4, 6, 5), (6, 2, 3, 3), bias=True,
                kwargs={"stride": (2, 1), "padding": "same" if kw.pop("same", False) else 1,
                        "groups": 2}, **kw)


def test_json_round_trip_keeps_tuples():
    case = conv_case(dtype="float16", dist="ties", seed=7)
    again = Case.from_json(case.to_json())
    assert again == case and again.kwargs["stride"] == (2, 1)


def test_tensors_are_seeded_and_typed():
    a, b = conv_case(seed=3).tensors(), conv_case(seed=3).tensors()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert a[0].dtype == torch.float32 and a[2].shape == (6,)
    assert not torch.equal(a[0], conv_case(seed=4).tensors()[0])


def test_distributions():
    neg = conv_case(dist="negative").tensors()[0]
    assert (neg < 0).all()
    ties = conv_case(dist="ties").tensors()[0]
    assert torch.equal(ties, ties.round()) and ties.unique().numel() <= 7


def test_layouts():
    assert conv_case(layout="channels_last").tensors()[0].is_contiguous(
        memory_format=torch.channels_last)
    x = conv_case(layout="noncontiguous").tensors()[0]
    assert not x.is_contiguous() and not x.isnan().any()


def test_reference_undefined_when_a_window_is_all_padding():
    # kernel 2, dilation 3, padding 1 on a 2-high input: positions -1 and 2 both outside
    bad = Case("max_pool2d", (1, 1, 2, 4), kwargs={"kernel_size": 2, "padding": 1,
                                                  "dilation": 3, "stride": 1})
    assert not bad.reference_defined()
    assert Case("max_pool2d", (1, 1, 4, 4), kwargs={"kernel_size": 2}).reference_defined()


def test_repro_and_describe():
    case = conv_case()
    assert case.repro("m:f").startswith("convharness check --impl m:f --case '{")
    assert "F.conv2d(input, weight, bias, stride=(2, 1)" in describe(case)


def test_channels_last_in_every_dimension():
    for input_shape, fmt in (((2, 3, 5), None), ((2, 3, 4, 5), torch.channels_last),
                             ((2, 3, 2, 4, 5), torch.channels_last_3d)):
        x = Case("max_pool%dd" % (len(input_shape) - 2), input_shape,
                 kwargs={"kernel_size": 1}, layout="channels_last").tensors()[0]
        assert x.stride(1) == 1 and not x.is_contiguous()
        if fmt is not None:
            assert x.is_contiguous(memory_format=fmt)


def test_special_values_stay_off_inputs_whose_taps_are_cropped():
    """A transposed convolution crops its padding: a NaN whose taps land there meets the
    padding's zeros in the weight's gradient, where PyTorch's own kernels disagree."""
    case = Case("conv_transpose2d", (1, 1, 3, 4), (1, 1, 3, 3), kwargs={"padding": 1},
                dist="special", seed=3)
    x = case.tensors()[0][0, 0]
    inner = torch.zeros_like(x, dtype=torch.bool)
    inner[1:-1, 1:-1] = True
    finite = torch.isfinite(x) & (x.abs() < 1e30)
    assert finite[~inner].all() and not finite[inner].all()
    cropped = Case("conv_transpose2d", (1, 1, 1, 1), (1, 1, 3, 3), kwargs={"padding": (0, 1)},
                   dist="special", seed=3)
    assert torch.isfinite(cropped.tensors()[0]).all() and special_kinds(cropped) == ()
