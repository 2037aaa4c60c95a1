"""The leaderboard of a run: per op, one row per candidate (every implementation but PyTorch's
own op, `reference.<op>`, the baseline): whether it conforms, how much was judged, its speedup
over PyTorch on the suite's layers, and fast_p over the pool. Read from the records alone;
leaderboard.json (schema below, and in the README) is what a search loop reads.

    {"schema": "convharness.leaderboard/1", "fast_p": [0, 1, 1.5, 2],
     "ops": {OP: {"baseline": "reference.OP", "candidates": int, "conforming": int,
                  "layers": int, "fast_p": {"0": share, "1": share, "1.5": share, "2": share},
                  "rows": [ROW, ...]}}}     rows: ranked first (fastest first), then the rest
    ROW: {"rank": int | null, "impl": str, "conforms": bool, "status": str,
          "first_failure": null | {"property", "status", "message", "case", "repro"},
          "coverage": {"judged": int, "properties": int, "share": float},
          "speedup": float | null, "unranked_because": str,
          "slowest_layer": null | {"layer": str, "pass": str, "speedup": float},
          "vs_best": float | null, "timed_layers": int}

fast_p (KernelBench's): the share of the op's candidates that conform and are more than p
times as fast as PyTorch (geometric mean over the layers); fast_0 is the share that conforms.
A speedup ranks only where the candidate conforms and every layer PyTorch was timed on has a
verified, believed time of the candidate's (status ok)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from harness.checking.properties import properties_for
from harness.ops.catalog import OPS
from harness.records.statuses import MARKS, PASSING, PROBLEMS
from harness.reports.frames import bench_frame

SCHEMA = "convharness.leaderboard/1"
FAST_P = (0, 1, 1.5, 2)
JUDGED = PASSING + ("fail", "error", "timeout", "crashed", "oom")  # a verdict was reached


def _baseline(op: str) -> str:
    return f"reference.{op}"


def _first_failure(checks: list) -> dict | None:
    """The candidate's first failing property, in the op's order, with its minimal case."""
    order = {p.name: i for i, p in enumerate(properties_for(checks[0].op))} if \
        checks[0].op in OPS else {}
    for r in sorted(checks, key=lambda r: order.get(r.prop, -1)):
        if r.status in PROBLEMS:
            return {"property": r.prop, "status": r.status,
                    "message": r.message.splitlines()[0] if r.message else "",
                    "case": r.case, "repro": r.repro}
    return None


def _coverage(op: str, checks: list) -> dict:
    total = len(properties_for(op)) if op in OPS else 1
    judged = len({r.prop for r in checks if r.status in JUDGED and r.prop != "loads"})
    return {"judged": judged, "properties": total, "share": round(judged / total, 4)}


def _timing(rows: pd.DataFrame, layers: int) -> dict:
    """Speedup (geometric mean), slowest layer, or why it does not rank."""
    if rows.empty:
        return {"speedup": None, "unranked_because": "not timed", "slowest_layer": None,
                "timed_layers": 0}
    bad = rows[rows["speedup"].isna()]
    if len(bad) or len(rows) < layers:
        why = (f"{MARKS.get(bad.iloc[0]['status'], bad.iloc[0]['status'])} on "
               f"{bad.iloc[0]['case']}" if len(bad) else f"timed on {len(rows)} of {layers} layers")
        return {"speedup": None, "unranked_because": why, "slowest_layer": None,
                "timed_layers": int(len(rows) - len(bad))}
    slow = rows.loc[rows["speedup"].idxmin()]
    return {"speedup": round(math.exp(rows["speedup"].map(math.log).mean()), 4),
            "unranked_because": "", "timed_layers": int(len(rows)),
            "slowest_layer": {"layer": slow["case"], "pass": slow["pass"],
                              "speedup": round(float(slow["speedup"]), 4)}}


def _wrong_timed(timed: pd.DataFrame) -> dict | None:
    """A timed output the bench's verification found wrong: the candidate does not conform,
    whatever its checks said (the layer is a case they did not reach)."""
    wrong = timed[timed["status"] == "wrong"]
    if wrong.empty:
        return None
    first = wrong.iloc[0]
    return {"property": f"timed {first['pass']} output", "status": "wrong",
            "message": f"{first['case']}: {(str(first['message']).splitlines() or [''])[0]}",
            "case": None, "repro": ""}


def _row(impl: str, op: str, checks: list, timed: pd.DataFrame, layers: int) -> dict:
    statuses = [r.status for r in checks]
    failure = (_first_failure(checks) if checks else None) or _wrong_timed(timed)
    conforms = bool(checks) and failure is None and any(s in PASSING for s in statuses)
    timing = _timing(timed, layers)
    if not conforms:
        timing.update(speedup=None, unranked_because="does not conform" if checks else
                      "not checked in this run", slowest_layer=None)
    worst = failure["status"] if failure else ("pass" if conforms else "unchecked")
    return {"rank": None, "impl": impl, "conforms": conforms, "status": worst,
            "first_failure": failure, "coverage": _coverage(op, checks), **timing,
            "vs_best": None}


def _fast_p(rows: list) -> dict:
    n = len(rows)
    return {f"{p:g}": round(sum(r["conforms"] and (p == 0 or (r["speedup"] or 0) > p)
                                for r in rows) / n, 4) if n else 0.0 for p in FAST_P}


def _ranked(rows: list) -> list:
    """Rows ranked by speedup (conforming, timed on every layer), then the others by name."""
    ranked = sorted((r for r in rows if r["speedup"] is not None), key=lambda r: -r["speedup"])
    best = ranked[0]["speedup"] if ranked else None
    for rank, row in enumerate(ranked, start=1):
        row.update(rank=rank, vs_best=round(row["speedup"] / best, 4))
    rest = sorted((r for r in rows if r["speedup"] is None),
                  key=lambda r: (not r["conforms"], r["impl"]))
    return ranked + rest


def board(records, frame: pd.DataFrame | None = None) -> dict:
    """The leaderboard of a run's records (schema in the module's docstring); `frame`: their
    bench_frame, where the caller has it."""
    checks = [r for r in records if r.kind == "check"]
    frame = bench_frame(records) if frame is None else frame
    ops: dict = {}
    for op in dict.fromkeys(r.op for r in checks + [r for r in records if r.kind == "bench"]):
        base = frame[(frame["op"] == op) & (frame["impl"] == _baseline(op))]
        layers = int(len(base[base["status"] == "ok"]))
        names = dict.fromkeys(r.impl for r in records if r.op == op and r.kind in (
            "check", "bench") and r.impl != _baseline(op))
        rows = _ranked([_row(name, op, [r for r in checks if r.impl == name and r.op == op],
                             frame[(frame["op"] == op) & (frame["impl"] == name)], layers)
                        for name in names])
        if rows:
            ops[op or "(no op named)"] = {
                "baseline": _baseline(op), "candidates": len(rows),
                "conforming": sum(r["conforms"] for r in rows), "layers": layers,
                "fast_p": _fast_p(rows), "rows": rows}
    return {"schema": SCHEMA, "fast_p": list(FAST_P), "ops": ops}


def timed(found: dict) -> dict:
    """The leaderboard of the ops whose candidates were timed beside PyTorch (what the report
    shows; a check alone has its matrix)."""
    return {**found, "ops": {op: b for op, b in found["ops"].items() if b["layers"]}}


def write(run_dir, found: dict) -> Path:
    """leaderboard.json of a run directory: `found`, a board()."""
    path = Path(run_dir) / "leaderboard.json"
    path.write_text(json.dumps(found, indent=2, default=str))
    return path


def table(op_board: dict) -> pd.DataFrame:
    """One op's leaderboard as a table for people (the summary, the terminal, the page)."""
    def cell(row):
        failure = row["first_failure"]
        return {"rank": row["rank"] or "", "candidate": row["impl"],
                "conforms": "yes" if row["conforms"] else MARKS.get(row["status"], row["status"]),
                "coverage": f"{row['coverage']['judged']}/{row['coverage']['properties']}",
                "speedup": f"{row['speedup']:.2f}x" if row["speedup"] is not None else "",
                "slowest layer": (f"{row['slowest_layer']['speedup']:.2f}x "
                                  f"{row['slowest_layer']['layer']}")
                if row["slowest_layer"] else "",
                "vs best": f"{row['vs_best']:.2f}" if row["vs_best"] is not None else "",
                "first failure / not ranked because": (
                    f"{failure['property']}: {failure['message'][:90]}" if failure
                    else row["unranked_because"])}
    return pd.DataFrame([cell(r) for r in op_board["rows"]])


def fast_line(op: str, op_board: dict) -> str:
    shares = ", ".join(f"fast_{p} {v:.0%}" for p, v in op_board["fast_p"].items())
    return (f"{op}: {op_board['conforming']} of {op_board['candidates']} candidate(s) conform; "
            f"{shares} (against {op_board['baseline']}, {op_board['layers']} timed layer(s))")


def format_board(found: dict) -> str:
    """The leaderboard as text, per op: the fast_p line, then the table."""
    if not found["ops"]:
        return "leaderboard: no candidate in this run"
    parts = []
    for op, op_board in found["ops"].items():
        parts += [f"leaderboard, {fast_line(op, op_board)}",
                  table(op_board).to_string(index=False), ""]
    return "\n".join(parts).rstrip()
