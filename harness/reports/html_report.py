"""index.html from the report's frames: a headline, a colour-coded conformance matrix, speedup
heat maps, accuracy of the timed cases, the figures. Offline, and every string escaped."""
from __future__ import annotations

import html
import math

import pandas as pd

from harness.reports.frames import groups
from harness.reports.summary import LISTED, MARKS, PROBLEMS, cell

esc = html.escape
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
h1{margin-bottom:.2em}.meta{color:#666;font-size:13px}
.headline{background:#f5f7fa;border-left:4px solid #4a7;padding:.6em 1em;margin:1em 0}
.headline.bad{border-color:#c33}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f0f0f0}
td.pass{background:#d9f2dc}td.fail,td.harness_error{background:#f8c9c4;font-weight:bold}
td.nondeterministic{background:#d9f2dc;font-style:italic}
td.xfail,td.inherited{background:#efe3f7}
td.nonconforming{background:#f8c9c4;font-style:italic}
td.unchecked{background:#f8c9c4;font-style:italic;font-weight:bold}
td.unsupported{background:#eee;color:#777}td.undefined{background:#e4e9f7}
td.crashed,td.timeout,td.oom,td.error{background:#f5b971;font-weight:bold}
td.not_run,td.over_budget{background:#f3e3c3}
td.wrong,td.suspect{background:#f8c9c4;font-weight:bold}td.skipped{background:#eee;color:#777}
td.best{outline:2px solid #222;font-weight:bold}
td a{color:inherit}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:12px}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}
nav.toc{font-size:13px;margin:1em 0}nav.toc ul{margin:.3em 0;padding-left:1.4em}
"""
# images report themselves: the browser test reads data-images="loaded/total" from the DOM
SCRIPT = """<script>window.addEventListener('load',function(){var i=document.images,n=0;
for(var k=0;k<i.length;k++){if(i[k].complete&&i[k].naturalWidth>0)n++;}
document.body.setAttribute('data-images',n+'/'+i.length);});</script>"""


def _anchor(impl: str, prop: str) -> str:
    return "fail-" + "".join(ch if ch.isalnum() else "-" for ch in f"{impl}-{prop}")


def section_id(title: str) -> str:
    return "s-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower())


def contents_html(entries: list) -> str:
    """The table of contents: a link to each section of the page; an entry is a title, or
    (title, level) with level 3 nested under the level-2 section before it."""
    items, open_sub = [], False
    for entry in entries:
        title, level = entry if isinstance(entry, tuple) else (entry, 2)
        link = f"<li><a href='#{section_id(title)}'>{esc(title)}</a>"
        if level == 3 and not open_sub:
            items.append("<ul>")
            open_sub = True
        elif level == 2 and open_sub:
            items.append("</ul>")
            open_sub = False
        items.append(link)
    items.append("</ul>" if open_sub else "")
    return f"<nav class='toc'><b>Contents</b><ul>{''.join(items)}</ul></nav>"


def headline(checks: pd.DataFrame, frame: pd.DataFrame) -> str:
    """How many implementations conform, who failed what, the fastest per op and device."""
    parts, bad = [], False
    if not checks.empty:
        failed = checks[checks["status"].isin(PROBLEMS)]
        impls = checks["impl"].nunique()
        ok = impls - failed["impl"].nunique()
        bad = not failed.empty
        idle = checks.groupby("impl")["status"].agg(lambda st: (st == "unsupported").all())
        note = f" ({int(idle.sum())} wholly unsupported here)" if idle.any() else ""
        parts.append(f"<b>{ok} of {impls} implementation(s) conform{note}.</b>")
        for impl, rows in failed.groupby("impl", sort=True):
            props = ", ".join(f"{p} ({MARKS.get(s, s)})" for p, s in zip(rows["property"],
                                                                        rows["status"]))
            parts.append(f"{esc(impl)} failed: {esc(props)}")
    for line in fastest(frame):
        parts.append(esc(line))
    klass = "headline bad" if bad else "headline"
    return f"<div class='{klass}'>" + "<br>".join(parts) + "</div>" if parts else ""


def fastest(frame: pd.DataFrame) -> list[str]:
    """'conv2d forward, cpu, float32: fastest im2col.conv2d, 1.3x reference (geomean, 5 cases)'"""
    lines = []
    for (op, device, dtype, pass_), rows in groups(frame):
        ok = rows[(rows["status"] == "ok") & rows["speedup"].notna()]
        if ok.empty:
            continue
        geo = ok.groupby("impl")["speedup"].agg(lambda s: math.exp(s.map(math.log).mean()))
        ranked = geo.sort_values(ascending=False)
        best, runner = ranked.index[0], ranked.index[1] if len(ranked) > 1 else None
        where = f"{op} {pass_}, {device}, {dtype}"
        cases = int((ok["impl"] == best).sum())
        if best == f"reference.{op}":
            tail = f"; next {runner}, {ranked[runner]:.2f}x" if runner else ""
            lines.append(f"{where}: PyTorch's own {best} is fastest{tail} (geometric mean of "
                         f"the speedups)")
        else:
            lines.append(f"{where}: fastest {best}, {ranked[best]:.2f}x PyTorch (geometric "
                         f"mean over {cases} case(s))")
    return lines


def matrix_html(checks: pd.DataFrame, legend: bool = True) -> str:
    """Implementation x property, cells coloured by status, failures linked to their details."""
    if checks.empty:
        return ""
    props = list(dict.fromkeys(checks["property"]))
    head = "<tr><th>impl</th>" + "".join(f"<th>{esc(p)}</th>" for p in props) + \
        "<th>coverage</th></tr>"
    rows = []
    for impl, got in checks.groupby("impl", sort=False):
        by_prop = {r.property: r for r in got.itertuples()}
        cells = [f"<th>{esc(impl)}</th>"]
        for prop in props:
            r = by_prop.get(prop)
            if r is None:
                cells.append("<td></td>")
                continue
            text = esc(cell(r))
            if r.status in LISTED:
                text = f"<a href='#{_anchor(impl, prop)}'>{text}</a>"
            cells.append(f"<td class='{esc(r.status)}' title='{esc(r.message[:300])}'>{text}</td>")
        run, unsup = got["passed"].sum(), got["unsupported"].sum()
        cells.append(f"<td>{round(100 * run / max(run + unsup, 1))}%</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    table = f"<table>{head}{''.join(rows)}</table>"
    return legend_html() + table if legend else table


def legend_html() -> str:
    cells = "".join(f"<td class='{s}'>{esc(MARKS[s])}</td>" for s in (
        "pass", "nondeterministic", "xfail", "inherited", "fail", "unchecked", "unsupported",
        "undefined",
        "crashed", "timeout", "oom", "not_run", "over_budget", "harness_error"))
    return f"<table><tr><th>legend</th>{cells}</tr></table>"


def failures_html(records) -> str:
    """Each failure: its message, minimal case and reproduction line, under an anchor; the
    failures PyTorch's own op shares in a section of their own."""
    from harness.reports.summary import INHERITED_TITLE
    mine = _failure_blocks(r for r in records if r.status != "inherited")
    theirs = _failure_blocks(r for r in records if r.status == "inherited")
    return ("<h3>Failures</h3>" + mine if mine else "") + (
        f"<h3>{esc(INHERITED_TITLE)}</h3>" + theirs if theirs else "")


def _failure_blocks(records) -> str:
    from harness.ops.cases import Case, describe
    blocks = []
    for r in records:
        if r.kind != "check" or r.status not in LISTED:
            continue
        lines = [r.message]
        if r.case:
            lines.append(f"minimal case: {describe(Case.from_dict(r.case))}")
        if r.repro:
            lines.append(f"reproduce: {r.repro}")
        blocks.append(f"<h4 id='{_anchor(r.impl, r.prop)}'>{esc(r.impl)} / {esc(r.prop)}: "
                      f"{esc(MARKS.get(r.status, r.status))}</h4><pre>{esc(chr(10).join(lines))}"
                      f"</pre>")
    return "".join(blocks)


def notes_html(records) -> str:
    """What implementations said while checked (warnings, torch's notices), per property."""
    rows = [f"<tr><th>{esc(r.impl)}</th><td>{esc(r.prop)}</td><td>"
            + "<br>".join(esc(note) for note in r.notes) + "</td></tr>"
            for r in records if r.kind == "check" and r.notes]
    if not rows:
        return ""
    return ("<h3>Warnings the implementations raised</h3><table><tr><th>impl</th>"
            "<th>property</th><th>messages (xN: how often)</th></tr>" + "".join(rows) + "</table>")


def _heat(speedup: float) -> str:
    """Green for faster than the reference, red for slower, stronger the further from 1x."""
    strength = min(abs(math.log2(speedup)) / 3, 1.0)
    light = int(250 - 120 * strength)
    return f"rgb({light},250,{light})" if speedup >= 1 else f"rgb(250,{light},{light})"


def heatmap_html(rows: pd.DataFrame) -> str:
    """Cases x implementations: median time and speedup, coloured; best per row outlined."""
    impls = list(dict.fromkeys(rows["impl"]))
    out = ["<table><tr><th>case</th>" + "".join(f"<th>{esc(i)}</th>" for i in impls) + "</tr>"]
    for case, got in rows.groupby("case", sort=False):
        by_impl = {r.impl: r for r in got.itertuples()}
        timed = [r for r in by_impl.values() if r.status == "ok"]
        best = min(timed, key=lambda r: r.median_s).impl if timed else None
        cells = [f"<th>{esc(str(case))}</th>"]
        for impl in impls:
            r = by_impl.get(impl)
            if r is None:
                cells.append("<td></td>")
            elif r.status == "nonconforming":  # its time, shown, never ranked
                cells.append(f"<td class='nonconforming' title='{esc(str(r.message)[:300])}'>"
                             f"{r.median_s * 1e3:.3g} ms (does not conform)</td>")
            elif r.status != "ok":
                cells.append(f"<td class='{esc(r.status)}' title='{esc(str(r.message)[:300])}'>"
                             f"{esc(r.status)}</td>")
            else:
                cells.append(_timed_cell(r, impl == best))
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "".join(out) + "</table>"


def _timed_cell(r, best: bool) -> str:
    text = f"{r.median_s * 1e3:.3g} ms"
    style = ""
    if pd.notna(r.speedup):
        text += f" ({r.speedup:.2f}x)"
        style = f" style='background:{_heat(r.speedup)}'"
    text += " ~" if r.noisy else ""
    klass = " class='best'" if best else ""
    return f"<td{klass}{style}>{esc(text)}</td>"


def accuracy_html(frame: pd.DataFrame) -> str:
    """Per implementation, the worst error over its timed cases, in tolerances and in eps."""
    ok = frame[(frame["status"] == "ok") & frame["err_tol"].notna()]
    if ok.empty:
        return ""
    table = ok.groupby(["impl", "op", "device", "dtype"]).agg(
        cases=("case", "nunique"), worst_of_tolerance=("err_tol", "max"),
        worst_eps=("err_eps", "max")).reset_index()
    table["worst_of_tolerance"] = table["worst_of_tolerance"].map(lambda v: f"{v:.3g}")
    table["worst_eps"] = table["worst_eps"].map(lambda v: f"{v:.3g}")
    return ("<p>worst error of each implementation on the "
            "cases it was timed on, as a share of the tolerance (under 1 passes) and in units "
            "of the dtype's eps: the speed/accuracy trade-off of FFT and Winograd shows here</p>"
            + table.to_html(index=False, escape=True))


# sortable tables: a click on a column's head sorts by it (numbers as numbers), again reverses
SORT_SCRIPT = """<script>document.querySelectorAll('table.sortable th').forEach(function(th,i){
th.style.cursor='pointer';th.addEventListener('click',function(){var t=th.closest('table'),
rows=Array.from(t.querySelectorAll('tr')).slice(1),up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';
function v(r){var c=r.children[i],s=c.dataset.v!==undefined?c.dataset.v:c.textContent,
n=parseFloat(s);return isNaN(n)?s:n;}
rows.sort(function(a,b){var x=v(a),y=v(b),o=(typeof x===typeof y)?(x<y?-1:x>y?1:0):
(typeof x==='number'?-1:1);return up?o:-o;});rows.forEach(function(r){t.appendChild(r);});
});});</script>"""


def leaderboard_html(found: dict) -> str:
    """Per op: the fast_p line and a sortable table of the candidates (leaderboard.json)."""
    from harness.reports.leaderboard import fast_line, table
    parts = []
    for op, op_board in found["ops"].items():
        frame = table(op_board)
        head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
        rows = []
        for row, data in zip(frame.itertuples(index=False), op_board["rows"]):
            klass = "pass" if data["conforms"] else data["status"]
            cells = [f"<td data-v='{data['rank'] or 9e9}'>{esc(str(row[0]))}</td>",
                     f"<td>{esc(row[1])}</td>", f"<td class='{klass}'>{esc(row[2])}</td>",
                     f"<td data-v='{data['coverage']['share']}'>{esc(row[3])}</td>",
                     f"<td data-v='{data['speedup'] or 0}'>{esc(row[4])}</td>"]
            cells += [f"<td>{esc(str(v))}</td>" for v in row[5:]]
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<p><b>{esc(fast_line(op, op_board))}</b></p><table class='sortable'>"
                     f"<tr>{head}</tr>{''.join(rows)}</table>")
    return "".join(parts)
