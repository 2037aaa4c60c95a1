"""Where a run's tasks go: a Ray cluster, worker processes on this machine, or this process."""
from __future__ import annotations

from harness.execution.tasks import Local


IN_PROCESS = "kernels not sandboxed: they run in this process (built-ins, or --no-isolate)"


def sandbox_of(executor) -> str:
    """What the processes that run kernels are held to, for the run's first line and run.json:
    none where the tasks run in this process (Local without workers)."""
    return sandbox_for(not (type(executor) is Local and executor.pool is None))  # Parallel, Ray


def sandbox_for(isolated: bool) -> str:
    """sandbox.describe() where kernels run in worker processes, else IN_PROCESS."""
    from harness.execution.sandbox import describe
    return describe() if isolated else IN_PROCESS


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
