"""The CI gate: the latest stored run against a baseline on the same machine, case by case. A
case is slower when all of these hold (its samples taken on the CPU: each less the time its
threads waited for a CPU that other processes held, as the bench measured it, so that a busy
machine's preemption is not read as a slowdown): a one-sided Mann-Whitney U test says
the new samples are larger (p < 0.05); its median and its fastest sample both grew by more than
the factor; and the growth is beyond what runs of this case on this machine scatter by (a
one-sided 1% z-test on the log ratio of the two medians, the scatter estimated from this
case's earlier runs on the machine (run_noise), never under 3%: so a slowdown under about 11%
is within a shared machine's run-to-run jitter and does not fail the gate, nor one under 30%
before the store holds three earlier runs of the case, nor one under about 48% when either
timing waited for a CPU over 5% of the time: a busy machine). A property
that passed at the baseline and fails now is a new failure. Either fails the gate; gate.md
says what changed, for a pull request."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy.stats import mannwhitneyu

from harness.history.imported import on_cpu
from harness.history.steps import noise
from harness.history.store import Store, StoreError, results
from harness.records.errors import UsageError
from harness.records.statuses import PASSING, PROBLEMS

ALPHA = 0.05  # the raw samples' test (four samples against four can reach 0.014)
Z = 2.326  # one-sided 1% for the runs' scatter
BUSY_SHARE = 0.05  # a timing whose threads waited for a CPU this share of it ran on a busy machine
BUSY_NOISE = 0.12  # the scatter assumed then: a slowdown must pass about 48% to count (a busy
# machine moves a case's on-CPU time by 20% from run to run: cache and sibling contention)
PRIOR = 0.08  # the runs' scatter of a case with fewer than three earlier runs: only a slowdown
# beyond about 30% fails the gate until the store has seen how much the case moves by itself


@dataclass(frozen=True)
class Gate:
    new: str  # the latest run's name
    baseline: str  # what it was compared with, in words
    compared: int  # cases timed in both
    slower: pd.DataFrame
    faster: pd.DataFrame
    failing: pd.DataFrame  # newly failing properties and timings

    @property
    def passed(self) -> bool:
        return self.slower.empty and self.failing.empty


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    """Per record key, the row of the latest run."""
    return frame.sort_values(["started", "run_id"]).drop_duplicates("record_key", keep="last")


def _baseline_rows(frame: pd.DataFrame, new_id: int, baseline: str | None) -> tuple:
    """(rows, words) of the baseline: the run before the latest (None), `latest-on-BRANCH`, a
    run's name or id, or a revision (a commit prefix, or a name given with --revision)."""
    older = frame[frame["run_id"] != new_id]
    if baseline is None:
        shared = older[older["record_key"].isin(frame.loc[frame["run_id"] == new_id,
                                                          "record_key"])]
        if shared.empty:
            return shared, "the run before the latest"
        last = shared.sort_values(["started", "run_id"]).iloc[-1]
        return older[older["run_id"] == last["run_id"]], f"run {last['run']} (the one before)"
    if baseline.startswith("latest-on-"):
        branch = baseline[len("latest-on-"):]
        on = older[older["branch"] == branch]
        if on.empty:
            return on, f"the latest run on branch {branch!r}"
        last = on.sort_values(["started", "run_id"]).iloc[-1]
        return on[on["run_id"] == last["run_id"]], f"run {last['run']} (latest on {branch})"
    named = older[(older["run"] == baseline) | (older["run_id"].astype(str) == baseline)]
    if not named.empty:
        return named, f"run {baseline}"
    at = older[(older["revision"] == baseline) | (
        older["revision"].str.startswith(baseline) & (len(baseline) >= 4))]
    return _latest(at), f"revision {baseline}"


