"""A reusable worker process that judges untrusted implementations: they may raise, hang, crash
or poison CUDA, each in a kernel's process of its own beside the worker (kernel_server), which
the worker calls through kernel_client; when that process dies or garbles its answer, the
worker tells the parent so and ends, and is replaced with it.

One worker per implementation runs task after task. The parent waits for progress with a time
limit per call of the implementation (every call reports itself; starting the worker and
importing the task's modules do not count, nor does the harness's own work between calls):
a call that does not return in time (wall time less what a busy machine kept the kernel's
process waiting for a CPU: `Clock`) is a *timeout*, a worker or kernel's process that dies is
*crashed* (with the case it was running), a worker whose resident memory and its kernel's
process's together pass the limit is killed and recorded as *oom*; either way the worker is
replaced and the run goes on.
Ctrl-C reaches the parent only (the worker ignores SIGINT), so it ends the run; a KeyboardInterrupt
or SystemExit raised *by an implementation* inside the worker is recorded as its error.
"""
from __future__ import annotations

import multiprocessing as mp
import shutil
import signal
import tempfile
import time
from pathlib import Path
from dataclasses import asdict
from typing import Iterator, Protocol

from harness.execution.messages import describe_exit, heard, heartbeat, run_delay, say
from harness.records.record import Record

DEFAULT_TIMEOUT = 60.0  # seconds one call may take before it counts as hung
STARTUP_S = 600.0  # starting a worker and importing a task's modules: slow on a loaded machine
HARNESS_S = 1800.0  # the harness's own work between calls (oracle, shrinking): never the kernel's
POLL_S = 0.2  # how often the parent looks at a busy worker's memory


def default_memory_limit() -> int:
    """Half the machine's RAM: enough for any honest case, and the machine survives a runaway."""
    from harness.checking.held import machine_memory
    return machine_memory() // 2


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


def worker(conn, beat, scratch: str, apart: bool = True, timeout: float = DEFAULT_TIMEOUT
           ) -> None:
    """A worker process's entry. `apart` (untrusted kernels): its kernel's process forked first
    (kernel_server.spawn, once torch is imported; this module imports no torch of its own),
    then the worker's loop. Otherwise (trusted built-ins, for speed: a call that crosses
    processes costs about 0.45 ms) the worker is sandboxed itself and calls them here."""
    if apart:
        from harness.execution.kernel_server import spawn
        serve(conn, beat, scratch, spawn(beat, scratch, keep_from_it=conn), timeout)
        return
    from harness.execution.sandbox import enter
    enter(Path(scratch))
    serve(conn, beat, scratch, None, timeout)


