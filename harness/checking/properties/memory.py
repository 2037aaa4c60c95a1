"""Memory: repeated calls do not keep growing the process (or the CUDA allocator)."""
from __future__ import annotations

from harness.checking.call import PropertyFailed, call
from harness.ops.cases import Case

MEMORY_CALLS = 40


def prop_memory(impl, case) -> None:
    """Memory does not keep growing across repeated calls (a leak): in the kernel's process,
    where it runs in one (its resident set, read from outside)."""
    from harness.checking.held import LEAK_BYTES, grown_by, held_bytes, older_objects_frozen
    from harness.checking.properties.integrity import remote_of
    remote = remote_of(impl)
    measure = remote.held if remote else held_bytes
    input_shape, weight_shape, kwargs = case.spec.memory_call
    case = Case(case.op, input_shape, weight_shape, kwargs=dict(kwargs), device=case.device,
                dtype=case.dtype)
    tensors = case.tensors()
    with older_objects_frozen():  # the collections below scan only what the calls made
        for _ in range(5):  # warm the allocators
            call(impl, case, tensors)
        before = measure(case.device, collect=True)
        for _ in range(MEMORY_CALLS):
            call(impl, case, tensors)
        growth = grown_by(before, case.device, measure)
    if growth > LEAK_BYTES:
        raise PropertyFailed(f"memory grew by {growth / 2**20:.0f} MiB over {MEMORY_CALLS} calls, "
                             f"but should stay within {LEAK_BYTES / 2**20:.0f} MiB "
                             f"[{case.call_text()}]")
