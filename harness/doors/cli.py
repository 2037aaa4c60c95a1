"""The convharness command: each verb is a plain function; argparse only maps flags onto it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from harness.doors import history_cli
from harness.doors import options as opt
from harness.execution.executors import sandbox_of
from harness.history.revisions import note_revisions
from harness.ops.catalog import UnknownOp
from harness.ops.families import family_order
from harness.plugins.registry import ImplementationError, discover, expand
from harness.records.errors import StoreError
from harness.records.record import NoRecords, RecordWriter, new_run_dir, read_records
from harness.timing.allocator import described
from harness.timing.machine import add_nodes, note_in_run, write_environment
from harness.timing.suites import SuiteError

ABOUT = """\
Conformance and benchmark harness for convolution and pooling kernels in PyTorch: checks an
implementation of any of the 18 conv and pool functionals of torch.nn.functional against a
float64 oracle (hypothesis draws the cases and shrinks a failure to a minimal one), times it
beside PyTorch on the layers of real networks, and writes a report.

start here:
  convharness run                                   check, time and report the built-ins
  convharness check --impl mypkg.kernels:my_conv --op conv2d
                                                    your own kernel (any module:attr)
  tox                                               the harness's own tests (from a clone)

Each run writes reports/<time>-<verb>/ (index.html, summary.md, records, CSV, PNG) and adds
its records to reports/history.db; `convharness VERB --help` for a verb's options."""

USAGE_ERRORS = (opt.UsageError, ImplementationError, UnknownOp, NoRecords, SuiteError,
                StoreError)


def list_impls(out=print) -> int:
    """Print every registered implementation with what it declares, then the suites."""
    impls = [v for impl in discover().values() for v in expand(impl)]
    width = max(len(i.name) for i in impls)
    out(f"{'name':<{width}}  {'op':<20} {'devices':<9} {'differentiable':<14} dtypes")
    for impl in sorted(impls, key=lambda i: (family_order(i.op), i.name)):
        diff = {True: "yes", False: "no", None: "unknown"}[impl.differentiable]
        out(f"{impl.name:<{width}}  {impl.op:<20} {','.join(impl.devices):<9} {diff:<14} "
            f"{','.join(impl.dtypes)}")
    from harness.timing.suites import names
    out(f"\nsuites: {', '.join(names())} (or a CSV path)")
    return 0


class Progress:
    """A run's progress callback (tasks.run_tasks): a line per record, `[#####.....] 12/40,
    1m05s left` then what the record says; the ETA from the mean time per step so far."""

    def __init__(self, out, describe):
        self.out, self.describe, self.start = out, describe, time.monotonic()

    def __call__(self, step: int, total: int, record) -> None:
        self.out(f"{self.line(step, total)} {self.describe(record)}")

    def line(self, step: int, total: int, width: int = 20) -> str:
        filled = int(width * step / max(total, 1))
        left = (time.monotonic() - self.start) / max(step, 1) * (total - step)
        eta = f"{int(left // 60)}m{int(left % 60):02d}s left" if step < total else "done"
        return f"[{'#' * filled}{'.' * (width - filled)}] {step}/{total}, {eta}"


def _executor(v: dict, out, threads: int = 1):
    """Where a bench's tasks run: a Ray cluster, worker processes, or this process."""
    from harness.execution.executors import executor_for
    return executor_for(cluster=v["cluster"], isolate=opt.wants_isolation(v["isolate"], v["impl"]),
                        timeout=v["timeout"], memory_limit=v["memory_limit"], log=out,
                        threads=threads)


def planned(verb: str, raw: dict, options) -> dict:
    """The raw options to run with: as given, or for --resume, the resumed run's own plan
    (plan-<verb>.json, written when the run began)."""
    if not raw.get("resume"):
        return raw
    path = Path(raw["resume"]) / f"plan-{verb}.json"
    if not path.is_file():
        if not Path(raw["resume"]).is_dir():
            raise NoRecords(f"--resume={raw['resume']!r} does not exist (expected a run "
                            f"directory)")
        return raw  # a run from before plans were saved: the options given now
    return opt.resumed(raw, json.loads(path.read_text()), options)


