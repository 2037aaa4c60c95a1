"""conv2d through the FFT: correlation is a product of spectra, so a large kernel costs no more
than a small one. Stride 1 only; dilation is handled by spreading the kernel with zeros.

Half-precision inputs are transformed in float32 (CPU FFTs have no float16), then cast back.
"""
import torch
import torch.nn.functional as F

from harness.registry import implements
from implementations._geometry import conv_geometry

WORK_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _spread(weight, dilation):
    """A dilated kernel as a dense one with zeros between the taps."""
    if dilation == (1, 1):
        return weight
    k, c, r, s = weight.shape
    out = weight.new_zeros(k, c, dilation[0] * (r - 1) + 1, dilation[1] * (s - 1) + 1)
    out[:, :, ::dilation[0], ::dilation[1]] = weight
    return out


@implements(F.conv2d, name="fft.conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    if g.stride != (1, 1):
        raise NotImplementedError("fft.conv2d computes stride 1 only")
    work = WORK_DTYPE.get(input.dtype, input.dtype)
    x = F.pad(input, g.f_pad).to(work)
    w = _spread(weight, g.dilation).to(work)
    n, c, hp, wp = x.shape
    k, cg, r, s = w.shape
    spectrum_x = torch.fft.rfft2(x, s=(hp, wp)).view(n, groups, cg, hp, -1)
    spectrum_w = torch.fft.rfft2(w, s=(hp, wp)).view(groups, k // groups, cg, hp, -1)
    product = torch.einsum("ngchw,gkchw->ngkhw", spectrum_x, spectrum_w.conj())
    full = torch.fft.irfft2(product.reshape(n, k, hp, -1), s=(hp, wp))
    y = full[:, :, :g.out[0], :g.out[1]].to(input.dtype)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
