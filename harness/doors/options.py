"""Every option of both doors, defined once with its validator; nothing heavy is imported here.

The CLI registers them as `--impl`, the pytest plugin as `--convharness-impl` (a prefix, as
pytest-benchmark does), so convharness never takes a name another project's conftest.py uses.
Validation happens in one place, `values()`, whichever door the raw values came from.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from harness.ops.families import OP_NAMES  # the records' names, without importing torch
from harness.timing.allocator import ALLOCS, DEFAULT as ALLOC  # no torch imported there
from harness.records.errors import UsageError  # raised here, and imported from here by callers

# Names only (no torch here): tests check they match harness.ops.cases and harness.timing.bench.
DTYPE_NAMES = ("float64", "float32", "float16", "bfloat16")
PROFILE_NAMES = ("quick", "ci", "thorough")
PASS_NAMES = ("forward", "backward", "both")
PYTEST_PREFIX = "convharness-"


def _split(text) -> tuple:
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def parse_op(op):
    if op is not None and op not in OP_NAMES:
        raise UsageError(f"--op={op!r}, but should be one of {', '.join(OP_NAMES)}")
    return op


def parse_devices(devices) -> tuple:
    devices = tuple(devices or ("cpu",))
    for device in devices:
        if device not in ("cpu", "cuda"):
            raise UsageError(f"--device={device!r}, but should be cpu or cuda")
        if device == "cuda":
            import torch
            if not torch.cuda.is_available():
                raise UsageError("--device='cuda', but torch.cuda.is_available() is False here")
    return devices


def parse_config(text) -> list | None:
    from harness.plugins.configs import ConfigError, parse
    if text is None:
        return None
    if text.strip() == "autotune":  # the configurations of the triton.autotune kernel it runs
        return "autotune"
    try:
        return parse(text)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def parse_dtypes(text) -> tuple | None:
    if not text:
        return None
    dtypes = _split(text)
    bad = [d for d in dtypes if d not in DTYPE_NAMES]
    if bad:
        raise UsageError(f"--dtypes={text!r}: {', '.join(bad)} unknown, expected among "
                         f"{', '.join(DTYPE_NAMES)}")
    return dtypes


def parse_dtype(text: str) -> str:
    if text not in DTYPE_NAMES:
        raise UsageError(f"--dtype={text!r}, but should be one of {', '.join(DTYPE_NAMES)}")
    return text


def parse_seed(text) -> int | None:
    if text is None:
        return None
    try:
        seed = int(text)
    except (TypeError, ValueError):
        seed = -1
    if seed < 0:
        raise UsageError(f"--seed={text!r}, but should be a whole number >= 0")
    return seed


def parse_profile(text) -> str:
    profile = text or "quick"
    if profile not in PROFILE_NAMES:
        raise UsageError(f"--profile={profile!r}, but should be one of "
                         f"{', '.join(PROFILE_NAMES)}")
    return profile


def parse_properties(text) -> tuple:
    if not text:
        return ()
    from harness.checking.properties import PROPERTIES
    known = [p.name for p in PROPERTIES]
    props = _split(text)
    if any(p not in known for p in props):
        raise UsageError(f"--property={text!r}, but should be among {', '.join(known)}")
    return props


def parse_case(text):
    if not text:
        return None
    from harness.ops.cases import Case
    try:
        case = Case.from_json(text)
        case.output_shape()
    except Exception as exc:
        raise UsageError(f"--case={text!r} is not a case ({type(exc).__name__}: {exc}); expected "
                         f"the JSON of a reproduction line") from None
    return case


def parse_passes(text: str) -> tuple:
    passes = _split(text)
    bad = [p for p in passes if p not in PASS_NAMES]
    if bad or not passes:
        raise UsageError(f"--pass={text!r}, but should be among {', '.join(PASS_NAMES)}")
    return passes


def _choice(flag: str, text, choices: tuple) -> str:
    if text not in choices:
        raise UsageError(f"{flag}={text!r}, but should be one of {', '.join(choices)}")
    return text


def parse_timeout(timeout) -> float:
    if timeout is None or float(timeout) <= 0:
        raise UsageError(f"--timeout={timeout}, but should be a positive number of seconds")
    return float(timeout)


def _positive(flag: str, seconds) -> float | None:
    if seconds is not None and not float(seconds) > 0:
        raise UsageError(f"{flag}={seconds}, but should be a positive number of seconds")
    return None if seconds is None else float(seconds)


def parse_threads(threads) -> int | None:
    if threads is not None and threads < 1:
        raise UsageError(f"--threads={threads}, but should be >= 1")
    return threads


def parse_batch(batch) -> int | None:
    if batch is not None and batch < 1:
        raise UsageError(f"--batch={batch}, but should be >= 1")
    return batch


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


def parse_jobs(text) -> int:
    """A number of lanes of at least 1, or auto: this process's CPU cores."""
    if str(text) == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    try:
        jobs = int(text)
    except (TypeError, ValueError):
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs={text!r}, but should be a whole number of at least 1, or auto")
    return jobs


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    kwargs: dict = field(default_factory=dict)
    parse: Callable[[Any], Any] | None = None  # raw value -> checked value, or UsageError
    short: str = ""  # a one-letter form on the command line ("-j"), not in the pytest door

    @property
    def dest(self) -> str:
        return self.kwargs.get("dest") or self.flag[2:].replace("-", "_")


