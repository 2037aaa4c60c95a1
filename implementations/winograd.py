"""conv2d by Winograd's minimal filtering F(2x2, 3x3): 16 multiplies per 2x2 output tile, not 36.

Each 4x4 input tile d and 3x3 kernel g are transformed (V = Bt d B, U = G g Gt), multiplied
elementwise and summed over channels (16 independent matrix multiplies), and transformed back
(Y = At M A). 3x3 kernels, stride 1, dilation 1 only; anything else is NotImplementedError.

Numerical error: the transforms add and subtract up to 4 tile values with weights 1 and 1/2, so
the rounding of an output depends on its whole 4x4 tile rather than its own 3x3 window. Its
error is bounded normwise, which is what the tolerance policy's NORMWISE term allows; measured
against the float64 oracle it stays within a few eps of the largest |terms| sum in float32.
Half-precision inputs are computed in float32 and rounded once at the end.
"""
import torch
import torch.nn.functional as F

from harness.registry import implements
from implementations._geometry import conv_geometry

BT = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
AT = [[1, 1, 1, 0], [0, 1, -1, -1]]
WORK_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _m(rows, like):
    return torch.tensor(rows, dtype=like.dtype, device=like.device)


@implements(F.conv2d, name="winograd.conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    if weight.shape[2:] != (3, 3) or g.stride != (1, 1) or g.dilation != (1, 1):
        raise NotImplementedError("winograd F(2x2,3x3) needs a 3x3 kernel, stride 1, dilation 1")
    work = WORK_DTYPE.get(input.dtype, input.dtype)
    x, w = input.to(work), weight.to(work)
    n, k = x.shape[0], w.shape[0]
    cg, kg = w.shape[1], k // groups
    ho, wo = g.out
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    top, bottom, left, right = g.pads
    x = F.pad(x, (left, right + 2 * tw - wo, top, bottom + 2 * th - ho))
    tiles = x.unfold(2, 4, 2).unfold(3, 4, 2)  # n, c, th, tw, 4, 4
    bt, gm, at = _m(BT, x), _m(G, x), _m(AT, x)
    v = torch.einsum("ij,nctwjk,lk->ilnctw", bt, tiles, bt)  # 4, 4, n, c, th, tw
    u = torch.einsum("ij,kcjl,ml->imkc", gm, w, gm)  # 4, 4, k, cg
    v = v.reshape(16, n, groups, cg, th * tw).permute(0, 2, 3, 1, 4).reshape(16 * groups, cg, -1)
    u = u.reshape(16 * groups, kg, cg)
    m = torch.bmm(u, v).view(4, 4, groups, kg, n, th, tw)
    y = torch.einsum("ai,ijgknpq,bj->ngkpaqb", at, m, at).reshape(n, k, 2 * th, 2 * tw)
    y = y[:, :, :ho, :wo].to(input.dtype)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
