"""Wrong in its backward only: the weight's gradient is twice what it should be."""
import torch

from _common import torch_conv2d


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(input, weight)
        ctx.args = (stride, padding, dilation, groups)
        return torch_conv2d(input, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        input, weight = ctx.saved_tensors
        with torch.enable_grad():
            x, w = input.detach().requires_grad_(), weight.detach().requires_grad_()
            out = torch_conv2d(x, w, None, *ctx.args)
            gx, gw = torch.autograd.grad(out, (x, w), grad)
        gb = grad.sum((0, 2, 3)) if ctx.needs_input_grad[2] else None
        return gx, 2 * gw, gb, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _Conv.apply(input, weight, bias, stride, padding, dilation, groups)