def serve(conn, beat, scratch: str, spawned: tuple, timeout: float = DEFAULT_TIMEOUT) -> None:
    """The worker's loop: it judges each task, streaming its progress and records back. The
    kernel runs in a process of its own that this one starts (kernel_client), sandboxed,
    and imports nothing of the kernel's here; a task that times the kernel runs whole there.
    `spawned`: that process and its pipe (`worker` started it), or None: the kernels run here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from harness.checking import call as check
    from harness.execution.kernel_client import KernelProcess
    from harness.plugins import deferred
    kernel = None
    if spawned is not None:
        kernel = KernelProcess(beat, scratch, lambda gone: _kernel_gone(conn, gone), spawned,
                               timeout)
        deferred.BINDER = kernel.bind
    check.CATCH_INTERRUPTS = True
    check.on_call(heartbeat(conn, beat))
    say(conn, "ready", {"kernel": spawned[0].pid if spawned else None})
    while True:
        try:
            task = conn.recv()  # from the parent: the harness's own tasks
        except EOFError:
            if kernel is not None:
                kernel.close()
            return
        if kernel is not None and getattr(task, "impl", None) is not None:
            kernel.bind(task.impl)  # the kernel's module is imported in its process
        say(conn, "loaded")
        if kernel is not None and getattr(task, "whole_in_kernel_process", False):
            _relay(conn, kernel, task)
        else:
            for record in task.execute(lambda case: say(conn, "case", case)):
                say(conn, "record", asdict(record))
        say(conn, "done", _cuda_healthy())


RELAY_CALLS = 30  # a task run whole in the kernel's process: at most so many calls' time limits


def _relay(conn, kernel, task) -> None:
    """A task run whole in the kernel's process: its messages passed on; its records checked,
    their ranking verdicts decided again here and its timings set beside this process's own
    clock (once the task is done: the kernel's process serves one request at a time). The
    parent times the whole task as one call of RELAY_CALLS calls' limit (beat[2]); each call
    in it, the kernel's counter and this process's clock (KernelProcess._watch)."""
    beat = kernel.beat
    beat[2], beat[0] = RELAY_CALLS * kernel.timeout, time.monotonic()
    try:
        records = _relayed(conn, kernel, task)
    finally:
        beat[1], beat[0], beat[2] = time.monotonic(), 0.0, 0.0
    for record in records:
        record = task.rejudged(record)
        if hasattr(task, "clocked"):
            record = task.clocked(record, kernel.bind(task.impl).fn)
        say(conn, "record", asdict(record))


def _relayed(conn, kernel, task) -> list:
    kernel.conn.send(("task", task))
    records = []
    while True:
        kind, payload = kernel.answer()
        if kind == "done":
            break
        if kind == "record":
            try:
                record = Record.from_dict(payload)
            except (TypeError, ValueError, AttributeError):
                kernel._gone("garbled", f"not a record: {payload!r:.200}")
            if record.key() != task.key:
                kernel._gone("garbled", f"a record of another task: {record.key()}")
            records.append(record)
        elif kind in ("call", "case"):
            say(conn, kind, payload)
        else:
            kernel._gone("garbled", f"{kind}: {payload!r:.200}")
    return records


def _kernel_gone(conn, gone) -> None:
    """The kernel's process died or broke the protocol: the parent records it as the kernel's
    (with the case and call it was in) and replaces this worker, the kernel's process with it."""
    import os
    say(conn, f"kernel_{gone.kind}", gone.detail)
    os._exit(0)


class Worker:
    """A spawned process that runs tasks; replaced after a hang, a crash or a poisoned context."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None,
                 memory_limit: int | None = None, apart: bool = True):
        self.timeout = timeout
        self.log = log
        self.memory_limit = memory_limit or default_memory_limit()
        self.apart = apart  # the kernels in a process of their own (see `worker`)
        self._proc = None
        self._conn = None
        self._beat = None
        self._scratch = None  # the kernel's own directory, the only one it may write to
        self._pid = None

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        # (call started, last ended, this call's limit where not the timeout): the worker's,
        # never mapped in the kernel's process
        self._beat = ctx.Array("d", 3, lock=False)
        self._kernel = None  # its pid, as the worker said
        self._scratch = tempfile.mkdtemp(prefix="convharness-kernel-")
        self._proc = ctx.Process(target=worker, daemon=True,
                                 args=(child, self._beat, self._scratch, self.apart,
                                       self.timeout))
        self._proc.start()
        self._pid = self._proc.pid
        child.close()

    def _next(self, limit: float):
        """The worker's next message, or ("timeout"|"stalled"|"oom"|"died", detail): timeout,
        a call of the implementation ran past the per-call limit; stalled, nothing happened
        for `limit` seconds outside any call."""
        from harness.checking.held import resident
        since, clock = time.monotonic(), Clock(self._proc.pid)
        while not self._conn.poll(POLL_S):
            kernel = self._kernel
            used = resident(self._proc.pid) + (resident(kernel) if kernel else 0)
            if used > self.memory_limit:
                return "oom", used
            if kernel and clock.pid != kernel:  # the kernel's waits for a CPU, not the judge's
                clock = Clock(kernel)
            now, (started, ended, most) = time.monotonic(), self._beat
            if started and clock.since(started, now) > (most or self.timeout):
                return "timeout", None
            if not started and clock.since(max(since, ended), now) > limit:
                return "stalled", limit
        try:
            return heard(self._conn.recv_bytes())
        except (EOFError, OSError):
            return "died", None

    def run(self, task: Task) -> Iterator[Record]:
        """Send one task; yield its records as they arrive, or a fault record."""
        if self._proc is None or not self._proc.is_alive():
            self._start()
            kind, said = self._next(STARTUP_S)
            self._kernel = said.get("kernel") if kind == "ready" and isinstance(said, dict) \
                else None
            if kind != "ready":
                yield from self._fault(task, kind, None, "starting the worker", said)
                return
        self._conn.send(task)
        last_case, last_call, limit = None, "loading the implementation", STARTUP_S
        while True:
            kind, payload = self._next(limit)
            if kind == "stalled":  # importing the implementation is its own; the rest is ours
                kind = "timeout" if limit == STARTUP_S else "harness_timeout"
            if kind in ("kernel_died", "kernel_garbled", "kernel_hung"):
                yield from self._fault(task, kind, last_case, last_call, payload)
                return
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
        if kind == "kernel_died":
            self._reap()
            yield task.fault("crashed", f"the kernel's process died ({payload}) in {call}; "
                             f"it was replaced", case)
            return
        if kind == "kernel_hung":
            self._reap()
            yield task.fault("timeout", f"the kernel's process hung in {call} ({payload}); "
                             f"it was replaced", case)
            return
        if kind == "kernel_garbled":
            self._reap()
            yield task.fault("crashed", f"the kernel's process sent what is not a message of "
                             f"the harness's ({payload}) in {call}; it was replaced", case)
            return
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
        if self._pid is not None:  # the judge's input files, where it was killed
            for left in Path("/dev/shm").glob(f"convharness-{self._pid}-*"):
                left.unlink(missing_ok=True)
            self._pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WorkerPool:
    """One worker per implementation, started on first use, reused across its tasks; at most
    `live` at once (each a worker and a kernel process, with torch imported: a pool of fifty
    candidates would hold the machine's memory), the one used longest ago closed first."""

    LIVE = 4

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, log=lambda text: None,
                 memory_limit: int | None = None, live: int = LIVE):
        self.timeout = timeout
        self.log = log
        self.memory_limit = memory_limit
        self.live = live
        self._workers: dict[str, Worker] = {}  # least recently used first

    def run(self, impl, task: Task) -> Iterator[Record]:
        worker = self._workers.pop(impl.name, None)
        if worker is None:
            while len(self._workers) >= self.live:
                self._workers.pop(next(iter(self._workers))).close()
            worker = Worker(self.timeout, self.log, self.memory_limit)
        self._workers[impl.name] = worker
        yield from worker.run(task)

    def close(self) -> None:
        for worker in list(self._workers.values()):  # a lane may still be adding one
            worker.close()
        self._workers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
