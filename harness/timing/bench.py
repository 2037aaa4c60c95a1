"""Benchmarks: check each implementation's output on a suite case, then time it; one Record each."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import torch

from harness.checking.call import PropertyFailed, Unsupported, call, forward_values, require_support
from harness.checking.captured import captured
from harness.checking.flags import pinned_flags
from harness.checking.held import LEAK_BYTES, grown_by, held_bytes, older_objects_frozen
from harness.ops.cases import Case
from harness.plugins.registry import Implementation
from harness.records.record import Record
from harness.timing import allocator
from harness.timing.suites import SuiteCase
from harness.timing.timed import Timed, reference
from harness.timing.timers import Budget, measure

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
    alloc: str = allocator.DEFAULT  # the CPU allocator's state while timing
    peaks: dict = field(default_factory=dict)  # {device: {"gflops", "gbs"}}: the suspect bar
    # {implementation: the properties it failed} in this run's check: timed, never ranked
    nonconforming: dict = field(default_factory=dict)


def nonconforming(records) -> dict:
    """{implementation: the properties it failed, comma-separated} among check records: its own
    failures (not declared or inherited ones, nor the harness's)."""
    from harness.records.statuses import STATUSES
    failed: dict = {}
    for r in records:
        if r.kind == "check" and STATUSES[r.status].problem and r.status != "harness_error":
            failed.setdefault(r.impl, []).append(r.prop)
    return {impl: ", ".join(props) for impl, props in failed.items()}


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


ACCURACY = ("worst_over_allowed", "eps_units", "max_abs")


def verify(impl: Implementation, case: Case) -> tuple[str, str, dict]:
    """Check the output before timing: ('ok', '', error figures), ('wrong', why, {})..."""
    try:
        require_support(impl, case)  # before the oracle is computed for nothing
        fig = forward_values(impl, case, reference(case))
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
    status, why, accuracy, choice = _verify_choosing(impl, case)
    if choice and status == "error":  # no configuration ran: the autotuner itself failed
        status, why = "unsupported", f"its autotuner could not choose here: {why}"
    elif status == "wrong" and choice.get("autotuner_chose"):
        why = f"its autotuner chose {choice['autotuner_chose']}: {why}"
    ops = traced_ops(impl, case) if options.trace_ops and status == "ok" else None
    for p in todo:
        yield _time_pass(impl, sc, case, p, options, ops, accuracy, choice) if status == "ok" \
            else _record(impl, sc, case, p, status, message=why, figures=choice)


def _verify_choosing(impl: Implementation, case: Case) -> tuple[str, str, dict, dict]:
    """verify(impl, case), and for a kernel timed as its users call it, its autotuner
    choosing, the configuration the autotuner chose in that call: {"autotuner_chose": label,
    or None where none was launched}; {} for any other kernel."""
    from harness.plugins.autotuned import chosen
    from harness.plugins.configs import label
    from harness.plugins.registry import autotuner_choosing, autotuners_of
    if not autotuner_choosing(impl):
        return (*verify(impl, case), {})
    verified = []
    config = chosen(autotuners_of(impl), impl.configs,
                    lambda: verified.extend(verify(impl, case)))
    return (*verified, {"autotuner_chose": None if config is None else f"[{label(config)}]"})


def _nonconforming(impl: Implementation, choice: dict, options) -> str:
    """Why the timing of `impl` (or of the configuration its autotuner chose) is never ranked:
    the properties it failed in this run's check; '' where it conforms."""
    picked = choice.get("autotuner_chose")
    if impl.name in options.nonconforming:
        return (f"does not conform: failed {options.nonconforming[impl.name]} in this run's "
                f"check; its time is shown, never ranked")
    if picked and impl.name + picked in options.nonconforming:
        return (f"its autotuner chose {picked}, which does not conform: failed "
                f"{options.nonconforming[impl.name + picked]} in this run's check; its time is "
                f"shown, never ranked")
    return ""


def _time_pass(impl, sc, case, pass_, options, ops=None, accuracy=None, choice=None) -> Record:
    choice = choice or {}
    try:
        alloc = allocator.use(options.alloc)  # before the first call: every call in one state
        with pinned_flags() as flags, older_objects_frozen():  # see grown_by
            timed = Timed(impl, case, pass_)
            before = held_bytes(case.device)
            waits: list = []
            with captured():  # once around the loop: per call it would be timed
                times, peak = measure(timed, case.device, threads=options.threads,
                                      budget=options.budget, cache=options.cache,
                                      on_block=timed.verify if case.device == "cuda" else
                                      timed.check_block, before=timed.before, waits=waits)
            timed.verify()  # the last timed outputs, unless verified already
            growth = grown_by(before, case.device)
            timed.recheck()
            status, why, roof = judge(impl, case, pass_, times, options)
            failed = _nonconforming(impl, choice, options)
            if status == "ok" and failed:
                status, why = "nonconforming", failed
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
                            "alloc": alloc["alloc"], "malloc": alloc["malloc"],
                            "alloc_settings": alloc["settings"],
                            "cpu_waits": waits,
                            "flop_saving": impl.flop_saving, "accuracy": accuracy or {},
                            "judged_against": roof, "blocks": timed.blocks,
                            "verified_blocks": timed.verified, "input_windows": timed.rotation,
                            "blocks_seeing_an_input_twice": timed.repeated, **choice,
                            **extra})


