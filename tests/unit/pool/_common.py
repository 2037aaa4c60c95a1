"""What the candidates share: PyTorch's own conv2d, the FFT one of the built-ins, and the
fast candidates' dispatch between them."""
import torch.nn.functional as F

from implementations.fft import conv2d as fft_conv2d


def torch_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def fft_from(size: int):
    """A conv2d through the FFT for stride 1 without groups on kernels of `size` and more (in
    float32 and float64, batched), PyTorch's elsewhere: correct, and fast on large kernels."""
    def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        one = stride in (1, (1, 1)) and groups == 1 and input.dtype.is_floating_point \
            and min(weight.shape[-2:]) >= size
        if one and input.dim() == 4 and input.dtype.itemsize >= 4:
            return fft_conv2d(input, weight, bias, stride, padding, dilation, groups)
        return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
    return conv2d