SELECTION = (
    Option("--impl", "implementation to run: a registered name, a module of built-ins (see "
           "`convharness list`), module:attr, or a pool of candidates: a folder, "
           "path/to/file.py:NAME or a glob ('cands/*.py:conv2d'; NAME defaults to --op); "
           "repeat for several; default: every built-in", dict(action="append")),
    Option("--op", f"only this op ({', '.join(OP_NAMES)}); needed for an undecorated module:attr",
           dict(default=None), parse_op),
    Option("--device", "device to run on: cpu or cuda; repeat for both (default: cpu)",
           dict(action="append"), parse_devices),
    Option("--dtypes", f"comma-separated dtypes ({','.join(DTYPE_NAMES)}); for an undecorated "
           "implementation also what it supports", dict(default=None), parse_dtypes),
    Option("--forward-only", "the implementation has no backward: gradient properties are "
           "unsupported", dict(action="store_true", default=False)),
    Option("--config", "configurations of the implementations named by --impl, each checked "
           "and timed on its own: a grid, 'BLOCK=16,32 SPLIT=1,2', or a JSON list of dicts; "
           "each keyword is one the function takes after the op's arguments; or autotune: those "
           "of the triton.autotune kernel it launches, each pinned in turn",
           dict(default=None), parse_config),
)

CHECK = (
    Option("--profile", f"hypothesis profile: {', '.join(PROFILE_NAMES)} (default quick)",
           dict(default=None), parse_profile),
    Option("--deterministic", "two calls with the same inputs must give the same bits (as "
           "torch.use_deterministic_algorithms); by default within tolerance is enough and "
           "differing bits are shown as nondeterministic",
           dict(action="store_true", default=False)),
    Option("--strict", "count a failure that PyTorch's own op shares on the same case "
           "(shown as inherited, XFAIL) as a failure", dict(action="store_true", default=False)),
    Option("--seed", "draw the same cases on every run, from this hypothesis seed (a whole "
           "number); by default each run draws new ones from a seed of its own, printed, that "
           "every implementation shares (the ci profile's cases are fixed)",
           dict(default=None), parse_seed),
    Option("--property", "only these properties (comma-separated)",
           dict(default=None, dest="properties"), parse_properties),
    Option("--case", "run one case given as JSON (from a reproduction line)",
           dict(default=None), parse_case),
    Option("--no-covering", "skip the covering array's rows (every pair of call features, and "
           "every triple of those kernels tile on, in values, special_values and gradients): "
           "for kernels too slow for a hundred more calls a property (Triton's interpreter); "
           "what is then reached depends on the seed",
           dict(action="store_true", default=False, dest="no_covering")),
)

