"""Benchmarks: check each implementation's output on a suite case, then time it; one Record each."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import torch

from harness.captured import captured
from harness.cases import Case
from harness.check import (PropertyFailed, Unsupported, assert_values, call, expected_values,
                           forward_values, output_of, require_support, reseeded,
                           timed_caller, write_values)
from harness.records import Record, peak_rates
from harness.registry import Implementation
from harness.suites import SuiteCase
from harness.tolerance import bound
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
    cache: str = "hot"  # "cold": caches flushed before every timed call
    peaks: dict = field(default_factory=dict)  # {device: {"gflops", "gbs"}}: the suspect bar


ROTATION = 2  # input sets the timed calls take turns with
WARM_CALLS, WARM_S = 10, 0.02  # untimed calls after each verification: at most, or for so long


class Timed:
    """The function to time and what it must answer for. Its calls take turns over ROTATION
    inputs with different values (the weights are shared: caching a prepared weight is fair),
    prepared with their oracles before timing; each call moves its input's version counter on,
    so a result cached by address, storage or version cannot be served. Only the latest output
    is kept (freed before the next call, as an untimed loop would), so the rotation doubles the
    inputs' footprint and nothing else. Outside the timed region it is checked against its
    input's oracle: after every timed
    block on the CPU (`check_block`, which then warms the caches again), after the events and
    a synchronize on CUDA, and by the full comparison after timing (`verify`)."""

    def __init__(self, impl: Implementation, case: Case, pass_: str):
        self.impl, self.pass_, self.case = impl, pass_, case
        first = case.tensors()
        self.sets = [first] + [(reseeded(case, step).tensors()[0], *first[1:])
                               for step in range(1, ROTATION)]
        self.references = [_reference(case, step) for step in range(ROTATION)] \
            if pass_ != "backward" else []
        self.last: tuple | None = None  # (turn, output) of the latest call
        self.turn, self.blocks = 0, 0
        self._bounds: dict = {}  # input -> (expected, allowed) in the output's precision
        self._call = self._prepare(case, pass_)

    def _prepare(self, case: Case, pass_: str) -> Callable[[int], object]:
        """The call of turn i; support was checked before timing, the call's text made once."""
        what, kwargs = case.call_text(), case.kwargs
        fn = timed_caller(self.impl.fn, what)
        if pass_ == "forward":
            args = [[t for t in s if t is not None] for s in self.sets]
            return lambda i: fn(*args[i], **kwargs)
        self.sets = [tuple(None if t is None else t.requires_grad_() for t in s)
                     for s in self.sets]
        used = [[t for t in s if t is not None] for s in self.sets]
        out = output_of(call(self.impl, case, self.sets[0]), case)
        if not out.requires_grad:
            raise Unsupported("not differentiable: no backward to time")
        grad = torch.randn_like(out)
        grads = timed_caller(torch.autograd.grad, f"backward of {what}")
        if pass_ == "backward":  # from one kept graph: nothing new to verify until recheck
            return lambda i: grads(out, used[0], grad, retain_graph=True)

        def both(i):
            result = fn(*used[i], **kwargs)
            grads(output_of(result, case), used[i], grad)
            return result
        return both

    def __call__(self) -> None:
        i = self.turn = (self.turn + 1) % ROTATION
        if self.pass_ != "backward":
            torch.autograd.graph.increment_version(self.sets[i][0])
        self.last = None  # freed first, so the call may reuse its memory
        self.last = (i, self._call(i))

    def check_block(self, *_) -> None:
        """After each timed CPU block: the block's last output within its input's tolerance,
        by a comparison of a few passes over the output (a full one would chill the caches
        for the next block); any doubt goes to the full comparison, which names the error."""
        self.blocks += 1
        if self.last is not None and self.references:  # backward: verified by the recheck
            i, out = self.last
            if not self._within(i, output_of(out, self.case).detach()):
                self.verify()
        self._warm()

    def _within(self, i: int, out: torch.Tensor) -> bool:
        if i not in self._bounds:
            expected, mag, sq, scale = self.references[i]
            kind = torch.float64 if out.dtype == torch.float64 else torch.float32
            allowed = bound(expected, mag, self.case.torch_dtype, self.case.reduction_length(),
                            scale, sq) + torch.finfo(kind).eps * expected.abs()
            self._bounds[i] = (expected.to(out.device, kind), allowed.to(out.device, kind))
        expected, allowed = self._bounds[i]
        return out.shape == expected.shape and bool(
            (out.to(expected.dtype) - expected).abs_().le_(allowed).all())

    def verify(self, *_) -> None:
        """The latest output against its input's oracle, by the full comparison."""
        if self.case.device == "cuda":
            self.blocks += 1
            _no_late_streams()
        if self.last is not None and self.references:
            i, out = self.last
            try:
                assert_values(output_of(out, self.case).detach(), self.case, self.references[i])
            except PropertyFailed as exc:
                raise PropertyFailed(f"an output of timed block {self.blocks} (input {i + 1} "
                                     f"of {ROTATION}) is wrong: {exc}") from None

    def _warm(self) -> None:
        """A pause between blocks lets the caches (and the core's clock) go cold: a few calls,
        not timed, before the next block. Measured on resnet50 batch 1 on a 2-core VM: without
        them, a 50 ms pause made the next block's calls up to 1.7x slower."""
        import time
        deadline = time.perf_counter() + WARM_S
        for done in range(WARM_CALLS):
            self()
            if done >= ROTATION and time.perf_counter() > deadline:
                break


