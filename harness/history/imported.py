"""A run directory into the store: its run row (identity, machine, time) and a row per record,
in one transaction. A run already stored is not stored twice; one stored before it was resumed
gets the records it lacked."""
from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from harness.history.revisions import UNVERSIONED
from harness.history.store import RESULTS, RUNS, Store, StoreError
from harness.records.record import NoRecords, read_records

# What makes two runs' timings comparable: the same machine, runtime and harness.
MACHINE_KEYS = ("cpu", "gpu", "torch", "threads", "harness")


@dataclass(frozen=True)
class Imported:
    name: str
    added: int  # records added now
    known: int  # records the store had already


def waits_of(record) -> list:
    """Per sample, the seconds per call its threads waited for a CPU (None: not known)."""
    waits = (record.figures or {}).get("cpu_waits") or []
    return list(waits) if len(waits) == len(record.times) else [None] * len(record.times)


def on_cpu(times, waits) -> list[float]:
    """The samples a busy machine did not disturb: those whose threads never waited for a CPU
    that other processes held (within 2% of the sample), where they are two or more and most of
    the samples; else each sample less its wait (a wait longer than its sample was not all
    inside it: left out); else the samples as they are. A kernel's own sleeping is no wait: it
    stays in its times. (Two calm samples of five, against three of another run, could never
    show a 12x slowdown to the gate's rank test: its p-value cannot go under 0.1 there.)"""
    pairs = [(t, w) for t, w in zip(times, waits) if w is not None]
    calm = [t for t, w in pairs if w <= 0.02 * t]
    if len(calm) >= 2 and 2 * len(calm) > len(pairs):
        return calm
    less = [t - w for t, w in pairs if w < 0.9 * t]
    return less if len(less) >= 2 else list(times)


def _median(values) -> float | None:
    return statistics.median(values) if values else None


def machine_of(env: dict) -> tuple[str, str]:
    """(fingerprint, its JSON): the machine a run measured on, as MACHINE_KEYS say."""
    machine = {k: env.get(k) for k in MACHINE_KEYS}
    machine["harness"] = machine["harness"] or "unknown"
    text = json.dumps(machine, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16], text


def _started(env: dict, run_dir: Path) -> float:
    try:
        return time.mktime(time.strptime(env.get("time", "")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return (run_dir / "records.jsonl").stat().st_mtime


def _run_row(run_dir: Path) -> dict:
    env_path = run_dir / "run.json"
    env = json.loads(env_path.read_text()) if env_path.is_file() else {}
    # a run's own id; runs from before ids were written: their run.json, which a run writes once
    key = env.get("run_id") or hashlib.sha256(
        env_path.read_bytes() if env_path.is_file() else str(run_dir.resolve()).encode()
    ).hexdigest()[:32]
    machine, machine_json = machine_of(env)
    return {"run_key": key, "name": run_dir.name, "path": str(run_dir.resolve()),
            "started": _started(env, run_dir), "machine": machine,
            "machine_json": machine_json, "command": env.get("command", "")}


def _result_rows(run_dir: Path) -> dict:
    path = run_dir / "revisions.json"
    revisions = json.loads(path.read_text()) if path.is_file() else {}
    fallback = json.loads((run_dir / "run.json").read_text()).get("git_commit", "") if (
        run_dir / "run.json").is_file() else ""
    rows = {}
    for r in read_records(run_dir):
        if r.kind not in ("check", "bench"):
            continue
        rev = revisions.get(r.impl) or revisions.get(r.impl.split("[")[0]) or {
            "revision": fallback or UNVERSIONED, "dirty": False, "branch": "", "time": None}
        rows[r.key()] = {
            "record_key": r.key(), "kind": r.kind, "impl": r.impl, "op": r.op, "prop": r.prop,
            "status": r.status, "device": r.device, "dtype": r.dtype,
            "case_label": (r.figures or {}).get("label", "") if r.kind == "bench" else "",
            "median": r.median, "iqr": r.iqr, "times": json.dumps(list(r.times)),
            "waits": json.dumps(waits_of(r)), "steady": _median(on_cpu(r.times, waits_of(r))),
            "message": r.message[:500], "revision": rev["revision"],
            "dirty": bool(rev["dirty"]), "branch": rev.get("branch") or "",
            "revision_time": rev.get("time")}
    return rows


def import_run(store: Store, run_dir) -> Imported:
    """Add a run directory's records to the store (those it lacks), in one transaction."""
    run_dir = Path(run_dir)
    if not (run_dir / "records.jsonl").is_file():
        raise NoRecords(f"{str(run_dir)!r} is not a run directory (expected one holding "
                        f"records.jsonl)")
    run, rows = _run_row(run_dir), _result_rows(run_dir)
    try:
        return _insert(store, run_dir, run, rows)
    except StoreError as exc:  # another writer stored this run first: add what it lacks
        if not isinstance(exc.__cause__, sa_exc.IntegrityError):
            raise
        return _insert(store, run_dir, run, rows)


def _insert(store: Store, run_dir: Path, run: dict, rows: dict) -> Imported:
    with store.writing() as conn:
        run_id = conn.execute(sa.select(RUNS.c.id).where(
            RUNS.c.run_key == run["run_key"])).scalar()
        if run_id is None:
            run_id = conn.execute(RUNS.insert().values(**run)).inserted_primary_key[0]
        known = set(conn.execute(sa.select(RESULTS.c.record_key).where(
            RESULTS.c.run_id == run_id)).scalars())
        new = [{**row, "run_id": run_id} for key, row in rows.items() if key not in known]
        if new:
            conn.execute(RESULTS.insert(), new)
    return Imported(run_dir.name, len(new), len(known))
