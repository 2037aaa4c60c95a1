"""One task runner for check and bench: tasks with keys, an executor that runs them, shards.

A task (run.CheckTask, bench.BenchTask; this module imports neither) has a `key`, the key of
the record it produces, so a resumed run skips what it has and a sharded run takes a
deterministic share. An executor runs tasks and yields their records as they finish: `Local`
here (in this process, or in worker processes from isolate.WorkerPool), `cluster.RayExecutor`
on a Ray cluster; `executors.executor_for` picks one.
"""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Callable, Iterable, Iterator, Protocol

from harness.plugins.pool import refusal, refused
from harness.records.record import Record


class Task(Protocol):
    impl: object

    @property
    def key(self) -> str: ...

    def execute(self, on_case) -> Iterator[Record]: ...

    def fault(self, status: str, message: str, case: dict | None) -> Record: ...


class Executor(Protocol):
    def run(self, tasks: list, skip: Callable) -> Iterator[Record]: ...

    def peaks(self, devices, threads: int, dtype: str, done: frozenset) -> Iterator[Record]: ...

    def environments(self) -> list[dict]: ...

    def close(self) -> None: ...


def stamp(record: Record, host: str | None = None) -> Record:
    """The record with the host and device model it was measured on (where it has none)."""
    from harness.timing.machine import device_name, host_name
    if record.host:
        return record
    return replace(record, host=host or host_name(),
                   device_name=device_name(record.device) if record.device else "")


def charge(skip, task, seconds: float, records: list = ()) -> None:
    """Tell run_tasks's gate (where it keeps accounts, `Gate.charge`) the seconds `task` took
    and its records, as soon as it ends: before the executor begins its next task (a lane's
    next one may be the same implementation's, which a hang spares)."""
    charged = getattr(skip, "charge", None)
    if charged is not None:
        charged(task, seconds, records)


class Ledger:
    """The seconds each implementation's tasks have taken against its budget (--budget, per
    candidate; None: no budget): kept across a run's check and bench, safe across lanes."""

    def __init__(self, budget_s: float | None = None):
        self.budget_s, self.spent, self.lock = budget_s, {}, threading.Lock()

    def charge(self, name: str, seconds: float) -> None:
        with self.lock:
            self.spent[name] = self.spent.get(name, 0.0) + seconds

    def over(self, task) -> Record | None:
        """The record of `task` not run because its implementation spent its budget, or None."""
        spent = self.spent.get(task.impl.name, 0.0)
        if self.budget_s is None or spent < self.budget_s:
            return None
        return task.fault("over_budget", f"not run: {task.impl.name} spent its budget of "
                          f"{self.budget_s:g} s ({spent:.1f} s) before this task", None)


class Local:
    """Tasks one after another, in this process or in worker processes (isolate.WorkerPool)."""

    def __init__(self, pool=None):
        self.pool = pool

    def run(self, tasks: list, skip: Callable) -> Iterator[Record]:
        for task in tasks:
            instead = skip(task)
            if isinstance(instead, Record):
                yield instead
                continue
            task, started, records = instead or task, time.monotonic(), []
            results = self.pool.run(task.impl, task) if self.pool else task.execute(
                lambda case: None)
            for record in results:
                records.append(stamp(record))
                yield records[-1]
            charge(skip, task, time.monotonic() - started, records)

    def peaks(self, devices, threads: int, dtype: str, done: frozenset) -> Iterator[Record]:
        """This machine's peaks, measured here (not again on a resumed run that has them)."""
        from harness.timing.peaks import peak_key, peaks
        for device in devices:
            if peak_key(device) not in done:
                yield from (stamp(record) for record in peaks(device, threads, dtype))

    def environments(self) -> list[dict]:
        return []

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


class ShardError(ValueError):
    """A --shard value that is not I/N with 1 <= I <= N."""


def parse_shard(text) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        index, count = 0, 0
    if not 1 <= index <= count:
        raise ShardError(f"--shard={text!r}, but should be I/N with 1 <= I <= N, such as 2/4")
    return index, count


