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


def conv_slow_but_right(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right, and 60 ms a call: longer than a cache warm-up is worth (timed.COLD_S)."""
    time.sleep(0.06)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


def conv_late_writer(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns the right result, but a thread still at work (4 ms of CPU) writes one element
    after the call returned: a race a single comparison at return cannot see."""
    out = _conv(input, weight, bias, stride, padding, dilation, groups).detach()

    def finish():
        end = time.thread_time() + 0.004
        while time.thread_time() < end:
            pass
        out.view(-1)[:1] += 1.0

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


# ---- regions: rows, grid limits, degenerate geometry, long half reductions, special values ----

def conv_row_tail(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Leaves the last, partial tile of output rows unwritten (zeros)."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    y[..., _tail(y.shape[-2]):, :] = 0
    return y


def avg_pool_row_tail(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                      count_include_pad=True, divisor_override=None):
    """Ordinary windows, but the last, partial tile of output rows is left at zero."""
    y = F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)
    y[..., _tail(y.shape[-2]):, :] = 0
    return y


def conv_grid_planes(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """One program per (image, output channel) plane on a 65,535-block grid axis: the planes
    past it are never written."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    plane = torch.arange(y.shape[0] * y.shape[1]).view(y.shape[:2])
    y[plane >= 65535] = 0
    return y


def max_pool_grid_rows(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                       return_indices=False):
    """One program per output row on a 65,535-block grid axis: later rows are never written."""
    out = F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    y = out[0] if return_indices else out
    y[..., 65535:, :] = 0
    return out


def conv_single_output_unstrided(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                 groups=1):
    """A fast path for a one-element output plane that forgets the stride moved the window:
    it takes the window at the far corner instead of the first."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    if y.shape[-2:] == (1, 1) and stride not in (1, (1, 1)) and padding in (0, "valid"):
        r, s = weight.shape[-2:]
        corner = input[..., input.shape[-2] - r:, input.shape[-1] - s:]
        return _conv(corner, weight, bias, 1, 0, 1, groups)
    return y


def adaptive_half_accumulator(input, output_size):
    """Sums each window element by element in the input's own (half) precision."""
    y = F.adaptive_avg_pool2d(input, output_size)
    if input.dtype not in (torch.float16, torch.bfloat16) or y.shape[-2:] != (1, 1):
        return y
    acc = torch.zeros(input.shape[:2], dtype=input.dtype)
    for value in input.flatten(2).unbind(-1):
        acc = acc + value
    return (acc / input[0, 0].numel()).to(input.dtype)[..., None, None]


def max_pool_ignores_nan(input, kernel_size, stride=None, padding=0, dilation=1,
                         ceil_mode=False, return_indices=False):
    """Treats NaN as -inf (an fmax reduction): NaN does not propagate."""
    clean = torch.where(input.isnan(), float("-inf"), input)
    return F.max_pool2d(clean, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def conv_clamps_infinities(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Saturates its output to the dtype's range: infinities become the largest finite value."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    info = torch.finfo(y.dtype)
    return y.clamp(info.min, info.max)


def _plainest_only(bias, stride, padding, dilation, groups) -> None:
    """What the hand-written autograd Functions below handle: no bias, stride, padding,
    dilation or groups."""
    if bias is not None or stride not in (1, (1, 1)) or padding not in (0, (0, 0), "valid") \
            or dilation not in (1, (1, 1)) or groups != 1:
        raise NotImplementedError("only the plainest convolution")


class _GradWeightChunked(torch.autograd.Function):
    """grad of weight summed over only the first 4096 of the N * H_out * W_out positions."""

    @staticmethod
    def forward(ctx, input, weight):
        ctx.save_for_backward(input, weight)
        return F.conv2d(input, weight)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        cols = F.unfold(input, weight.shape[2:])  # N x (C r s) x L
        g = grad.flatten(2)  # N x K x L
        terms = torch.einsum("nkl,ncl->kncl", g, cols)  # K x N x Crs x L
        terms = terms.permute(0, 2, 1, 3).flatten(2)[..., :4096]
        grad_weight = terms.sum(-1).view_as(weight)
        grad_input = torch.nn.grad.conv2d_input(input.shape, weight, grad)
        return grad_input, grad_weight


def conv_grad_weight_chunked(input, weight, bias=None, stride=1, padding=0, dilation=1,
                             groups=1):
    _plainest_only(bias, stride, padding, dilation, groups)
    return _GradWeightChunked.apply(input, weight)


# ---- correct kernels with unusual features: no false alarm ----

def conv_split_k_nondeterministic(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                  groups=1):
    """Sums input-channel chunks in an order drawn from the OS (as atomics land, outside any
    seeded generator): other bits from call to call, the same answer within tolerance. Where
    there are too few channels to reorder, a partial sum of a quarter of the largest output
    comes and goes first, as a reduction in another order would round it."""
    import random
    acc = torch.float64 if input.dtype == torch.float64 else torch.float32
    if groups != 1 or input.shape[1] < 3:
        y = F.conv2d(input.to(acc), weight.to(acc), None, stride, padding, dilation, groups)
        largest = y.nan_to_num(0, 0, 0).abs().amax()
        if largest < torch.finfo(acc).max / 2:  # near the largest finite, the shift overflows
            shift = largest * 0.25 * random.SystemRandom().random()
            y = (y + shift) - shift
    else:
        bounds = torch.linspace(0, input.shape[1], min(input.shape[1], 16) + 1).long().tolist()
        chunks = list(zip(bounds[:-1], bounds[1:]))
        random.SystemRandom().shuffle(chunks)
        y = sum(F.conv2d(input[:, lo:hi].to(acc), weight[:, lo:hi].to(acc), None, stride,
                         padding, dilation) for lo, hi in chunks)
    y = y if bias is None else y + bias.to(acc).view(1, -1, 1, 1)
    return y.to(input.dtype)


def conv_channels_last_output(input, weight, bias=None, stride=1, padding=0, dilation=1,
                              groups=1):
    """Always answers in channels_last memory, whatever the input's layout."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    return y.contiguous(memory_format=torch.channels_last)


def conv_float64_inside(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Accumulates in float64, rounds once."""
    b = None if bias is None else bias.double()
    return F.conv2d(input.double(), weight.double(), b, stride, padding, dilation,
                    groups).to(input.dtype)


def conv_warns(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Correct, and says so on every call."""
    import warnings
    warnings.warn("conv_warns: this kernel is experimental", UserWarning)
    return _conv(input, weight, bias, stride, padding, dilation, groups)


# ---- faults that are the kernel's, however odd ----

_LAST: dict = {}


def conv_stale_output(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns the output of its previous call whenever the shapes match (graph and all)."""
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    key = (tuple(y.shape), y.dtype)
    return _LAST.setdefault(key, y)


def conv_on_meta(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Returns its result on the meta device (shape and dtype only)."""
    return _conv(input, weight, bias, stride, padding, dilation, groups).to("meta")


class _Unreadable(torch.Tensor):
    """A tensor subclass that refuses to be copied or compared."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func.__name__ not in ("__get__", "shape", "dtype", "device", "requires_grad",
                                 "size", "dim", "grad_fn", "layout"):
            raise RuntimeError(f"_Unreadable refuses {func.__name__}")
        return super().__torch_function__(func, types, args, kwargs or {})


def conv_unreadable(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups).as_subclass(_Unreadable)


def conv_modifies_saved(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Changes a tensor autograd saved for backward after using it: a version-counter error."""
    w = weight * 1.0
    y = _conv(input, w, bias, stride, padding, dilation, groups)
    w.mul_(1.0)
    return y


class _WrongShapeGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight):
        return F.conv2d(input, weight)

    @staticmethod
    def backward(ctx, grad):
        return grad.sum(), None  # a scalar where a tensor of the input's shape belongs


def conv_wrong_grad_shape(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    _plainest_only(bias, stride, padding, dilation, groups)
    return _WrongShapeGrad.apply(input, weight)


def conv_declines_everything(input, weight, bias=None, stride=1, padding=0, dilation=1,
                             groups=1):
    raise NotImplementedError("not written yet")


# ---- kernels that cheat only while they are timed ----

def conv_lazy_when_timed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Finds the benchmark on its call stack and skips the work there."""
    import inspect
    timed = any("benchmark" in f.filename or "timeit" in f.filename
                for f in inspect.stack(context=0))
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    return torch.zeros_like(y) if timed else y


_CALLS: dict = {}


def conv_lazy_after_a_few_calls(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                groups=1):
    """Right for its first two calls of a shape (the checks before timing), zeros after."""
    key = (tuple(input.shape), tuple(weight.shape))
    _CALLS[key] = _CALLS.get(key, 0) + 1
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    return y if _CALLS[key] <= 2 else torch.zeros_like(y)


_MEMO: dict = {}
MEMO_HITS = [0]


def conv_memo_by_version(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Serves its last result again while the inputs' storage and version counters are the same
    (no write since): what a timing loop of unchanged inputs would reward."""
    key = (input.untyped_storage().data_ptr(), input._version,
           weight.untyped_storage().data_ptr(), weight._version,
           repr((stride, padding, dilation, groups, bias is None)))
    if key in _MEMO:
        MEMO_HITS[0] += 1
        return _MEMO[key]
    _MEMO.clear()
    _MEMO[key] = _conv(input, weight, bias, stride, padding, dilation, groups)
    return _MEMO[key]


_PREVIOUS: dict = {}


def conv_returns_previous_output(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                 groups=1):
    """Computes once per shape and hands the same output object back ever after."""
    key = (tuple(input.shape), tuple(weight.shape), input.dtype)
    if key not in _PREVIOUS:
        _PREVIOUS[key] = _conv(input, weight, bias, stride, padding, dilation, groups)
    return _PREVIOUS[key]


# ---- kernels whose backward cheats only while it is timed ----

_BACKWARDS: dict = {}


def conv_backward_lazy_after_a_few_calls(input, weight, bias=None, stride=1, padding=0,
                                         dilation=1, groups=1):
    """A right forward; its backward is right twice per shape, then passes zeros on."""
    key = (tuple(input.shape), tuple(weight.shape))
    y = _conv(input, weight, bias, stride, padding, dilation, groups)

    def hook(grad):
        _BACKWARDS[key] = _BACKWARDS.get(key, 0) + 1
        return grad if _BACKWARDS[key] <= 2 else torch.zeros_like(grad)
    if y.requires_grad:
        y.register_hook(hook)
    return y


class _GradsByAddress(torch.autograd.Function):
    """conv2d whose backward serves the gradients it gave before for the same addresses of
    grad_output and input, whatever their values now."""

    memo: dict = {}
    hits = [0]

    @staticmethod
    def forward(ctx, input, weight, bias, geometry):
        ctx.save_for_backward(input, weight)
        ctx.geometry, ctx.has_bias = geometry, bias is not None
        return F.conv2d(input, weight, bias, *geometry)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        key = (grad.data_ptr(), input.data_ptr(), tuple(grad.shape))
        _GradsByAddress.hits[0] += key in _GradsByAddress.memo
        if key not in _GradsByAddress.memo:
            stride, padding, dilation, groups = ctx.geometry
            _GradsByAddress.memo[key] = (
                torch.nn.grad.conv2d_input(input.shape, weight, grad, stride, padding, dilation,
                                           groups),
                torch.nn.grad.conv2d_weight(input, weight.shape, grad, stride, padding, dilation,
                                            groups),
                grad.sum((0, 2, 3)) if ctx.has_bias else None)
        return (*_GradsByAddress.memo[key], None)


def conv_backward_cached_by_address(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                    groups=1):
    if isinstance(padding, str):
        raise NotImplementedError("padding given as a string")
    return _GradsByAddress.apply(input, weight, bias, (stride, padding, dilation, groups))


CONTENT_MEMO: dict = {}
CONTENT_HITS = [0]


def conv_memo_by_contents(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Memoises its output keyed by the input's contents (a fingerprint of a strided sample of
    64 elements) and the weight's address: exact whenever it hits, fast on repeated inputs."""
    sample = input.detach().flatten()[::max(1, input.numel() // 64)].cpu()
    key = (tuple(input.shape), weight.data_ptr(), hash(sample.numpy().tobytes()))
    if key in CONTENT_MEMO:
        CONTENT_HITS[0] += 1
        return CONTENT_MEMO[key].clone()
    y = _conv(input, weight, bias, stride, padding, dilation, groups)
    if len(CONTENT_MEMO) > 64:
        CONTENT_MEMO.clear()
    CONTENT_MEMO[key] = y.detach()
    return y
