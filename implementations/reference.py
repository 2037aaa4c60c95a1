"""PyTorch's own functionals, registered as the reference every other implementation is timed against."""
import torch
import torch.nn.functional as F

from harness.ops.families import FAMILIES, op_name
from harness.ops.geometry import ntuple
from harness.plugins.registry import KnownFailure, special_inputs
from implementations._families import register


def bf16_strided_single_column(case) -> bool:
    """bfloat16 on the CPU, stride > 1 along the last side, one output there."""
    dims = len(case.input_shape) - 2
    return (case.dtype == "bfloat16" and case.device == "cpu"
            and ntuple(case.kwargs.get("stride", 1), dims)[-1] > 1
            and case.output_shape()[-1] == 1)


def reads_unwritten_memory(input) -> bool:
    """PyTorch 2.13's CPU convolution in bfloat16, on degenerate geometry (a side with one
    strided output, shorter than the dilated kernel, windows mostly in the padding), returns
    memory it never wrote (values near 1e31 or inf, different on every call) and can kill the
    process on the first call: conv2d of a 1x4x6x1 input, weight 8x1x1x1, stride (1, 2),
    padding 1, dilation 2, groups 4, channels_last; conv3d of a 3x6x2x2x2 input, weight
    6x6x3x3x3, stride (3, 1, 3), padding (4, 3, 5), dilation 3, in any layout and with groups
    or without; and conv_transpose2d's weight gradient, where a tap of the kernel reaches no
    output (1x1x1x1 input, 1x1x3x3 weight, stride (1, 2), padding (0, 1)), on one call in five
    to twenty. Found by this harness."""
    return unsafe(input.dtype == torch.bfloat16, input.device.type)


def unsafe(bf16: bool, device: str) -> bool:
    """reads_unwritten_memory's region, from the call's description: every bfloat16
    convolution on the CPU (the crashing cases share no simpler rule)."""
    return bf16 and device == "cpu"


def unsafe_case(case) -> bool:
    """A harness Case in that region (PyTorch's own op must not run on it in-process)."""
    return case.op.startswith("conv") and not case.op.startswith("conv_transpose") and unsafe(
        case.dtype == "bfloat16", case.device)


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
    PyTorch's kernel reads memory it never wrote (bfloat16 on the CPU, both convolution
    families), in float32, rounded to bfloat16."""
    def body(*args, dims):
        functional = getattr(F, op_name(family, dims))
        if family.startswith("conv") and reads_unwritten_memory(args[0]):
            wide = [t.float() if isinstance(t, torch.Tensor) else t for t in args]
            return functional(*wide).to(torch.bfloat16)
        return functional(*args)
    return body


for _family in FAMILIES:
    globals().update(register("reference", _family, _functional(_family), known_failures=(
        TORCH_CPU_CONV_BUGS if _family == "conv" else
        (TORCH_BF16_NONFINITE,) if _family == "conv_transpose" else ())))
