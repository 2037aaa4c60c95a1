"""A reusable worker process for untrusted implementations: it may raise, hang, crash or poison CUDA.

One worker per implementation runs task after task. The parent waits for progress with a time
limit: a task that makes no progress in time is a *timeout*, a worker that dies is *crashed*
(with the case it was running), and either way the worker is replaced and the run goes on.
Ctrl-C reaches the parent only (the worker ignores SIGINT), so it ends the run; a KeyboardInterrupt
or SystemExit raised *by an implementation* inside the worker is recorded as its error.
"""
from __future__ import annotations

import multiprocessing as mp
import signal
from dataclasses import asdict
from typing import Iterator, Protocol

from harness.records import Record

DEFAULT_TIMEOUT = 60.0  # seconds without progress before a case counts as hung


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


def _serve(conn) -> None:
    """The worker's loop: run each task, streaming its progress and records back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from harness import check
    check.CATCH_INTERRUPTS = True
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        for record in task.execute(lambda case: conn.send(("case", case))):
            conn.send(("record", asdict(record)))
        healthy = _cuda_healthy()
        conn.send(("done", healthy))
        if not healthy:
            return  # the CUDA context is poisoned: let the parent start a fresh worker


class Worker:
    """A spawned process that runs tasks; replaced after a hang, a crash or a poisoned context."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None):
        self.timeout = timeout
        self.log = log
        self._proc = None
        self._conn = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        child.close()

    def run(self, task: Task) -> Iterator[Record]:
        """Send one task; yield its records as they arrive, or a fault record."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send(task)
        last_case = None
        while True:
            if not self._conn.poll(self.timeout):
                self.close()
                yield task.fault("timeout", f"no progress within the time limit of "
                                 f"{self.timeout:g} s; the worker was replaced", last_case)
                return
            try:
                kind, payload = self._conn.recv()
            except (EOFError, OSError):
                code = self._reap()
                yield task.fault("crashed", f"the worker process died ({describe_exit(code)}); "
                                 f"it was replaced", last_case)
                return
            if kind == "case":
                last_case = payload
            elif kind == "record":
                yield Record.from_dict(payload)
            else:
                if not payload:
                    self.log("CUDA context poisoned by the last task: starting a fresh worker")
                    self._reap()
                return

    def _reap(self):
        self._proc.join(timeout=5)
        code = self._proc.exitcode
        self._proc = None
        self._conn.close()
        self._conn = None
        return code

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(timeout=5)
            self._proc = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WorkerPool:
    """One worker per implementation, started on first use, reused across its tasks."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None):
        self.timeout = timeout
        self.log = log
        self._workers: dict[str, Worker] = {}

    def run(self, impl, task: Task) -> Iterator[Record]:
        if impl.name not in self._workers:
            self._workers[impl.name] = Worker(self.timeout, self.log)
        yield from self._workers[impl.name].run(task)

    def close(self) -> None:
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