ISOLATION = (
    Option("--isolate", "run implementations in a worker process that may crash or hang "
           "(default: on when --impl names a module:attr)",
           dict(action="store_true", default=None)),
    Option("--no-isolate", "run everything in this process, tracebacks straight through "
           "(no time limit)", dict(action="store_false", dest="isolate")),
    Option("--timeout", "seconds one call of an implementation may take before it counts as "
           "hung (default 60)", dict(type=float, default=60.0), parse_timeout),
    Option("--memory-limit", "resident memory a worker may hold before it is killed and "
           "recorded as out of memory, e.g. 4G or 512M (default: half the machine's RAM)",
           dict(default=None), parse_memory),
    Option("--resume", "continue the interrupted run in this directory, skipping what it has",
           dict(default=None)),
    Option("--budget", "seconds each implementation (each candidate of a pool) may take in "
           "all, checks and timings together; past it, its tasks not begun are recorded as "
           "over budget and what it finished is kept (default: none; its memory: "
           "--memory-limit, per worker)", dict(type=float, default=None, dest="budget_s"),
           lambda s: _positive("--budget", s)),
)

OUT = Option("--out", "where run directories go (default reports)",
             dict(default="reports", dest="out_root"))

# The pytest door: what to check, how hard, how safely, and where its report goes.
PYTEST = SELECTION + CHECK[:4] + CHECK[-1:] + ISOLATION[:4] + (OUT,)  # CHECK[-1]: --no-covering

BENCH = (
    Option("--suite", "suite name (see `convharness list`) or a CSV path; "
           "repeatable (default resnet50)", dict(action="append")),
    Option("--dtype", "dtype to time in (default float32)", dict(default="float32"), parse_dtype),
    Option("--pass", "forward, backward or both (forward+backward in one call); "
           "comma-separated for several (default forward)",
           dict(default="forward", dest="passes"), parse_passes),
    Option("--batch", "override the suite's batch size N", dict(type=int, default=None),
           parse_batch),
    Option("--quick", "a small representative subset of each suite, short timings",
           dict(action="store_true", default=False)),
    Option("--threads", "CPU threads to pin (default: torch's current count)",
           dict(type=int, default=None), parse_threads),
    Option("--cache", "hot (default: repeated calls find their data in the caches) or cold "
           "(caches flushed before every timed call; CUDA flushes L2 either way)",
           dict(default="hot"), lambda text: _choice("--cache", text, ("hot", "cold"))),
    Option("--alloc", "the CPU memory allocator's state while timing, the same for every "
           "implementation: warm (default: freed memory stays in the process, so no call pays "
           "for pages the one before gave back) or as-is (untouched: glibc's thresholds, which "
           "move with what the process freed before, or a malloc preloaded with LD_PRELOAD); "
           "recorded in run.json and the report",
           dict(default=ALLOC), lambda text: _choice("--alloc", text, ALLOCS)),
    Option("--trace-ops", "note which torch operators each implementation calls "
           "(a TorchDispatchMode over one call)", dict(action="store_true", default=False)),
)



def add_options(add, options, prefix: str = "") -> None:
    """Register options with argparse's add_argument or pytest's addoption, names prefixed."""
    for option in options:
        kwargs = dict(option.kwargs, dest=prefix.replace("-", "_") + option.dest)
        flags = ("--" + prefix + option.flag[2:],) + ((option.short,) if option.short and
                                                      not prefix else ())
        add(*flags, help=option.help, **kwargs)


def values(raw: dict, options, prefix: str = "") -> dict:
    """{dest: checked value} for `options` from raw parsed values (argparse or pytest)."""
    key = prefix.replace("-", "_")
    unknown = set(raw) - {key + o.dest for o in options}
    if unknown and not prefix:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; known: "
                        f"{sorted({o.dest for o in options})}")
    out = {}
    for option in options:
        if option.dest in out:
            continue  # --isolate and --no-isolate share one value
        value = raw.get(key + option.dest, option.kwargs.get("default"))
        out[option.dest] = option.parse(value) if option.parse else value
    return out


def parse_shard(text):
    from harness.execution.tasks import ShardError
    from harness.execution.tasks import parse_shard as parse
    try:
        return parse(text)
    except ShardError as exc:
        raise UsageError(str(exc)) from None


