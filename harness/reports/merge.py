"""Join run directories (shards of one run, runs from several clusters) into a new one."""
from __future__ import annotations

import json
from pathlib import Path

from harness.records.record import NoRecords, Record, RecordWriter, read_records


class MergeConflict(NoRecords):
    """Two runs hold a record with the same key: a duplicate, or a conflicting measurement."""


def collect(runs: list[Path]) -> list[Record]:
    """Every record of `runs`, refusing a key that two runs both hold (peaks of the same
    machine excepted: they describe the machine, not a task)."""
    seen: dict = {}
    for run in runs:
        for record in read_records(run):
            key = record.key()
            if key not in seen:
                seen[key] = (run, record)
            elif record.kind != "peak":
                kind = "duplicate" if seen[key][1].to_json() == record.to_json() else \
                    "conflicting"
                raise MergeConflict(f"{kind} record {key!r} in {seen[key][0]} and in {run}; "
                                    f"expected runs with disjoint tasks (shards 1/N ... N/N)")
    return [record for _, record in seen.values()]


def merge_runs(runs: list[Path], into_root: Path | str, new_dir) -> Path:
    """Check `runs` can be joined, then write them into a fresh run directory."""
    records = collect(runs)
    into = new_dir(into_root, "merge")
    with RecordWriter(into / "records.jsonl") as writer:
        for record in records:
            writer.write(record)
    environments = [json.loads((r / "run.json").read_text()) for r in runs
                    if (r / "run.json").is_file()]
    merged = dict(environments[0]) if environments else {}
    merged["merged_from"] = [str(r) for r in runs]
    merged["nodes"] = [n for env in environments for n in env.get("nodes", [])] or environments
    (into / "run.json").write_text(json.dumps(merged, indent=2, default=str))
    return into
