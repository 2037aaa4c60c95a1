"""A pool of candidates (light to import: the doors ask `is_path` before torch is loaded): `--impl` given a folder, a file or a glob of files expands to one
candidate per file, each `path/to/file.py:attr`; a candidate that cannot be used (does not
import, has the wrong signature, names no op) is `Refused`: it gets its line in the run and the
leaderboard, with the reason, and the run goes on."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.records.errors import UsageError

if TYPE_CHECKING:
    from harness.records.record import Record

LOADS = "loads"  # the one check of a refused candidate: it imports and is what it claims

WILD = "*?["


def is_path(module: str) -> bool:
    """The module part of a spec names a file or folder (`cands/`, `x.py`, `cands/*.py`), not
    a module to import by name nor a registered name (`triton.conv2d[BLOCK_M=16]`)."""
    return module.endswith(".py") or os.sep in module or "/" in module or \
        (module not in ("", ".") and Path(module).is_dir())


def split(spec: str) -> tuple[str, str]:
    """(path part, attr) of `path:attr`; attr '' where none is given. A colon of a Windows
    drive (`C:\\x.py`) is part of the path."""
    path, colon, attr = spec.rpartition(":")
    if not colon or "/" in attr or "\\" in attr or attr.endswith(".py"):
        return spec, ""
    return path, attr


def is_pattern(spec: str) -> bool:
    """`spec` names several candidates at once: a folder or a glob."""
    path, _ = split(spec)
    return any(c in path for c in WILD) or Path(path).is_dir()


def expanded(specs, op: str | None) -> tuple[list[str], frozenset]:
    """(the specs with every folder, file and glob as `file.py:attr` candidates, the specs
    that came from a folder or a glob: a pool's, whose failures to load are their own lines).
    The attr is the one given, else the op's name (`--op conv2d` -> `:conv2d`); files named
    `_*.py` are helpers the candidates import, never candidates."""
    out, pooled = [], set()
    for spec in specs or ():
        path, attr = split(spec)
        if not is_path(path):
            out.append(spec)
            continue
        attr = attr or op or ""
        if not attr:
            from harness.ops.catalog import OPS
            raise UsageError(f"--impl={spec!r} names files but no function: give "
                             f"{spec.rstrip('/')}:NAME or --op (one of {', '.join(OPS)})")
        files = _files(spec, path)
        found = [f"{file}:{attr}" for file in files]
        out += found
        if is_pattern(spec):
            pooled.update(found)
    return list(dict.fromkeys(out)), frozenset(pooled)


def _files(spec: str, path: str) -> list[str]:
    if Path(path).is_dir():
        files = sorted(str(p) for p in Path(path).glob("*.py") if not p.name.startswith("_"))
        what = "a folder with no candidate (*.py, not _*.py)"
    elif any(c in path for c in WILD):
        files = sorted(p for p in glob.glob(path) if Path(p).is_file() and
                       not Path(p).name.startswith("_"))
        what = "a pattern that matches no candidate (helpers, _*.py, are left out)"
    else:
        files = [path] if Path(path).is_file() else []
        what = "a file that does not exist"
    if not files:
        raise UsageError(f"--impl={spec!r} is {what} (expected a folder of candidates, "
                         f"path/to/file.py:NAME or a glob such as 'cands/*.py:conv2d')")
    return files


@dataclass(frozen=True)
class Refused:
    """Stands for the function of a candidate that cannot be used, with the reason: calling it
    is never done; its tasks are recorded as errors of the candidate's (execution.tasks)."""

    reason: str

    def __call__(self, *args, **kwargs):
        raise RuntimeError(self.reason)


def refused(impl) -> str:
    """The reason `impl` (registry.Implementation) was refused, or ''."""
    return impl.fn.reason if isinstance(impl.fn, Refused) else ""


def op_of(spec: str, op: str | None) -> str:
    """The op a refused candidate is listed under: --op, else its attr where that names an op
    (`:conv2d`), else '' (it named none)."""
    from harness.ops.catalog import OPS
    attr = split(spec)[1]
    return op or (attr if attr in OPS else "")


def refusal(impl) -> Record:
    """The record of a refused candidate: an error of its own, with the reason."""
    from harness.records.record import Record
    return Record("check", impl.name, impl.op, LOADS, "error",
                  message=f"cannot be run: {refused(impl)}")
