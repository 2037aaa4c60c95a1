"""convharness: conformance and benchmarks for 2-D convolution and pooling implementations."""

__all__ = ["Implementation", "implements"]


def __getattr__(name):
    """`from harness import implements` without importing torch on `import harness` (the
    pytest plugin loads in every pytest session and must stay light)."""
    if name in __all__:
        from harness import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
