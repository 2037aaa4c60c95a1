"""conv2d forward as a Triton implicit-GEMM kernel; backward through autograd's formulas.

The GEMM is (N*Ho*Wo) x (K/groups) x (C/groups*R*S), one program per output tile and group.
No im2col matrix is built: each program gathers its input tile straight from the image, kernel
taps in the outer loop and channels in the inner one, so the index arithmetic is per row, not per
element. Any strides work: 1x1 kernels read NCHW in place (coalesced along pixels), larger ones
read channels_last (coalesced along channels); the output takes the layout that was read.
float32 uses IEEE dot products (no TF32), to meet the float32 tolerance.

Registered for CUDA. With TRITON_INTERPRET=1 (Triton's CPU interpreter) it is registered for the
CPU too, so CI can check it on small shapes without a GPU.
"""
import os

import torch
import torch.nn.functional as F

from harness.registry import implements
from implementations._geometry import conv_geometry

try:
    import triton
    import triton.language as tl
except ImportError:  # the module registers nothing without Triton
    triton = None

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"

if triton is not None:
    _SMALL = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16} if INTERPRET else \
        {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3}
    _CONFIGS = [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w,
                              num_stages=st)
                for m, n, k, w, st in [(128, 128, 32, 8, 3), (128, 64, 32, 4, 4),
                                       (64, 128, 32, 4, 4), (128, 128, 64, 8, 3),
                                       (128, 64, 64, 4, 3), (64, 64, 32, 4, 4),
                                       (128, 32, 32, 4, 4), (128, 16, 16, 4, 4)]]
    TUNE_ABOVE = 2 ** 26  # multiply-adds: smaller problems take a fixed tile, not autotuning

    @triton.jit
    def _conv_kernel(x, w, b, y, M, KG, C_G, H, W, HW_OUT, W_OUT, R, S,
                     sh, sw, ph, pw, dh, dw,
                     sxn, sxc, sxh, sxw, swk, swc, swr, sws, syn, syc, syh, syw,
                     HAS_BIAS: tl.constexpr, IEEE: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
        pid_m, pid_n, grp = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        n = (offs_m // HW_OUT).to(tl.int64)
        oh = (offs_m % HW_OUT) // W_OUT
        ow = offs_m % W_OUT
        m_ok, n_ok = offs_m < M, offs_n < KG
        x_base = x + n * sxn + (grp * C_G).to(tl.int64) * sxc
        w_base = w + (grp * KG + offs_n).to(tl.int64) * swk
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for rs in range(0, R * S):  # kernel taps outside, channels inside: no per-element div
            r, s = rs // S, rs % S
            ih = oh * sh - ph + r * dh
            iw = ow * sw - pw + s * dw
            row_ok = m_ok & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            x_row = x_base + ih * sxh + iw * sxw
            w_tap = w_base + r * swr + s * sws
            for c0 in range(0, C_G, BLOCK_K):
                cs = c0 + tl.arange(0, BLOCK_K)
                c_ok = cs < C_G
                a = tl.load(x_row[:, None] + cs[None, :] * sxc, mask=row_ok[:, None] & c_ok[None, :],
                            other=0.0)
                bt = tl.load(w_tap[None, :] + cs[:, None] * swc, mask=c_ok[:, None] & n_ok[None, :],
                             other=0.0)
                if IEEE:
                    acc += tl.dot(a, bt, input_precision="ieee")
                else:
                    acc += tl.dot(a, bt)
        if HAS_BIAS:
            acc += tl.load(b + grp * KG + offs_n, mask=n_ok, other=0.0).to(tl.float32)[None, :]
        out = y + n[:, None] * syn + (grp * KG + offs_n[None, :]) * syc + oh[:, None] * syh \
            + ow[:, None] * syw
        tl.store(out, acc.to(y.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])

    _tuned_kernel = triton.autotune(configs=_CONFIGS, key=["M", "KG", "C_G", "R", "S"])(
        _conv_kernel)


def _forward(x, weight, bias, stride, padding, dilation, groups, out_hw):
    # A 1x1 kernel reads NCHW as it is (loads coalesce along pixels). Larger kernels read
    # channels, so NCHW is copied to channels_last first: measured on an H100 (resnet50, fp16),
    # the copy pays for itself on 3x3 layers and costs more than the whole 1x1 convolution.
    k, cg, r, s = weight.shape
    if r * s > 1:
        x = x.contiguous(memory_format=torch.channels_last)
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    weight = weight.contiguous(memory_format=torch.channels_last)
    n = x.shape[0]
    ho, wo = out_hw
    y = torch.empty((n, k, ho, wo), dtype=x.dtype, device=x.device,
                    memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    m, kg = n * ho * wo, k // groups
    args = (x, weight, weight if bias is None else bias, y, m, kg, cg, x.shape[2], x.shape[3],
            ho * wo, wo, r, s, *stride, *padding, *dilation, *x.stride(), *weight.stride(),
            *y.stride())
    flags = {"HAS_BIAS": bias is not None, "IEEE": x.dtype == torch.float32}

    def grid(meta):
        return (triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(kg, meta["BLOCK_N"]), groups)

    if INTERPRET or m * kg * cg * r * s < TUNE_ABOVE:
        _conv_kernel[grid](*args, **flags, **_SMALL)
    else:
        _tuned_kernel[grid](*args, **flags)
    return y


class _TritonConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_hw):
        ctx.save_for_backward(x, weight)
        ctx.conf = (bias is not None, stride, padding, dilation, groups)
        return _forward(x, weight, bias, stride, padding, dilation, groups, out_hw)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        has_bias, stride, padding, dilation, groups = ctx.conf
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[0]] if has_bias else None, list(stride),
            list(padding), list(dilation), False, [0, 0], groups,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias])
        return gx, gw, gb, None, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    top, bottom, left, right = g.pads
    if top != bottom or left != right:  # 'same' with an even kernel: pad here, symmetric inside
        input, pads = F.pad(input, g.f_pad), (0, 0)
    else:
        pads = (top, left)
    return _TritonConv.apply(input, weight, bias, g.stride, pads, g.dilation, groups, g.out)


if triton is not None:
    conv2d = implements(F.conv2d, name="triton.conv2d",
                        devices=("cpu", "cuda") if INTERPRET else ("cuda",),
                        dtypes=("float32", "float16", "bfloat16"))(conv2d)
