"""A reusable worker process for untrusted implementations: it may raise, hang, crash or poison CUDA.

One worker per implementation runs task after task. The parent waits for progress with a time
limit per call of the implementation (every call reports itself; starting the worker and
importing the task's modules do not count, nor does the harness's own work between calls):
a call that does not return in time (wall time less what a busy machine kept it waiting for a
CPU: `Clock`) is a *timeout*, a worker that dies is *crashed* (with the case it was running), a worker whose
resident memory passes the limit is killed and recorded as *oom*; either way the worker is
replaced and the run goes on.
Ctrl-C reaches the parent only (the worker ignores SIGINT), so it ends the run; a KeyboardInterrupt
or SystemExit raised *by an implementation* inside the worker is recorded as its error.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import shutil
import signal
import tempfile
import time
from pathlib import Path
from dataclasses import asdict
from typing import Iterator, Protocol

from harness.checking.held import machine_memory, resident
from harness.records.record import Record

DEFAULT_TIMEOUT = 60.0  # seconds one call may take before it counts as hung
STARTUP_S = 600.0  # starting a worker and importing a task's modules: slow on a loaded machine
HARNESS_S = 1800.0  # the harness's own work between calls (oracle, shrinking): never the kernel's
POLL_S = 0.2  # how often the parent looks at a busy worker's memory


def default_memory_limit() -> int:
    """Half the machine's RAM: enough for any honest case, and the machine survives a runaway."""
    return machine_memory() // 2


