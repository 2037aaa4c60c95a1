"""The trend page: one trend per implementation x case (median and spread per revision, in
revision order, on the CPU: each sample less the time it waited for a CPU others held;
conformance as coloured marks on the same axis; detected steps labelled with the revision where
they start), an offline index.html with a table of every trend and a PNG for each
of the first drawn. Reads the store only."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.history.steps import Step, steps
from harness.records.statuses import PASSING, PROBLEMS
from harness.reports.html_report import SCRIPT, STYLE, esc

MAX_DRAWN = 48  # PNGs per page: trends with a step or a conformance change first
SERIES = ["impl", "op", "prop", "device", "dtype", "case_label"]
COLOURS = {"pass": "#2a8a3e", "fail": "#c33", "unchecked": "#999"}


@dataclass(frozen=True)
class Trend:
    impl: str
    op: str
    pass_: str
    device: str
    dtype: str
    case: str
    points: pd.DataFrame  # one row per revision, in order: label, median, low, high, conforms
    steps: tuple[Step, ...]

    @property
    def changes(self) -> bool:
        return bool(self.steps) or self.points["conforms"].nunique() > 1


def _revision_labels(frame: pd.DataFrame) -> pd.Series:
    short = frame["revision"].where(frame["revision"].str.len() < 40,
                                    frame["revision"].str[:10])
    return short + frame["dirty"].map({True: "*", False: ""})


def _conformance(checks: pd.DataFrame) -> dict:
    """{(impl, op, revision label): pass | fail} from the check records."""
    out = {}
    for key, group in checks.groupby(["impl", "op", "label"]):
        if group["status"].isin(PROBLEMS).any():
            out[key] = "fail"
        elif group["status"].isin(PASSING).any():
            out[key] = "pass"
    return out


def _points(rows: pd.DataFrame, conforms: dict) -> pd.DataFrame:
    ok = rows[rows["status"] == "ok"]
    order = rows.assign(when=rows["revision_time"].fillna(rows["started"])).groupby(
        "label")["when"].min().sort_values()
    out = []
    for label in order.index:
        at = ok[ok["label"] == label]
        bad = (rows[(rows["label"] == label)]["status"].isin(PROBLEMS)).any()
        first = rows.iloc[0]
        state = "fail" if bad else conforms.get((first["impl"], first["op"], label), "unchecked")
        half = at["iqr"].fillna(0) / 2
        out.append({"label": label, "median": at["steady"].median() if len(at) else math.nan,
                    "low": (at["steady"] - half).min() if len(at) else math.nan,
                    "high": (at["steady"] + half).max() if len(at) else math.nan,
                    "conforms": state, "runs": rows[rows["label"] == label]["run"].nunique()})
    return pd.DataFrame(out)


def trends(frame: pd.DataFrame, suite: str | None = None, case: str | None = None) -> list:
    """The trends of a frame of stored results (store.results), filtered by suite and case."""
    if frame.empty:
        return []
    frame = frame.assign(label=_revision_labels(frame))
    checks, timed = frame[frame["kind"] == "check"], frame[frame["kind"] == "bench"]
    if suite:
        timed = timed[timed["case_label"].str.startswith(f"{suite}#")]
    if case:
        timed = timed[timed["case_label"].str.contains(case, regex=False)]
    conforms = _conformance(checks)
    out = []
    for key, rows in timed.groupby(SERIES, sort=True):
        points = _points(rows, conforms)
        found = points.dropna(subset=["median"])
        level = tuple(steps(list(found["median"]))) if len(found) > 1 else ()
        # a step's index is into the revisions that were timed; map it back to all points
        level = tuple(Step(at=int(found.index[s.at]), ratio=s.ratio) for s in level)
        out.append(Trend(*key, points=points, steps=level))
    return out


def _draw(trend: Trend, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    p = trend.points
    x = list(range(len(p)))
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=90)
    ms = p["median"] * 1e3
    ax.errorbar(x, ms, yerr=[ms - p["low"] * 1e3, p["high"] * 1e3 - ms], fmt="-o",
                color="#2463a6", ms=4, capsize=2, lw=1.2)
    for s in trend.steps:
        ax.axvline(s.at - 0.5, color="#c33", lw=1, ls="--")
        ax.annotate(f" {(s.ratio - 1) * 100:+.0f}% at {p['label'][s.at]}", (s.at - 0.5, 0.96),
                    xycoords=("data", "axes fraction"), va="top", ha="left", fontsize=8,
                    color="#c33", backgroundcolor="white")
    marks = ax.get_xaxis_transform()
    for i, state in enumerate(p["conforms"]):
        ax.plot(i, 0.04, marker="o" if state == "pass" else "X", ms=7, transform=marks,
                color=COLOURS[state], clip_on=False)
    ax.set_xticks(x, p["label"], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("median ms (on CPU)")
    top = (p["high"] * 1e3).max()
    ax.set_ylim(0, top * 1.3 if top == top and top > 0 else None)  # room for the labels
    ax.set_title(f"{trend.impl} · {trend.case} · {trend.pass_} · {trend.device} {trend.dtype}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _row(trend: Trend, image: str | None) -> str:
    p = trend.points.dropna(subset=["median"])
    latest = f"{p['median'].iloc[-1] * 1e3:.4g}" if len(p) else "-"
    found = "; ".join(f"{(s.ratio - 1) * 100:+.0f}% at {trend.points['label'][s.at]}"
                      for s in trend.steps) or "none"
    states = trend.points["conforms"]
    last = states.iloc[-1] if len(states) else "unchecked"
    cls = {"pass": "pass", "fail": "fail"}.get(last, "unsupported")
    link = f"<a href='#{esc(image)}'>plot</a>" if image else ""
    return (f"<tr><td>{esc(trend.impl)}</td><td>{esc(trend.op)}</td><td>{esc(trend.case)}</td>"
            f"<td>{esc(trend.pass_)}</td><td>{esc(trend.device)} {esc(trend.dtype)}</td>"
            f"<td>{len(trend.points)}</td><td>{latest}</td><td>{esc(found)}</td>"
            f"<td class='{cls}'>{esc(last)}</td><td>{link}</td></tr>")


def write_page(found: list, out_dir, described: str) -> Path:
    """index.html and the PNGs into `out_dir`; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ranked = sorted(range(len(found)), key=lambda i: (not found[i].changes, i))
    drawn = {i: f"trend-{n:03d}.png" for n, i in enumerate(ranked[:MAX_DRAWN])}
    for i, name in drawn.items():
        _draw(found[i], out / name)
    with_steps = sum(bool(t.steps) for t in found)
    rows = "".join(_row(t, drawn.get(i)) for i, t in enumerate(found))
    plots = "".join(f"<h3 id='{esc(drawn[i])}'>{esc(found[i].impl)} · {esc(found[i].case)}"
                    f"</h3><img src='{esc(drawn[i])}' alt='trend'>" for i in ranked[:MAX_DRAWN])
    more = (f"<p>{len(found) - len(drawn)} more trend(s) are in the table, not drawn: narrow "
            f"the page with --impl, --op, --suite or --case.</p>" if len(found) > len(drawn)
            else "")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>convharness history
</title><style>{STYLE}</style></head><body><h1>convharness history</h1>
<p class="meta">{esc(described)}</p>
<div class="headline{' bad' if with_steps else ''}">{len(found)} trend(s); {with_steps} with a
detected step. Steps: PELT (Killick, Fearnhead and Eckley, 2012) on the log medians per
revision; marks under each trend: <span style="color:{COLOURS['pass']}">&#9679; conforms</span>,
<span style="color:{COLOURS['fail']}">&#10006; fails</span>,
<span style="color:{COLOURS['unchecked']}">&#10006; not checked</span> at that revision.</div>
<table><tr><th>implementation</th><th>op</th><th>case</th><th>pass</th><th>device</th>
<th>revisions</th><th>latest ms</th><th>steps</th><th>conformance</th><th></th></tr>{rows}
</table>{more}{plots}{SCRIPT}</body></html>"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