def _save_plan(run_dir: Path, verb: str, raw: dict) -> None:
    path = run_dir / f"plan-{verb}.json"
    if not path.exists():
        keep = {k: v for k, v in raw.items() if k not in opt.HOW}
        path.write_text(json.dumps(keep, indent=2, sort_keys=True))


@contextlib.contextmanager
def open_run(verb: str, resume, executor, out_root, run_dir):
    """(run directory, keys already done, record writer) for a check or a bench; run.json gets
    this machine's environment and, on a cluster, every node's; the executor is closed after."""
    try:
        run_dir, done = _run_dir(resume, run_dir, out_root, verb)
        write_environment(run_dir)
        note_in_run(run_dir, sandbox=sandbox_of(executor))
        with RecordWriter(run_dir / "records.jsonl") as writer:
            yield run_dir, done, writer
        add_nodes(run_dir, executor.environments())
    finally:
        executor.close()


def check(*, out_root="reports", run_dir=None, out=print, store=history_cli.DEFAULT,
          revision=None, reported=True, ledger=None, **raw) -> int:
    """Run the conformance properties; print the matrix and each failure, write the report
    (unless not `reported`: the caller writes it later), keep the run in the results store;
    0 all conform, 1 something failed, 2 the store failed, 3 the harness itself failed.
    `ledger` (tasks.Ledger) keeps each implementation's time against --budget across verbs."""
    from harness.checking.driver import run_seed
    from harness.execution.tasks import Ledger
    from harness.execution.executors import executor_for
    from harness.execution.runs import run_checks as run_check
    from harness.reports.summary import format_check
    raw = planned("check", raw, opt.CHECK_OPTIONS)
    plan = opt.check_plan(raw)
    plan = replace(plan, options=run_seed(plan.options))
    raw = {**raw, "seed": plan.options.seed}  # a resumed run draws with the same seed
    executor = executor_for(cluster=plan.cluster, isolate=plan.isolate, timeout=plan.timeout,
                            memory_limit=plan.memory_limit, log=out, jobs=plan.jobs)
    with open_run("check", plan.resume, executor, out_root, run_dir) as (run_dir, done, writer):
        _save_plan(run_dir, "check", raw)
        note_revisions(run_dir, plan.impls, revision)
        seeded = "" if plan.options.seed is None else f", seed {plan.options.seed}"
        out(f"checking {len(plan.impls)} implementation(s), profile {plan.options.profile}"
            f"{seeded}, devices {','.join(plan.options.devices)}, {max(plan.jobs, 1)} at once "
            f"-> {run_dir} [{sandbox_of(executor).split(':')[0]}]")
        progress = Progress(out, lambda r: f"{r.impl:<32} {r.prop:<18} {r.status}")
        run_check(plan.impls, plan.options, writer.write, done=done, executor=executor,
                  shard=plan.shard, progress=progress, ledger=ledger or Ledger(plan.budget_s))
    records = [r for r in read_records(run_dir) if r.kind == "check"]
    out("\n" + format_check(records))
    if reported:
        report(run_dir, out=out)
    kept = history_cli.keep(run_dir, store, out)
    return check_exit_code(records) or kept


def check_exit_code(records) -> int:
    """0 all conform, 1 an implementation failed something, 3 the harness itself failed."""
    from harness.records.statuses import exit_code
    return exit_code(r.status for r in records)


def _live_line(record) -> str:
    if record.status != "ok":
        return f"{record.status}: {record.message[:80]}"
    gflops = record.figures["flops"] / record.median / 1e9
    return f"{record.median * 1e3:9.3f} ms {gflops:8.2f} GFLOP/s"