def run_delay(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a CPU (the second
    field of /proc/<pid>/schedstat): time a busy machine took from it. 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class Clock:
    """Seconds since a moment that the worker had: the wall time less what it spent waiting
    for a CPU since (sampled when the moment is first seen). A call running, or blocked in
    sleep or a lock, counts; a call held back by other processes on a busy machine does not,
    so a correct kernel is never a timeout because the machine is loaded."""

    def __init__(self, pid: int):
        self.pid, self.moment, self.delay = pid, None, 0.0

    def since(self, moment: float, now: float) -> float:
        if moment != self.moment:
            self.moment, self.delay = moment, run_delay(self.pid)
        return now - moment - (run_delay(self.pid) - self.delay)


class Task(Protocol):
    def execute(self, on_case) -> Iterator[Record]: ...

    def fault(self, status: str, message: str, case: dict | None) -> Record: ...


def describe_exit(code) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _cuda_healthy() -> bool:
    import torch
    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return True
    try:
        torch.zeros(1, device="cuda").add_(1).item()
        torch.cuda.synchronize()
        return True
    except Exception:  # noqa: BLE001 - a sticky error poisons every later call
        return False


def _heartbeat(conn, beat):
    """The worker's side of the per-call clock: beat[0] is when the running call started (0
    between calls), beat[1] when the last one ended; a call's name crosses the pipe only when
    it changes, so a timing loop of one call pays two stores a call, not a message."""
    last = [None]

    def on_call(what: str | None) -> None:
        if what is None:
            beat[1], beat[0] = time.monotonic(), 0.0
            return
        if what != last[0]:
            _say(conn, "call", what)
            last[0] = what
        beat[0] = time.monotonic()
    return on_call


def _say(conn, kind: str, payload=None) -> None:
    """A message to the parent, as JSON: the parent never unpickles what a process that ran
    the user's code sends."""
    conn.send_bytes(json.dumps([kind, payload], default=repr).encode())


def _heard(raw: bytes) -> tuple:
    """A message from a worker: (kind, payload), or ("garbled", what it was)."""
    try:
        kind, payload = json.loads(raw)
        if isinstance(kind, str):
            return kind, payload
    except (ValueError, TypeError):
        pass
    return "garbled", raw[:200]


def _serve(conn, beat, scratch: str) -> None:
    """The worker's loop: run each task, streaming its progress and records back; in the
    sandbox (sandbox.enter) before any implementation's module is imported."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from harness.execution.sandbox import enter
    enter(Path(scratch))
    from harness.checking import call as check
    check.CATCH_INTERRUPTS = True
    check.on_call(_heartbeat(conn, beat))
    _say(conn, "ready")
    while True:
        try:
            task = conn.recv()  # unpickling imports the implementation's module
        except EOFError:
            return
        _say(conn, "loaded")
        for record in task.execute(lambda case: _say(conn, "case", case)):
            _say(conn, "record", asdict(record))
        healthy = _cuda_healthy()
        _say(conn, "done", healthy)
        if not healthy:
            return  # the CUDA context is poisoned: let the parent start a fresh worker


class Worker:
    """A spawned process that runs tasks; replaced after a hang, a crash or a poisoned context."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None,
                 memory_limit: int | None = None):
        self.timeout = timeout
        self.log = log
        self.memory_limit = memory_limit or default_memory_limit()
        self._proc = None
        self._conn = None
        self._beat = None
        self._scratch = None  # the worker's own directory, the only one it may write to

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._beat = ctx.Array("d", 2, lock=False)  # (call started, last call ended)
        self._scratch = tempfile.mkdtemp(prefix="convharness-kernel-")
        self._proc = ctx.Process(target=_serve, args=(child, self._beat, self._scratch),
                                 daemon=True)
        self._proc.start()
        child.close()

    def _next(self, limit: float):
        """The worker's next message, or ("timeout"|"stalled"|"oom"|"died", detail): timeout,
        a call of the implementation ran past the per-call limit; stalled, nothing happened
        for `limit` seconds outside any call."""
        since, clock = time.monotonic(), Clock(self._proc.pid)
        while not self._conn.poll(POLL_S):
            used = resident(self._proc.pid)
            if used > self.memory_limit:
                return "oom", used
            now, (started, ended) = time.monotonic(), self._beat
            if started and clock.since(started, now) > self.timeout:
                return "timeout", None
            if not started and clock.since(max(since, ended), now) > limit:
                return "stalled", limit
        try:
            return _heard(self._conn.recv_bytes())
        except (EOFError, OSError):
            return "died", None

    def run(self, task: Task) -> Iterator[Record]:
        """Send one task; yield its records as they arrive, or a fault record."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
            kind, _ = self._next(STARTUP_S)
            if kind != "ready":
                yield from self._fault(task, kind, None, "starting the worker", _)
                return
        self._conn.send(task)
        last_case, last_call, limit = None, "loading the implementation", STARTUP_S
        while True:
            kind, payload = self._next(limit)
            if kind == "stalled":  # importing the implementation is its own; the rest is ours
                kind = "timeout" if limit == STARTUP_S else "harness_timeout"
            if kind in ("timeout", "harness_timeout", "oom", "died", "garbled"):
                yield from self._fault(task, kind, last_case, last_call, payload)
                return
            limit = HARNESS_S
            if kind == "case":
                last_case = payload
            elif kind == "call":
                last_call = payload
            elif kind == "record":
                try:
                    record = Record.from_dict(payload)
                except (TypeError, ValueError, AttributeError):
                    yield from self._fault(task, "garbled", last_case, last_call, payload)
                    return
                yield record
            elif kind == "done":
                if not payload:
                    self.log("CUDA context poisoned by the last task: starting a fresh worker")
                    self._reap()
                return

    def _fault(self, task, kind, case, call, payload) -> Iterator[Record]:
        if kind == "died":
            code = self._reap()
            yield task.fault("crashed", f"the worker process died ({describe_exit(code)}) in "
                             f"{call}; it was replaced", case)
            return
        self.close()
        if kind == "garbled":
            yield task.fault("crashed", f"the worker sent what is not a message of the "
                             f"harness's ({payload!r}) in {call}; it was replaced", case)
            return
        if kind == "oom":
            yield task.fault("oom", f"out of memory: the worker held {payload / 2**20:.0f} MiB, "
                             f"over the limit of {self.memory_limit / 2**20:.0f} MiB "
                             f"(--memory-limit), and was killed in {call}", case)
            return
        if kind == "harness_timeout":
            yield task.fault("harness_error", f"the harness's own work between calls took over "
                             f"{payload:g} s after {call}; the worker was replaced", case)
            return
        yield task.fault("timeout", f"no return within the time limit of {self.timeout:g} s "
                         f"per call; the worker was replaced; it hung in {call}", case)

    def _reap(self):
        self._proc.join(timeout=5)
        code = self._proc.exitcode
        self._proc = None
        self._conn.close()
        self._conn = None
        self._clear_scratch()
        return code

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=5)
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._clear_scratch()

    def _clear_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WorkerPool:
    """One worker per implementation, started on first use, reused across its tasks."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None,
                 memory_limit: int | None = None):
        self.timeout = timeout
        self.log = log
        self.memory_limit = memory_limit
        self._workers: dict[str, Worker] = {}

    def run(self, impl, task: Task) -> Iterator[Record]:
        if impl.name not in self._workers:
            self._workers[impl.name] = Worker(self.timeout, self.log, self.memory_limit)
        yield from self._workers[impl.name].run(task)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
