"""Benchmarks: check each implementation's output on a suite case, then time it; one Record each."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import torch

from harness.cases import Case
from harness.check import (PropertyFailed, Unsupported, assert_values, call, expected_values,
                           forward_values, output_of, require_support, reseeded, write_values)
from harness.records import Record
from harness.registry import Implementation
from harness.suites import SuiteCase
from harness.timing import (LEAK_BYTES, Budget, measure, peak_copy, peak_matmul, pinned_flags,
                            resident_bytes)

PASSES = ("forward", "backward", "both")
PASS_FLOPS = {"forward": 1, "backward": 2, "both": 3}  # backward: grads of input and weight


@dataclass(frozen=True)
class BenchOptions:
    devices: tuple = ("cpu",)
    dtype: str = "float32"
    passes: tuple = ("forward",)
    threads: int = field(default_factory=torch.get_num_threads)
    budget: Budget = Budget()
    trace_ops: bool = False  # record which torch operators each implementation calls


def _timed_call(impl: Implementation, case: Case, pass_: str, tensors: tuple
                ) -> Callable[[], object]:
    """The function to time: a forward call, a backward from a kept graph, or both."""
    if pass_ == "forward":
        return lambda: call(impl, case, tensors)
    leaves = tuple(None if t is None else t.requires_grad_() for t in tensors)
    used = [t for t in leaves if t is not None]
    out = output_of(call(impl, case, leaves), case)
    if not out.requires_grad:
        raise Unsupported("not differentiable: no backward to time")
    grad = torch.randn_like(out)
    if pass_ == "backward":
        return lambda: torch.autograd.grad(out, used, grad, retain_graph=True)
    return lambda: torch.autograd.grad(call(impl, case, leaves), used, grad)


def recheck(impl: Implementation, case: Case, tensors: tuple) -> None:
    """After timing: new values written into the same input tensors must give new results, so
    a memoised or lazy result cannot have been timed as a fast one."""
    new = reseeded(case)
    write_values(tensors, new.with_(device="cpu").tensors())
    reference = _reference(new)
    out = output_of(call(impl, case, tensors), case)
    if case.device == "cuda":
        torch.cuda.synchronize()
    try:
        assert_values(out.detach(), new, reference)
    except PropertyFailed as exc:
        raise PropertyFailed(f"after timing, on new values in the same inputs: {exc}") from None


def traced_ops(impl: Implementation, case: Case) -> dict:
    """{aten operator: calls} of one forward call (a TorchDispatchMode sees every operator)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: dict = {}

    class Trace(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func.overloadpacket.__name__)
            seen[name] = seen.get(name, 0) + 1
            return func(*args, **(kwargs or {}))

    tensors = case.tensors()
    with Trace():
        call(impl, case, tensors)
    return seen


