"""Benchmarks: check each implementation's output on a suite case, then time it; one Record each."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

from harness.cases import Case
from harness.check import PropertyFailed, Unsupported, call, forward_values, output_of
from harness.records import Record
from harness.registry import Implementation
from harness.suites import SuiteCase
from harness.timing import Budget, measure, peak_copy, peak_matmul, pinned_flags

PASSES = ("forward", "backward", "both")
PASS_FLOPS = {"forward": 1, "backward": 2, "both": 3}  # backward: grads of input and weight


@dataclass(frozen=True)
class BenchOptions:
    devices: tuple = ("cpu",)
    dtype: str = "float32"
    passes: tuple = ("forward",)
    threads: int = field(default_factory=torch.get_num_threads)
    budget: Budget = Budget()


def _timed_call(impl: Implementation, case: Case, pass_: str) -> Callable[[], object]:
    """The function to time: a forward call, a backward from a kept graph, or both."""
    tensors = case.tensors()
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


def _record(impl, sc: SuiteCase, case: Case, pass_: str, status: str, *, message="", times=(),
            figures=None) -> Record:
    work = {"label": sc.label, "count": sc.count,
            "flops": case.spec.flops(case.shapes, case.kwargs) * PASS_FLOPS[pass_],
            "bytes": case.spec.bytes_moved(case.shapes, case.kwargs,
                                           torch.finfo(case.torch_dtype).bits // 8)}
    return Record(kind="bench", impl=impl.name, op=case.op, prop=pass_, status=status,
                  message=message[:1000], case={"label": sc.label, **_case_fields(case)},
                  device=case.device, dtype=case.dtype, figures={**work, **(figures or {})},
                  times=tuple(times))


def _case_fields(case: Case) -> dict:
    return json.loads(case.to_json())


def verify(impl: Implementation, case: Case) -> tuple[str, str]:
    """Check the output before timing: ('ok', ''), ('wrong', why), ('unsupported', why)..."""
    try:
        forward_values(impl, case)
    except Unsupported as exc:
        return "unsupported", str(exc)
    except PropertyFailed as exc:
        return "wrong", str(exc)
    except Exception as exc:  # noqa: BLE001 - an implementation may raise anything
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", ""


def bench_case(impl: Implementation, sc: SuiteCase, device: str, options: BenchOptions,
               done: set) -> Iterable[Record]:
    """Records for every pass of one implementation on one suite case (skipping those in done)."""
    case = sc.case.with_(device=device, dtype=options.dtype)
    todo = [p for p in options.passes if _key(impl, case, p) not in done]
    if not todo:
        return
    flops = case.spec.flops(case.shapes, case.kwargs)
    if impl.max_flops is not None and flops > impl.max_flops:
        for p in todo:
            yield _record(impl, sc, case, p, "skipped", message=f"skipped for budget: {flops:.3g}"
                          f" FLOPs > max_flops={impl.max_flops:.3g} of {impl.name}")
        return
    status, why = verify(impl, case)
    for p in todo:
        yield _time_pass(impl, sc, case, p, options) if status == "ok" else _record(
            impl, sc, case, p, status, message=why)


def _time_pass(impl, sc, case, pass_, options) -> Record:
    try:
        with pinned_flags() as flags:
            fn = _timed_call(impl, case, pass_)
            times, peak = measure(fn, case.device, threads=options.threads,
                                  budget=options.budget)
    except Unsupported as exc:
        return _record(impl, sc, case, pass_, "unsupported", message=str(exc))
    except Exception as exc:  # noqa: BLE001
        return _record(impl, sc, case, pass_, "error", message=f"{type(exc).__name__}: {exc}")
    return _record(impl, sc, case, pass_, "ok", times=times,
                   figures={"threads": options.threads, "peak_bytes": peak, **flags})


def _key(impl, case: Case, pass_: str) -> str:
    return Record(kind="bench", impl=impl.name, op=case.op, prop=pass_, status="",
                  case=_case_fields(case), device=case.device,
                  dtype=case.dtype).key()


def peaks(device: str, threads: int) -> list[Record]:
    """The machine's measured peaks, for the roofline: a matmul and a copy."""
    out = []
    for name, (times, work) in (("matmul", peak_matmul(device, threads=threads)),
                                ("copy", peak_copy(device, threads=threads))):
        unit = "flops" if name == "matmul" else "bytes"
        out.append(Record(kind="peak", impl="machine", op="", prop=name, status="ok",
                          device=device, dtype="float32", figures={unit: work}, times=tuple(times)))
    return out


def run_bench(impls: list[Implementation], cases: list[SuiteCase], options: BenchOptions,
              sink: Callable[[Record], object], *, done: frozenset = frozenset(),
              progress: Callable[[int, int, Record], object] = lambda i, n, r: None) -> None:
    """Time every implementation of each case's op on each device; records go to sink at once."""
    jobs = [(device, sc, impl) for device in options.devices for sc in cases
            for impl in impls if impl.op == sc.case.op]
    total, step = len(jobs) * len(options.passes), 0
    for device in options.devices:
        if not any(key.startswith(f"peak|machine||matmul|{device}|") for key in done):
            for record in peaks(device, options.threads):
                sink(record)
    for device, sc, impl in jobs:
        for record in bench_case(impl, sc, device, options, done):
            step += 1
            sink(record)
            progress(step, total, record)
