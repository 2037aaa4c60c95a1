"""timing.allocator: each state is set in the timing process and described; warm keeps what
was freed (no page is mapped again), as-is leaves glibc as it is."""
import subprocess
import sys

import pytest

from harness.timing import allocator

# 64 MiB, past glibc's largest moving threshold (32 MiB): as glibc is, every such block is
# mapped when allocated and given back when freed, so each touch of its pages faults; warm
# reuses the same pages. Counted in a new process (mallopt settings last for the process).
LOOP = """
import ctypes, resource, sys
from harness.timing.allocator import use
print(use(sys.argv[1])["settings"])
libc, size = ctypes.CDLL(None), 64 * 2**20
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def once():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    once()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""
PAGES = 64 * 2**20 // 4096


def _faults(alloc: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", LOOP, alloc], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split("\n")
    return out[0], float(out[1])


@pytest.mark.skipif(not allocator.malloc_library().startswith("glibc"), reason="needs glibc")
def test_warm_maps_no_page_again_and_as_is_maps_each_block_afresh():
    settings, faults = _faults("warm")
    assert settings == "{'mmap_max': 0, 'trim_threshold': 2147483647}" and faults < PAGES / 100
    settings, faults = _faults("as-is")
    assert settings == "{}" and faults > PAGES / 2  # huge pages would fault less: wide margin


def test_a_state_is_described_with_the_malloc_found():
    for alloc in allocator.ALLOCS:
        text = allocator.described(alloc)
        assert text.startswith(f"{alloc}: ") and f"malloc: {allocator.malloc_library()}" in text
    with pytest.raises(ValueError, match="alloc='cold', but should be one of warm, as-is"):
        allocator.use("cold")
