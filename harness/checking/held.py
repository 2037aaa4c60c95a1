"""Memory a process holds, seen every way it can be: its resident set (/proc), the bytes malloc has
handed out (glibc's mallinfo2), CUDA's allocated bytes; and the machine's RAM. The memory
property, the bench's leak check, the worker's memory limit and the store of the oracle's
answers all read it here."""
from __future__ import annotations

import contextlib
import functools
import gc
import os

import torch


def resident(pid: int) -> int:
    """Bytes of the process's resident set; 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def machine_memory() -> int:
    """Total RAM in bytes (from /proc/meminfo; 8 GiB where that cannot be read)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


LEAK_BYTES = 64 * 2**20  # memory growth across repeated calls beyond this is flagged


@contextlib.contextmanager
def older_objects_frozen():
    """Within: every object older than the block is frozen (gc.freeze), so that a collection
    scans only the objects made since. A full collection takes 60 ms or more with torch
    loaded; garbage among the older objects stays as it is (neither freed nor grown) until the
    block ends and they are unfrozen. A process that froze objects of its own is left alone."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def held_bytes(device: str, collect: bool = False) -> tuple[int, ...]:
    """Memory held now, each way it can be seen: CUDA bytes allocated; on the CPU, this
    process's resident set (freed heap pages given back first) and the bytes malloc has handed
    out (glibc's mallinfo2), which a leak grows even where it reuses pages already resident.
    `collect`: after a garbage collection (cheap within older_objects_frozen)."""
    if collect:
        gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        return (torch.cuda.memory_allocated(),)
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    return (resident(os.getpid()), *_malloc_in_use(libc))


def grown_by(before: tuple[int, ...], device: str, measure=None) -> int:
    """The largest growth any measure of held_bytes sees since `before`; where that passes
    LEAK_BYTES, measured again after a garbage collection: garbage not yet collected is no
    leak. Measure within older_objects_frozen: that collection must not free garbage older
    than `before`, which would hide as much growth. `measure`: held_bytes, or another
    process's."""
    measure = measure or held_bytes
    growth = max(a - b for a, b in zip(measure(device), before))
    if growth > LEAK_BYTES:
        growth = max(a - b for a, b in zip(measure(device, collect=True), before))
    return growth


@functools.lru_cache(maxsize=1)
def _libc():
    import ctypes
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def _mallinfo2(libc):
    """libc's mallinfo2 with its result type declared once, or None where libc lacks it."""
    import ctypes
    if libc is None or not hasattr(libc, "mallinfo2"):
        return None

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost")]
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2


def _malloc_in_use(libc) -> tuple[int, ...]:
    """Bytes in use through malloc (heap chunks plus mmapped ones), or () without mallinfo2."""
    mallinfo2 = _mallinfo2(libc)
    if mallinfo2 is None:
        return ()
    info = mallinfo2()
    return (info.uordblks + info.hblkhd,)