def bench(*, out_root="reports", run_dir=None, out=print, revision=None, ledger=None,
          only=None, **raw) -> Path:
    """Time implementations over suites; append records as measured; return the run directory.
    `only`: the names of the selected implementations to time (None: all)."""
    from harness.execution.runs import run_bench
    from harness.execution.tasks import Ledger
    from harness.timing.bench import nonconforming, plan_bench
    raw = planned("bench", raw, opt.BENCH_OPTIONS)
    v = opt.values(raw, opt.BENCH_OPTIONS)
    impls, cases, options = plan_bench(v, opt.selector(v["isolate"], v["impl"]))
    impls = impls if only is None else [i for i in impls if i.name in only]
    executor = _executor(v, out, options.threads)
    with open_run("bench", v["resume"], executor, out_root, run_dir) as (run_dir, done, writer):
        _save_plan(run_dir, "bench", raw)
        note_revisions(run_dir, impls, revision)
        note_in_run(run_dir, allocator=described(options.alloc))
        checked = Path(run_dir) / "records.jsonl"
        if checked.exists() and checked.stat().st_size:  # a run's check: one verdict for both
            options = replace(options, nonconforming=nonconforming(read_records(run_dir)))
        out(f"timing {len(impls)} implementation(s) on {len(cases)} case(s), "
            f"{','.join(options.devices)}, {options.dtype}, {options.threads} thread(s) -> "
            f"{run_dir} [{sandbox_of(executor).split(':')[0]}]")

        progress = Progress(out, lambda r: f"{r.impl:<28} {r.figures['label']:<34} "
                                           f"{r.prop:<8} {_live_line(r)}")
        run_bench(impls, cases, options, writer.write, done=done, executor=executor,
                  shard=v["shard"], progress=progress, ledger=ledger or Ledger(v["budget_s"]))
    return run_dir


def _run_dir(resume, run_dir, out_root, verb) -> tuple[Path, frozenset]:
    if resume:
        path = Path(resume)
        if not path.is_dir():
            raise NoRecords(f"--resume={resume!r} does not exist (expected a run directory)")
        done = frozenset(r.key() for r in read_records(path)) if (
            path / "records.jsonl").exists() else frozenset()
        return path, done
    return (Path(run_dir) if run_dir else new_run_dir(out_root, verb)), frozenset()


def merge(runs, *, out_root="reports", out=print) -> int:
    """Join run directories (shards, clusters) into a new one; refuse duplicate keys."""
    from harness.reports.merge import merge_runs
    missing = [r for r in runs if not Path(r).is_dir()]
    if missing:
        raise NoRecords(f"merge: {missing[0]!r} is not a run directory")
    run_dir = merge_runs([Path(r) for r in runs], out_root, new_run_dir)
    out(f"merged {len(runs)} run(s) -> {run_dir}")
    report(run_dir, out=out)
    return 0


def report(run_dir, out=print) -> Path:
    from harness.reports.report import write_report
    index = write_report(run_dir)
    out(f"report: {index}")
    return index


