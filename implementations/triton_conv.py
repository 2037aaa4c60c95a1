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
import importlib.util
import os

import torch
import torch.nn.functional as F

from harness.plugins.registry import implements
from implementations._geometry import conv_geometry

HAS_TRITON = importlib.util.find_spec("triton") is not None  # else nothing is registered
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
SMALL = {"BLOCK_M": 16, "BLOCK_N": 16, "BLOCK_K": 16} if INTERPRET else \
    {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "num_warps": 4, "num_stages": 3}
TUNE_ABOVE = 2 ** 26  # multiply-adds: smaller problems take a fixed tile, not autotuning
# The autotuner's configurations (tiles, warps, pipeline stages), declared too: each is checked
# and timed on its own as triton.conv2d[BLOCK_M=..,...], so the one the autotuner keeps is one
# that conforms. The interpreter runs the tiles (and their masked tails); warps and stages are
# the GPU's.
TILES = [(128, 128, 32, 8, 3), (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (128, 128, 64, 8, 3),
         (128, 64, 64, 4, 3), (64, 64, 32, 4, 4), (128, 32, 32, 4, 4), (128, 16, 16, 4, 4)]
AUTOTUNED = [{"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "num_warps": w, "num_stages": st}
             for m, n, k, w, st in TILES]
CONFIGS = AUTOTUNED + [{"num_warps": 4, "num_stages": 3, **SMALL}]  # and the small problems' tile


def blocks(tile: dict) -> dict:
    """A configuration's tile sizes (the kernel's constexprs), without its launch options."""
    return {k: v for k, v in tile.items() if k.startswith("BLOCK_")}


def _forward(x, weight, bias, stride, padding, dilation, groups, out_hw, tile):
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
    from implementations import _triton_kernels as kernels  # Triton loads on the first call
    m, kg = n * ho * wo, k // groups
    args = (x, weight, weight if bias is None else bias, y, m, kg, cg, x.shape[2], x.shape[3],
            ho * wo, wo, r, s, *stride, *padding, *dilation, *x.stride(), *weight.stride(),
            *y.stride())
    flags = {"HAS_BIAS": bias is not None, "IEEE": x.dtype == torch.float32}

    def grid(meta):
        return (-(-m // meta["BLOCK_M"]), -(-kg // meta["BLOCK_N"]), groups)

    if tile:  # one configuration, pinned
        launch = blocks(tile) if INTERPRET else tile
        kernels.conv_kernel[grid](*args, **flags, **launch)
    elif INTERPRET or m * kg * cg * r * s < TUNE_ABOVE:
        kernels.conv_kernel[grid](*args, **flags, **SMALL)
    else:
        kernels.tuned_kernel[grid](*args, **flags)
    return y


class _TritonConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_hw, tile):
        ctx.save_for_backward(x, weight)
        ctx.conf = (bias is not None, stride, padding, dilation, groups)
        return _forward(x, weight, bias, stride, padding, dilation, groups, out_hw, tile)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        has_bias, stride, padding, dilation, groups = ctx.conf
        gx, gw, gb = torch.ops.aten.convolution_backward(
            grad, x, weight, [weight.shape[0]] if has_bias else None, list(stride),
            list(padding), list(dilation), False, [0, 0], groups,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias])
        return gx, gw, gb, None, None, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, BLOCK_M=0,
           BLOCK_N=0, BLOCK_K=0, num_warps=4, num_stages=3):
    """BLOCK_M=0 (the default): a fixed small tile on small problems, else the autotuner."""
    tile = {"BLOCK_M": BLOCK_M, "BLOCK_N": BLOCK_N, "BLOCK_K": BLOCK_K, "num_warps": num_warps,
            "num_stages": num_stages} if BLOCK_M else None
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    top, bottom, left, right = g.pads
    if top != bottom or left != right:  # 'same' with an even kernel: pad here, symmetric inside
        input, pads = F.pad(input, g.f_pad), (0, 0)
    else:
        pads = (top, left)
    return _TritonConv.apply(input, weight, bias, g.stride, pads, g.dilation, groups, g.out,
                             tile)


# Triton 3.9's interpreter multiplies bfloat16 operands of tl.dot wrongly (1e9 where the answer
# is 1; float32 and float16 are right; tests/unit/test_fast_impls.py has the three-line kernel
# that shows it and fails once the interpreter is mended): on the interpreter, bfloat16 is not
# declared. On a GPU it is, and checked.
DTYPES = ("float32", "float16") if INTERPRET else ("float32", "float16", "bfloat16")

if HAS_TRITON:
    conv2d = implements(F.conv2d, name="triton.conv2d",
                        devices=("cpu", "cuda") if INTERPRET else ("cuda",),
                        dtypes=DTYPES, configs=CONFIGS,
                        autotuner="implementations._triton_kernels:tuned_kernel")(conv2d)
