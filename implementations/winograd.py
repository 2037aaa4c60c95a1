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

from harness.plugins.registry import SPREADS_SPECIAL_VALUES, implements
from implementations._geometry import conv_geometry

G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
WORK_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _input_transform(d, dim):
    """Bt applied along `dim` (size 4) of d: only additions, as Winograd intends."""
    d0, d1, d2, d3 = d.unbind(dim)
    return torch.stack([d0 - d2, d1 + d2, d2 - d1, d1 - d3], dim)


def _output_transform(m, dim):
    """At applied along `dim` (size 4) of m."""
    m0, m1, m2, m3 = m.unbind(dim)
    return torch.stack([m0 + m1 + m2, m1 - m2 - m3], dim)


@implements(F.conv2d, name="winograd.conv2d", flop_saving=True,
            known_failures=(SPREADS_SPECIAL_VALUES,))
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    g = conv_geometry(input, weight, stride, padding, dilation, groups)
    if weight.shape[2:] != (3, 3) or g.stride != (1, 1) or g.dilation != (1, 1):
        raise NotImplementedError("winograd F(2x2,3x3) needs a 3x3 kernel, stride 1, dilation 1")
    work = WORK_DTYPE.get(input.dtype, input.dtype)
    x, w = input.to(work), weight.to(work)
    n, k = x.shape[0], w.shape[0]
    cg, kg = w.shape[1], k // groups
    (ho, wo), (th, tw) = g.out, ((g.out[0] + 1) // 2, (g.out[1] + 1) // 2)
    top, bottom, left, right = g.pads
    x = F.pad(x, (left, right + 2 * tw - wo, top, bottom + 2 * th - ho))
    # tiles as (4, 4, groups, cg, n, th, tw): the 16 tile positions lead, for 16 batched GEMMs
    tiles = x.unfold(2, 4, 2).unfold(3, 4, 2).permute(4, 5, 1, 0, 2, 3)
    v = _input_transform(_input_transform(tiles, 0), 1).reshape(16 * groups, cg, n * th * tw)
    gm = torch.tensor(G, dtype=work, device=x.device)
    u = torch.einsum("ij,kcjl,ml->imkc", gm, w, gm).reshape(16 * groups, kg, cg)
    m = torch.bmm(u, v).view(4, 4, groups * kg, n, th, tw)
    y = _output_transform(_output_transform(m, 0), 1)  # 2, 2, k, n, th, tw
    y = y.permute(3, 2, 4, 0, 5, 1).reshape(n, k, 2 * th, 2 * tw)[:, :, :ho, :wo]
    y = y.to(input.dtype)
    return y if bias is None else y + bias.view(1, -1, 1, 1)
