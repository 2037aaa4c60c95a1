"""convharness: conformance and benchmarks for convolution and pooling implementations.

One package per stage; imports run one way, from the doors down (tests/unit/test_imports.py):

    doors       the command line and the pytest plugin (options shared by both)
    reports     records -> pandas frames, figures, summary.md, index.html; compare, merge
    execution   where tasks run: this process, worker processes, parallel lanes, a Ray cluster
    timing      benchmark suites, timers, the verified timed call, machine peaks, bench tasks
    checking    the call path, tolerance, properties, case strategies, the hypothesis driver
    plugins     the registry: @implements, --impl module:attr, entry points
    ops         what an op is: its record, geometry, argument draws, worked examples, Case
    records     what a run writes: Record, statuses, the usage error
"""
from harness import _old_paths

__all__ = ["Implementation", "KnownFailure", "implements"]

LAYERS = ("doors", "history", "reports", "execution", "timing", "checking", "plugins", "ops", "records")
"""The stage packages from the top down; a module may import its own package and those after it."""

_old_paths.install()


def __getattr__(name):
    """`from harness import implements` without importing torch on `import harness` (the
    pytest plugin loads in every pytest session and must stay light)."""
    if name in __all__:
        from harness.plugins import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
