"""PyTorch's process-wide settings that checks and timings pin while they call a kernel (and
restore after): TF32, cudnn.benchmark, intra-op threads."""
from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def intra_op_threads(threads: int):
    """PyTorch's intra-op threads set to `threads` for the block; restored after."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def pinned_flags():
    """TF32 off and cudnn.benchmark off for reference and candidate alike; restored after."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    try:
        yield {"allow_tf32": False, "cudnn_benchmark": False}
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved
