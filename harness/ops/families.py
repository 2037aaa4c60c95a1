"""The op families of the contract and their spatial dimensions: the one list every list of
ops derives from. No torch here, so that the command line checks an --op without importing it."""
from __future__ import annotations

FAMILIES = {  # family: the dimensions it comes in (its ops are named f"{family}{dims}d")
    "conv": (1, 2, 3),
    "conv_transpose": (1, 2, 3),
    "max_pool": (1, 2, 3),
    "avg_pool": (1, 2, 3),
    "adaptive_avg_pool": (1, 2, 3),
    "adaptive_max_pool": (1, 2, 3),
}


def op_name(family: str, dims: int) -> str:
    return f"{family}{dims}d"


OP_NAMES = tuple(op_name(family, dims) for family, all_dims in FAMILIES.items()
                 for dims in all_dims)


def family_of(op: str) -> str:
    """'conv2d' -> 'conv'; a name that is no op of ours is its own family."""
    for family, all_dims in FAMILIES.items():
        if op in (op_name(family, dims) for dims in all_dims):
            return family
    return op


def family_order(op: str) -> tuple:
    """Sort key: the families in FAMILIES' order, then the op's name."""
    family = family_of(op)
    rank = list(FAMILIES).index(family) if family in FAMILIES else len(FAMILIES)
    return (rank, op)