LATE_S = 1e-3  # device work still running this long after the timed stream finished: a cheat


def _no_late_streams() -> None:
    """The timed stream is done; the whole device must be done too: work left on a side stream
    was never inside the CUDA events, so its time was not counted."""
    import time
    torch.cuda.current_stream().synchronize()
    start = time.perf_counter()
    torch.cuda.synchronize()
    late = time.perf_counter() - start
    if late > LATE_S:
        raise PropertyFailed(f"work was still running on another stream {late * 1e3:.1f} ms "
                             f"after the timed stream finished: its time was not counted")


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


def _work(case: Case, pass_: str) -> dict:
    """FLOPs and compulsory bytes of one timed call of `pass_`."""
    return {"flops": case.spec.flops(case.shapes, case.kwargs) * PASS_FLOPS[pass_],
            "bytes": case.spec.bytes_moved(case.shapes, case.kwargs,
                                           torch.finfo(case.torch_dtype).bits // 8)}


def _record(impl, sc: SuiteCase, case: Case, pass_: str, status: str, *, message="", times=(),
            figures=None) -> Record:
    work = {"label": sc.label, "count": sc.count, **_work(case, pass_)}
    return Record(kind="bench", impl=impl.name, op=case.op, prop=pass_, status=status,
                  message=message[:1000], case={"label": sc.label, **case.to_dict()},
                  device=case.device, dtype=case.dtype, figures={**work, **(figures or {})},
                  times=tuple(times))


_ORACLE: dict = {}  # the last cases' oracle values: every implementation of a case shares them


def _reference(case: Case, step: int = 0) -> tuple:
    """The oracle of `case`, or of its `step`-th rotation: the input of reseeded(case, step)
    with the case's own weight and bias."""
    key = f"{case.with_(device='cpu').to_json()}|{step}"
    if key not in _ORACLE:
        while len(_ORACLE) >= ROTATION + 1:  # this case's rotation, and the recheck's values
            _ORACLE.pop(next(iter(_ORACLE)))
        tensors = case.with_(device="cpu").tensors()
        if step:
            tensors = (reseeded(case, step).with_(device="cpu").tensors()[0], *tensors[1:])
        _ORACLE[key] = expected_values(case, tensors)
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
            timed = Timed(impl, case, pass_)
            before = resident_bytes(case.device)
            with captured():  # once around the loop: per call it would be timed
                times, peak = measure(timed, case.device, threads=options.threads,
                                      budget=options.budget, cache=options.cache,
                                      on_block=timed.verify if case.device == "cuda" else
                                      timed.check_block)
            timed.verify()  # the last outputs, by the full comparison
            growth = resident_bytes(case.device) - before
            recheck(impl, case, timed.sets[0])
            status, why, roof = judge(impl, case, pass_, times, options)
    except Unsupported as exc:
        return _record(impl, sc, case, pass_, "unsupported", message=str(exc))
    except PropertyFailed as exc:
        return _record(impl, sc, case, pass_, "wrong", message=str(exc))
    except Exception as exc:  # noqa: BLE001
        return _record(impl, sc, case, pass_, "error", message=f"{type(exc).__name__}: {exc}")
    leak = growth > LEAK_BYTES
    extra = {"aten_ops": ops} if ops is not None else {}
    message = why or (f"memory grew by {growth / 2**20:.0f} MiB while timing: possible leak"
                      if leak else "")
    return _record(impl, sc, case, pass_, status, times=times, message=message,
                   figures={"threads": options.threads, "peak_bytes": peak, **flags,
                            "mem_growth_bytes": growth, "leak": leak, "cache": options.cache,
                            "flop_saving": impl.flop_saving, "accuracy": accuracy or {},
                            "judged_against": roof, "verified_blocks": timed.blocks, **extra})


SUSPECT = 1.5  # throughput above this many times the machine's (or PyTorch's) best: not believed


def _rates(case: Case, pass_: str, seconds: float) -> dict:
    work = _work(case, pass_)
    return {"gflops": work["flops"] / seconds / 1e9, "gbs": work["bytes"] / seconds / 1e9}


def _over(rates: dict, roof: dict, flop_saving: bool) -> bool:
    """Past SUSPECT x the roof in GB/s, or in GFLOP/s for an algorithm that does every multiply."""
    keys = ("gbs",) if flop_saving else ("gflops", "gbs")
    return any(roof.get(k) and rates[k] > SUSPECT * roof[k] for k in keys)


def judge(impl: Implementation, case: Case, pass_: str, times, options) -> tuple[str, str, dict]:
    """('ok' or 'suspect', why, the roof it was judged against), decided here, once. The roof is
    the machine's measured peak; a busy machine measures a low one, so where a kernel passes it,
    PyTorch's own kernel is timed on the same case now and its rate floors the roof."""
    rates = _rates(case, pass_, statistics.median(times))
    roof = dict(options.peaks.get(case.device, {}), source="measured peak")
    if not _over(rates, roof, impl.flop_saving) or impl.name == f"reference.{case.op}":
        return "ok", "", roof
    own = _reference_rates(case, pass_, options)
    roof = {k: max(roof.get(k, 0.0), own[k]) for k in rates}
    roof["source"] = f"the measured peak, floored by reference.{case.op} on this case"
    if _over(rates, roof, impl.flop_saving):
        return "suspect", (f"{rates['gflops']:.3g} GFLOP/s, {rates['gbs']:.3g} GB/s: above "
                           f"{SUSPECT:g}x {roof['source']} ({roof['gflops']:.3g} GFLOP/s, "
                           f"{roof['gbs']:.3g} GB/s): not believed"), roof
    return "ok", "", roof


def _reference_rates(case: Case, pass_: str, options) -> dict:
    from harness.registry import load
    timed = Timed(load(f"reference.{case.op}"), case, pass_)
    times, _ = measure(timed, case.device, threads=options.threads, budget=options.budget)
    return _rates(case, pass_, statistics.median(times))


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
                           cache=v.get("cache") or "hot",
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
    measured = list(executor.peaks(options.devices, options.threads, options.dtype, done))
    for record in measured:
        sink(record)
    if set(options.devices) - set(peak_rates(measured)):  # a resumed run: measure them again
        measured += executor.peaks(options.devices, options.threads, options.dtype, frozenset())
    options = replace(options, peaks=peak_rates(measured))
    run_tasks(tasks, executor, sink, done=done, shard=shard, progress=progress)
