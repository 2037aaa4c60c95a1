"""The registry: @implements, discovery of implementations/, `module:attr` loading, entry points."""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from typing import Callable

from harness.ops.cases import DTYPES
from harness.ops.catalog import OPS, UnknownOp, get_op
from harness.ops.families import family_order
from harness.plugins import configs as tuning
from harness.plugins import pool

ALL_DTYPES = tuple(DTYPES)
ALL_DEVICES = ("cpu", "cuda")
ENTRY_POINT_GROUP = "convharness.implementations"
MARK = "__convharness__"


class ImplementationError(ValueError):
    """A named implementation that cannot be found, imported or used as the op it claims."""


@dataclass(frozen=True)
class KnownFailure:
    """A failure an implementation declares, with its reason: where `applies(case)` holds for
    the minimal case, the property is recorded as an expected failure (xfail), not a fail."""

    reason: str
    applies: Callable
    props: tuple = ()  # the properties it concerns; () for every property

    def matches(self, prop: str, case) -> bool:
        return (not self.props or prop in self.props) and bool(self.applies(case))


def special_inputs(case) -> bool:
    """The case's input holds NaN, infinities and other special values."""
    return case.dist == "special"


# Transform algorithms (FFT, Winograd) mix every input of a tile into every output of it.
SPREADS_SPECIAL_VALUES = KnownFailure(
    "a transform algorithm mixes every input of a tile into every output of it: one NaN or "
    "infinity spreads to outputs whose windows do not hold it", special_inputs,
    ("special_values", "special_gradients"))


@dataclass(frozen=True)
class Implementation:
    """A function under test and what it declares about itself."""

    name: str
    op: str
    fn: Callable
    devices: tuple = ALL_DEVICES
    dtypes: tuple = ALL_DTYPES
    differentiable: bool | None = None  # None: not declared, the harness finds out
    source: str = ""
    max_flops: float | None = None  # benchmarks skip (and record) cases above this much work
    flop_saving: bool = False  # fewer multiplies than direct convolution (FFT, Winograd)
    known_failures: tuple = ()  # KnownFailure entries, shown as XFAIL with their reason
    configs: tuple = ()  # its configurations, each ((keyword, value), ...): run one by one
    config: tuple = ()  # the configuration this one is pinned to (a variant of `base`)
    autotuner: str = ""  # `module:attr` of the triton.autotune kernel it launches unpinned

    @property
    def base(self) -> str:
        """The implementation's name without its configuration."""
        return tuning.split(self.name)[0] if self.config else self.name

    def known_failure(self, prop: str, case) -> KnownFailure | None:
        return next((k for k in self.known_failures if k.matches(prop, case)), None)

    def supports(self, dtype: str, device: str) -> bool:
        return dtype in self.dtypes and device in self.devices


_REGISTERED: dict[str, Implementation] = {}


def implements(functional, *, name: str | None = None, devices=ALL_DEVICES, dtypes=ALL_DTYPES,
               differentiable: bool = True, max_flops: float | None = None,
               flop_saving: bool = False, known_failures=(), configs=None, autotuner=""):
    """Register the decorated function as an implementation of `functional` (e.g. F.conv2d).

    The function is returned unchanged, with its metadata attached as `__convharness__`.
    `max_flops` marks a slow implementation: benchmark cases above it are skipped for budget.
    `flop_saving` declares an algorithm doing fewer multiplies than direct convolution (FFT,
    Winograd): its nominal GFLOP/s may pass the machine's matmul peak without being suspect.
    `known_failures` (KnownFailure entries) are failures the implementation owns up to.
    `configs` (a list of dicts of the function's own tuning keywords) are its configurations:
    each is checked and timed as an implementation of its own, `name[keyword=value,...]`.
    `autotuner` (`module:attr`) names the triton.autotune kernel the function launches when
    called without a configuration, choosing among them: `bench` times it so too, and records
    which configuration its autotuner chose (found by itself where the configurations are
    the autotuner's own, `configs="autotune"`).
    """
    op = get_op(functional)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise ImplementationError(f"dtypes={bad!r}, but should be among {list(DTYPES)}")

    def register(fn):
        check_signature(fn, op.name)
        impl_name = name or f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
        impl = Implementation(impl_name, op.name, fn, tuple(devices), tuple(dtypes),
                              differentiable, f"{fn.__module__}:{fn.__qualname__}", max_flops,
                              flop_saving, tuple(known_failures),
                              _configs(fn, op.name, configs, impl_name) if configs else (),
                              autotuner=autotuner)
        setattr(fn, MARK, impl)
        known = _REGISTERED.get(impl_name)
        if known is not None and known.source != impl.source:
            raise ImplementationError(
                f"name={impl_name!r} is registered twice: by {known.source} and by "
                f"{impl.source}; expected one implementation per name (pass name=...)")
        _REGISTERED[impl_name] = impl
        return fn

    return register


