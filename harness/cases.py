"""Case: one call of an op described by value (shapes, arguments, dtype, seed), and its tensors."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

import torch

from harness.ops import OPS, Op, pool_geometry

DTYPES = {"float64": torch.float64, "float32": torch.float32,
          "float16": torch.float16, "bfloat16": torch.bfloat16}
DISTRIBUTIONS = ("normal", "negative", "ties", "large")
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

    def with_(self, **changes) -> "Case":
        return replace(self, **changes)

    def tensors(self) -> tuple:
        """(input, weight, bias) for conv2d, (input,) for pools: seeded, in dtype, on device."""
        gen = torch.Generator().manual_seed(self.seed)
        shapes = [self.input_shape]
        if self.op == "conv2d":
            shapes += [self.weight_shape, (self.weight_shape[0],) if self.bias else None]
        made = [None if s is None else self._values(s, gen, i == 0) for i, s in enumerate(shapes)]
        return tuple(None if t is None else self._placed(t) for t in made)

    def _values(self, shape, gen, is_input) -> torch.Tensor:
        if self.dist == "ties":
            return torch.randint(-3, 4, shape, generator=gen).to(self.torch_dtype)
        values = torch.randn(shape, generator=gen, dtype=torch.float64)
        if self.dist == "negative":
            values = -values.abs() - 0.5
        elif self.dist == "large" and is_input:
            values = values * LARGE_SCALE[self.dtype]
        return values.to(self.torch_dtype)

    def _placed(self, t: torch.Tensor) -> torch.Tensor:
        t = t.to(self.device)
        if self.layout == "channels_last" and t.dim() == 4:
            return t.contiguous(memory_format=torch.channels_last)
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
        args = list(self.spec.tensor_args[:2 if self.op == "conv2d" else 1])
        if self.bias:
            args.append("bias")
        args += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{fn or 'F.' + self.op}({', '.join(args)})"

    def repro(self, impl: str = "", prop: str = "") -> str:
        """A one-line command that runs this case again (for one property, if named)."""
        target = (f" --impl {impl}" if impl else "") + (f" --property {prop}" if prop else "")
        return f"convharness check{target} --case '{self.to_json()}'"

    def reference_defined(self) -> bool:
        """False where the oracle has no defined answer (a max-pool window wholly in padding)."""
        if self.op != "max_pool2d":
            return True
        g = pool_geometry(self.kwargs)
        out = self.output_shape()[2:]
        for dim in range(2):
            size, k, s, p, d = (self.input_shape[2 + dim], g["kernel"][dim], g["stride"][dim],
                                g["padding"][dim], g["dilation"][dim])
            for o in range(out[dim]):
                if not any(0 <= o * s - p + d * j < size for j in range(k)):
                    return False
        return True


def describe(case: Case) -> str:
    shapes = "x".join(map(str, case.input_shape))
    if case.weight_shape:
        shapes += " * " + "x".join(map(str, case.weight_shape))
    return f"{case.call_text()} [{shapes}, {case.dtype}, {case.device}, {case.layout}, {case.dist}]"

