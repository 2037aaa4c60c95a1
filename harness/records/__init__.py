"""What a run writes and every stage may read: `record` (the frozen Record, records.jsonl, run
directories), `statuses` (the one table of statuses and their marks), `errors` (the usage error
both doors report). The bottom layer: imports nothing else of the harness (but the shim for
0.1.0 paths)."""
from harness._old_paths import old_names

__getattr__ = old_names("harness.records", "harness.records.record")  # the 0.1.0 module's names
