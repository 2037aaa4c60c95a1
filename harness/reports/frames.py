"""Records -> tidy pandas frames: one row per implementation x case x pass x device x dtype."""
from __future__ import annotations

import pandas as pd

from harness.records.record import Record  # noqa: F401 (the report's roofline)
from harness.records.record import peak_rates as peaks

NOISY = 0.10  # IQR / median above this is flagged
COLUMNS = ["impl", "op", "case", "pass", "device", "device_name", "host", "dtype", "status", "median_s", "iqr_s",
           "min_s", "samples", "noisy", "flops", "bytes", "gflops", "gbs", "speedup",
           "peak_bytes", "count", "message", "aten_ops", "err_tol", "err_eps", "chose", "alloc"]


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
            "chose": fig.get("autotuner_chose"), "alloc": fig.get("alloc"),
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
    frame.loc[frame["status"] != "ok", ["speedup"]] = None  # only a verified, believed time ranks
    return frame[COLUMNS].reset_index(drop=True)


def timing_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases as rows, implementations as columns: 'median ms (speedup x)' or the status."""
    def cell(row) -> str:
        if row["status"] == "nonconforming":  # timed, shown, never ranked
            return f"{row['median_s'] * 1e3:.3g} ms (does not conform)"
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


def best_configurations(frame: pd.DataFrame) -> pd.DataFrame:
    """Per implementation timed as configurations (`impl[k=v,...]`) and per case: the fastest
    configuration whose time is believed (verified, conforming), its median, and how much
    slower the slowest such configuration is. Configurations that failed are never ranked.
    Where the implementation was also timed as its users call it, its autotuner choosing: the
    configuration it chose, and that time over the best one (or why it is not ranked)."""
    from harness.plugins.configs import split
    names = ["op", "pass", "device", "dtype", "case", "implementation", "best configuration",
             "median ms", "slowest / best", "configurations ranked", "autotuner's choice",
             "its time / best"]
    if frame.empty:
        return pd.DataFrame(columns=names)
    base = frame["impl"].map(lambda name: split(name)[0])
    ranked = frame[(base != frame["impl"]) & (frame["status"] == "ok")].assign(base=base)
    keys = ["op", "pass", "device", "dtype", "case", "base"]
    shipped = {tuple(row[k] for k in keys[:-1]) + (row["impl"],): row
               for _, row in frame[frame["impl"].isin(set(ranked["base"]))].iterrows()}
    rows = []
    for key, group in ranked.groupby(keys, sort=False):
        best = group.loc[group["median_s"].idxmin()]
        rows.append([*key, best["impl"][len(key[-1]):], best["median_s"] * 1e3,
                     group["median_s"].max() / best["median_s"], len(group),
                     *_choice(shipped.get(key), best["median_s"])])
    return pd.DataFrame(rows, columns=names)


def _choice(row, best_s: float) -> tuple:
    """(the configuration the autotuner chose, its time over the best one's, or its status)
    of a row timed with the autotuner choosing; ('', '') where there is none."""
    if row is None:
        return "", ""
    picked = row["chose"] if isinstance(row["chose"], str) else "(none launched)"
    if row["status"] != "ok":
        return picked, row["status"].replace("nonconforming", "does not conform")
    return picked, f"{row['median_s'] / best_s:.3g}"
