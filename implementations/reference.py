"""PyTorch's own functionals, registered as the reference every other implementation is timed against."""
import torch
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


def reads_unwritten_memory(input, weight, groups) -> bool:
    """PyTorch 2.13's CPU conv3d in bfloat16, channels_last_3d, depthwise with a channel
    multiplier, on an input shallower than the kernel: it returns memory it never wrote (values
    near 1e31 or inf, different on every call) and can crash the process. Found by this harness."""
    return (input.dtype == torch.bfloat16 and input.device.type == "cpu" and input.dim() == 5
            and groups > 1 and weight.shape[1] == 1 and weight.shape[0] > groups
            and input.shape[2] < weight.shape[2]
            and input.is_contiguous(memory_format=torch.channels_last_3d))


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
    TORCH_BF16_NONFINITE,
)


def _functional(family: str):
    """The body of reference.{family}Nd: F.{family}Nd itself, every argument passed on; where
    PyTorch's kernel reads memory it never wrote, in the contiguous layout instead."""
    def body(*args, dims):
        if family == "conv" and reads_unwritten_memory(args[0], args[1], args[6]):
            args = (args[0].contiguous(), args[1].contiguous(), *args[2:])
        return getattr(F, op_name(family, dims))(*args)
    return body


for _family in FAMILIES:
    globals().update(register("reference", _family, _functional(_family), known_failures=(
        TORCH_CPU_CONV_BUGS if _family == "conv" else
        (TORCH_BF16_NONFINITE,) if _family == "conv_transpose" else ())))