def _on_machine(base: pd.DataFrame, machine: str, words: str, any_machine: bool) -> pd.DataFrame:
    same = base[base["machine"] == machine]
    if same.empty and not base.empty and not any_machine:
        raise UsageError(f"gate: {words} was measured on another machine (fingerprint "
                         f"{base['machine'].iloc[0]}) than the latest run ({machine}); timings "
                         f"across machines do not compare. --any-machine compares them anyway")
    return base if any_machine else same


def run_noise(history: pd.DataFrame, revisions: dict) -> dict:
    """{record key: relative scatter of its runs' on-CPU medians}, from earlier believed runs:
    the larger of the trend's scatter (steps.noise) and half the range of the runs of the
    baseline's revision (the same code: all of its spread is noise, a bimodal case's included);
    PRIOR until a case has three earlier runs."""
    out = {}
    ok = history[(history["status"] == "ok") & history["steady"].notna()]
    for key, rows in ok.sort_values(["started", "run_id"]).groupby("record_key"):
        logs = [math.log(m) for m in rows["steady"]]
        same = [math.log(m) for m in rows.loc[rows["revision"] == revisions.get(key), "steady"]]
        spread = (max(same) - min(same)) / 2 if len(same) > 1 else 0.0
        out[key] = max(noise(logs), spread) if len(logs) >= 3 else PRIOR
    return out


def busy_share(times: str, waits: str) -> float:
    """The share of a timing its threads spent waiting for a CPU others held (0 unknown)."""
    pairs = [(t, w) for t, w in zip(json.loads(times), json.loads(waits)) if w is not None]
    return sum(w for _, w in pairs) / sum(t for t, _ in pairs) if pairs else 0.0


def _mark(a: list, b: list, ratio: float, fastest: float, factor: float, scatter: float):
    slow_p = mannwhitneyu(b, a, alternative="greater").pvalue
    fast_p = mannwhitneyu(b, a, alternative="less").pvalue
    beyond = abs(math.log(ratio)) > Z * math.sqrt(2) * scatter
    if slow_p < ALPHA and min(ratio, fastest) > factor and beyond:
        return "slower", slow_p
    if fast_p < ALPHA and max(ratio, fastest) < 1 / factor and beyond:
        return "faster", fast_p
    return "same", min(slow_p, fast_p)


def _timed(base: pd.DataFrame, new: pd.DataFrame, factor: float, scatter: dict):
    pairs = new[new["kind"] == "bench"].merge(base, on="record_key", suffixes=("", "_base"))
    pairs = pairs[(pairs["status"] == "ok") & (pairs["status_base"] == "ok")]
    rows = []
    for _, p in pairs.iterrows():
        a = on_cpu(json.loads(p["times_base"]), json.loads(p["waits_base"]))
        b = on_cpu(json.loads(p["times"]), json.loads(p["waits"]))
        if len(a) < 2 or len(b) < 2:
            continue
        ratio, fastest = p["steady"] / p["steady_base"], min(b) / min(a)
        noise_ = scatter.get(p["record_key"], PRIOR)
        busy = max(busy_share(p["times_base"], p["waits_base"]),
                   busy_share(p["times"], p["waits"]))
        if busy > BUSY_SHARE:  # others took the CPU while it was timed: only a big change counts
            noise_ = max(noise_, BUSY_NOISE)
        mark, p_value = _mark(a, b, ratio, fastest, factor, noise_)
        rows.append({"impl": p["impl"], "op": p["op"], "case": p["case_label"],
                     "pass": p["prop"], "device": p["device"], "dtype": p["dtype"],
                     "base_ms": p["steady_base"] * 1e3, "new_ms": p["steady"] * 1e3,
                     "ratio": ratio, "fastest_ratio": fastest, "run_noise": noise_,
                     "busy": round(busy, 3),
                     "p_value": p_value, "mark": mark})
    return pd.DataFrame(rows, columns=["impl", "op", "case", "pass", "device", "dtype",
                                       "base_ms", "new_ms", "ratio", "fastest_ratio",
                                       "run_noise", "busy", "p_value", "mark"])


