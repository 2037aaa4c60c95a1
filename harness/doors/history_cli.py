"""The history verbs of the convharness command: every check, bench and run kept in the results
store (`keep`), `history` (import run directories; write the trend page) and `gate` (the latest
run against a baseline, for CI)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from harness.records.errors import StoreError, UsageError

DEFAULT = "default"  # --store not given: history.db beside the run directories
STORE_HELP = ("results store: a file path or a database URL (postgresql+psycopg://...); "
              "default reports/history.db")


def add_store_options(add) -> None:
    """--store, --no-store and --revision for check, bench and run."""
    add("--store", default=DEFAULT, help=STORE_HELP.replace(
        "default reports/history.db", "default history.db beside the run directories"))
    add("--no-store", dest="store", action="store_const", const=None,
        help="keep this run out of the results store")
    add("--revision", help="the source revision to record for every implementation (default: "
        "the git commit of each one's module, marked * when the tree differs)")


def add_parsers(verbs) -> None:
    p = verbs.add_parser("history", help="write the trend page of the results store; "
                         "`history import RUN...` adds run directories to it")
    p.add_argument("--store", default="reports/history.db", help=STORE_HELP)
    actions = p.add_subparsers(dest="action")
    i = actions.add_parser("import", help="add run directories (a run already there is not "
                           "added twice)")
    i.add_argument("runs", nargs="+", help="run directories")
    i.add_argument("--store", default="reports/history.db", help=STORE_HELP)
    for flag, text in (("--impl", "only this implementation (repeatable)"),):
        p.add_argument(flag, action="append", default=[], help=text)
    p.add_argument("--op", help="only this op")
    p.add_argument("--suite", help="only this suite's cases")
    p.add_argument("--case", help="only cases whose label contains this text")
    p.add_argument("--since", help="only runs from this date on (YYYY-MM-DD or ISO time)")
    p.add_argument("--out", default="reports/history", help="where the trend page goes")
    p = verbs.add_parser("gate", help="the latest stored run against a baseline: exit 1 on a "
                         "significant slowdown or a new failure; writes gate.md")
    p.add_argument("--store", default="reports/history.db", help=STORE_HELP)
    p.add_argument("--baseline", help="REV (a commit prefix or --revision name), "
                   "latest-on-BRANCH, or a run's name (default: the run before the latest)")
    p.add_argument("--factor", type=float, default=1.05,
                   help="slowdown that fails, when significant (default 1.05)")
    p.add_argument("--any-machine", action="store_true",
                   help="compare with a baseline measured on another machine")
    p.add_argument("--impl", action="append", default=[], help="only this implementation")
    p.add_argument("--run", help="gate this stored run (a name or id; default: the latest)")
    p.add_argument("--out", default="gate.md", help="where the markdown summary goes")


def store_spec(store, run_dir) -> str | None:
    if store != DEFAULT:
        return store
    from harness.history.store import default_store
    return str(default_store(Path(run_dir).parent))


def keep(run_dir, store, out=print) -> int:
    """Add a finished run to the results store: 0, or 2 (said on stderr) where the store
    failed; the run directory holds its records either way."""
    spec = store_spec(store, run_dir)
    if spec is None:
        return 0
    from harness.history.imported import import_run
    from harness.history.store import Store, shown
    try:
        with Store.open(spec) as opened:
            done = import_run(opened, run_dir)
    except StoreError as exc:
        print(f"convharness: error: {exc}. This run's records are in {run_dir}; add them "
              f"later with: convharness history import {run_dir} --store {shown(spec)}",
              file=sys.stderr)
        return 2
    out(f"history: {done.added} record(s) kept in {shown(spec)}")
    return 0


def _since(text: str | None) -> float | None:
    if not text:
        return None
    for form in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return time.mktime(time.strptime(text, form))
        except ValueError:
            continue
    raise UsageError(f"--since={text!r}, but should be a date (YYYY-MM-DD) or a time "
                     f"(YYYY-MM-DDTHH:MM:SS)")


def history(*, store, action=None, runs=(), impl=(), op=None, suite=None, case=None,
            since=None, out="reports/history", echo=print) -> int:
    """`history import RUN...`: add run directories; otherwise write the trend page."""
    from harness.history.store import Store
    if action == "import":
        return _import(runs, store, echo)
    from harness.history.store import results, shown
    from harness.history.trends import trends, write_page
    with Store.open(store, create=False) as opened:
        frame = results(opened, impls=impl, op=op, since=_since(since))
    found = trends(frame, suite=suite, case=case)
    said = " ".join(f"{k}={v}" for k, v in (("impl", ",".join(impl)), ("op", op),
                    ("suite", suite), ("case", case), ("since", since)) if v)
    count = frame["run"].nunique() if len(frame) else 0
    page = write_page(found, out, f"store {shown(store)}; {count} run(s); "
                                  f"{said or 'every implementation and case'}")
    echo(f"{len(found)} trend(s), {sum(bool(t.steps) for t in found)} with a step; "
         f"trends: {page}")
    return 0


def _import(paths, store, echo) -> int:
    from harness.history.imported import import_run
    from harness.history.store import Store
    with Store.open(store) as opened:
        for path in paths:
            done = import_run(opened, path)
            echo(f"{done.name}: {done.added} record(s) added" +
                 (f", {done.known} already there" if done.known else ""))
    return 0


def gate(*, store, baseline, factor, any_machine, impl, out, run=None, echo=print) -> int:
    """0 when nothing is significantly slower beyond `factor` and nothing newly fails."""
    from harness.history import gate as gates
    from harness.history.store import Store
    with Store.open(store, create=False) as opened:
        result = gates.gate(opened, baseline=baseline, factor=factor, impls=impl,
                            any_machine=any_machine, run=run)
    path = gates.write_markdown(result, factor, out)
    echo(gates.markdown(result, factor))
    echo(f"gate {'passed' if result.passed else 'FAILED'}; summary: {path}")
    return 0 if result.passed else 1
