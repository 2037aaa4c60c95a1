"""Where a run's tasks go: a Ray cluster, worker processes on this machine, or this process."""
from __future__ import annotations

from harness.execution.tasks import Local


def executor_for(*, cluster=None, isolate=False, timeout=60.0, memory_limit=None,
                 log=lambda text: None, threads: int = 1, jobs: int = 0):
    """Where tasks run: a Ray cluster (`cluster`), `jobs` lanes of worker processes at once on
    this machine (a check), worker processes (`isolate`), or here (jobs 0, not isolated)."""
    if cluster:
        from harness.execution.cluster import RayExecutor
        return RayExecutor(cluster, timeout=timeout, memory_limit=memory_limit,
                           threads=threads, log=log)
    if jobs >= 1:
        from harness.execution.parallel import parallel
        return parallel(jobs, trusted=not isolate, timeout=timeout, memory_limit=memory_limit,
                        log=log)
    if not isolate:
        return Local()
    from harness.execution.isolate import WorkerPool
    return Local(WorkerPool(timeout, log, memory_limit))