def _configs(fn, op_name: str, configs, where: str) -> tuple:
    """Configurations `fn` takes as keywords, or (`autotune`, or ones its autotuned kernel
    has) configurations of the triton.autotune kernel it launches."""
    from harness.plugins import autotuned
    try:
        if configs == "autotune":
            configs = autotuned.discovered(fn, where)
        if _autotuned(fn, configs):
            return tuple(tuple(c.items()) for c in configs)
        return tuning.checked(fn, get_op(op_name).signature, configs, where)
    except (tuning.ConfigError, ValueError) as exc:
        raise ImplementationError(str(exc)) from None


def _autotuned(fn, configs) -> bool:
    """Every configuration is one of the autotuned kernel's that `fn` launches."""
    from harness.plugins import autotuned
    tuners = autotuned.autotuners(fn)
    return len(tuners) == 1 and isinstance(configs, (list, tuple)) and all(
        isinstance(c, dict) and c in [autotuned.as_dict(t) for t in tuners[0].configs]
        for c in configs)


def variant(impl: Implementation, config: tuple) -> Implementation:
    """`impl` pinned to one configuration: its keywords bound (or its autotuned kernel held
    to that configuration), its name `impl[k=v,...]`."""
    from harness.plugins.autotuned import Pinned
    pinned = f"[{tuning.label(config)}]"
    fn = Pinned(impl.fn, config) if _autotuned(impl.fn, [dict(config)]) else \
        partial(impl.fn, **dict(config))
    return replace(impl, name=impl.name + pinned, fn=fn, configs=(), config=config,
                   source=impl.source and impl.source + pinned)


def expand(impl: Implementation, shipped: bool = False) -> list[Implementation]:
    """An implementation with configurations as its variants, one per configuration; with
    `shipped`, one whose configurations are its autotuner's also as itself, the autotuner
    choosing among them (as its users call it)."""
    variants = [variant(impl, c) for c in impl.configs]
    if shipped and variants and autotuner_choosing(impl):
        variants.append(impl)
    return variants or [impl]


def autotuner_choosing(impl: Implementation) -> bool:
    """`impl` runs as its users call it, an autotuner choosing among its configurations (its
    declared `autotuner`, or the one whose configurations they are) per case."""
    return bool(impl.configs) and not impl.config and (
        bool(impl.autotuner) or _autotuned(impl.fn, [dict(c) for c in impl.configs]))


def autotuners_of(impl: Implementation) -> list:
    """The autotuner `impl` declares (`autotuner=`), or those its function launches."""
    from harness.plugins import autotuned
    return [resolved(impl.autotuner, "autotuner")] if impl.autotuner else \
        autotuned.autotuners(impl.fn)


def check_signature(fn, op_name: str) -> None:
    """The function must take the stub's parameters, by name, in order; extras need defaults."""
    expected = get_op(op_name).signature
    try:
        got = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ImplementationError(f"{fn!r} has no inspectable signature ({exc})") from None
    params = list(got.parameters.values())
    names = [p.name for p in params[:len(expected.parameters)]]
    extras_ok = all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                    for p in params[len(expected.parameters):])
    if names != list(expected.parameters) or not extras_ok:
        where = getattr(fn, "__qualname__", repr(fn))
        raise ImplementationError(
            f"signature of {where}{got} does not match the {op_name} contract:\n"
            f"  got:      def {getattr(fn, '__name__', where)}{got}\n"
            f"  expected: def {op_name}{expected}")


def discover() -> dict[str, Implementation]:
    """Import every module of `implementations/` (not its private helpers, `_geometry`) and
    every entry point; return all registered."""
    import implementations
    for info in pkgutil.iter_modules(implementations.__path__, "implementations."):
        if not info.name.rpartition(".")[2].startswith("_"):
            importlib.import_module(info.name)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:  # a broken plug-in package must not hide the others
            raise ImplementationError(
                f"entry point {entry.name}={entry.value} ({ENTRY_POINT_GROUP}) failed to load: "
                f"{type(exc).__name__}: {exc}") from None
    return dict(_REGISTERED)


def builtin(name: str) -> Implementation:
    """A built-in by name (`reference.conv2d`), importing only its own module."""
    _import_builtin(name)
    return _REGISTERED[name]


def _import_builtin(name: str) -> None:
    """Import the module of built-ins that `name` starts with (`reference` of reference.conv2d),
    where there is one: naming a built-in loads neither the others nor what they import."""
    module = name.split(".")[0]
    if module.isidentifier() and not module.startswith("_") and \
            importlib.util.find_spec(f"implementations.{module}") is not None:
        importlib.import_module(f"implementations.{module}")


def load(spec: str, *, op: str | None = None, dtypes=None, forward_only=False,
         configs=None) -> Implementation:
    """A registered name (`loops.conv2d`) or `module:attr`; `op` names the op of an undecorated
    one. `name[k=v,...]` is that implementation pinned to one configuration; `configs` (a list
    of dicts) replaces the configurations it declares."""
    try:
        base, config = tuning.split(spec)
    except tuning.ConfigError as exc:
        raise ImplementationError(str(exc)) from None
    if config is not None:
        impl = load(base, op=op, dtypes=dtypes, forward_only=forward_only)
        _configs(impl.fn, impl.op, [dict(config)], base)
        return variant(impl, config)
    impl = _load(spec, op, dtypes, forward_only)
    return replace(impl, configs=_configs(impl.fn, impl.op, configs, spec)) if configs else impl


