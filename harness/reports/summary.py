"""Conformance summaries from check records: the matrix, coverage and failure details."""
from __future__ import annotations

import pandas as pd

from harness.ops.cases import Case, describe
from harness.records.record import Record
from harness.records.statuses import LISTED, MARKS, PASSING, PROBLEMS  # noqa: F401 (re-exported)


def check_frame(records: list[Record]) -> pd.DataFrame:
    """One row per check record, with example counts as columns."""
    rows = [{"impl": r.impl, "op": r.op, "property": r.prop, "status": r.status,
             "passed": r.counts.get("pass", 0), "unsupported": r.counts.get("unsupported", 0),
             "undefined": r.counts.get("undefined", 0), "message": r.message, "repro": r.repro}
            for r in records if r.kind == "check"]
    return pd.DataFrame(rows, columns=["impl", "op", "property", "status", "passed", "unsupported",
                                       "undefined", "message", "repro"])


def cell(row) -> str:
    mark = MARKS.get(row.status, row.status)
    if row.status in PASSING and row.unsupported:
        return f"{mark} {row.passed}/{row.passed + row.unsupported}"
    return f"{mark} {row.passed}" if row.status in PASSING else mark


def matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Implementation x property; a cell is 'pass N' (N examples), 'pass N/M' (M-N unsupported),
    FAIL, unsup or undef; the last column is coverage, examples run over examples drawn."""
    if frame.empty:
        return pd.DataFrame()
    cells = frame.assign(cell=frame.apply(cell, axis=1))
    order = list(dict.fromkeys(frame["property"]))
    table = cells.pivot_table(index="impl", columns="property", values="cell", aggfunc="first",
                              sort=False).reindex(columns=order).fillna("")
    totals = frame.groupby("impl", sort=False)[["passed", "unsupported"]].sum()
    covered = totals["passed"] / (totals["passed"] + totals["unsupported"]).clip(lower=1)
    table["coverage"] = (covered * 100).round().astype(int).astype(str) + "%"
    return table


INHERITED_TITLE = ("Inherited from PyTorch (its own op fails the same way on the minimal case; "
                   "not counted, unless --strict)")


def failure_lines(records: list[Record], *, inherited: bool = False) -> list[str]:
    """The listed records (failures, expected failures), or with `inherited` the failures
    PyTorch's own op shares: message, minimal case, error figures, reproduction."""
    lines = []
    for r in records:
        if r.kind == "check" and r.status in LISTED and (r.status == "inherited") == inherited:
            lines.append(f"{r.impl} / {r.prop} ({MARKS[r.status]}): {r.message}")
            if r.case:
                lines.append(f"    minimal case: {describe(Case.from_dict(r.case))}")
            figures = {k: v for k, v in r.figures.items() if k in ("max_abs", "max_rel", "where",
                                                                   "eps_units")}
            if figures:
                lines.append("    error: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float)
                                                       else f"{k}={v}" for k, v in figures.items()))
            if r.repro:
                lines.append(f"    reproduce: {r.repro}")
    return lines


def format_check(records: list[Record]) -> str:
    table = matrix(check_frame(records))
    if table.empty:
        return "no check records"
    text = table.to_string()
    failures = failure_lines(records)
    if failures:
        text += "\n\nFailures (minimal cases after shrinking):\n" + "\n".join(failures)
    configured = configuration_lines(records)
    if configured:
        text += "\n\nConfigurations:\n" + "\n".join(configured)
    inherited = failure_lines(records, inherited=True)
    if inherited:
        text += f"\n\n{INHERITED_TITLE}:\n" + "\n".join(inherited)
    said = [f"{r.impl} / {r.prop}: {r.notes[0]}" + (f" (and {len(r.notes) - 1} more)"
                                                  if len(r.notes) > 1 else "")
            for r in records if r.kind == "check" and r.notes]
    if said:
        text += "\n\nWarnings the implementations raised (in the report):\n" + "\n".join(said)
    return text


def configuration_lines(records: list[Record]) -> list[str]:
    """Per implementation checked as configurations (`impl[k=v,...]`): how many fail, and which
    (one that fails makes its implementation fail); a configuration that passed no property
    here (every case unsupported, as a CUDA kernel's on a CPU machine) is not said to conform."""
    from harness.plugins.configs import split
    seen: dict[str, dict[str, str]] = {}
    for r in records:
        base, config = split(r.impl) if r.kind == "check" else (r.impl, None)
        if config is not None:
            labels, label = seen.setdefault(base, {}), r.impl[len(base):]
            now = ("fails" if r.status in PROBLEMS else
                   "conforms" if r.status in PASSING else "unchecked")
            labels[label] = max(labels.get(label, "unchecked"), now,
                                key=("unchecked", "conforms", "fails").index)
    return [_configurations_line(base, labels) for base, labels in seen.items()]


def _configurations_line(base: str, labels: dict[str, str]) -> str:
    failing = [label for label, verdict in labels.items() if verdict == "fails"]
    if failing:
        return (f"{base}: {len(failing)} of {len(labels)} configurations fail: "
                f"{', '.join(failing)}")
    idle = sum(verdict == "unchecked" for verdict in labels.values())
    if idle == len(labels):
        return f"{base}: none of {idle} configurations checked here (each supported no case)"
    if idle:
        return (f"{base}: {len(labels) - idle} of {len(labels)} configurations conform; {idle} "
                f"not checked here (each supported no case)")
    return f"{base}: all {len(labels)} configurations conform"
