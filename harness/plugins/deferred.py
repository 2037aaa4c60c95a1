"""A kernel named by module:attr that the judge never imports: its implementation is described
as plain data by a sandboxed process (execution.resolve), and its module is imported only in
the worker that runs it, on the first call (`live`)."""
from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.plugins.registry import Implementation, select

PLAIN = ("name", "op", "devices", "dtypes", "differentiable", "source", "max_flops",
         "flop_saving", "configs", "config", "autotuner")  # what crosses as data
_LIVE: dict = {}  # (spec, name, how) -> the Implementation, in a process that imported it


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
    """`impl` as it runs in this process: a deferred one imported and resolved (with what it
    declares that is not plain data: its known failures' rules, its autotuner)."""
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
    return {**{k: v for k, v in asdict(impl).items() if k in PLAIN},
            "source_path": str(path) if path else ""}


def rebuilt(spec: str, how: dict, data: dict) -> Implementation:
    """The Implementation `described` gave, its function Deferred; validated as data."""
    fields = {k: data[k] for k in PLAIN}
    if not isinstance(fields["name"], str) or not isinstance(fields["op"], str):
        raise TypeError(f"an implementation of {spec!r} came back without a name and op: "
                        f"{data!r}")
    fields.update({k: tuple(fields[k]) for k in ("devices", "dtypes", "config")})
    fields["configs"] = tuple(tuple(tuple(kv) for kv in c) for c in fields["configs"])
    fields["config"] = tuple(tuple(kv) for kv in fields["config"])
    fn = Deferred(spec, fields["name"], json.dumps(how, sort_keys=True), str(data["source_path"]))
    return Implementation(fn=fn, **fields)
