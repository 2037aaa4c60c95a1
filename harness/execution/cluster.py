"""Run tasks on a Ray cluster: one actor per device slot, each holding local worker processes.

`--cluster local` starts a Ray cluster on this machine, `auto` joins the running one, and
`ray://host:10001` connects to a remote head. Every task claims a whole device: an actor
holds one GPU (num_gpus=1) or the CPU cores it times with (num_cpus=threads), so no two timings
share a GPU or a core. Inside each actor, tasks run in an isolate.WorkerPool exactly as they do
locally, so a segfault, a hang past --timeout, a runaway allocation or a poisoned CUDA context
is recorded with its status and never reaches the next task. Ray is imported only here.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict
from typing import Callable, Iterator

from harness.execution.tasks import charge
from harness.records.errors import UsageError
from harness.records.record import Record


def _ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--cluster needs ray, which is not installed here (expected "
                         "`pip install convharness[ray]`)") from None
    return ray


def connect(address: str):
    """ray.init for 'local' (a new cluster here), 'auto' or 'ray://host:port'."""
    ray = _ray()
    path = os.pathsep.join([os.getcwd(), *sys.path])  # module:attr found as it is here
    runtime = {"env_vars": {"PYTHONPATH": path}}
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     runtime_env=runtime, ignore_reinit_error=True)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime,
                     ignore_reinit_error=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"--cluster={address!r} cannot be reached ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); expected local, "
                         f"auto or ray://host:port of a running cluster") from None
    return ray


class _Node:
    """The actor body: a pool of local worker processes on one device slot."""

    def __init__(self, timeout: float, memory_limit):
        from harness.execution.isolate import WorkerPool
        self.pool = WorkerPool(timeout, memory_limit=memory_limit)

    def run(self, task) -> tuple[list[dict], float]:
        """The task's records, and the seconds it took here (for the overhead figures)."""
        import time

        from harness.execution.tasks import stamp
        start = time.perf_counter()
        records = [asdict(stamp(r)) for r in self.pool.run(task.impl, task)]
        return records, time.perf_counter() - start

    def peaks(self, device: str, threads: int, dtype: str) -> list[dict]:
        from harness.timing.peaks import peaks
        return [asdict(r) for r in peaks(device, threads, dtype)]

    def environment(self) -> dict:
        from harness.timing.machine import describe_environment, host_name
        return {"host": host_name(), **describe_environment([])}


def _device_of(task) -> str:
    devices = getattr(task, "device", None) or task.options.devices
    return "cuda" if "cuda" in devices else "cpu"


class RayExecutor:
    """Tasks spread over actors, at most one task per actor at a time; records come back as
    tasks finish, in any order."""

    def __init__(self, address: str, *, timeout: float, memory_limit=None, threads: int = 1,
                 log: Callable[[str], object] = lambda text: None):
        self.ray = connect(address)
        self.started_here = address == "local"
        self.timeout, self.memory_limit, self.threads, self.log = (timeout, memory_limit,
                                                                    threads, log)
        self.actors: dict[str, list] = {}
        self.overheads: list[float] = []  # seconds per task beyond its own run time

    def _slots(self, device: str) -> int:
        resources = self.ray.cluster_resources()
        if device == "cuda":
            return int(resources.get("GPU", 0))
        return max(1, int(resources.get("CPU", 1) // self.threads))

    def _actor(self, device: str):
        options = {"num_gpus": 1, "num_cpus": 1} if device == "cuda" else \
            {"num_cpus": self.threads}
        cls = self.ray.remote(**options, max_restarts=0)(_Node)
        return cls.remote(self.timeout, self.memory_limit)

    def _pool(self, device: str) -> list:
        if device not in self.actors:
            slots = self._slots(device)
            if not slots:
                raise UsageError(f"the cluster has no {device} device (resources: "
                                 f"{self.ray.cluster_resources()})")
            self.actors[device] = [self._actor(device) for _ in range(slots)]
            self.log(f"cluster: {slots} {device} slot(s)")
        return self.actors[device]

    def peaks(self, devices, threads: int, dtype: str, done: frozenset) -> Iterator[Record]:
        """The peaks of every slot's machine (one per host and device is enough to report)."""
        for device in devices:
            refs = [a.peaks.remote(device, threads, dtype) for a in self._pool(device)]
            for got in self.ray.get(refs):
                yield from (r for r in map(Record.from_dict, got) if r.key() not in done)

    def run(self, tasks: list, skip: Callable) -> Iterator[Record]:
        queue = list(tasks)
        idle = {device: list(self._pool(device)) for device in {_device_of(t) for t in queue}}
        flying: dict = {}
        while queue or flying:
            for task in list(queue):
                device = _device_of(task)
                if not idle[device]:
                    continue
                queue.remove(task)
                instead = skip(task)
                if isinstance(instead, Record):
                    yield instead
                    continue
                task = instead or task
                actor = idle[device].pop()
                flying[actor.run.remote(task)] = (task, actor, device, time.perf_counter())
            if not flying:
                continue
            (ref,), _ = self.ray.wait(list(flying), num_returns=1)
            task, actor, device, sent = flying.pop(ref)
            yield from self._results(ref, task, actor, device, idle, sent, skip)

    def _results(self, ref, task, actor, device, idle, sent, skip) -> Iterator[Record]:
        try:
            records, seconds = self.ray.get(ref)
            self.overheads.append(time.perf_counter() - sent - seconds)
        except self.ray.exceptions.RayError as exc:  # the actor itself died
            fresh = self._actor(device)
            self.actors[device] = [fresh if a is actor else a for a in self.actors[device]]
            idle[device].append(fresh)
            yield task.fault("crashed", f"the cluster worker died ({type(exc).__name__}); it "
                             f"was replaced", None)
            return
        idle[device].append(actor)
        found = [Record.from_dict(r) for r in records]
        charge(skip, task, seconds, found)  # the seconds the task took on its node
        yield from found

    def environments(self) -> list[dict]:
        actors = [a for pool in self.actors.values() for a in pool]
        return self.ray.get([a.environment.remote() for a in actors]) if actors else []

    def close(self) -> None:
        for pool in self.actors.values():
            for actor in pool:
                self.ray.kill(actor)
        self.actors.clear()
        if self.started_here:
            self.ray.shutdown()
