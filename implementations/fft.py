"""conv2d through the FFT: correlation is a product of spectra, so a large kernel costs no more
than a small one. Stride 1 only; dilation is handled by spreading the kernel with zeros.

Half-precision inputs are transformed in float32 (CPU FFTs have no float16), then cast back.
"""
import torch
import torch.nn.functional as F

from harness.plugins.registry import SPREADS_SPECIAL_VALUES, KnownFailure, implements
from implementations._geometry import conv_geometry

WORK_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _smooth(size: int) -> int:
    """The smallest 5-smooth number (only factors 2, 3, 5) at least size."""
    while True:
        rest = size
        for p in (2, 3, 5):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return size
        size += 1


def _spread(weight, dilation):
    """A dilated kernel as a dense one with zeros between the taps."""
    if dilation == (1, 1):
        return weight
    k, c, r, s = weight.shape
    out = weight.new_zeros(k, c, dilation[0] * (r - 1) + 1, dilation[1] * (s - 1) + 1)
    out[:, :, ::dilation[0], ::dilation[1]] = weight
    return out


def _correlate(x, w):
    """x @ conj(w) per frequency, as one real batched product (complex bmm on the CPU runs a
    loop of small copies): [xr xi] @ [[wr, -wi], [wi, wr]] = [real | imaginary]."""
    a = torch.view_as_real(x).transpose(-1, -2).reshape(*x.shape[:-1], 2 * x.shape[-1])
    w = torch.view_as_real(w)
    wr, wi = w[..., 0], w[..., 1]
    top = torch.stack([wr, -wi], dim=-2).reshape(*wr.shape[:-1], -1)
    bottom = torch.stack([wi, wr], dim=-2).reshape(*wr.shape[:-1], -1)
    real, imag = torch.matmul(a, torch.cat([top, bottom], dim=-2)).chunk(2, dim=-1)
    return torch.complex(real, imag)


WORKSPACE = 2**30  # bytes of spectra one call may hold; past it the call is declined


def _workspace(n: int, c: int, k: int, cg: int, size: tuple, work: torch.dtype) -> int:
    """Bytes of the spectra a call holds at once: the input's and the output's (complex), and
    the kernel's at the whole plane's size, with its real block matrix (four times as many
    reals). A 1x1 kernel over many channels is where the plane-sized kernel spectra explode."""
    freqs = size[0] * (size[1] // 2 + 1)
    real = torch.finfo(work).bits // 8
    return freqs * real * (2 * n * c + 2 * n * k + 6 * k * cg)


LONG_PLANE = 2**14  # positions; past it the FFT's error, which grows with log(length), shows


def _long_transform(case) -> bool:
    """The input plane is long enough for the transform's rounding to outgrow the tolerance."""
    h, w = case.input_shape[-2:]
    return h * w > LONG_PLANE


LONG_TRANSFORM = KnownFailure(
    "an FFT's rounding error grows with the log of the transform length and with the norm of the "
    "whole plane: on planes of tens of thousands of positions it exceeds the fixed normwise "
    "tolerance where the direct sum would be exact", _long_transform, ("sizes", "gradients"))


@implements(F.conv2d, name="fft.conv2d", flop_saving=True,
            known_failures=(SPREADS_SPECIAL_VALUES, LONG_TRANSFORM))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    if g.stride != (1, 1):
        raise NotImplementedError("fft.conv2d computes stride 1 only")
    work = WORK_DTYPE.get(input.dtype, input.dtype)
    x = F.pad(input, g.f_pad).to(work)
    w = _spread(weight, g.dilation).to(work)
    n, c, hp, wp = x.shape
    k, cg = w.shape[:2]
    size = (_smooth(hp), _smooth(wp))  # sizes with factors 2, 3, 5 only transform fastest
    need = _workspace(n, c, k, cg, size, work)
    if need > WORKSPACE:  # as cuDNN's FFT algorithms are not chosen past their workspace limit
        raise NotImplementedError(f"fft.conv2d would hold {need / 2**30:.1f} GiB of spectra "
                                  f"(the kernel's at the {hp}x{wp} plane's size), more than its "
                                  f"workspace limit of {WORKSPACE / 2**30:.0f} GiB")
    spectrum_x = torch.fft.rfft2(x, s=size).view(n, groups, cg, -1)
    spectrum_w = torch.fft.rfft2(w, s=size).view(groups, k // groups, cg, -1)
    product = _correlate(spectrum_x.permute(1, 3, 0, 2), spectrum_w.permute(0, 3, 2, 1))
    product = product.permute(2, 0, 3, 1).reshape(n, k, size[0], -1)
    full = torch.fft.irfft2(product, s=size)
    y = full[:, :, :g.out[0], :g.out[1]].to(input.dtype)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
