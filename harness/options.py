"""Option definitions shared by the CLI and the pytest plugin, and their validation."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.cases import DTYPES, Case
from harness.ops import OPS
from harness.properties import PROPERTIES
from harness.run import PROFILES, CheckOptions


class UsageError(ValueError):
    """A command-line value that is not what was expected."""


@dataclass(frozen=True)
class Option:
    flags: tuple
    help: str
    kwargs: dict


SELECTION = (
    Option(("--impl",), "implementation to run: a registered name (see `convharness list`) or "
           "module:attr; repeat for several; default: every built-in", dict(action="append")),
    Option(("--op",), f"only this op ({', '.join(OPS)}); needed for an undecorated module:attr",
           dict(default=None)),
    Option(("--device",), "device to run on: cpu or cuda; repeat for both (default: cpu)",
           dict(action="append")),
    Option(("--dtypes",), f"comma-separated dtypes ({','.join(DTYPES)}); for an undecorated "
           "implementation also what it supports", dict(default=None)),
    Option(("--forward-only",), "the implementation has no backward: gradient properties are "
           "unsupported", dict(action="store_true", default=False)),
)

ISOLATION = (
    Option(("--isolate",), "run implementations in a worker process that may crash or hang "
           "(default: on when --impl names a module:attr)",
           dict(action="store_true", default=None)),
    Option(("--no-isolate",), "run everything in this process, tracebacks straight through "
           "(no time limit)", dict(action="store_false", dest="isolate")),
    Option(("--timeout",), "seconds one call of an implementation may take before it counts as "
           "hung (default 60)", dict(type=float, default=60.0)),
    Option(("--memory-limit",), "resident memory a worker may hold before it is killed and "
           "recorded as out of memory, e.g. 4G or 512M (default: half the machine's RAM)",
           dict(default=None)),
    Option(("--resume",), "continue the interrupted run in this directory, skipping what it has",
           dict(default=None)),
)

CHECK = (
    Option(("--profile",), f"hypothesis profile: {', '.join(PROFILES)} (default quick)",
           dict(default=None)),
    Option(("--property",), "only these properties (comma-separated)", dict(default=None)),
    Option(("--case",), "run one case given as JSON (from a reproduction line)",
           dict(default=None)),
)

BENCH = (
    Option(("--suite",), "suite name (see `convharness list`) or a CSV path; "
           "repeatable (default resnet50)", dict(action="append")),
    Option(("--dtype",), "dtype to time in (default float32)", dict(default="float32")),
    Option(("--pass",), "forward, backward or both (forward+backward in one call); "
           "comma-separated for several (default forward)", dict(default="forward", dest="passes")),
    Option(("--batch",), "override the suite's batch size N", dict(type=int, default=None)),
    Option(("--quick",), "a small representative subset of each suite, short timings",
           dict(action="store_true", default=False)),
    Option(("--threads",), "CPU threads to pin (default: torch's current count)",
           dict(type=int, default=None)),
    Option(("--trace-ops",), "note which torch operators each implementation calls "
           "(a TorchDispatchMode over one call)", dict(action="store_true", default=False)),
)


def parse_passes(text: str) -> tuple:
    from harness.bench import PASSES
    passes = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in passes if p not in PASSES]
    if bad or not passes:
        raise UsageError(f"--pass={text!r}, but should be among {', '.join(PASSES)}")
    return passes


def parse_dtype(text: str) -> str:
    if text not in DTYPES:
        raise UsageError(f"--dtype={text!r}, but should be one of {', '.join(DTYPES)}")
    return text


def add_options(add, options=SELECTION) -> None:
    """Register options with argparse's add_argument or pytest's addoption."""
    for option in options:
        add(*option.flags, help=option.help, **option.kwargs)


def parse_op(op):
    if op is not None and op not in OPS:
        raise UsageError(f"--op={op!r}, but should be one of {', '.join(OPS)}")
    return op


def parse_devices(devices) -> tuple:
    devices = tuple(devices or ("cpu",))
    for device in devices:
        if device not in ("cpu", "cuda"):
            raise UsageError(f"--device={device!r}, but should be cpu or cuda")
        if device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device='cuda', but torch.cuda.is_available() is False here")
    return devices


def parse_dtypes(text) -> tuple | None:
    if not text:
        return None
    dtypes = tuple(d.strip() for d in text.split(",") if d.strip())
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise UsageError(f"--dtypes={text!r}: {', '.join(bad)} unknown, expected among "
                         f"{', '.join(DTYPES)}")
    return dtypes


def parse_case(text) -> Case | None:
    if not text:
        return None
    try:
        case = Case.from_json(text)
        case.output_shape()
    except Exception as exc:
        raise UsageError(f"--case={text!r} is not a case ({type(exc).__name__}: {exc}); expected "
                         f"the JSON of a reproduction line") from None
    return case


def check_options(*, device=None, dtypes=None, profile=None, prop=None, case=None) -> CheckOptions:
    profile = profile or "quick"
    if profile not in PROFILES:
        raise UsageError(f"--profile={profile!r}, but should be one of {', '.join(PROFILES)}")
    parsed = parse_case(case)
    props = tuple(p.strip() for p in prop.split(",")) if prop else ()
    known = [p.name for p in PROPERTIES]
    if any(p not in known for p in props):
        raise UsageError(f"--property={prop!r}, but should be among {', '.join(known)}")
    return CheckOptions(devices=(parsed.device,) if parsed else parse_devices(device),
                        dtypes=(parsed.dtype,) if parsed else parse_dtypes(dtypes) or tuple(DTYPES),
                        profile=profile, properties=props,
                        case=parsed)


def wants_isolation(isolate, impls_named) -> bool:
    """Explicit choice, else isolate when any implementation comes from a module:attr."""
    if isolate is not None:
        return isolate
    return any(":" in spec for spec in impls_named or ())


UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(text) -> int | None:
    """'4G' -> 4 GiB in bytes; None stays None (the default limit)."""
    if text is None:
        return None
    value = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = value[-1] if value and value[-1] in UNITS else ""
    try:
        amount = float(value[:-1] if unit else value) * UNITS[unit]
    except ValueError:
        amount = -1
    if amount < 2**26:
        raise UsageError(f"--memory-limit={text!r}, but should be a size of at least 64M, "
                         f"such as 4G or 512M")
    return int(amount)


def parse_timeout(timeout: float) -> float:
    if timeout <= 0:
        raise UsageError(f"--timeout={timeout}, but should be a positive number of seconds")
    return timeout
