"""One task runner for check and bench: tasks with keys, an executor that runs them, shards.

A task (run.CheckTask, bench.BenchTask; this module imports neither) has a `key`, the key of
the record it produces, so a resumed run skips what it has and a sharded run takes a
deterministic share. An executor runs tasks and yields their records as they finish: `Local`
here (in this process, or in worker processes from isolate.WorkerPool), `cluster.RayExecutor`
on a Ray cluster; `executors.executor_for` picks one.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Iterator, Protocol

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
            task = instead or task
            results = self.pool.run(task.impl, task) if self.pool else task.execute(
                lambda case: None)
            for record in results:
                yield stamp(record)

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


def run_tasks(tasks: Iterable, executor: Executor, sink: Callable[[Record], object], *,
              done: frozenset = frozenset(), shard=None,
              progress: Callable[[int, int, Record], object] = lambda i, n, r: None
              ) -> list[Record]:
    """Run what is not `done` (of this shard) on `executor`; each record goes to `sink` as it
    arrives. After a check times out on an ordinary case, that implementation's remaining
    checks are not run: a hung kernel costs one time limit, not one per property. After one
    times out on a large case (`task.too_slow`), the check runs again, and the rest run, with
    the large tiers skipped: slow is not wrong."""
    todo = [task for task in shard_of(list(tasks), shard) if task.key not in done]
    by_key, hung, slow, again = {t.key: t for t in todo}, {}, {}, []

    def skip(task):
        record = hung.get(task.impl.name)
        if record is not None:
            return not_run(task, record)
        why = slow.get(task.impl.name)
        return task.skipping_large(why) if why else None

    records = []
    for step, record in enumerate(_then(executor, todo, again, skip), start=1):
        if record.status == "timeout" and record.kind == "check":
            task = by_key.get(record.key())
            why = task.too_slow(record) if hasattr(task, "too_slow") else ""
            if why:
                slow.setdefault(task.impl.name, why)
                again.append(task)
                continue
            hung.setdefault(record.impl, record)
        sink(record)
        records.append(record)
        progress(min(step, len(todo)), len(todo), record)
    return records


def _then(executor, todo: list, again: list, skip) -> Iterator[Record]:
    """The records of `todo`, then of the tasks put in `again` meanwhile (skip rewrites them)."""
    yield from executor.run(todo, skip)
    while again:
        redo, again[:] = list(again), []
        yield from executor.run(redo, skip)
