"""Write a run's report from its records alone: CSV, Parquet, PNG figures, summary.md, index.html."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pandas as pd

from harness.ops.families import family_of, family_order
from harness.records.record import read_records
from harness.reports import figures, leaderboard
from harness.reports.frames import best_configurations, bench_frame, groups, peaks, timing_table
from harness.reports.summary import INHERITED_TITLE, check_frame, failure_lines, matrix


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(str(p) for p in parts))


def _figures(frame: pd.DataFrame, peak: dict, out: Path) -> list[tuple[str, list[Path]]]:
    """[(section title, [png paths])] per (op, device, dtype, pass) group, plus rooflines."""
    sections = []
    for (op, device, dtype, pass_), rows in groups(frame):
        title = f"{op} {pass_}, {device}, {dtype}"
        if not (rows["status"] == "ok").any():
            sections.append((title, []))
            continue
        slug = _slug(op, device, dtype, pass_)
        sections.append((title, [
            figures.throughput(rows, f"{title}: throughput over the suite", out / f"{slug}-gflops.png"),
            figures.scaling(rows, f"{title}: time against work", out / f"{slug}-scaling.png")]))
    for device, rows in frame.groupby("device"):
        if (rows["status"] == "ok").any():
            sections.append((f"roofline, {device}", [figures.roofline(
                rows, peak.get(device, {}), f"roofline, {device} (measured peaks)",
                out / f"roofline-{_slug(device)}.png")]))
    return sections


def operators_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per implementation and op, the torch operators one call made (where --trace-ops)."""
    if frame.empty or not frame["aten_ops"].astype(bool).any():
        return pd.DataFrame()
    rows = frame[frame["aten_ops"].astype(bool)]
    return rows.groupby(["impl", "op"])["aten_ops"].agg(
        lambda ops: max(ops, key=len)).to_frame("operators of one call (most called first)")


def _markdown_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "(none)\n"
    table = table.reset_index()
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
            for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _summary_md(env: dict, shown: dict, conformance: pd.DataFrame, failures: list[str],
                frame: pd.DataFrame, sections, inherited: list[str] = ()) -> str:
    parts = ["# convharness report\n",
             f"{env.get('time', '')}, torch {env.get('torch', '?')}, CPU {env.get('cpu', '?')}, "
             f"GPU {env.get('gpu') or 'none'}, {env.get('threads', '?')} threads\n"]
    if env.get("allocator"):
        parts.append(f"Timed with the CPU allocator {env['allocator']}\n")
    if env.get("sandbox"):
        parts.append(f"{env['sandbox'][0].upper()}{env['sandbox'][1:]}.\n")
    from harness.reports.html_report import fastest
    parts += [f"- {line}" for line in fastest(frame)] + ([""] if len(frame) else [])
    if not conformance.empty:
        parts += ["## Conformance\n", _markdown_table(conformance)]
        if failures:
            parts += ["### Failures\n", "```", *failures, "```\n"]
        if inherited:
            parts += [f"### {INHERITED_TITLE}\n", "```", *inherited, "```\n"]
    for op, op_board in shown["ops"].items():
        parts += [f"## Leaderboard: {op}\n", leaderboard.fast_line(op, op_board) + "\n",
                  _markdown_table(leaderboard.table(op_board).set_index("rank"))]
    best = best_configurations(frame)
    if not best.empty:
        parts += ["## Best configuration per case\n", _markdown_table(best)]
    traced = operators_table(frame)
    if not traced.empty:
        parts += ["## Operators called (--trace-ops)\n", _markdown_table(traced)]
    for (op, device, dtype, pass_), rows in groups(frame):
        parts += [f"## {op} {pass_}, {device}, {dtype}\n",
                  "median time per call and speedup against reference "
                  "(`~`: IQR over 10% of the median)\n", _markdown_table(timing_table(rows))]
    for title, pngs in sections:
        parts += [f"![{title}]({p.name})" for p in pngs]
    return "\n".join(parts) + "\n"


