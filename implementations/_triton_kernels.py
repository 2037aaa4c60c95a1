"""The Triton kernels of triton_conv (imported on its first call: `convharness list` and
discovery do not import Triton)."""
import triton
import triton.language as tl

from implementations.triton_conv import AUTOTUNED, blocks

CONFIGS = [triton.Config(blocks(tile), num_warps=tile["num_warps"], num_stages=tile["num_stages"])
           for tile in AUTOTUNED]


@triton.jit
def conv_kernel(x, w, b, y, M, KG, C_G, H, W, HW_OUT, W_OUT, R, S,
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


tuned_kernel = triton.autotune(configs=CONFIGS, key=["M", "KG", "C_G", "R", "S"])(
    conv_kernel)
