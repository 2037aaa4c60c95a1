"""From records to what a person reads: `frames` (pandas frames of a run's records), `summary`
(the conformance matrix, failures, summary.md), `figures` (matplotlib PNG and SVG),
`html_report` and `report` (the offline index.html and the files beside it), `compare` (two
runs) and `merge` (shards into one run). Reads records only, never runs a kernel; it may
import every stage below it, and today needs only `ops` and `records`."""
