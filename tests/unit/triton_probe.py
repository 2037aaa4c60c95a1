"""Run with TRITON_INTERPRET=1: prints the largest error of tl.dot on a 16x16 tile of each dtype
under Triton's CPU interpreter (implementations/triton_conv.py declares only the right ones)."""
import torch
import triton
import triton.language as tl


@triton.jit
def dot_kernel(a_ptr, b_ptr, c_ptr, BLOCK: tl.constexpr):
    rows, cols = tl.arange(0, BLOCK)[:, None], tl.arange(0, BLOCK)[None, :]
    a = tl.load(a_ptr + rows * BLOCK + cols)
    b = tl.load(b_ptr + rows * BLOCK + cols)
    tl.store(c_ptr + rows * BLOCK + cols, tl.dot(a, b))


def dot_error(dtype: torch.dtype, block: int = 16) -> float:
    """max |tl.dot(a, b) - a @ b| over a block x block tile of normal values in `dtype`."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(block, block, generator=generator).to(dtype) for _ in range(2))
    c = torch.empty(block, block)
    dot_kernel[(1,)](a, b, c, BLOCK=block)
    return (c.double() - a.double() @ b.double()).abs().max().item()


if __name__ == "__main__":
    for name in ("float32", "float16", "bfloat16"):
        print(name, dot_error(getattr(torch, name)))
