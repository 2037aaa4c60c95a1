"""Kernels wrong only where earlier draws did not reach (an omitted stride, one degenerate
side, channel tiles past 128, long 1-D lines), a correct one that hands everything to PyTorch,
and one with a declared failure besides an unrelated bug."""
import torch
import torch.nn.functional as F

from harness.ops.geometry import pair
from harness.plugins.registry import KnownFailure


def conv2d_via_pytorch(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct: F.conv2d itself, as a fallback path does (its bugs are PyTorch's)."""
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d_omitted_stride_is_one(input, kernel_size, stride=None, padding=0, dilation=1,
                                     ceil_mode=False, return_indices=False):
    """Takes an omitted stride as 1 instead of the kernel size."""
    return F.max_pool2d(input, kernel_size, stride or 1, padding, dilation, ceil_mode,
                        return_indices)


def conv2d_one_strided_column(input, weight, bias=None, stride=1, padding=0, dilation=1,
                              groups=1):
    """A fast path for one output column, strided, that is wrong past the first row: right when
    every side has one output, or when the column is not strided."""
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    if y.shape[-1] == 1 and y.shape[-2] > 1 and pair(stride)[1] > 1:
        y = torch.cat([y[..., :1, :], y[..., 1:, :] + 1], dim=-2)
    return y


def conv1d_depthwise_past_512(input, weight, bias=None, stride=1, padding=0, dilation=1,
                              groups=1):
    """A depthwise kernel (as Mamba's causal conv1d) whose channel blocks of 512 leave every
    channel past the first block with the first block's weights."""
    if groups > 512 and groups == input.shape[1]:
        k = weight.shape[0] // groups
        weight = weight.reshape(groups, k, *weight.shape[1:])
        weight = weight[torch.arange(groups) % 512].flatten(0, 1)
    return F.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d_k_tile_256(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """A GEMM convolution that sums only the first K tile of 256 input channels."""
    if groups == 1 and input.shape[1] > 256:
        input, weight = input[:, :256], weight[:, :256]
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def avg_pool1d_past_2048(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                         count_include_pad=True):
    """One program per 2,048 outputs, and only one program: later outputs stay zero."""
    y = F.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)
    return torch.cat([y[..., :2048], torch.zeros_like(y[..., 2048:])], dim=-1)


ONE_CHANNEL = KnownFailure("declared: single-channel inputs are off by one",
                           lambda case: case.input_shape[1] == 1, ("values",))


def conv2d_declared_and_batch_bug(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                  groups=1):
    """Off by one on single-channel inputs (declared: ONE_CHANNEL), and, unrelated, every
    sample after the first gets the first one's output."""
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    y = y + 1 if input.shape[1] == 1 else y
    return y[:1].expand_as(y)


def conv2d_declared_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Off by one on single-channel inputs (declared: ONE_CHANNEL), right elsewhere."""
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return y + 1 if input.shape[1] == 1 else y

