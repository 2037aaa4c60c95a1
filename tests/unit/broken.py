"""Deliberately wrong implementations, each with one bug, for testing that the harness catches it."""
import torch
import torch.nn.functional as F

from harness.ops.geometry import ntuple, pair


def conv_pad_one_side(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Pads one more on the left and one less on the right: same shape, shifted values."""
    if isinstance(padding, str) or pair(padding)[1] == 0:
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    ph, pw = pair(padding)
    x = F.pad(input, (pw + 1, pw - 1, ph, ph))
    return F.conv2d(x, weight, bias, stride, 0, dilation, groups)


def conv_flipped(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """True convolution instead of cross-correlation."""
    return F.conv2d(input, weight.flip(-1, -2), bias, stride, padding, dilation, groups)


def conv_no_dilation(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, 1, groups)


def conv_group_slicing(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Every group reads the first group's input channels."""
    cg, kg = weight.shape[1], weight.shape[0] // groups
    outs = [F.conv2d(input[:, :cg], weight[g * kg:(g + 1) * kg], None, stride, padding, dilation)
            for g in range(groups)]
    y = torch.cat(outs, dim=1)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def conv_batch_bug(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right for the first sample; later samples reuse the first one's input."""
    y = F.conv2d(input[:1], weight, bias, stride, padding, dilation, groups)
    return y.expand(input.shape[0], *y.shape[1:])


class _BadWeightGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight):
        ctx.save_for_backward(input, weight)
        return F.conv2d(input, weight)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        grad_input = torch.nn.grad.conv2d_input(input.shape, weight, grad)
        grad_weight = torch.nn.grad.conv2d_weight(input, weight.shape, grad)
        return grad_input, 1.5 * grad_weight


def conv_bad_weight_grad(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Right forward; weight gradient 1.5x too large (arguments it cannot do are unsupported)."""
    if (stride, padding, dilation, groups) != (1, 0, 1, 1):
        raise NotImplementedError("only the plain case")
    y = _BadWeightGrad.apply(input, weight)
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def conv_float32_inside(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Computes float64 in float32 and casts back: the dtype looks right, the digits are not."""
    b = None if bias is None else bias.float()
    y = F.conv2d(input.float(), weight.float(), b, stride, padding, dilation, groups)
    return y.to(input.dtype)


def conv_mutates(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    with torch.no_grad():
        input.mul_(2)
    return y


def conv_zeros(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return torch.zeros_like(F.conv2d(input, weight, bias, stride, padding, dilation, groups))


def conv_wrong_dtype(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups).float()


def conv_crashes(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    raise RuntimeError("kernel launch failed")


def conv_noisy(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Within tolerance, but not the same twice."""
    y = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return y * (1 + torch.finfo(y.dtype).eps * torch.rand_like(y))


def conv_accepts_negative_padding(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                  groups=1):
    if not isinstance(padding, str):
        padding = tuple(max(0, p) for p in pair(padding))
    stride = tuple(max(1, s) for s in pair(stride))
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_forward_only(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    with torch.no_grad():
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_no_groups(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    if groups != 1:
        raise NotImplementedError("groups > 1")
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool_zero_pad(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                      return_indices=False):
    """Pads with zeros, so a negative window next to the border reads 0."""
    ph, pw = pair(padding)
    x = F.pad(input, (pw, pw, ph, ph))
    stride = kernel_size if stride is None else stride
    return F.max_pool2d(x, kernel_size, stride, 0, dilation, ceil_mode, return_indices)


def max_pool_bad_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                         return_indices=False):
    result = F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    return (result[0], result[1].flip(-1)) if return_indices else result


def avg_pool_inverted_count(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                            count_include_pad=True, divisor_override=None):
    return F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, not count_include_pad,
                        divisor_override)


def adaptive_floor_windows(input, output_size):
    """Equal windows of floor(H/Ho): wrong whenever the sizes do not divide."""
    h, w = input.shape[-2:]
    oh, ow = [s if s is not None else d for s, d in zip(pair(output_size), (h, w))]
    kh, kw = max(1, h // oh), max(1, w // ow)
    y = F.avg_pool2d(input[..., :kh * oh, :kw * ow], (kh, kw)) if h >= oh and w >= ow else None
    return F.adaptive_avg_pool2d(input, output_size) if y is None else y


# N-d ops: each wrong in what its extra dimension or argument adds.
def conv3d_depth_stride_ignored(input, weight, bias=None, stride=1, padding=0, dilation=1,
                                groups=1):
    """Steps by the height's stride along the depth too."""
    stride = ntuple(stride, 3)
    return F.conv3d(input, weight, bias, (stride[1], stride[1], stride[2]), padding, dilation,
                    groups)


def conv1d_causal_padding(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Pads on the left only, as a causal layer does: a layer's trick, not F.conv1d's contract."""
    if isinstance(padding, str):
        return F.conv1d(input, weight, bias, stride, padding, dilation, groups)
    return F.conv1d(F.pad(input, (ntuple(padding, 1)[0], 0)), weight, bias, stride, 0, dilation,
                    groups)


def conv_transpose2d_no_output_padding(input, weight, bias=None, stride=1, padding=0,
                                       output_padding=0, groups=1, dilation=1):
    """Adds output_padding as zeros at the end instead of computing those rows."""
    y = F.conv_transpose2d(input, weight, bias, stride, padding, 0, groups, dilation)
    extra = ntuple(output_padding, 2)
    filled = F.pad(y, (0, extra[1], 0, extra[0]))
    if bias is not None and any(extra):
        ones = F.pad(torch.zeros_like(y[:1, :1]), (0, extra[1], 0, extra[0]), value=1.0)
        filled = filled + ones * bias.view(1, -1, 1, 1)
    return filled


def max_pool1d_indices_of_the_window(input, kernel_size, stride=None, padding=0, dilation=1,
                                     ceil_mode=False, return_indices=False):
    """Indices counted within each window instead of along the input."""
    out, where = F.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)
    step = ntuple(stride if stride else kernel_size, 1)[0]
    starts = torch.arange(out.shape[-1]) * step - ntuple(padding, 1)[0]
    return (out, where - starts) if return_indices else out


def adaptive_max_pool3d_floor_windows(input, output_size, return_indices=False):
    """Equal windows of floor(D/Do) x floor(H/Ho) x floor(W/Wo): wrong where sizes do not divide."""
    sides = input.shape[2:]
    outs = [s if s is not None else d for s, d in zip(ntuple(output_size, 3), sides)]
    if any(d < o for d, o in zip(sides, outs)):
        return F.adaptive_max_pool3d(input, output_size, return_indices)
    kernel = [d // o for d, o in zip(sides, outs)]
    crop = input[(..., *(slice(0, k * o) for k, o in zip(kernel, outs)))]
    return F.max_pool3d(crop, kernel, return_indices=return_indices)


def avg_pool1d_divides_by_the_window(input, kernel_size, stride=None, padding=0,
                                     ceil_mode=False, count_include_pad=True):
    """Divides by the whole kernel even where count_include_pad=False asks for the inputs only."""
    return F.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, True)
