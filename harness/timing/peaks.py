"""The machine's measured peaks (matrix multiply, copy): the roofline of a bench run's report
and the bar above which a timing is not believed. Records of kind "peak"."""
from __future__ import annotations

from harness.records.record import Record
from harness.timing.machine import device_name, host_name
from harness.timing.timers import peak_copy, peak_matmul


def _peak(device: str, name: str, **measured) -> Record:
    return Record(kind="peak", impl="machine", op="", prop=name, status="ok", device=device,
                  dtype="float32", host=host_name(), device_name=device_name(device), **measured)


def peak_key(device: str) -> str:
    return _peak(device, "matmul").key()


def peaks(device: str, threads: int, dtype: str = "float32") -> list[Record]:
    """The machine's measured peaks, for the roofline and the suspect mark: the fastest of a few
    matrix multiplies (in float32 and the timed dtype) and of copies of a few sizes."""
    out = []
    for name, (times, work) in (("matmul", peak_matmul(device, threads=threads, dtype=dtype)),
                                ("copy", peak_copy(device, threads=threads))):
        unit = "flops" if name == "matmul" else "bytes"
        out.append(_peak(device, name, figures={unit: work}, times=tuple(times)))
    return out
