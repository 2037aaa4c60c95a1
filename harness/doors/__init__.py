"""The two doors: `cli` (the `convharness` command: run, check, bench, report, compare, merge,
list; `history_cli` its history and gate verbs) and `pytest_plugin` with `pytest_session`
(the pytest door: `pytest --pyargs harness.conformance`, the plugin that loads in every pytest
session of the environment). `options` defines each option once for both. The top layer: it
may import every stage."""