SCALE = (
    Option("--cluster", "run the tasks on Ray: local (start a cluster here), auto (the running "
           "one) or ray://host:10001; each task claims a whole GPU or its CPU cores",
           dict(default=None)),
    Option("--shard", "run only the I-th of N deterministic shares of the tasks, e.g. 2/4 (for "
           "batch schedulers; join the runs with `convharness merge`)", dict(default=None),
           parse_shard),
)

JOBS = Option("--jobs", "checks to run at once on this machine, in worker processes: a "
              "number, or auto for one per CPU core (default auto; --no-isolate runs one at a "
              "time, in this process); the records and verdicts are those of a serial run",
              dict(default="auto"), parse_jobs, short="-j")

CHECK_OPTIONS = SELECTION + CHECK + ISOLATION + SCALE + (JOBS,)
BENCH_OPTIONS = SELECTION + BENCH + ISOLATION + SCALE
# `convharness run`: what to check and time (the built-ins, or your own and pools of them),
# on which layers, and each candidate's limits
RUN_OPTIONS = tuple(o for o in SELECTION[:3] + CHECK + BENCH + ISOLATION + (JOBS,) if o.flag in (
    "--impl", "--op", "--device", "--profile", "--seed", "--property", "--suite", "--batch",
    "--quick", "--threads", "--timeout", "--memory-limit", "--budget", "--jobs"))


def selector(isolate, impls_named):
    """How implementations are found: module:attr kernels that will run isolated are resolved
    in a sandboxed process (execution.resolve), never imported here; else here."""
    if not wants_isolation(isolate, impls_named):
        return None
    from harness.execution.resolve import selected
    return selected


def wants_isolation(isolate, impls_named) -> bool:
    """Explicit choice, else isolate when any implementation comes from a module:attr or a
    file (a pool of candidates)."""
    from harness.plugins.pool import is_path, split
    if isolate is not None:
        return isolate
    return any(":" in spec or is_path(split(spec)[0]) for spec in impls_named or ())


# how a run goes, not what it measures
HOW = ("resume", "isolate", "timeout", "memory_limit", "jobs", "budget_s")


def resumed(raw: dict, recorded: dict, options) -> dict:
    """The raw options of the run being resumed (`recorded`, as it saved them), where the
    options given now agree with them or were left at their defaults; a contradiction is a
    UsageError naming both values. Time and memory limits and isolation may be given anew."""
    out = dict(recorded, resume=raw.get("resume"))
    for option in options:
        given, default = raw.get(option.dest), option.kwargs.get("default")
        if option.dest in HOW:
            if given not in (None, default):
                out[option.dest] = given
            continue
        if given in (None, default, []) or given == recorded.get(option.dest, default):
            continue
        raise UsageError(f"{option.flag}={given!r} conflicts with the run being resumed, which "
                         f"has {option.flag}={recorded.get(option.dest, default)!r}; leave it "
                         f"out to finish that run as it was planned")
    return out


@dataclass(frozen=True)
class CheckPlan:
    """What a check runs and how, decided once from either door's options: the selected
    implementations (registry.Implementation), run.CheckOptions, and where the calls run."""

    impls: tuple
    options: Any
    isolate: bool  # module:attr implementations in worker processes (isolate.WorkerPool)
    timeout: float  # seconds one call may take in a worker
    memory_limit: int | None  # bytes a worker may hold (None: half the machine's RAM)
    out_root: str = "reports"
    resume: str | None = None
    shard: tuple | None = None
    cluster: str | None = None
    jobs: int = 1  # lanes of worker processes at once on this machine (0: in this process)
    budget_s: float | None = None  # seconds each implementation may take in all (--budget)


def check_plan(raw: dict, options=CHECK_OPTIONS, prefix: str = "") -> CheckPlan:
    """The CheckPlan of raw option values (argparse's or pytest's, names prefixed)."""
    from harness.checking.driver import plan_check
    v = values(raw, options, prefix)
    impls, check_options = plan_check(v, selector(v["isolate"], v["impl"]))
    return CheckPlan(tuple(impls), check_options, wants_isolation(v["isolate"], v["impl"]),
                     v["timeout"], v["memory_limit"], v.get("out_root") or "reports",
                     v.get("resume"), v.get("shard"), v.get("cluster"),
                     0 if v["isolate"] is False else v.get("jobs", 1), v.get("budget_s"))