def _record(impl, sc: SuiteCase, case: Case, pass_: str, status: str, *, message="", times=(),
            figures=None) -> Record:
    work = {"label": sc.label, "count": sc.count,
            "flops": case.spec.flops(case.shapes, case.kwargs) * PASS_FLOPS[pass_],
            "bytes": case.spec.bytes_moved(case.shapes, case.kwargs,
                                           torch.finfo(case.torch_dtype).bits // 8)}
    return Record(kind="bench", impl=impl.name, op=case.op, prop=pass_, status=status,
                  message=message[:1000], case={"label": sc.label, **case.to_dict()},
                  device=case.device, dtype=case.dtype, figures={**work, **(figures or {})},
                  times=tuple(times))


_ORACLE: dict = {}  # the last cases' oracle values: every implementation of a case shares them


def _reference(case: Case) -> tuple:
    key = case.with_(device="cpu").to_json()
    if key not in _ORACLE:
        while len(_ORACLE) >= 2:  # the case before timing and the one after it
            _ORACLE.pop(next(iter(_ORACLE)))
        _ORACLE[key] = expected_values(case, case.with_(device="cpu").tensors())
    return _ORACLE[key]


ACCURACY = ("worst_over_allowed", "eps_units", "max_abs")


def verify(impl: Implementation, case: Case) -> tuple[str, str, dict]:
    """Check the output before timing: ('ok', '', error figures), ('wrong', why, {})..."""
    try:
        require_support(impl, case)  # before the oracle is computed for nothing
        fig = forward_values(impl, case, _reference(case))
    except Unsupported as exc:
        return "unsupported", str(exc), {}
    except PropertyFailed as exc:
        return "wrong", str(exc), {}
    except Exception as exc:  # noqa: BLE001 - an implementation may raise anything
        return "error", f"{type(exc).__name__}: {exc}", {}
    return "ok", "", {k: fig[k] for k in ACCURACY if k in fig}


def bench_case(impl: Implementation, sc: SuiteCase, device: str,
               options: BenchOptions) -> Iterable[Record]:
    """Records for every pass of one implementation on one suite case."""
    case = sc.case.with_(device=device, dtype=options.dtype)
    todo = options.passes
    flops = case.spec.flops(case.shapes, case.kwargs)
    if impl.max_flops is not None and flops > impl.max_flops:
        for p in todo:
            yield _record(impl, sc, case, p, "skipped", message=f"skipped for budget: {flops:.3g}"
                          f" FLOPs > max_flops={impl.max_flops:.3g} of {impl.name}")
        return
    status, why, accuracy = verify(impl, case)
    ops = traced_ops(impl, case) if options.trace_ops and status == "ok" else None
    for p in todo:
        yield _time_pass(impl, sc, case, p, options, ops, accuracy) if status == "ok" else \
            _record(impl, sc, case, p, status, message=why)


def _time_pass(impl, sc, case, pass_, options, ops=None, accuracy=None) -> Record:
    try:
        with pinned_flags() as flags:
            tensors = case.tensors()
            fn = _timed_call(impl, case, pass_, tensors)
            before = resident_bytes(case.device)
            times, peak = measure(fn, case.device, threads=options.threads,
                                  budget=options.budget)
            growth = resident_bytes(case.device) - before
            recheck(impl, case, tensors)
    except Unsupported as exc:
        return _record(impl, sc, case, pass_, "unsupported", message=str(exc))
    except PropertyFailed as exc:
        return _record(impl, sc, case, pass_, "wrong", message=str(exc))
    except Exception as exc:  # noqa: BLE001
        return _record(impl, sc, case, pass_, "error", message=f"{type(exc).__name__}: {exc}")
    leak = growth > LEAK_BYTES
    extra = {"aten_ops": ops} if ops is not None else {}
    return _record(impl, sc, case, pass_, "ok", times=times, message=f"memory grew by "
                   f"{growth / 2**20:.0f} MiB while timing: possible leak" if leak else "",
                   figures={"threads": options.threads, "peak_bytes": peak, **flags,
                            "mem_growth_bytes": growth, "leak": leak,
                            "flop_saving": impl.flop_saving, "accuracy": accuracy or {},
                            **extra})


def _peak(device: str, name: str, **measured) -> Record:
    from harness.tasks import device_name, host_name
    return Record(kind="peak", impl="machine", op="", prop=name, status="ok", device=device,
                  dtype="float32", host=host_name(), device_name=device_name(device), **measured)


def peak_key(device: str) -> str:
    return _peak(device, "matmul").key()


def peaks(device: str, threads: int, dtype: str = "float32") -> list[Record]:
    """The machine's measured peaks, for the roofline and the suspect mark: the fastest of a few
    matrix multiplies (in float32 and the timed dtype) and of copies of a few sizes."""
    out = []
    for name, (times, work) in (("matmul", peak_matmul(device, threads=threads, dtype=dtype)),
                                ("copy", peak_copy(device, threads=threads))):
        unit = "flops" if name == "matmul" else "bytes"
        out.append(_peak(device, name, figures={unit: work}, times=tuple(times)))
    return out


def plan_bench(v: dict) -> tuple[list[Implementation], list[SuiteCase], BenchOptions]:
    """The implementations, suite cases and BenchOptions of checked option values."""
    from harness import suites
    from harness.options import UsageError
    from harness.registry import select
    from harness.timing import QUICK
    options = BenchOptions(devices=v["device"], dtype=v["dtype"], passes=v["passes"],
                           budget=QUICK if v["quick"] else Budget(), trace_ops=v["trace_ops"],
                           **({} if v["threads"] is None else {"threads": v["threads"]}))
    if v["forward_only"] and set(options.passes) - {"forward"}:
        raise UsageError(f"--forward-only conflicts with --pass={','.join(options.passes)!r}: "
                         f"there is no backward to time")
    cases = [sc for name in (v["suite"] or ["resnet50"])
             for sc in suites.load(name, batch=v["batch"], quick=v["quick"])]
    impls = select(v["impl"] or (), op=v["op"], dtypes=v["dtypes"],
                   forward_only=v["forward_only"])
    return impls, cases, options


@dataclass(frozen=True)
class BenchTask:
    """One pass of one implementation on one suite case, runnable in a worker process."""

    impl: Implementation
    sc: SuiteCase
    device: str
    pass_: str
    options: BenchOptions

    @property
    def case(self) -> Case:
        return self.sc.case.with_(device=self.device, dtype=self.options.dtype)

    @property
    def key(self) -> str:
        return self.fault("", "", None).key()

    def execute(self, on_case) -> Iterator[Record]:
        on_case(self.case.to_dict())
        options = replace(self.options, passes=(self.pass_,))
        yield from bench_case(self.impl, self.sc, self.device, options)

    def fault(self, status: str, message: str, case: dict | None) -> Record:
        return _record(self.impl, self.sc, self.case, self.pass_, status, message=message)


def run_bench(impls: list[Implementation], cases: list[SuiteCase], options: BenchOptions,
              sink: Callable[[Record], object], *, done: frozenset = frozenset(), workers=None,
              executor=None, shard=None,
              progress: Callable[[int, int, Record], object] = lambda i, n, r: None) -> None:
    """Time every implementation of each case's op on each device; records go to sink at once.

    `executor` runs the tasks (tasks.Local by default, with `workers`, an isolate.WorkerPool,
    for worker processes; cluster.RayExecutor measures the peaks on its own nodes); `done` holds
    the keys of records a resumed run already has; `shard` (I, N) takes the I-th of N shares.
    """
    from harness.tasks import Local, run_tasks
    tasks = [BenchTask(impl, sc, device, p, options) for device in options.devices
             for sc in cases for impl in impls if impl.op == sc.case.op for p in options.passes]
    executor = executor or Local(workers)
    for record in executor.peaks(options.devices, options.threads, options.dtype, done):
        sink(record)
    run_tasks(tasks, executor, sink, done=done, shard=shard, progress=progress)
