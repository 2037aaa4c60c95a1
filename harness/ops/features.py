"""Call features of each op family and their values, and the call a row of them makes.

A feature is one way calls differ (the padding's form, the groups, the channels against the
tiles real kernels use, the dtype, a degenerate side...). A row gives every feature a value;
`call` turns a row into Case fields, or None where the row is not a valid call (a constraint:
'same' padding with a stride, output_padding past the stride, a window larger than the padded
input). Constraints are decided once, here, by PyTorch's own op on meta tensors: a row it
rejects is no call. The covering arrays (harness.ops.covering) are made of rows.

Sizes stay small unless a feature asks for size: three outputs a side, channels past a tile
only where the row's `channels` says so.
"""
from __future__ import annotations

from dataclasses import dataclass

DTYPES = ("float32", "float64", "float16", "bfloat16")
BATCH = {"one": 1, "past_tile": 9}  # 9: a last partial chunk for batch tiles of 2 to 8
KERNEL = {"odd": 3, "even": 2, "one": 1, "large": 7}  # 7: a stem, a ConvNeXt depthwise


@dataclass(frozen=True)
class Feature:
    name: str
    values: tuple
    tiles: bool = False  # decides how kernels tile: every triple of these is covered too


def features(op: str) -> tuple[Feature, ...]:
    """The call features of `op`, from its family and dimensions."""
    from harness.ops.catalog import OPS
    record = OPS[op]
    family, dims = record.family, record.dims
    layouts = ("contiguous", "channels_last", "noncontiguous") if dims > 1 else \
        ("contiguous", "noncontiguous")
    common = (Feature("batch", tuple(BATCH)), Feature("layout", layouts),
              Feature("dtype", DTYPES, tiles=True))
    if family in ("conv", "conv_transpose"):
        return _conv_features(family, dims) + common
    if family in ("max_pool", "avg_pool"):
        return _pool_features(family, dims) + common
    return _adaptive_features(dims) + common


def _channels(dims: int, depthwise_only: tuple) -> Feature:
    """Small, and just past the tiles real kernels use (GEMM blocks of 128 and 256; depthwise
    blocks of 1,024, and for 1-D the 4,096 channels of long-sequence layers)."""
    return Feature("channels", ("small", "past_128", "past_256") + depthwise_only, tiles=True)


def _conv_features(family: str, dims: int) -> tuple:
    wide = ("past_1024",) + (("past_4096",) if dims == 1 else ())
    padding = ("omitted", "int", "tuple") + (("valid", "same_odd", "same_even")
                                             if family == "conv" else ())
    made = (Feature("padding", padding, tiles=True),
            Feature("stride", ("omitted", "one", "two", "per_side"), tiles=True),
            Feature("dilation", ("omitted", "two", "per_side")),
            Feature("groups", ("omitted", "grouped", "depthwise", "multiplier"), tiles=True),
            _channels(dims, wide),
            Feature("kernel", tuple(KERNEL) if dims < 3 else ("odd", "even", "one"),
                    tiles=True),  # 7x7x7: rare in real networks, and minutes for the textbooks
            Feature("bias", ("omitted", "tensor"), tiles=True),
            Feature("degenerate", ("none", "one_side", "every_side")))
    if family == "conv_transpose":
        made += (Feature("output_padding", ("omitted", "zero", "one")),)
    return made


def _pool_features(family: str, dims: int) -> tuple:
    made = (Feature("kernel_form", ("int", "tuple")),
            Feature("kernel", ("odd", "even"), tiles=True),
            Feature("stride", ("omitted", "one", "two"), tiles=True),
            Feature("padding", ("omitted", "zero", "half"), tiles=True),
            Feature("ceil_mode", ("omitted", "false", "true"), tiles=True),
            _channels(dims, ("past_1024",)),
            Feature("degenerate", ("none", "one_side", "every_side")))
    if family == "max_pool":
        return made + (Feature("dilation", ("omitted", "one", "two"), tiles=True),)
    made += (Feature("count_include_pad", ("omitted", "false")),)
    return made + ((Feature("divisor_override", ("omitted", "three")),) if dims > 1 else ())


