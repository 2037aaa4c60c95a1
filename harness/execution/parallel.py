"""Tasks on several lanes at once (`-j N`), the way pytest-xdist spreads tests over workers.

Each lane takes the next task, or batch of tasks that share drawn cases, when it is free; the
records are handed on in the order of the tasks (a task's records wait for those of the tasks
before it), so a parallel run writes the records, and the report, of a serial one. A lane is a
worker process (isolate.Worker, or a WorkerPool of one per implementation where they are not
trusted): a kernel, or PyTorch under it, that crashes takes its worker with it, not the run.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterator

from harness.execution.tasks import Local, charge, stamp
from harness.records.record import Record

_DONE = object()  # a lane has no task left


class Parallel(Local):
    """Tasks spread over `lanes`: callables from a task to its records (Iterator[Record])."""

    def __init__(self, lanes: list[Callable], workers: list):
        super().__init__()
        self.lanes, self.workers = lanes, workers  # workers: what close() shuts

    def run(self, tasks: list, skip: Callable) -> Iterator[Record]:
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for batch in _batches(tasks):
            todo.put(batch)
        done: queue.SimpleQueue = queue.SimpleQueue()
        lanes = [threading.Thread(target=_lane, args=(lane, todo, done, skip), daemon=True)
                 for lane in self.lanes[:max(1, len(tasks))]]
        for lane in lanes:
            lane.start()
        held: dict[int, list] = {}  # records of tasks that finished before an earlier one
        finished: set[int] = set()
        turn = 0  # the task whose records are handed on now
        while turn < len(tasks):
            index, item = done.get()
            if isinstance(item, BaseException):
                raise item
            if item is _DONE:
                finished.add(index)
            else:
                held.setdefault(index, []).append(item)
            while turn < len(tasks) and (turn in held or turn in finished):
                yield from held.pop(turn, [])
                if turn not in finished:
                    break
                turn += 1

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _batches(tasks: list) -> Iterator[list]:
    """(index, task) pairs in batches a lane runs one after another: neighbours with the same
    `shares` (a check's implementations of one op and property) go together, so the oracle's
    answers to their cases are made once; other tasks go one by one."""
    batch: list = []
    for index, task in enumerate(tasks):
        shares = getattr(task, "shares", None)
        if batch and (shares is None or shares != getattr(batch[-1][1], "shares", None)):
            yield batch
            batch = []
        batch.append((index, task))
    if batch:
        yield batch


def _lane(run: Callable, todo: queue.SimpleQueue, done: queue.SimpleQueue, skip) -> None:
    """Take batches of tasks until none is left; `skip` is asked when a task is begun, so a
    hang seen on another lane spares the rest of that implementation's tasks."""
    index = -1
    try:
        while True:
            try:
                batch = todo.get_nowait()
            except queue.Empty:
                return
            for index, task in batch:
                instead = skip(task)
                if isinstance(instead, Record):
                    done.put((index, instead))
                else:
                    task, started, records = instead or task, time.monotonic(), []
                    for record in run(task):
                        records.append(stamp(record))
                        done.put((index, records[-1]))
                    charge(skip, task, time.monotonic() - started, records)
                done.put((index, _DONE))
    except BaseException as exc:  # noqa: BLE001 - the harness's own fault: the run stops
        done.put((index, exc))


def parallel(jobs: int, *, trusted: bool, timeout: float, memory_limit, log) -> Parallel:
    """`jobs` lanes, each a worker process, so that a crash (PyTorch's own conv2d dies on some
    drawn cases) costs one task, never the run: for trusted built-ins one worker per lane
    without a time limit, running every built-in in the worker itself (one per built-in would
    cost an import of torch each); otherwise a worker per implementation in each lane, under the time and memory
    limits. This process only hands out the tasks."""
    from harness.checking.held import machine_memory
    from harness.execution.isolate import Worker, WorkerPool
    if trusted:
        workers = [Worker(float("inf"), log, memory_limit or machine_memory(), apart=False)
                   for _ in range(jobs)]
        return Parallel([worker.run for worker in workers], workers)
    pools = [WorkerPool(timeout, log, memory_limit) for _ in range(jobs)]
    return Parallel([lambda task, pool=pool: pool.run(task.impl, task) for pool in pools], pools)