def _newly_failing(base: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    pairs = new.merge(base, on="record_key", suffixes=("", "_base"))
    was_fine = pairs["status_base"].isin(PASSING + ("ok",))
    now_bad = pairs["status"].isin(PROBLEMS)
    found = pairs[was_fine & now_bad]
    return pd.DataFrame({"impl": found["impl"], "op": found["op"], "what": found["prop"],
                         "case": found["case_label"], "was": found["status_base"],
                         "now": found["status"], "message": found["message"].str[:160]})


def gate(store: Store, *, baseline: str | None = None, factor: float = 1.05, impls=(),
         any_machine: bool = False, run: str | None = None) -> Gate:
    """The latest stored run (of `impls`, where given; or the run named `run`, and only what
    was stored before it) against the baseline."""
    if factor < 1:
        raise UsageError(f"--factor={factor}, but should be >= 1")
    frame = results(store, impls=impls, times=True)
    if frame.empty:
        raise StoreError(f"results store {store.name!r} holds no run" +
                         (f" of {', '.join(impls)}" if impls else ""))
    if run is not None:
        named = frame[(frame["run"] == run) | (frame["run_id"].astype(str) == run)]
        if named.empty:
            raise UsageError(f"gate: --run={run!r} is not a run in {store.name!r}"
                             + (f" holding {', '.join(impls)}" if impls else ""))
        frame = frame[frame["run_id"] <= named["run_id"].max()]
    newest = frame.sort_values(["started", "run_id"]).iloc[-1]
    new = frame[frame["run_id"] == newest["run_id"]]
    pool = frame
    if baseline is None and not any_machine:  # the run before, on this machine
        pool = frame[frame["machine"] == newest["machine"]]
        if (pool["run_id"] == newest["run_id"]).all() and len(frame) > len(pool):
            _on_machine(frame[frame["run_id"] != newest["run_id"]], newest["machine"],
                        "every earlier run", any_machine)
    base, words = _baseline_rows(pool, newest["run_id"], baseline)
    base = _on_machine(base, newest["machine"], words, any_machine)
    if base.empty:
        raise UsageError(f"gate: found no baseline for run {newest['run']}: {words} holds no "
                         f"result on this machine in {store.name!r}")
    earlier = frame[(frame["machine"] == newest["machine"]) &
                    (frame["run_id"] != newest["run_id"]) & (frame["kind"] == "bench")]
    baseline_revision = dict(zip(base["record_key"], base["revision"]))
    timed = _timed(base, new, factor, run_noise(earlier, baseline_revision))
    return Gate(new=newest["run"], baseline=words, compared=len(timed),
                slower=timed[timed["mark"] == "slower"], faster=timed[timed["mark"] == "faster"],
                failing=_newly_failing(base, new))


def _table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        cells = [f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]).replace("|", "/")
                 for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown(result: Gate, factor: float) -> str:
    """A short summary for a pull-request comment."""
    verdict = "passed" if result.passed else "FAILED"
    lines = [f"## convharness gate: {verdict}", "",
             f"Run `{result.new}` against {result.baseline}: {result.compared} timed case(s) "
             f"compared; {len(result.slower)} slower beyond {factor}x, {len(result.faster)} "
             f"faster, {len(result.failing)} newly failing.", ""]
    timed = ["impl", "op", "case", "pass", "base_ms", "new_ms", "ratio", "run_noise", "busy",
             "p_value"]
    for title, frame in (("Slower", result.slower), ("Faster", result.faster)):
        if not frame.empty:
            lines += [f"### {title}", "", *_table(frame, timed), ""]
    if not result.failing.empty:
        lines += ["### Newly failing", "", *_table(result.failing, list(result.failing.columns)),
                  ""]
    return "\n".join(lines)


def write_markdown(result: Gate, factor: float, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(result, factor))
    return path
