"""A kernel named by module:attr that the judge never imports: its implementation is described
as plain data by a sandboxed process (execution.resolve), and its module is imported only in
the worker that runs it, on the first call (`live`)."""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

from harness.ops.catalog import OPS
from harness.plugins.registry import Implementation, select

PLAIN = ("name", "op", "devices", "dtypes", "differentiable", "source", "max_flops",
         "flop_saving", "configs", "config", "autotuner")  # what crosses as data
_LIVE: dict = {}  # (spec, name, how) -> the Implementation, in a process that imported it
BINDER = None  # in a judge: Implementation -> the same, its function calling the kernel's process


@dataclass(frozen=True)
class Deferred:
    """Stands for the function of implementation `name` of `select([spec], **how)`; calling it
    imports the module (here) and calls the function."""

    spec: str
    name: str
    how: str  # select's keywords, as JSON
    source_path: str  # the file that defines it, as found where it was imported ('' if none)

    def live(self) -> Implementation:
        key = (self.spec, self.name, self.how)
        if key not in _LIVE:
            found = select([self.spec], **json.loads(self.how))
            _LIVE[key] = next(i for i in found if i.name == self.name)
        return _LIVE[key]

    def __call__(self, *args, **kwargs):
        return self.live().fn(*args, **kwargs)


def live(impl: Implementation) -> Implementation:
    """`impl` as it runs in this process: in a judge (BINDER set), a stand-in that calls it in
    the kernel's process; elsewhere a deferred one imported and resolved (with what it
    declares that is not plain data: its known failures' rules, its autotuner)."""
    if BINDER is not None:
        return BINDER(impl)
    return impl.fn.live() if isinstance(impl.fn, Deferred) else impl


def source_file(fn) -> Path | None:
    """The file that defines `fn` (through functools.partial, pinned configurations and
    Deferred)."""
    if isinstance(fn, Deferred):
        return Path(fn.source_path) if fn.source_path else None
    while hasattr(fn, "func") or hasattr(fn, "fn"):
        fn = getattr(fn, "func", None) or getattr(fn, "fn")
    try:
        found = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        return None
    return Path(found).resolve() if found else None


def described(impl: Implementation) -> dict:
    """`impl` as plain data (JSON-safe), with the file that defines it."""
    path = source_file(impl.fn)
    return {**{k: getattr(impl, k) for k in PLAIN}, "source_path": str(path) if path else ""}


def rebuilt(spec: str, how: dict, data: dict) -> Implementation:
    """The Implementation `described` gave (as JSON), its function Deferred; ValueError naming
    what is not what a description holds (it comes from a process that ran the user's code)."""
    try:
        fields = {k: data[k] for k in PLAIN}
        strings = [fields["name"], fields["op"], fields["source"], fields["autotuner"],
                   data["source_path"], *fields["devices"], *fields["dtypes"]]
        if not all(isinstance(s, str) for s in strings) or fields["op"] not in OPS:
            raise ValueError
        fields.update(devices=tuple(fields["devices"]), dtypes=tuple(fields["dtypes"]),
                      configs=tuple(_pairs(c) for c in fields["configs"]),
                      config=_pairs(fields["config"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"impl={spec!r}: its description is not one: {data!r:.300}") from None
    fn = Deferred(spec, fields["name"], json.dumps(how, sort_keys=True), data["source_path"])
    return Implementation(fn=fn, **fields)


def _pairs(config) -> tuple:
    """A configuration as ((keyword, value), ...) from JSON's lists."""
    pairs = tuple((str(k), v) for k, v in config)
    if not all(isinstance(v, (int, float, str, bool)) for _, v in pairs):
        raise ValueError
    return pairs