# Samples over JUDGE_CLOCK times faster than the judge's clock saw, and faster by more than
# JUDGE_CLOCK_FLOOR_S, are suspect. Wide margins: the judge times its batches on a machine as
# busy as it is then, the samples were taken at another moment (beside a CPU-bound process and
# two test workers on 2 cores, an honest 20 us call was seen 2x slower by the judge's clock).
JUDGE_CLOCK = 3.0
JUDGE_CLOCK_FLOOR_S = 1e-3
JUDGE_CLOCK_TRIES = 3  # the judge's clock measured again, up to this often, before it disagrees
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
    from harness.plugins.registry import load
    timed = Timed(load(f"reference.{case.op}"), case, pass_)
    times, _ = measure(timed, case.device, threads=options.threads, budget=options.budget,
                       before=timed.before)
    return _rates(case, pass_, statistics.median(times))


def plan_bench(v: dict, select=None) -> tuple[list[Implementation], list[SuiteCase],
                                              BenchOptions]:
    """The implementations, suite cases and BenchOptions of checked option values; `select`:
    how implementations are found (registry.select, here)."""
    from harness.plugins.pool import expanded
    from harness.plugins.registry import select as here
    from harness.records.errors import UsageError
    select = select or here
    from harness.timing import suites
    from harness.timing.timers import QUICK
    options = BenchOptions(devices=v["device"], dtype=v["dtype"], passes=v["passes"],
                           budget=QUICK if v["quick"] else Budget(), trace_ops=v["trace_ops"],
                           cache=v.get("cache") or "hot", alloc=v.get("alloc") or allocator.DEFAULT,
                           **({} if v["threads"] is None else {"threads": v["threads"]}))
    if v["forward_only"] and set(options.passes) - {"forward"}:
        raise UsageError(f"--forward-only conflicts with --pass={','.join(options.passes)!r}: "
                         f"there is no backward to time")
    cases = [sc for name in (v["suite"] or ["resnet50"])
             for sc in suites.load(name, batch=v["batch"], quick=v["quick"])]
    specs, pooled = expanded(v["impl"], v["op"])
    impls = select(specs, op=v["op"], dtypes=v["dtypes"], forward_only=v["forward_only"],
                   configs=v.get("config"), shipped=True, pooled=pooled)
    return impls, cases, options


