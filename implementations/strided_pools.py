"""Max and average pooling through an as_strided window view and one reduction, no copies of
windows: the view's strides step by stride*row to the next window and dilation*row inside one.
"""
import torch.nn.functional as F

from harness.plugins.registry import implements
from implementations._geometry import average, max_indices, max_on_input, pool_geometry


def _window_view(x, g):
    """N x C x Ho x Wo x kh x kw view of a padded x (any strides)."""
    sn, sc, sh, sw = x.stride()
    return x.as_strided(
        (*x.shape[:2], *g.out, *g.kernel),
        (sn, sc, sh * g.stride[0], sw * g.stride[1], sh * g.dilation[0], sw * g.dilation[1]))


def _padded(input, g, fill):
    pads = g.window_pads(input.shape[2:])
    return F.pad(input, pads, value=fill) if any(pads) else input


@implements(F.max_pool2d, name="strided_pools.max_pool2d")
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode)
    windows = _window_view(_padded(input, g, float("-inf")), g)
    if not (return_indices or input.requires_grad):
        return windows.amax(dim=(-2, -1))  # reduces the view in place of a copy
    # max(dim) routes the gradient to one element, as torch does; amax would split it on ties
    real = _window_view(_padded(input.new_ones((1, 1, *input.shape[2:])), g, 0.0), g)
    out, where = max_on_input(windows.flatten(-2), real.flatten(-2))
    return (out, max_indices(where, g, input.shape[2:], input.device)) if return_indices else out


@implements(F.avg_pool2d, name="strided_pools.avg_pool2d")
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    g = pool_geometry(input, kernel_size, stride, padding, 1, ceil_mode)
    sums = _window_view(_padded(input, g, 0.0), g).sum(dim=(-2, -1))
    return average(sums, input, g, count_include_pad, divisor_override)
