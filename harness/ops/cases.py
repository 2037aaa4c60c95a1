"""Case: one call of an op described by value (shapes, arguments, dtype, seed), and its tensors."""
from __future__ import annotations

import json
import math
import shlex
from dataclasses import asdict, dataclass, field, replace

import torch

from harness.ops.catalog import OPS, Op

DTYPES = {"float64": torch.float64, "float32": torch.float32,
          "float16": torch.float16, "bfloat16": torch.bfloat16}
DISTRIBUTIONS = ("normal", "negative", "ties", "large")
# Drawn where a region asks for them, not by default: "positive" (a positive mean, where a
# half-precision accumulator stagnates), "special" (NaN, +-inf, -0.0, subnormal, near max).
EXTRA_DISTRIBUTIONS = ("positive", "special")
SPECIAL_KINDS = ("nan", "inf", "-inf", "-0.0", "subnormal", "near_max")
LAYOUTS = ("contiguous", "channels_last", "noncontiguous")
# "large" scales inputs up while keeping every sum representable in the dtype.
LARGE_SCALE = {"float64": 1e6, "float32": 1e4, "float16": 30.0, "bfloat16": 1e4}


@dataclass(frozen=True)
class Case:
    """A call of `op` described by value; `tensors()` makes its inputs from `seed`."""

    op: str
    input_shape: tuple
    weight_shape: tuple | None = None
    bias: bool = False
    kwargs: dict = field(default_factory=dict)
    dtype: str = "float32"
    device: str = "cpu"
    layout: str = "contiguous"
    dist: str = "normal"
    seed: int = 0

    def __post_init__(self):
        """Keyword arguments in the op's signature order, however they were given: a case
        reads the same from the draws and from its JSON."""
        order = list(self.spec.signature.parameters)
        ranked = sorted(self.kwargs, key=lambda k: order.index(k) if k in order else len(order))
        object.__setattr__(self, "kwargs", {k: self.kwargs[k] for k in ranked})

    @property
    def spec(self) -> Op:
        return OPS[self.op]

    @property
    def shapes(self) -> tuple:
        return (self.input_shape, self.weight_shape)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def output_shape(self) -> tuple:
        return self.spec.output_shape(self.shapes, self.kwargs)

    def reduction_length(self) -> int:
        return self.spec.reduction_length(self.shapes, self.kwargs)

    def grad_reduction_lengths(self) -> tuple:
        """Terms summed by one element of the gradient of each tensor input."""
        return self.spec.grad_reduction_lengths(self.shapes, self.kwargs)

    def special_sites(self) -> torch.Tensor | None:
        """Flat indices of the input where special values may be planted (None: anywhere)."""
        mask = self.spec.special_sites(self.shapes, self.kwargs)
        if mask is None:
            return None
        return mask.expand(self.input_shape).flatten().nonzero().flatten()

    def with_(self, **changes) -> "Case":
        return replace(self, **changes)

    def tensors(self) -> tuple:
        """(input, weight, bias) for convolutions, (input,) for pools: seeded, in dtype, on device."""
        gen = torch.Generator().manual_seed(self.seed)
        shapes = [self.input_shape]
        if self.spec.weighted:
            bias = (self.spec.out_channels(self.weight_shape, self.kwargs),)
            shapes += [self.weight_shape, bias if self.bias else None]
        made = [None if s is None else self._values(s, gen, i == 0) for i, s in enumerate(shapes)]
        if self.dist == "special":
            made = self._planted(made)
        return tuple(None if t is None else self._placed(t) for t in made)

    def _values(self, shape, gen, is_input) -> torch.Tensor:
        if self.dist == "ties":
            return torch.randint(-3, 4, shape, generator=gen).to(self.torch_dtype)
        values = torch.randn(shape, generator=gen, dtype=torch.float64)
        if self.dist == "negative":
            values = -values.abs() - 0.5
        elif self.dist == "positive":
            values = values.abs() + 0.5
        elif self.dist == "large" and is_input:
            values = values * LARGE_SCALE[self.dtype]
        return values.to(self.torch_dtype)

    def _planted(self, made: list) -> list:
        """Special values at seeded positions: every kind in the input (as many as it has
        elements, starting from a seeded kind); -0.0 in a conv's weight. Not an infinite weight
        (meeting zero padding it is NaN in some of PyTorch's kernels and not in others), nor a
        subnormal one (flushed to zero where denormals are off, it makes inf x 0 = NaN of an
        infinite input). A near-max input is scaled so that no conv sum can overflow, forward or
        backward (there grad_output is within 1: properties.gradients.grad_output)."""
        gen, kinds = _special_order(self.seed)
        info = torch.finfo(self.torch_dtype)
        near_max = 0.9 * info.max
        if self.spec.weighted:
            rows = self.spec.per_output_channel(made[1].double().abs())
            near_max /= max(1.0, float(rows.sum(1).max()))
        values = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0.0": -0.0,
                  "subnormal": info.tiny / 4, "near_max": near_max}
        planted = [_plant(made[0], kinds, values, gen, self.special_sites())]
        if self.spec.weighted:
            planted.append(_plant(made[1], ("-0.0",), values, gen))
            planted += made[2:]
        return planted

    def _placed(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device)
        if self.layout == "channels_last" and t.dim() >= 3:
            return channels_last(t)
        if self.layout == "noncontiguous" and t.dim() >= 2:
            wide = torch.stack([t, torch.full_like(t, float("nan"))], dim=-1)
            return wide[..., 0]  # every other element of a larger buffer
        return t

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists), as records store a case."""
        return json.loads(self.to_json())

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Case":
        data = dict(data)
        for key in ("input_shape", "weight_shape"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        data["kwargs"] = {k: tuple(v) if isinstance(v, list) else v
                          for k, v in data.get("kwargs", {}).items()}
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "Case":
        return cls.from_dict(json.loads(text))

    def call_text(self, fn: str = "") -> str:
        """The call as Python source: `F.conv2d(input, weight, stride=2)`."""
        args = list(self.spec.tensor_args[:2 if self.spec.weighted else 1])
        if self.bias:
            args.append("bias")
        args += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{fn or 'F.' + self.op}({', '.join(args)})"

    def repro(self, impl: str = "", prop: str = "") -> str:
        """A one-line command that runs this case again (for one property, if named)."""
        target = (f" --impl {shlex.quote(impl)}" if impl else "") + \
            (f" --property {prop}" if prop else "")
        return f"convharness check{target} --case '{self.to_json()}'"

    def reference_defined(self) -> bool:
        """False where the oracle has no defined answer (a max-pool window wholly in padding)."""
        return self.spec.defined(self.shapes, self.kwargs)


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """The channels innermost: channels_last (4-D), channels_last_3d (5-D), or, for 3-D tensors,
    the (N, L, C) order transposed back to (N, C, L), as a kernel reading NLC data sees it."""
    if t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if t.dim() == 5:
        return t.contiguous(memory_format=torch.channels_last_3d)
    return t.transpose(1, -1).contiguous().transpose(1, -1)


def _plant(t: torch.Tensor, kinds, values: dict, gen, sites=None) -> torch.Tensor:
    """`kinds` at seeded positions of `t`, among `sites` (flat indices; None: anywhere)."""
    flat = t.flatten().clone()
    where = torch.randperm(flat.numel(), generator=gen)
    if sites is not None:
        where = where[torch.isin(where, sites)]
    for position, kind in zip(where[:len(kinds)].tolist(), kinds):
        flat[position] = values[kind]
    return flat.view(t.shape)


def special_kinds(case: Case) -> tuple:
    """The special values a case's input holds (its first elements-many kinds)."""
    if case.dist != "special":
        return ()
    sites = case.special_sites()
    count = math.prod(case.input_shape) if sites is None else len(sites)
    return _special_order(case.seed)[1][:count]


def _special_order(seed: int) -> tuple:
    """(generator of the positions, the kinds from a seeded first one on)."""
    gen = torch.Generator().manual_seed(seed ^ 0x5BD1E995)
    first = int(torch.randint(len(SPECIAL_KINDS), (1,), generator=gen))
    return gen, SPECIAL_KINDS[first:] + SPECIAL_KINDS[:first]


def describe(case: Case) -> str:
    shapes = "x".join(map(str, case.input_shape))
    if case.weight_shape:
        shapes += " * " + "x".join(map(str, case.weight_shape))
    return f"{case.call_text()} [{shapes}, {case.dtype}, {case.device}, {case.layout}, {case.dist}]"

