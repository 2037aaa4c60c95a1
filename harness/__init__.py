"""convharness: conformance and benchmarks for 2-D convolution and pooling implementations."""
from harness.registry import Implementation, implements

__all__ = ["Implementation", "implements"]