def _load(spec: str, op, dtypes, forward_only) -> Implementation:
    if ":" not in spec:
        return _registered(spec)
    impl = _from_module(spec, op)
    changes = {}
    if dtypes:
        changes["dtypes"] = tuple(dtypes)
    if forward_only:
        changes["differentiable"] = False
    return replace(impl, **changes) if changes else impl


def _registered(name: str) -> Implementation:
    _import_builtin(name)
    if name in _REGISTERED:
        return _REGISTERED[name]
    known = discover()
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ImplementationError(
        f"impl={name!r} is not a registered implementation{hint} "
        f"(expected a name from `convharness list` or module:attr)")


def _import(module_name: str):
    """Import a module, also from the working directory, as `python -m` would find it (the
    console scripts `convharness` and `pytest` do not put it on sys.path)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != module_name.split(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(module_name)


def _import_file(path: str):
    """Import a candidate's file (`cands/c07.py`) as a module of its own name, its folder on
    sys.path for what it imports beside it."""
    file = os.path.abspath(path)
    name = "convharness_candidate_" + hashlib.sha1(file.encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    if not os.path.isfile(file):
        raise FileNotFoundError(f"no such file: {path}")
    folder = os.path.dirname(file)
    if folder not in sys.path:
        sys.path.append(folder)
    found = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def resolved(spec: str, what: str = "impl"):
    """The object `module:attr` (or `path/to/file.py:attr`) names (attr may be dotted);
    ImplementationError naming `what` where the module does not import or lacks the attribute."""
    if pool.is_path(pool.split(spec)[0]):
        module_name, attr = pool.split(spec)
    else:
        module_name, _, attr = spec.partition(":")
    try:
        module = _import_file(module_name) if pool.is_path(module_name) else _import(module_name)
    except Exception as exc:
        raise ImplementationError(
            f"{what}={spec!r}: module {module_name!r} does not import "
            f"({type(exc).__name__}: {exc})") from None
    found = module
    for part in attr.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ImplementationError(f"{what}={spec!r}: module {module_name!r} has no "
                                      f"attribute {attr!r}")
    return found


def _from_module(spec: str, op: str | None) -> Implementation:
    fn = resolved(spec)
    declared = getattr(fn, MARK, None)
    if declared is not None and (op is None or op == declared.op):
        return declared
    if op is None:
        raise ImplementationError(f"impl={spec!r} is not decorated with @implements, so --op is "
                                  f"needed (one of {', '.join(OPS)})")
    try:
        get_op(op)
    except UnknownOp as exc:
        raise ImplementationError(str(exc)) from None
    check_signature(fn, op)
    return Implementation(spec, op, fn, source=spec)


def module_members(spec: str) -> list[Implementation]:
    """`reference` -> every registered reference.* implementation (a module of built-ins)."""
    if ":" in spec:
        return []
    _import_builtin(spec)
    if spec in _REGISTERED:  # one implementation, not a module of them
        return []
    return _members(spec, dict(_REGISTERED)) or _members(spec, discover())


def _members(spec: str, known: dict) -> list[Implementation]:
    return [impl for name, impl in sorted(known.items(), key=lambda item: (
        family_order(item[1].op), item[0])) if name.startswith(spec + ".")
            and spec not in known]


def refused_candidate(spec: str, op: str | None, reason: str) -> Implementation:
    """A candidate of a pool that cannot be run, kept with the reason (plugins.pool)."""
    return Implementation(spec, pool.op_of(spec, op), pool.Refused(reason), source=spec)


def select(specs=(), *, op=None, dtypes=None, forward_only=False,
           configs=None, shipped=False, pooled=frozenset()) -> list[Implementation]:
    """Implementations to run: those named (a module of built-ins names all of its own), or
    every registered one, family by family; filtered by op. One with configurations is run as
    its variants; `configs` (--config) gives the named ones these configurations instead;
    `shipped`: see `expand`. A spec in `pooled` (a candidate of a folder or glob) that cannot
    be loaded is kept, refused, with the reason (plugins.pool): the pool goes on."""
    if specs:
        impls = []
        for spec in specs:
            try:
                impls += module_members(spec) or [load(spec, op=op, dtypes=dtypes,
                                                       forward_only=forward_only,
                                                       configs=configs)]
            except ImplementationError as exc:
                if spec not in pooled:
                    raise
                impls.append(refused_candidate(spec, op, str(exc)))
    else:
        impls = sorted(discover().values(), key=lambda i: (family_order(i.op), i.name))
    return [v for i in impls if op is None or i.op == op for v in expand(i, shipped)]
