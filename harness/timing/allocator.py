"""The CPU memory allocator's state while timing: chosen on purpose, set in the timing process.

The same call is several times slower when its output's pages are mapped afresh each time:
glibc gives large freed blocks back to the kernel, and whether it does depends on thresholds it
moves as the process frees memory (so on what ran before). One conv2d of a 1x64x56x56 input with
a 256x64x1x1 weight on 2 threads, in a loop in a new process (benchmarks/allocator_states.py):
2.8 ms and 1,730 page faults a call as glibc is, 0.66 ms and none warm. A run picks one state
for every implementation, and records it.
"""
from __future__ import annotations

import ctypes
import functools
import platform

ALLOCS = ("warm", "as-is")
DEFAULT = "warm"
ABOUT = {
    "warm": "freed memory stays in the process, so no call pays for pages the one before gave "
            "back, whatever ran before (glibc: no mmap'd blocks, no trimming)",
    "as-is": "the allocator as the process has it: glibc's defaults, whose thresholds move with "
             "what the process freed, or a malloc preloaded with LD_PRELOAD",
}
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
KEEP = 2**31 - 1  # bytes of free memory at the heap's top kept before trimming: all of it
SETTINGS = {  # the mallopt calls of each state, on glibc. Warm does not depend on what the
    # process freed before: no block is ever mapped on its own, and nothing freed is trimmed
    # (glibc moves no threshold that was set). As-is does: glibc raises its thresholds as large
    # blocks are freed, so a process that freed a large block maps the next ones less often.
    "warm": {"mmap_max": (M_MMAP_MAX, 0), "trim_threshold": (M_TRIM_THRESHOLD, KEEP)},
    "as-is": {},
}
PRELOADABLE = ("jemalloc", "tcmalloc", "mimalloc")


@functools.lru_cache(maxsize=1)
def malloc_library() -> str:
    """Which malloc this process uses: a preloaded one found in its mappings, else glibc's
    (with its version) or the C library's name."""
    try:
        with open("/proc/self/maps") as maps:
            text = maps.read()
    except OSError:
        text = ""
    for name in PRELOADABLE:
        if f"lib{name}" in text:
            return name
    lib, version = platform.libc_ver()
    return f"{lib} {version}".strip() if lib else "unknown"


def use(alloc: str) -> dict:
    """Put this process's allocator in state `alloc` (one of ALLOCS) and describe it: the
    state, the malloc found, and the settings made ({} where none were made: as-is, or a malloc
    that is not glibc's, which keeps its own state)."""
    if alloc not in ALLOCS:
        raise ValueError(f"alloc={alloc!r}, but should be one of {', '.join(ALLOCS)}")
    found, settings = malloc_library(), {}
    if found.startswith("glibc"):
        libc = ctypes.CDLL(None)
        for name, (param, value) in SETTINGS[alloc].items():
            if libc.mallopt(param, value) == 1:
                settings[name] = value
    return {"alloc": alloc, "malloc": found, "settings": settings}


def described(alloc: str) -> str:
    """One line for run.json and reports: `alloc` with what it means and the malloc here."""
    return f"{alloc}: {ABOUT[alloc]}; malloc: {malloc_library()}"