def _html(env: dict, records, checks: pd.DataFrame, frame: pd.DataFrame, sections,
          shown: dict) -> str:
    from harness.reports import html_report as page
    esc = html.escape
    meta = (f"{env.get('time', '')} &middot; torch {esc(str(env.get('torch', '?')))} &middot; "
            f"CPU {esc(str(env.get('cpu', '?')))} &middot; GPU {esc(str(env.get('gpu') or 'none'))}"
            f" &middot; {esc(str(env.get('threads', '?')))} threads"
            + (f" &middot; allocator {esc(env['allocator'])}" if env.get("allocator") else "")
            + (f" &middot; {esc(env['sandbox'])}" if env.get("sandbox") else ""))
    parts = ([("Leaderboard", "<p>per op, the candidates against PyTorch's own op: only those "
               "that conform, timed on every layer, are ranked (geometric mean of the speedups);"
               " fast_p: the share that conform and are more than p times as fast; a click on "
               "a column sorts by it (leaderboard.json holds the same)</p>"
               + page.leaderboard_html(shown), 2)] if shown["ops"] else [])
    parts += conformance_sections(records, checks) + timing_sections(frame)
    best = best_configurations(frame)
    if not best.empty:
        table = best.to_html(index=False, escape=True, float_format="{:.3g}".format)
        parts.append(("Best configuration per case", "<p>the fastest configuration whose timed "
                      "outputs were verified and which conforms; failing ones are never "
                      "ranked. Where the kernel was also timed as its users call it, the "
                      "configuration its autotuner chose, and that time over the best</p>"
                      + table, 2))
    accuracy = page.accuracy_html(frame)
    if accuracy:
        parts.append(("Accuracy of the timed cases", accuracy, 2))
    traced = operators_table(frame)
    if not traced.empty:
        parts.append(("Operators called (--trace-ops)", traced.to_html(escape=True), 2))
    if sections:
        parts.append(("Figures", "".join(
            f"<h3>{esc(title)}</h3>" + "".join(f'<img src="{esc(p.name)}" alt="{esc(title)}">'
                                               for p in pngs) for title, pngs in sections), 2))
    parts.append(("Run", pd.Series(env, dtype=object).to_frame("run").to_html(escape=True)
                  + '<p>Data: <a href="results.csv">results.csv</a>, '
                  '<a href="results.parquet">results.parquet</a>, '
                  '<a href="conformance.csv">conformance.csv</a>, '
                  '<a href="records.jsonl">records.jsonl</a></p>', 2))
    body = ["<h1>convharness report</h1>", f"<p class='meta'>{meta}</p>",
            page.headline(checks, frame),
            page.contents_html([(title, level) for title, _, level in parts])]
    body += [f"<h{level} id='{page.section_id(title)}'>{esc(title)}</h{level}>{html_}"
             for title, html_, level in parts]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>convharness report</title>"
            f"<style>{page.STYLE}</style></head><body>{''.join(body)}{page.SCRIPT}"
            f"{page.SORT_SCRIPT}</body></html>")


def _by_family(ops) -> dict:
    """{family: [ops]} in the families' order."""
    grouped: dict = {}
    for op in sorted(set(ops), key=family_order):
        grouped.setdefault(family_of(op), []).append(op)
    return grouped


def conformance_sections(records, checks: pd.DataFrame) -> list:
    """(title, html, level): the matrix, one table per op family where there are several."""
    from harness.reports import html_report as page
    if checks.empty:
        return []
    details = page.failures_html(records) + page.notes_html(records)
    families = _by_family(checks["op"])
    if len(families) == 1:
        return [("Conformance", page.matrix_html(checks) + details, 2)]
    parts = [("Conformance", page.legend_html(), 2)]
    for family, ops in families.items():
        rows = checks[checks["op"].isin(ops)]
        parts.append((f"Conformance: {family} ({', '.join(ops)})",
                      page.matrix_html(rows, legend=False), 3))
    if details:
        parts.append(("Failures and warnings", details, 3))
    return parts


def timing_sections(frame: pd.DataFrame) -> list:
    """(title, html, level): per family, a heat map per (op, device, dtype, pass)."""
    from harness.reports import html_report as page
    found = groups(frame)
    families = _by_family([key[0] for key, _ in found])
    parts = []
    for family, ops in families.items():
        parts.append((f"Timing: {family}", "<p>median time per call (speedup against "
                      "reference: green faster, red slower); outlined: the fastest in the row; "
                      "~: IQR over 10% of the median</p>", 2))
        for op in ops:
            parts += [(f"{op} {pass_}, {device}, {dtype}", page.heatmap_html(rows), 3)
                      for (name, device, dtype, pass_), rows in found if name == op]
    return parts


def write_report(run_dir) -> Path:
    """Rebuild every report file of a run directory from its records; return index.html."""
    run_dir = Path(run_dir)
    records = read_records(run_dir)
    env_path = run_dir / "run.json"
    env = json.loads(env_path.read_text()) if env_path.is_file() else {}
    frame = bench_frame(records)
    frame.to_csv(run_dir / "results.csv", index=False)
    frame.to_parquet(run_dir / "results.parquet", index=False)
    checks = check_frame(records)
    checks.to_csv(run_dir / "conformance.csv", index=False)
    conformance, failures = matrix(checks), failure_lines(records)
    sections = _figures(frame, peaks(records), run_dir)
    found = leaderboard.board(records, frame)
    leaderboard.write(run_dir, found)
    shown = leaderboard.timed(found)  # the report shows the ops whose candidates were timed
    (run_dir / "summary.md").write_text(_summary_md(env, shown, conformance, failures, frame,
                                                    sections, failure_lines(records, inherited=True)))
    index = run_dir / "index.html"
    index.write_text(_html(env, records, checks, frame, sections, shown))
    return index
