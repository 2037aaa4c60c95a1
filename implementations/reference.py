"""PyTorch's own functionals, registered as the reference every other implementation is timed against."""
import torch.nn.functional as F

from harness.ops import pair
from harness.registry import KnownFailure, implements, special_inputs


def bf16_strided_single_column(case) -> bool:
    """bfloat16 on the CPU, stride_w > 1, one output column."""
    return (case.dtype == "bfloat16" and case.device == "cpu"
            and pair(case.kwargs.get("stride", 1))[1] > 1 and case.output_shape()[3] == 1)


def bf16_special_inputs(case) -> bool:
    """bfloat16 on the CPU with NaN and infinities in the input."""
    return case.dtype == "bfloat16" and case.device == "cpu" and special_inputs(case)


# Found by this harness against the float64 oracle, torch 2.13 CPU (oneDNN kernels).
TORCH_BF16_NONFINITE = KnownFailure(
    "PyTorch 2.13's CPU kernels in bfloat16 give NaN where the sum is an infinity, and in "
    "outputs whose windows hold no NaN or infinity", bf16_special_inputs)
TORCH_CPU_CONV_BUGS = (
    KnownFailure("PyTorch 2.13's CPU conv2d in bfloat16 is wrong with stride_w > 1 and one output "
                 "column (seen from 5 output rows on, in every layout; depthwise convolutions "
                 "with a channel multiplier too, most often in channels_last)",
                 bf16_strided_single_column),
    TORCH_BF16_NONFINITE,
)


@implements(F.conv2d, name="reference.conv2d", known_failures=TORCH_CPU_CONV_BUGS)
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


@implements(F.max_pool2d, name="reference.max_pool2d")
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@implements(F.avg_pool2d, name="reference.avg_pool2d")
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


@implements(F.adaptive_avg_pool2d, name="reference.adaptive_avg_pool2d")
def adaptive_avg_pool2d(input, output_size):
    return F.adaptive_avg_pool2d(input, output_size)
