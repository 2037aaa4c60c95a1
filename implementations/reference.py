"""PyTorch's own functionals, registered as the reference every other implementation is timed against."""
import torch.nn.functional as F

from harness.families import FAMILIES, op_name
from harness.geometry import ntuple
from harness.registry import KnownFailure, special_inputs
from implementations._families import register


def bf16_strided_single_column(case) -> bool:
    """bfloat16 on the CPU, stride > 1 along the last side, one output there."""
    dims = len(case.input_shape) - 2
    return (case.dtype == "bfloat16" and case.device == "cpu"
            and ntuple(case.kwargs.get("stride", 1), dims)[-1] > 1
            and case.output_shape()[-1] == 1)


def bf16_depthwise_3d_short_depth(case) -> bool:
    """bfloat16 on the CPU, conv3d in channels_last_3d, depthwise with a channel multiplier,
    on an input shallower than the kernel (the depth padding supplies the rest)."""
    groups = case.kwargs.get("groups", 1)
    return (case.dtype == "bfloat16" and case.device == "cpu" and case.layout == "channels_last"
            and len(case.input_shape) == 5 and groups > 1 and case.weight_shape[1] == 1
            and case.weight_shape[0] > groups and case.input_shape[2] < case.weight_shape[2])


def bf16_special_inputs(case) -> bool:
    """bfloat16 on the CPU with NaN and infinities in the input."""
    return case.dtype == "bfloat16" and case.device == "cpu" and special_inputs(case)


# Found by this harness against the float64 oracle, torch 2.13 CPU (oneDNN kernels).
TORCH_BF16_NONFINITE = KnownFailure(
    "PyTorch 2.13's CPU kernels in bfloat16 give NaN where the sum is an infinity, and in "
    "outputs whose windows hold no NaN or infinity", bf16_special_inputs)
TORCH_CPU_CONV_BUGS = (
    KnownFailure("PyTorch 2.13's CPU convolution in bfloat16 is wrong with a stride > 1 along the "
                 "last side and one output there (seen from 5 output rows on, in every layout; "
                 "depthwise convolutions with a channel multiplier too, most often in "
                 "channels_last)", bf16_strided_single_column),
    KnownFailure("PyTorch 2.13's CPU conv3d in bfloat16 gives garbage (values near 1e31 or inf, "
                 "different on every call: memory it never wrote) for channels_last_3d depthwise "
                 "convolutions with a channel multiplier on an input shallower than the kernel",
                 bf16_depthwise_3d_short_depth),
    TORCH_BF16_NONFINITE,
)


def _functional(family: str):
    """The body of reference.{family}Nd: F.{family}Nd itself, every argument passed on."""
    def body(*args, dims):
        return getattr(F, op_name(family, dims))(*args)
    return body


for _family in FAMILIES:
    globals().update(register("reference", _family, _functional(_family), known_failures=(
        TORCH_CPU_CONV_BUGS if _family == "conv" else
        (TORCH_BF16_NONFINITE,) if _family == "conv_transpose" else ())))
