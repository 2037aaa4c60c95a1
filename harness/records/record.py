"""Record: one measured fact (a property verdict or a timing), appended to records.jsonl as it happens."""
from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


def check_key(impl: str, op: str, prop: str) -> str:
    """The key of a property verdict: one per property, whatever case it ended on."""
    return "|".join(["check", impl, op, prop])


@dataclass(frozen=True)
class Record:
    """Raw data only; medians and the like are derived here lazily or in the report."""

    kind: str  # "check" or "bench"
    impl: str
    op: str
    prop: str  # check: the property; bench: the pass (forward, backward, both)
    status: str
    message: str = ""
    case: dict | None = None
    device: str = ""
    dtype: str = ""
    counts: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    times: tuple = ()  # seconds per call, one per sample
    repro: str = ""
    host: str = ""  # where it was measured
    device_name: str = ""  # the model of the device: a GPU's name, a CPU's
    notes: tuple = ()  # warnings and log notices the implementation raised while measured

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None

    @property
    def iqr(self) -> float | None:
        if len(self.times) < 2:
            return 0.0 if self.times else None
        q = statistics.quantiles(self.times, n=4)
        return q[2] - q[0]

    def key(self) -> str:
        """What identifies the measurement, so a resumed run can skip it."""
        if self.kind == "check":
            return check_key(self.impl, self.op, self.prop)
        if self.kind == "peak":  # a property of the machine it was measured on
            return "|".join([self.kind, self.prop, self.device, self.dtype, self.host])
        fields_ = {k: v for k, v in (self.case or {}).items() if k != "label"}
        case = json.dumps(fields_, sort_keys=True) if self.kind == "bench" else ""
        return "|".join([self.kind, self.impl, self.op, self.prop, self.device, self.dtype, case])

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=repr)

    @classmethod
    def from_dict(cls, data: dict) -> "Record":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["times"] = tuple(data.get("times", ()))
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)


def peak_rates(records) -> dict:
    """{device: {"gflops": measured matmul peak, "gbs": measured copy bandwidth}}."""
    out: dict = {}
    for r in records:
        if r.kind == "peak" and r.times:
            unit, key = ("flops", "gflops") if r.prop == "matmul" else ("bytes", "gbs")
            roof = out.setdefault(r.device, {})
            roof[key] = max(r.figures[unit] / r.median / 1e9, roof.get(key, 0.0))
    return out


class RecordWriter:
    """Appends one JSON line per record and flushes it, so a killed run keeps every full line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file() and self.path.stat().st_size:
            _drop_torn_line(self.path)  # a killed run left half a line: it holds no record
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: Record) -> Record:
        self._file.write(record.to_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        return record

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _drop_torn_line(path: Path) -> None:
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class NoRecords(ValueError):
    """A run directory that does not exist or holds no records."""


def read_records(path) -> list[Record]:
    """Every complete line of a records file (a run dir or the file); a torn last line is skipped."""
    path = Path(path)
    if path.is_dir():
        path = path / "records.jsonl"
    if not path.is_file():
        raise NoRecords(f"run={str(path.parent if path.name == 'records.jsonl' else path)!r} has no "
                        f"records.jsonl (expected a directory written by convharness)")
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            records.append(Record.from_dict(json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            if number == len(lines):
                continue  # the last line, cut short by a kill
            raise NoRecords(f"{path}:{number}: not a record ({type(exc).__name__}: {exc}); only "
                            f"a torn last line is skipped, this file is damaged") from None
    if not records:
        raise NoRecords(f"run={str(path)!r} holds no records")
    return records


def new_run_dir(root, verb: str) -> Path:
    """A fresh directory reports/<time>-<verb>[-n]: two runs never share one by accident."""
    import time
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = root / (f"{stamp}-{verb}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run directory under {root}")