def _adaptive_features(dims: int) -> tuple:
    forms = ("int", "tuple") + (("none_side",) if dims > 1 else ())
    return (Feature("output_form", forms),
            Feature("windows", ("global", "even", "uneven", "wider_output"), tiles=True),
            _channels(dims, ("past_1024",)))


def call(op: str, row: dict) -> dict | None:
    """Case fields (input_shape, weight_shape, bias, kwargs, dtype, layout) of a row of `op`'s
    features, or None where that is no valid call (PyTorch's own op rejects it)."""
    from harness.ops.catalog import OPS
    made = fields(op, row)
    return made if made is not None and _accepted(OPS[op], made) else None


def fields(op: str, row: dict) -> dict | None:
    """`call`'s Case fields, not asked of PyTorch: for rows known to be valid calls (the
    covering array's)."""
    from harness.ops.catalog import OPS
    record = OPS[op]
    build = {"conv": _conv_call, "conv_transpose": _conv_call, "max_pool": _pool_call,
             "avg_pool": _pool_call}.get(record.family, _adaptive_call)
    made = build(record, row)
    return None if made is None else {**made, "dtype": row["dtype"], "layout": row["layout"]}


def _per_side(dims: int, first: int, rest: int) -> tuple:
    return (first,) + (rest,) * (dims - 1) if dims > 1 else (first + rest,)


def _sized(value: str, dims: int, one: int, two: int):
    """A stride or dilation value: (omitted: None), one, two, or two and one by side."""
    return {"omitted": None, "one": one, "two": two, "zero": 0,
            "per_side": _per_side(dims, two, one) if dims > 1 else two + one}[value]


def _counts(channels: str, groups: str) -> tuple[int, int, int]:
    """(groups, input channels per group, output channels per group)."""
    size = {"small": 4, "past_128": 129, "past_256": 257, "past_1024": 1025,
            "past_4096": 4097}[channels]
    if groups == "depthwise":
        return size, 1, 1
    if groups == "multiplier":
        return size, 1, 2
    if size > 257:
        return 0, 0, 0  # dense layers that wide: a weight of millions, no tile past 256 apart
    if groups == "grouped":
        return 2, -(-size // 2), 3
    return 1, size, 3


def _conv_call(record, row: dict) -> dict | None:
    dims, transpose = record.dims, record.family == "conv_transpose"
    groups, c_group, k_group = _counts(row["channels"], row["groups"])
    if not groups:
        return None
    kernel = (KERNEL[row["kernel"]],) * dims
    stride = _sized(row["stride"], dims, 1, 2)
    dilation = _sized(row["dilation"], dims, 1, 2)
    kw = {k: v for k, v in (("stride", stride), ("dilation", dilation)) if v is not None}
    if row["groups"] != "omitted":
        kw["groups"] = groups
    padding = {"omitted": None, "int": 1, "tuple": _per_side(dims, 1, 0) if dims > 1 else (1,),
               "valid": "valid", "same_odd": "same", "same_even": "same"}[row["padding"]]
    if padding is not None:
        kw["padding"] = padding
    extent = _extents(kernel, dilation, dims)
    if row["padding"] == "same_odd" and any(e % 2 == 0 for e in extent) or \
            row["padding"] == "same_even" and all(e % 2 for e in extent):
        return None
    if transpose and row.get("output_padding", "omitted") != "omitted":
        kw["output_padding"] = 0 if row["output_padding"] == "zero" else 1
    sides = _conv_sides(row, dims, kernel, kw, transpose)
    weight = (groups * c_group, k_group, *kernel) if transpose else \
        (groups * k_group, c_group, *kernel)
    return dict(input_shape=(BATCH[row["batch"]], groups * c_group, *sides),
                weight_shape=weight, bias=row["bias"] == "tensor", kwargs=kw)


def _extents(kernel: tuple, dilation, dims: int) -> tuple:
    dil = (1,) * dims if dilation is None else (dilation,) * dims if isinstance(dilation, int) \
        else tuple(dilation)
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil))


def _tuple(value, dims: int, default: int) -> tuple:
    if value is None:
        return (default,) * dims
    return (value,) * dims if isinstance(value, int) else tuple(value)