@dataclass(frozen=True)
class BenchTask:
    """One pass of one implementation on one suite case, runnable in a worker process."""

    whole_in_kernel_process = True  # its timed loop must not cross processes call by call
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
        from harness.plugins.deferred import live
        options = replace(self.options, passes=(self.pass_,))
        yield from bench_case(live(self.impl), self.sc, self.device, options)

    def fault(self, status: str, message: str, case: dict | None) -> Record:
        return _record(self.impl, self.sc, self.case, self.pass_, status, message=message)

    def rejudged(self, record: Record) -> Record:
        """`record` as it came from the kernel's process, nonconforming here if the kernel
        failed this run's check, whatever that process wrote. (Its suspect mark above the
        peak is not decided again here: that needs PyTorch's own op timed at the same moment,
        which the kernel's process did; a lie in the samples is for `clocked`.)"""
        if record.kind != "bench" or record.status != "ok" or not record.times:
            return record
        failed = _nonconforming(self.impl, record.figures, self.options)
        return replace(record, status="nonconforming", message=failed) if failed else record

    def clocked(self, record: Record, remote) -> Record:
        """`record` beside the judge's own clock (judge_clock.per_call on `remote`, the
        kernel's function as the judge calls it, kernel_client.Remote): samples that claim over
        JUDGE_CLOCK x the speed the judge saw are not believed (suspect): a kernel that slowed
        its process's clock, ran faster with a timer among its callers, or remembered answers.
        Suspect too: an output the judge timed that is wrong, a kernel that used more cores
        than its threads. Every pass on the CPU."""
        from harness.checking.call import PropertyFailed
        from harness.timing.judge_clock import per_call
        if record.status != "ok" or self.device != "cpu" or not record.times:
            return record
        claimed, threads = statistics.median(record.times), self.options.threads
        try:
            seen = per_call(remote, self.case, self.pass_, threads, seed=0)
            for attempt in range(1, JUDGE_CLOCK_TRIES):  # a busy moment is not a lie
                if not seen.too_busy(threads) and not _disagrees(seen, claimed, threads):
                    break
                again = per_call(remote, self.case, self.pass_, threads, attempt,
                                 longer=attempt)
                if seen.too_busy(threads) or not _disagrees(again, claimed, threads) or \
                        again.seconds < seen.seconds:
                    seen = again
        except PropertyFailed as exc:
            return replace(record, status="suspect", message=str(exc)[:600])
        except Exception as exc:  # noqa: BLE001 - the kernel's, when the judge timed it
            return replace(record, status="suspect", message=f"raised {type(exc).__name__} when "
                           f"the judge timed it: {str(exc)[:300]}")
        figures = {**record.figures, "judge_clock_s": seen.seconds,
                   "judge_cpu_s": seen.cpu_s / seen.calls, "judge_cores": seen.cores(),
                   "judge_waited_share": seen.busy}  # over BUSY_SHARE: no verdict
        why = _disagrees(seen, claimed, threads)
        return replace(record, status="suspect", figures=figures, message=why) if why else \
            replace(record, figures=figures)


def _disagrees(seen, claimed: float, threads: int) -> str:
    """Why the samples (`claimed` seconds a call) are not believed beside what the judge's
    clock saw; '' where they are."""
    def over(judged: float, allowed: float) -> bool:
        return judged > JUDGE_CLOCK * allowed and judged - allowed > JUDGE_CLOCK_FLOOR_S
    cpu = seen.cpu_s / seen.calls
    if seen.too_many_cores(threads):  # first: a kernel's own threads keep its caller waiting
        return (f"used {seen.cores():.1f} cores' CPU time while the judge timed it, given "
                f"{threads} thread{'s' * (threads > 1)}: not compared fairly with PyTorch")
    if seen.too_busy(threads):
        return ""
    if over(seen.seconds, claimed):
        return (f"the judge's own clock saw {seen.seconds * 1e6:.0f} us a call, the samples say "
                f"{claimed * 1e6:.0f} us: over {JUDGE_CLOCK:g}x faster than the kernel ran when "
                f"timed from outside its process: not believed")
    if over(cpu, threads * claimed):
        return (f"its process spent {cpu * 1e6:.0f} us of CPU a call when the judge timed it, "
                f"over {JUDGE_CLOCK:g}x what {threads} thread{'s' * (threads > 1)} can spend in "
                f"the {claimed * 1e6:.0f} us the samples say: not believed")
    return ""
