"""Records -> tidy pandas frames: one row per implementation x case x pass x device x dtype."""
from __future__ import annotations

import statistics

import pandas as pd

from harness.records import Record

NOISY = 0.10  # IQR / median above this is flagged
SUSPECT = 1.5  # throughput above this many times the measured peak is not believed
COLUMNS = ["impl", "op", "case", "pass", "device", "device_name", "host", "dtype", "status", "median_s", "iqr_s",
           "min_s", "samples", "noisy", "flops", "bytes", "gflops", "gbs", "speedup",
           "peak_bytes", "count", "message", "aten_ops", "err_tol", "err_eps"]


def _row(r: Record) -> dict:
    fig = r.figures
    median = r.median
    return {"impl": r.impl, "op": r.op, "case": fig.get("label") or (r.case or {}).get("label"),
            "device_name": r.device_name, "host": r.host,
            "pass": r.prop, "device": r.device, "dtype": r.dtype, "status": r.status,
            "median_s": median, "iqr_s": r.iqr if median else None,
            "min_s": min(r.times) if r.times else None, "samples": len(r.times),
            "noisy": bool(median and r.iqr / median > NOISY),
            "flops": fig.get("flops"), "bytes": fig.get("bytes"),
            "gflops": fig["flops"] / median / 1e9 if median and fig.get("flops") else None,
            "gbs": fig["bytes"] / median / 1e9 if median and fig.get("bytes") else None,
            "peak_bytes": fig.get("peak_bytes"), "count": fig.get("count", 1),
            "message": r.message, "flop_saving": bool(fig.get("flop_saving", False)),
            "err_tol": fig.get("accuracy", {}).get("worst_over_allowed"),
            "err_eps": fig.get("accuracy", {}).get("eps_units"),
            "aten_ops": ", ".join(f"{k} x{v}" for k, v in sorted(
                fig.get("aten_ops", {}).items(), key=lambda kv: -kv[1])[:8])}


def bench_frame(records: list[Record]) -> pd.DataFrame:
    """Bench records as rows, with speedup = reference median / median (same case, pass, ...)."""
    rows = [_row(r) for r in records if r.kind == "bench"]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "speedup"] + ["flop_saving"])
    if frame.empty:
        return frame.assign(speedup=pd.Series(dtype=float))[COLUMNS]
    keys = ["op", "case", "pass", "device", "device_name", "dtype"]
    ref = frame[frame["impl"] == "reference." + frame["op"]][keys + ["median_s"]]
    ref = ref.rename(columns={"median_s": "reference_s"}).drop_duplicates(keys, keep="last")
    frame = frame.merge(ref, on=keys, how="left")
    frame["speedup"] = frame["reference_s"] / frame["median_s"]
    frame = mark_suspect(frame, peaks(records))
    frame.loc[frame["status"] != "ok", ["speedup"]] = None  # a wrong answer is never ranked
    return frame[COLUMNS].reset_index(drop=True)


def mark_suspect(frame: pd.DataFrame, peak: dict) -> pd.DataFrame:
    """Status 'suspect' where GFLOP/s or GB/s pass SUSPECT x the device's measured peak (or
    PyTorch's own best in the run, if higher): no honest kernel does that (flop-saving
    algorithms are judged by bandwidth only)."""
    frame = frame.copy()
    for device, roof in peak.items():
        rows = (frame["device"] == device) & (frame["status"] == "ok")
        # the machine may have been busier while its peak was measured than later on: what
        # PyTorch itself reached in this run is a floor under the peak
        own = frame[rows & (frame["impl"] == "reference." + frame["op"])]
        roof = {key: max(value, own[key].max()) if own[key].notna().any() else value
                for key, value in roof.items()}
        fast = pd.Series(False, index=frame.index)
        if "gflops" in roof:
            fast |= (frame["gflops"] > SUSPECT * roof["gflops"]) & ~frame["flop_saving"]
        if "gbs" in roof:
            fast |= frame["gbs"] > SUSPECT * roof["gbs"]
        hit = rows & fast.fillna(False)
        frame.loc[hit, "status"] = "suspect"
        frame.loc[hit, "message"] = (f"throughput above {SUSPECT:g}x the measured peak of "
                                     f"{device}: not believed")
    return frame


def peaks(records: list[Record]) -> dict:
    """{device: {"gflops": measured matmul peak, "gbs": measured copy bandwidth}}."""
    out: dict = {}
    for r in records:
        if r.kind == "peak" and r.times:
            best = statistics.median(r.times)
            unit, key = ("flops", "gflops") if r.prop == "matmul" else ("bytes", "gbs")
            rate = r.figures[unit] / best / 1e9
            roof = out.setdefault(r.device, {})
            roof[key] = max(rate, roof.get(key, 0.0))
    return out


def timing_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases as rows, implementations as columns: 'median ms (speedup x)' or the status."""
    def cell(row) -> str:
        if row["status"] != "ok":
            return row["status"]
        text = f"{row['median_s'] * 1e3:.3g} ms"
        if pd.notna(row["speedup"]):
            text += f" ({row['speedup']:.2f}x)"
        return text + (" ~" if row["noisy"] else "")

    cells = frame.assign(cell=frame.apply(cell, axis=1))
    return cells.pivot_table(index="case", columns="impl", values="cell", aggfunc="last",
                             sort=False).fillna("")


def groups(frame: pd.DataFrame):
    """(op, device, dtype, pass) groups of the bench frame, in a stable order; a run over
    several device models (a cluster) gets one group per model: 'cuda (NVIDIA H100)'."""
    if frame.empty:
        return []
    model = frame["device_name"].fillna("").astype(str)
    where = frame["device"].where(model == "", frame["device"] + " (" + model + ")")
    return list(frame.assign(where=where).groupby(["op", "where", "dtype", "pass"], sort=True))
