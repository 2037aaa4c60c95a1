"""Registering one technique's N-d body for each dimension of an op family."""
from __future__ import annotations

from harness.ops.families import FAMILIES, op_name
from harness.plugins.registry import implements


def register(technique: str, family: str, body, dims_all=None, **options) -> dict:
    """Register `body(*every argument of the op in its stub's order, dims)` as
    `{technique}.{family}{dims}d` for each dimension of the family; returns {name: function},
    for the module's globals (so that `module:conv2d` loads the same function)."""
    from harness.ops.catalog import get_op
    made = {}
    for dims in dims_all or FAMILIES[family]:
        name = op_name(family, dims)
        op = get_op(name)
        made[name] = implements(op.functional, name=f"{technique}.{name}",
                                **options)(_signed(op, body, dims))
    return made


def _signed(op, body, dims: int):
    """A function with the op's own signature that calls `body` with every argument."""
    signature = op.signature

    def fn(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(*bound.arguments.values(), dims=dims)

    fn.__signature__ = signature
    fn.__name__ = fn.__qualname__ = op.name
    fn.__module__ = body.__module__
    fn.__doc__ = body.__doc__
    return fn
