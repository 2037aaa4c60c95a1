"""Configurations found, not declared: a kernel that launches a `triton.autotune` kernel named in
its module's globals (or in a module named there) exposes the autotuner's configurations, and
each can be pinned in turn: for the call, the autotuner holds that one configuration alone, so it
launches it without timing the others. The user's kernel is not edited."""
from __future__ import annotations

import sys
from types import ModuleType


def autotuners(fn) -> list:
    """The triton.autotune kernels reachable from `fn`'s globals, directly or one module away."""
    if "triton" not in sys.modules:
        return []
    from triton.runtime.autotuner import Autotuner
    fn = getattr(fn, "func", fn)  # a functools.partial
    spaces = [getattr(fn, "__globals__", {})]
    spaces += [vars(v) for v in list(spaces[0].values()) if isinstance(v, ModuleType)
               and not v.__name__.startswith(("torch", "triton", "numpy"))]
    found = []
    for space in spaces:
        for value in list(space.values()):
            if isinstance(value, Autotuner) and all(value is not f for f in found):
                found.append(value)
    return found


def as_dict(config) -> dict:
    """A triton.Config as the keywords it sets: its meta-parameters, warps and stages."""
    return {**config.kwargs, "num_warps": config.num_warps, "num_stages": config.num_stages}


def chosen(tuners: list, configs: tuple, call) -> tuple | None:
    """The configuration (one of `configs`) that the autotuner (the one of `tuners`) chose in
    `call()`: the declared one whose every keyword the autotuner's choice has, else the choice
    as ((keyword, value), ...); None where the call launched none."""
    for tuner in tuners:
        tuner.best_config = None  # what it chose before this call is not this call's
    try:
        call()
    finally:
        best = getattr(tuners[0], "best_config", None) if len(tuners) == 1 else None
    if best is None:
        return None
    picked = as_dict(best)
    return next((c for c in configs if all(picked.get(k) == v for k, v in c)),
                tuple(picked.items()))


def discovered(fn, where: str) -> list[dict]:
    """The configurations of the one autotuned kernel `fn` launches; ValueError when there is
    none, or more than one (name them with configs= instead)."""
    tuners = autotuners(fn)
    if len(tuners) != 1:
        raise ValueError(
            f"--config=autotune: {where} names {len(tuners)} triton.autotune kernels in its "
            f"module's globals (or in modules named there), but should name exactly one; "
            f"otherwise give its configurations with --config or @implements(configs=...)")
    return [as_dict(c) for c in tuners[0].configs]


class Pinned:
    """`fn` with its autotuned kernel held to one configuration for each call."""

    def __init__(self, fn, config: tuple):
        self.fn, self.config = fn, config
        self._found = None  # (autotuner, [its configuration]), found on the first call

    def __getstate__(self):
        return {"fn": self.fn, "config": self.config, "_found": None}  # found again where run

    def _find(self):
        (tuner,) = autotuners(self.fn) or (None,)
        if tuner is None:
            raise RuntimeError("the autotuned kernel is gone from the kernel's globals")
        want = dict(self.config)
        match = [c for c in tuner.configs if as_dict(c) == want]
        if not match:
            raise RuntimeError(f"the autotuner has no configuration {want}")
        return tuner, match[:1]

    def __call__(self, *args, **kwargs):
        if self._found is None:  # not on every call: a timed call must not scan globals
            self._found = self._find()
        tuner, pinned = self._found
        saved = tuner.configs
        tuner.configs = pinned
        try:
            return self.fn(*args, **kwargs)
        finally:
            tuner.configs = saved
