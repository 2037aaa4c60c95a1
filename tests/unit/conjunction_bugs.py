"""Kernels right everywhere but where two or three call features meet: one per op family. Each
is what a kernel that specializes on a conjunction gets wrong (a fast path taken for a pair of
features, a tile loop whose tail depends on three), and each is a combination every covering
array row set holds, so every seed must find it."""
import torch
import torch.nn.functional as F


def _off(out: torch.Tensor) -> torch.Tensor:
    """The output with its last element off by one: what a dropped tail would look like."""
    out = out.clone()
    out.view(-1)[-1:] += 1.0
    return out


def conv2d_multiplier_bias_side_strides(input, weight, bias=None, stride=1, padding=0,
                                        dilation=1, groups=1):
    """Wrong for a depthwise conv with a channel multiplier, a bias and strides that differ
    by side (a fast path for depthwise-with-bias that reads the first stride only)."""
    out = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    depthwise_multiplier = groups > 1 and groups == input.shape[-3] and weight.shape[0] > groups
    side_strides = isinstance(stride, (tuple, list)) and len(set(stride)) > 1
    return _off(out) if depthwise_multiplier and bias is not None and side_strides else out


def conv_transpose1d_output_padding_dilated(input, weight, bias=None, stride=1, padding=0,
                                            output_padding=0, groups=1, dilation=1):
    """Wrong where output_padding is given with a dilation (the extra column's taps)."""
    out = F.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups,
                             dilation)
    dilated = dilation != 1 and dilation != (1,)
    padded_out = output_padding not in (0, (0,))
    return _off(out) if dilated and padded_out else out


def max_pool2d_ceil_padded_even(input, kernel_size, stride=None, padding=0, dilation=1,
                                ceil_mode=False, return_indices=False):
    """Wrong for an even window with padding and ceil_mode (the last window's start)."""
    result = F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
                          return_indices)
    k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
    pads = padding if isinstance(padding, int) else max(padding)
    if not (ceil_mode and pads > 0 and k % 2 == 0):
        return result
    return (_off(result[0]), result[1]) if return_indices else _off(result)


def avg_pool2d_divisor_without_pad(input, kernel_size, stride=None, padding=0,
                                   ceil_mode=False, count_include_pad=True,
                                   divisor_override=None):
    """Wrong where a divisor_override meets count_include_pad=False (which one wins)."""
    out = F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                       divisor_override)
    return _off(out) if divisor_override and not count_include_pad else out


def adaptive_avg_pool3d_uneven_wide(input, output_size):
    """Wrong for uneven windows past 128 channels (a channel tile's tail with ragged windows)."""
    out = F.adaptive_avg_pool3d(input, output_size)
    sizes = [o if o is not None else i for o, i in zip(
        (output_size,) * 3 if isinstance(output_size, int) else output_size, input.shape[-3:])]
    uneven = any(i % o for i, o in zip(input.shape[-3:], sizes))
    return _off(out) if uneven and input.shape[-4] > 128 else out


def adaptive_max_pool2d_kept_side_batched(input, output_size, return_indices=False):
    """Wrong where a side's size is kept (None) in a batch past a tile of 8 images."""
    result = F.adaptive_max_pool2d(input, output_size, return_indices)
    kept = isinstance(output_size, (tuple, list)) and None in output_size
    if not (kept and input.dim() == 4 and input.shape[0] > 8):
        return result
    return (_off(result[0]), result[1]) if return_indices else _off(result)


BUGS = {  # kernel: its op
    "conv2d_multiplier_bias_side_strides": "conv2d",
    "conv_transpose1d_output_padding_dilated": "conv_transpose1d",
    "max_pool2d_ceil_padded_even": "max_pool2d",
    "avg_pool2d_divisor_without_pad": "avg_pool2d",
    "adaptive_avg_pool3d_uneven_wide": "adaptive_avg_pool3d",
    "adaptive_max_pool2d_kept_side_batched": "adaptive_max_pool2d",
}
