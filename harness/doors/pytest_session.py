"""A pytest conformance session's side of a check: the calls in worker processes, its records, its report.

The pytest door runs the same tasks as `convharness check`, through the same executor: a
module:attr implementation in a worker process under the per-call time limit and the memory
limit, so a kernel that crashes, hangs or eats memory fails its test and the session goes on.
The session's process that reports (the xdist controller, or the only process) appends every
record to records.jsonl as its test ends and writes the report at the end; workers share the
run directory, where a hang is noted so that no worker waits on that implementation again.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

from harness.doors.options import CheckPlan
from harness.records.record import Record, RecordWriter, new_run_dir


class Runner:
    """Runs one (implementation, property) at a time as `check` does; after a call of an
    implementation hangs, its remaining properties are *not run*, in every worker."""

    def __init__(self, plan: CheckPlan, run_dir: Path):
        from harness.execution.executors import executor_for
        self.plan, self.hung_dir = plan, Path(run_dir) / "hung"
        self.executor = executor_for(isolate=plan.isolate, timeout=plan.timeout,
                                     memory_limit=plan.memory_limit)

    def record(self, impl, prop) -> Record:
        """As `check` does: after a hang, not run; after a timeout on a large case (slow is not
        wrong), this property again and the rest with the large tiers skipped."""
        from harness.checking.driver import CheckTask
        from harness.execution.tasks import not_run
        from harness.plugins.pool import refusal, refused
        if refused(impl):
            return refusal(impl)
        task = CheckTask(impl, prop.name, self.plan.options)
        hung = self._hung(impl.name)
        if hung is not None:
            if hung.status != "timeout":  # a marker of slowness: the large tiers skipped
                return self._run(task.skipping_large(hung.message))
            return not_run(task, hung)
        record = self._run(task)
        why = task.too_slow(record)
        if why:
            self._mark_hung(replace(record, status="too_slow", message=why))
            return self._run(task.skipping_large(why))
        if record.status == "timeout":
            self._mark_hung(record)
        return record

    def _run(self, task) -> Record:
        return list(self.executor.run([task], lambda t: None))[-1]

    def _marker(self, name: str) -> Path:
        return self.hung_dir / (hashlib.sha1(name.encode()).hexdigest()[:16] + ".json")

    def _hung(self, name: str) -> Record | None:
        path = self._marker(name)
        return Record.from_dict(json.loads(path.read_text())) if path.is_file() else None

    def _mark_hung(self, record: Record) -> None:
        self.hung_dir.mkdir(parents=True, exist_ok=True)
        temp = self._marker(record.impl).with_suffix(".tmp")
        temp.write_text(record.to_json())
        temp.replace(self._marker(record.impl))  # whole or absent for a reader

    def close(self) -> None:
        self.executor.close()


class SessionRun:
    """The run directory of a pytest session (made by the reporting process), its records as
    they arrive, and the report at the end."""

    def __init__(self, out_root: str, isolated: bool):
        from harness.execution.executors import sandbox_for
        from harness.timing.machine import note_in_run, write_environment
        self.dir = new_run_dir(out_root, "pytest")
        write_environment(self.dir)
        note_in_run(self.dir, sandbox=sandbox_for(isolated))
        self.records: list[Record] = []
        self._writer: RecordWriter | None = None
        self.report: Path | None = None

    def add(self, record: Record) -> None:
        if self._writer is None:
            self._writer = RecordWriter(self.dir / "records.jsonl")
        self.records.append(self._writer.write(record))

    def finish(self) -> list[Record]:
        """Add the verdict on implementations that checked nothing, write the report; the
        records that verdict added."""
        from harness.checking.driver import unchecked
        from harness.reports.report import write_report
        found = [unchecked(impl, op, [r for r in self.records if r.impl == impl])
                 for impl, op in dict.fromkeys((r.impl, r.op) for r in self.records)]
        found = [r for r in found if r is not None]
        for record in found:
            self.add(record)
        if self._writer is None:  # nothing ran (collection only, all deselected): no run
            shutil.rmtree(self.dir, ignore_errors=True)
            return found
        self._writer.close()
        self.report = write_report(self.dir)
        return found