def compare(base, new, *, factor=1.1, out=print) -> int:
    """Print and write the comparison; 1 when a significant slowdown exceeds `factor`."""
    from harness.reports.compare import compare as compare_runs
    from harness.reports.compare import regressions
    if factor < 1:
        raise opt.UsageError(f"--factor={factor}, but should be >= 1")
    table = compare_runs(base, new)
    if table["ratio"].isna().all():
        raise NoRecords(f"runs {str(base)!r} and {str(new)!r} share no successful measurement")
    out(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    path = Path(new) / f"compare-{Path(base).name}.csv"
    table.to_csv(path, index=False)
    slow = regressions(table, factor)
    out(f"\n{len(slow)} significant slowdown(s) beyond {factor}x; table: {path}")
    return 1 if len(slow) else 0


# The main job's quick benchmark: real layers of every family, in one, two and three dimensions;
# of a suite of one op its smallest, middle and largest layer (bench --quick takes five).
RUN_SUITES = ("resnet50", "pools", "speech_conv1d", "ssm_conv1d", "video3d", "decoders")
RUN_QUICK = 3


def run_all(*, out_root="reports", out=print, store=history_cli.DEFAULT, revision=None,
            **raw) -> int:
    """The main job: conformance check, quick benchmark and report, kept in the results store;
    of the built-ins, or of the implementations --impl names (a pool of candidates: those
    that conform are timed beside PyTorch's own op, and ranked in the leaderboard)."""
    import torch

    from harness.execution.tasks import Ledger
    v = opt.values(raw, opt.RUN_OPTIONS)
    device = v["device"] if raw.get("device") else (
        ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",))
    run_dir = new_run_dir(out_root, "run")
    ledger = Ledger(v["budget_s"])  # one budget per candidate for its checks and timings
    shared = dict(device=list(device), timeout=v["timeout"], memory_limit=raw.get("memory_limit"),
                  run_dir=run_dir, out=out, revision=revision, ledger=ledger, budget_s=v["budget_s"])
    failed = check(impl=v["impl"], op=v["op"], properties=raw.get("properties"), seed=v["seed"],
                   profile=raw.get("profile"), jobs=raw.get("jobs", "auto"), store=None,
                   reported=False, **shared)  # one report, of both, at the end
    timed = _to_time(run_dir, v["impl"])
    if timed != set():
        quick = v["quick"] if v["suite"] else RUN_QUICK
        baselines = sorted({n for n in timed or () if n.startswith("reference.")})
        bench(impl=v["impl"] and v["impl"] + baselines, only=timed, op=v["op"],
              suite=v["suite"] or list(RUN_SUITES), batch=v["batch"], quick=quick,
              threads=v["threads"], **shared)
    report(run_dir, out=out)
    if v["impl"]:
        out("")
        leaderboard(run_dir, out)
    kept = history_cli.keep(run_dir, store, out)
    return failed or kept


def _to_time(run_dir: Path, named) -> set | None:
    """The names of what `run` times after its check: every built-in (None), or of the
    implementations named, those that conform, beside PyTorch's own op (reference.<op>) of
    each of their ops."""
    from harness.records.statuses import PASSING
    if not named:
        return None
    records = [r for r in read_records(run_dir) if r.kind == "check"]
    failed = {r.impl for r in records if r.status not in PASSING}
    ok = {r.impl for r in records if r.impl not in failed}
    return ok | {f"reference.{r.op}" for r in records if r.impl in ok} if ok else set()


def _bench_verb(**kwargs) -> int:
    """0 when every measurement is believed (or skipped, unsupported), 1 when one is wrong,
    suspect or failed: the statuses the records hold."""
    from harness.records.statuses import exit_code
    store = kwargs.pop("store", history_cli.DEFAULT)
    run_dir = bench(**kwargs)
    report(run_dir)
    code = exit_code(r.status for r in read_records(run_dir) if r.kind == "bench")
    kept = history_cli.keep(run_dir, store)
    return code or kept


def _report_verb(run_dir) -> int:
    report(run_dir)
    return 0


def leaderboard(run_dir, out=print) -> int:
    """Print a run's leaderboard again (from its records)."""
    from harness.reports.leaderboard import board, format_board
    out(format_board(board(read_records(run_dir))))
    return 0


VERBS = {"leaderboard": leaderboard, "list": list_impls, "check": check, "bench": _bench_verb, "report": _report_verb,
         "compare": compare, "merge": merge, "run": run_all, "history": history_cli.history,
         "gate": history_cli.gate}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convharness", description=ABOUT,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="list registered implementations and suites")
    for name, options, text in (("check", opt.CHECK_OPTIONS, "run the conformance properties"),
                                ("bench", opt.BENCH_OPTIONS, "time implementations over suites")):
        p = verbs.add_parser(name, help=text)
        opt.add_options(p.add_argument, options)
        p.add_argument("--out", default="reports", dest="out_root",
                       help="where run directories go")
        history_cli.add_store_options(p.add_argument)
    p = verbs.add_parser("report", help="write the report of a run directory")
    p.add_argument("run_dir")
    p = verbs.add_parser("compare", help="compare two runs; exit 1 on a significant slowdown")
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--factor", type=float, default=1.1, help="slowdown that fails (default 1.1)")
    p = verbs.add_parser("merge", help="join run directories (shards) into one; refuse "
                         "duplicate or conflicting records")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", default="reports", dest="out_root", help="where run directories go")
    p = verbs.add_parser("run", help="check + quick bench + report: of the built-ins, or of "
                         "your implementations (--impl, a pool of candidates) beside PyTorch")
    opt.add_options(p.add_argument, opt.RUN_OPTIONS)
    p.add_argument("--out", default="reports", dest="out_root", help="where run directories go")
    history_cli.add_store_options(p.add_argument)
    p = verbs.add_parser("leaderboard", help="print the leaderboard of a run directory")
    p.add_argument("run_dir")
    history_cli.add_parsers(verbs)
    return parser


def main(argv=None) -> int:
    args = vars(_parser().parse_args(argv))
    verb = VERBS[args.pop("verb")]
    try:
        return verb(**args)
    except USAGE_ERRORS as exc:
        print(f"convharness: error: {exc}", file=sys.stderr)
        return 2