def _outputs(row: dict, dims: int) -> tuple:
    """Outputs a side: three, or one on the degenerate side(s); with channels past a tile,
    two on the first side and one on the others (the channels are the point there, and a
    kernel that loops in Python pays for every output)."""
    if row["degenerate"] == "every_side":
        return (1,) * dims
    if row.get("channels", "small") != "small":
        return (1,) * dims if row["degenerate"] == "one_side" else (2,) + (1,) * (dims - 1)
    if row["degenerate"] == "one_side":
        return (1,) + (3,) * (dims - 1)
    return (3,) * dims


def _conv_sides(row: dict, dims: int, kernel: tuple, kw: dict, transpose: bool) -> tuple:
    """Input sides that give _outputs(row) (or, for a transposed conv, the smallest inputs: one
    on the degenerate sides)."""
    stride = _tuple(kw.get("stride"), dims, 1)
    if transpose:
        return tuple(1 if o == 1 else 3 for o in _outputs(row, dims))
    extent = _extents(kernel, kw.get("dilation"), dims)
    padding = kw.get("padding", 0)
    if isinstance(padding, str):
        pads = (0,) * dims if padding == "valid" else None
    else:
        pads = _tuple(padding, dims, 0)
    if pads is None:  # 'same': the output is the input
        return _outputs(row, dims)
    return tuple(max(1, (o - 1) * s + e - 2 * p)
                 for o, s, e, p in zip(_outputs(row, dims), stride, extent, pads))


def _pool_call(record, row: dict) -> dict | None:
    dims = record.dims
    k = KERNEL[row["kernel"]]
    kw = {"kernel_size": k if row["kernel_form"] == "int" else (k,) * dims}
    stride = _sized(row["stride"], dims, 1, 2)
    if stride is not None:
        kw["stride"] = stride
    if row["padding"] != "omitted":
        kw["padding"] = 0 if row["padding"] == "zero" else k // 2
    if row["ceil_mode"] != "omitted":
        kw["ceil_mode"] = row["ceil_mode"] == "true"
    if row.get("dilation", "omitted") != "omitted":
        kw["dilation"] = 1 if row["dilation"] == "one" else 2
    if row.get("count_include_pad", "omitted") != "omitted":
        kw["count_include_pad"] = False
    if row.get("divisor_override", "omitted") != "omitted":
        kw["divisor_override"] = 3
    step = _tuple(kw.get("stride"), dims, k)
    extent = _extents((k,) * dims, kw.get("dilation"), dims)
    pad = kw.get("padding", 0)
    sides = tuple(max(1, (o - 1) * s + e - 2 * pad)
                  for o, s, e in zip(_outputs(row, dims), step, extent))
    size = _counts(row["channels"], "depthwise")[0]
    return dict(input_shape=(BATCH[row["batch"]], size, *sides), weight_shape=None,
                bias=False, kwargs=kw)


def _adaptive_call(record, row: dict) -> dict | None:
    dims = record.dims
    sides, out = {"global": ((5,) * dims, (1,) * dims), "even": ((6,) * dims, (3,) * dims),
                  "uneven": ((7,) * dims, (3,) * dims),
                  "wider_output": ((3,) * dims, (5,) * dims)}[row["windows"]]
    form = row["output_form"]
    size = out[0] if form == "int" else tuple(out) if form == "tuple" else \
        (None,) + tuple(out[1:])
    channels = _counts(row["channels"], "depthwise")[0]
    return dict(input_shape=(BATCH[row["batch"]], channels, *sides), weight_shape=None,
                bias=False, kwargs={"output_size": size})


def _accepted(record, made: dict) -> bool:
    """PyTorch's own op accepts the call (on zeros of its shapes: small, by construction)."""
    import warnings

    import torch
    meta = {"device": "cpu"}  # meta tensors skip some checks (output_padding past the stride)
    try:
        args = [torch.zeros(made["input_shape"], **meta)]
        if made["weight_shape"] is not None:
            args.append(torch.zeros(made["weight_shape"], **meta))
            bias = record.out_channels(made["weight_shape"], made["kwargs"])
            args.append(torch.zeros(bias, **meta) if made["bias"] else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch's advice on 'same' with an even kernel
            out = record.functional(*args, **made["kwargs"])
        out = out[0] if isinstance(out, tuple) else out
        return out.numel() > 0
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return False
