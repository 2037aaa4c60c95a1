"""The module paths of 0.1.0, before `harness/` was cut into one package per stage: importing one
still works for this release and gives a DeprecationWarning naming the new path; 0.3 drops them.
`harness.ops`, `harness.records` and `harness.timing` are packages now; their old names resolve
through `old_names` (see their `__init__`)."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "statuses": "records.statuses",
    "errors": "records.errors",
    "cases": "ops.cases",
    "geometry": "ops.geometry",
    "draws": "ops.draws",
    "worked": "ops.worked",
    "families": "ops.families",
    "registry": "plugins.registry",
    "check": "checking.call",
    "run": "checking.driver",
    "properties": "checking.properties",
    "strategies": "checking.strategies",
    "regions": "checking.regions",
    "tolerance": "checking.tolerance",
    "inherited": "checking.inherited",
    "captured": "checking.captured",
    "flags": "checking.flags",
    "bench": "timing.bench",
    "suites": "timing.suites",
    "timed": "timing.timed",
    "peaks": "timing.peaks",
    "environment": "timing.machine",
    "tasks": "execution.tasks",
    "executors": "execution.executors",
    "isolate": "execution.isolate",
    "parallel": "execution.parallel",
    "cluster": "execution.cluster",
    "report": "reports.report",
    "frames": "reports.frames",
    "figures": "reports.figures",
    "html_report": "reports.html_report",
    "summary": "reports.summary",
    "compare": "reports.compare",
    "merge": "reports.merge",
    "cli": "doors.cli",
    "options": "doors.options",
    "pytest_plugin": "doors.pytest_plugin",
    "pytest_session": "doors.pytest_session",
}


def warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in convharness 0.3",
                  DeprecationWarning, stacklevel=3)


def old_names(package: str, module: str):
    """The `__getattr__` of a package that was module `package` in 0.1.0 and whose names now
    live in `module`: each old name still resolves, with a DeprecationWarning."""
    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(importlib.import_module(module), name)
        warn(f"{package}.{name}", f"{module}.{name}")
        return value
    return __getattr__


class OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `harness.<old>` (and below it) and hands over the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        first = rest.split(".")[0]
        if head != "harness" or first not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        old = spec.name.split(".", 1)[1]
        first, _, below = old.partition(".")
        new = MOVED[first] + (f".{below}" if below else "")
        module = importlib.import_module(f"harness.{new}")
        warn(spec.name, f"harness.{new}")
        return module

    def exec_module(self, module):
        pass  # the module at its new path is already executed


def install() -> None:
    if not any(isinstance(f, OldPaths) for f in sys.meta_path):
        sys.meta_path.append(OldPaths())
