"""A whole check or bench: the tasks of every implementation (and case) handed to an executor,
and each record to the sink as soon as it exists. The doors call these two; the tasks themselves
are defined where their work is (`checking.driver.CheckTask`, `timing.bench.BenchTask`)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from harness.checking.driver import CheckOptions, CheckTask, run_seed, unchecked
from harness.checking.properties import properties_for
from harness.execution.tasks import Ledger, Local, run_tasks
from harness.plugins.deferred import Deferred
from harness.plugins.pool import LOADS, refused
from harness.plugins.registry import Implementation
from harness.records.record import Record, peak_rates
from harness.timing.bench import BenchOptions, BenchTask
from harness.timing.suites import SuiteCase


def deferred(impl: Implementation) -> bool:
    """A kernel named by module:attr or a file, judged from outside its own process."""
    return isinstance(impl.fn, Deferred) and not refused(impl)


def run_checks(impls: Iterable[Implementation], options: CheckOptions,
               sink: Callable[[Record], object] = lambda r: r, *, done: frozenset = frozenset(),
               workers=None, executor=None, shard=None, progress=lambda i, n, r: None,
               ledger: Ledger | None = None) -> list[Record]:
    """Every property of every implementation; each record goes to `sink` as soon as it exists.

    `executor` (tasks.Local, cluster.RayExecutor) runs the tasks; `workers` (isolate.WorkerPool)
    is the local one with worker processes; without either everything runs here. Properties
    whose records are in `done` are skipped (resume); `shard` (I, N) takes the I-th of N shares;
    `ledger` keeps each implementation's time against its budget (tasks.Ledger).
    """
    impls, options = list(impls), run_seed(options)  # one seed: the same cases for each
    by_op: dict[str, list] = {}
    for impl in impls:
        if not refused(impl) and not deferred(impl):
            by_op.setdefault(impl.op, []).append(impl)
    # each property's implementations one after another: they are drawn the same cases, and
    # the oracle answers each case once (checking.answers); parallel lanes keep them together.
    # A refused candidate (plugins.pool) has one task, whose record says why it was not run;
    # a kernel in a process of its own is judged by a worker of its own, which shares no
    # answers: its properties one after another, so its worker is started once
    tasks = [CheckTask(impl, LOADS, options) for impl in impls if refused(impl)] + [
        CheckTask(impl, prop.name, options) for op, same_op in by_op.items()
        for prop in properties_for(op, options.properties or None) for impl in same_op] + [
        CheckTask(impl, prop.name, options) for impl in impls if deferred(impl)
        for prop in properties_for(impl.op, options.properties or None)]
    records = run_tasks(tasks, executor or Local(workers), sink, done=done, shard=shard,
                        progress=progress, ledger=ledger)
    for impl in impls if shard is None else ():  # a shard sees only part of an implementation
        found = unchecked(impl.name, impl.op, [r for r in records if r.impl == impl.name])
        if found is not None:
            sink(found)
            records.append(found)
    return records


def run_bench(impls: list[Implementation], cases: list[SuiteCase], options: BenchOptions,
              sink: Callable[[Record], object], *, done: frozenset = frozenset(), workers=None,
              executor=None, shard=None,
              progress: Callable[[int, int, Record], object] = lambda i, n, r: None,
              ledger: Ledger | None = None) -> None:
    """Time every implementation of each case's op on each device; records go to sink at once.

    `executor` runs the tasks (tasks.Local by default, with `workers`, an isolate.WorkerPool,
    for worker processes; cluster.RayExecutor measures the peaks on its own nodes); `done` holds
    the keys of records a resumed run already has; `shard` (I, N) takes the I-th of N shares.
    """
    # trusted built-ins case by case; a kernel in a process of its own all its cases at once,
    # so its worker and kernel process are started once
    tasks = [BenchTask(impl, sc, device, p, options) for device in options.devices
             for sc in cases for impl in impls if impl.op == sc.case.op and not deferred(impl)
             for p in options.passes] + [
        BenchTask(impl, sc, device, p, options) for impl in impls if deferred(impl)
        for device in options.devices for sc in cases if impl.op == sc.case.op
        for p in options.passes]
    executor = executor or Local(workers)
    measured = list(executor.peaks(options.devices, options.threads, options.dtype, done))
    for record in measured:
        sink(record)
    if set(options.devices) - set(peak_rates(measured)):  # a resumed run: measure them again
        measured += executor.peaks(options.devices, options.threads, options.dtype, frozenset())
    options = replace(options, peaks=peak_rates(measured))
    run_tasks(tasks, executor, sink, done=done, shard=shard, progress=progress, ledger=ledger)
