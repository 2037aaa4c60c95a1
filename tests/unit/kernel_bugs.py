"""Kernels wrong the way real ones are: past a tile boundary, accumulating in half, caching,
racing, aliasing, reusing buffers, reading or writing outside their views. Each is right on the
small inputs a first test would use."""
import threading
import time

import torch
import torch.nn.functional as F

from implementations._geometry import conv_geometry, pool_geometry
from implementations.strided_pools import _padded, _window_view

T = 64  # the tile these kernels get wrong past


def _conv(input, weight, bias, stride, padding, dilation, groups):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def _tail(size: int, tile: int = T) -> int:
    """Where the last, partial tile starts, or `size` when there is none past a full one."""
    return size - size % tile if size > tile and size % tile else size


def conv_out_channel_tail(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Skips the last, partial tile of output channels."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    y[:, _tail(y.shape[1]):] = 0
    return y


def conv_in_channel_tail(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Drops the last, partial tile of input channels of each group (tile 32)."""
    w = weight.clone()
    w[:, _tail(w.shape[1], 32):] = 0
    return _conv(input, w, bias, stride, padding, dilation, groups)


def conv_plane_tail(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Leaves the last, partial tile of output columns unwritten (zeros)."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    y[..., _tail(y.shape[-1]):] = 0
    return y


def conv_batch_tail(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Tiles the batch by 8 and fills the last, partial tile with the first sample's result."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    y[_tail(y.shape[0], 8):] = y[0]
    return y


def max_pool_window_row_tail(input, kernel_size, stride=None, padding=0, dilation=1,
                             ceil_mode=False, return_indices=False):
    """Reduces window rows in tiles of 8 and forgets the last, partial one."""
    if return_indices:
        raise NotImplementedError("indices")
    g = pool_geometry(input, kernel_size, stride, padding, dilation, ceil_mode)
    windows = _window_view(_padded(input, g, float("-inf")), g)
    return windows[..., :_tail(g.kernel[0], 8), :].amax(dim=(-2, -1))


def conv_half_accumulator(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """float16 products summed one by one into a float16 accumulator."""
    if input.dtype != torch.float16 or groups != 1:
        return _conv(input, weight, bias, stride, padding, dilation, groups)
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    cols = F.unfold(F.pad(input, g.f_pad), weight.shape[2:], dilation=g.dilation, stride=g.stride)
    w = weight.reshape(weight.shape[0], -1)
    acc = torch.zeros(input.shape[0], weight.shape[0], cols.shape[-1], dtype=torch.float16)
    for i in range(w.shape[1]):
        acc += w[None, :, i, None] * cols[:, None, i]
    y = acc.view(input.shape[0], -1, *g.out)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


_BY_ADDRESS: dict = {}
_BY_SHAPE: dict = {}


def conv_cached_by_address(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    key = (input.data_ptr(), weight.data_ptr(), tuple(input.shape), tuple(weight.shape),
           repr((stride, padding, dilation, groups, bias is None)))
    if key not in _BY_ADDRESS:
        _BY_ADDRESS[key] = _conv(input, weight, bias, stride, padding, dilation, groups)
    return _BY_ADDRESS[key]


def conv_cached_by_shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    key = (tuple(input.shape), tuple(weight.shape), input.dtype,
           repr((stride, padding, dilation, groups, bias is None)))
    if key not in _BY_SHAPE:
        _BY_SHAPE[key] = _conv(input, weight, bias, stride, padding, dilation, groups)
    return _BY_SHAPE[key].clone()


def conv_lazy(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns at once; a thread writes the result a little later."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups).detach()
    out = torch.full_like(y, float("nan"))

    def finish():
        time.sleep(0.3)
        out.copy_(y)

    threading.Thread(target=finish, daemon=True).start()
    return out


def conv_into_input(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Writes its result into the input's memory when it fits, and returns that view."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    if y.numel() > input.numel() or not input.is_contiguous():
        return y
    with torch.no_grad():
        view = input.view(-1)[:y.numel()].view(y.shape)
        view.copy_(y)
    return view


_BUFFERS: dict = {}


def conv_reused_buffer(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """One output buffer per shape, overwritten by every call."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    key = (tuple(y.shape), y.dtype, y.device)
    out = _BUFFERS.setdefault(key, torch.empty_like(y))
    with torch.no_grad():
        out.copy_(y)
    return out


def _extent(t: torch.Tensor) -> int:
    return t.storage_offset() + sum((s - 1) * st for s, st in zip(t.shape, t.stride())) + 1


def conv_writes_past_end(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Writes a zero just past the end of its input (where there is memory to do it safely)."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    end = _extent(input)
    if input.untyped_storage().nbytes() // input.element_size() > end:
        with torch.no_grad():
            input.as_strided((1,), (1,), end).fill_(0)
    return y


def conv_assumes_contiguous(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Reads its input as if it were contiguous, whatever its strides."""
    strides, size = [], 1
    for dim in reversed(input.shape):
        strides.insert(0, size)
        size *= dim
    if input.untyped_storage().nbytes() // input.element_size() >= input.storage_offset() + size:
        input = input.as_strided(input.shape, strides, input.storage_offset())
    return _conv(input, weight, bias, stride, padding, dilation, groups)