def shard_of(tasks: list, shard: tuple[int, int] | None) -> list:
    """The I-th of N deterministic shares of the tasks (by sorted key, round robin)."""
    if shard is None:
        return list(tasks)
    index, count = shard
    keys = sorted(task.key for task in tasks)
    mine = set(keys[index - 1::count])
    return [task for task in tasks if task.key in mine]


def not_run(task, hung: Record) -> Record:
    """A check left out because an earlier call of the same implementation hung."""
    call = hung.message.rsplit("hung in ", 1)[-1] if "hung in " in hung.message else "a call"
    return task.fault("not_run", f"not run: {task.impl.name} hung in property {hung.prop} "
                      f"({call})", None)


class Gate:
    """What run_tasks asks as each task begins: run it, run it with the large tiers skipped
    (after a timeout on a large case: slow is not wrong), or record instead that it was not run
    (its implementation hung before, or spent its budget); executors tell it what each task
    took (`charge`)."""

    def __init__(self, ledger: Ledger):
        self.ledger, self.hung, self.slow = ledger, {}, {}

    def __call__(self, task):
        record = self.hung.get(task.impl.name)
        if record is not None:
            return not_run(task, record)
        over = self.ledger.over(task)
        if over is not None:
            return over
        why = self.slow.get(task.impl.name)
        return task.skipping_large(why) if why else None

    def charge(self, task, seconds: float, records: list = ()) -> None:
        self.ledger.charge(task.impl.name, seconds)
        for record in records:
            self.saw(task, record)

    def saw(self, task, record: Record) -> str:
        """Learn from `record` of `task`: a check that timed out on a large case makes the
        implementation's checks skip the large tiers (the reason returned: that check runs
        again), on an ordinary case marks it hung."""
        if record.status != "timeout" or record.kind != "check":
            return ""
        why = task.too_slow(record) if hasattr(task, "too_slow") else ""
        if why:
            self.slow.setdefault(task.impl.name, why)
        else:
            self.hung.setdefault(record.impl, record)
        return why


def run_tasks(tasks: Iterable, executor: Executor, sink: Callable[[Record], object], *,
              done: frozenset = frozenset(), shard=None,
              progress: Callable[[int, int, Record], object] = lambda i, n, r: None,
              ledger: Ledger | None = None) -> list[Record]:
    """Run what is not `done` (of this shard) on `executor`; each record goes to `sink` as it
    arrives. After a check times out on an ordinary case, that implementation's remaining
    checks are not run: a hung kernel costs one time limit, not one per property. After one
    times out on a large case (`task.too_slow`), the check runs again, and the rest run, with
    the large tiers skipped: slow is not wrong. An implementation past its budget (`ledger`)
    runs no further task; a refused candidate (plugins.pool) runs none: one record says why."""
    todo = [task for task in shard_of(list(tasks), shard) if task.key not in done]
    records = _refusals(todo, sink, done)
    todo = [task for task in todo if not refused(task.impl)]
    by_key, again, gate = {t.key: t for t in todo}, [], Gate(ledger or Ledger())
    for step, record in enumerate(_then(executor, todo, again, gate), start=1):
        task = by_key.get(record.key())
        if task is not None and gate.saw(task, record):
            again.append(task)  # a large case timed out: again, the large tiers skipped
            continue
        sink(record)
        records.append(record)
        progress(min(step, len(todo)), len(todo), record)
    return records


def _refusals(todo: list, sink, done: frozenset) -> list[Record]:
    """One record for each refused candidate among the tasks' implementations (not one per
    task), to `sink` unless a resumed run has it."""
    found = {task.impl.name: refusal(task.impl) for task in todo if refused(task.impl)}
    records = [r for r in found.values() if r.key() not in done]
    for record in records:
        sink(record)
    return records


def _then(executor, todo: list, again: list, skip) -> Iterator[Record]:
    """The records of `todo`, then of the tasks put in `again` meanwhile (skip rewrites them)."""
    yield from executor.run(todo, skip)
    while again:
        redo, again[:] = list(again), []
        yield from executor.run(redo, skip)
