"""The convharness command: each verb is a plain function; argparse only maps flags onto it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import options as opt
from harness.environment import write_environment
from harness.ops import UnknownOp
from harness.records import NoRecords, RecordWriter, new_run_dir, read_records
from harness.registry import ImplementationError, discover, select
from harness.suites import SuiteError

USAGE_ERRORS = (opt.UsageError, ImplementationError, UnknownOp, NoRecords, SuiteError)


def list_impls(out=print) -> int:
    """Print every registered implementation with what it declares, then the suites."""
    impls = discover().values()
    width = max(len(i.name) for i in impls)
    out(f"{'name':<{width}}  {'op':<20} {'devices':<9} {'differentiable':<14} dtypes")
    for impl in sorted(impls, key=lambda i: (i.op, i.name)):
        diff = {True: "yes", False: "no", None: "unknown"}[impl.differentiable]
        out(f"{impl.name:<{width}}  {impl.op:<20} {','.join(impl.devices):<9} {diff:<14} "
            f"{','.join(impl.dtypes)}")
    from harness.suites import names
    out(f"\nsuites: {', '.join(names())} (or a CSV path)")
    return 0


def check(*, impl=None, op=None, device=None, dtypes=None, forward_only=False, profile=None,
          prop=None, case=None, isolate=None, timeout=60.0, memory_limit=None, resume=None,
          out_root="reports", run_dir=None, out=print) -> int:
    """Run the conformance properties; print the matrix and each failure; 1 if anything failed,
    3 if the harness itself failed."""
    from harness.isolate import WorkerPool
    from harness.run import check as run_check
    from harness.summary import format_check
    options = opt.check_options(device=device, dtypes=dtypes, profile=profile, prop=prop, case=case)
    opt.parse_timeout(timeout)
    memory_limit = opt.parse_memory(memory_limit)
    if options.case and op and op != options.case.op:
        raise opt.UsageError(f"--op={op!r} conflicts with --case, whose op is {options.case.op!r}")
    op = options.case.op if options.case else opt.parse_op(op)
    impls = select(impl or (), op=op, dtypes=opt.parse_dtypes(dtypes), forward_only=forward_only)
    if not impls:
        raise opt.UsageError(f"no implementation of op={op!r} among --impl={impl}")
    timeout = opt.parse_timeout(timeout)
    pool = WorkerPool(timeout, out, memory_limit) if opt.wants_isolation(isolate, impl) else None
    run_dir, done = _run_dir(resume, run_dir, out_root, "check")
    write_environment(run_dir)
    out(f"checking {len(impls)} implementation(s), profile {options.profile}, devices "
        f"{','.join(options.devices)}{', isolated' if pool else ''} -> {run_dir}")
    with RecordWriter(run_dir / "records.jsonl") as writer:
        def sink(record):
            writer.write(record)
            out(f"  {record.impl:<32} {record.prop:<14} {record.status}")
        try:
            run_check(impls, options, sink, done=done, workers=pool)
        finally:
            if pool:
                pool.close()
    records = [r for r in read_records(run_dir) if r.kind == "check"]
    out("\n" + format_check(records))
    out(f"\nrecords: {run_dir / 'records.jsonl'}")
    return check_exit_code(records)


def check_exit_code(records) -> int:
    """0 all conform, 1 an implementation failed something, 3 the harness itself failed."""
    if any(r.status == "harness_error" for r in records):
        return 3
    return 1 if any(r.status not in ("pass", "unsupported", "undefined") for r in records) else 0


def _bar(step: int, total: int, width: int = 20) -> str:
    filled = int(width * step / max(total, 1))
    return f"[{'#' * filled}{'.' * (width - filled)}] {step}/{total}"


def _live_line(record) -> str:
    if record.status != "ok":
        return f"{record.status}: {record.message[:80]}"
    gflops = record.figures["flops"] / record.median / 1e9
    return f"{record.median * 1e3:9.3f} ms {gflops:8.2f} GFLOP/s"


def bench(*, impl=None, op=None, device=None, dtypes=None, forward_only=False, suite=None,
          dtype="float32", passes="forward", batch=None, quick=False, threads=None,
          trace_ops=False, resume=None,
          isolate=None, timeout=60.0, memory_limit=None, out_root="reports", run_dir=None,
          out=print) -> Path:
    """Time implementations over suites; append records as measured; return the run directory."""
    from harness import suites as suite_mod
    from harness.bench import BenchOptions, run_bench
    from harness.isolate import WorkerPool
    from harness.timing import QUICK, Budget
    options = BenchOptions(devices=opt.parse_devices(device), dtype=opt.parse_dtype(dtype),
                           passes=opt.parse_passes(passes), budget=QUICK if quick else Budget(),
                           trace_ops=trace_ops,
                           **({"threads": threads} if threads else {}))
    if options.threads < 1:
        raise opt.UsageError(f"--threads={options.threads}, but should be >= 1")
    if forward_only and set(options.passes) - {"forward"}:
        raise opt.UsageError(f"--forward-only conflicts with --pass={passes!r}: there is no "
                             f"backward to time")
    cases = [sc for name in (suite or ["resnet50"])
             for sc in suite_mod.load(name, batch=batch, quick=quick)]
    impls = select(impl or (), op=opt.parse_op(op), dtypes=opt.parse_dtypes(dtypes),
                   forward_only=forward_only)
    run_dir, done = _run_dir(resume, run_dir, out_root, "bench")
    write_environment(run_dir)
    out(f"timing {len(impls)} implementation(s) on {len(cases)} case(s), "
        f"{','.join(options.devices)}, {options.dtype}, {options.threads} thread(s) -> {run_dir}")
    timeout = opt.parse_timeout(timeout)
    memory_limit = opt.parse_memory(memory_limit)
    pool = WorkerPool(timeout, out, memory_limit) if opt.wants_isolation(isolate, impl) else None
    with RecordWriter(run_dir / "records.jsonl") as writer:
        try:
            run_bench(impls, cases, options, writer.write, done=done, workers=pool,
                      progress=lambda i, n, r: out(f"{_bar(i, n)} {r.impl:<28} "
                                                   f"{r.figures['label']:<34} {r.prop:<8} "
                                                   f"{_live_line(r)}"))
        finally:
            if pool:
                pool.close()
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


def report(run_dir, out=print) -> Path:
    from harness.report import write_report
    index = write_report(run_dir)
    out(f"report: {index}")
    return index


def compare(base, new, *, factor=1.1, out=print) -> int:
    """Print and write the comparison; 1 when a significant slowdown exceeds `factor`."""
    from harness.compare import compare as compare_runs, regressions
    if factor < 1:
        raise opt.UsageError(f"--factor={factor}, but should be >= 1")
    table = compare_runs(base, new)
    if table.empty:
        raise NoRecords(f"runs {str(base)!r} and {str(new)!r} share no successful measurement")
    out(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    path = Path(new) / f"compare-{Path(base).name}.csv"
    table.to_csv(path, index=False)
    slow = regressions(table, factor)
    out(f"\n{len(slow)} significant slowdown(s) beyond {factor}x; table: {path}")
    return 1 if len(slow) else 0


def run_all(*, device=None, out_root="reports", out=print) -> int:
    """The main job: conformance check, quick benchmark and report of the built-ins."""
    import torch
    device = device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    run_dir = new_run_dir(out_root, "run")
    failed = check(device=device, run_dir=run_dir, out=out)
    bench(device=device, suite=["resnet50", "pools"], batch=1, quick=True, run_dir=run_dir,
          out=out)
    report(run_dir, out=out)
    return failed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convharness", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="list registered implementations and suites")
    for name, extra, text in (("check", opt.CHECK, "run the conformance properties"),
                              ("bench", opt.BENCH, "time implementations over suites")):
        p = verbs.add_parser(name, help=text)
        opt.add_options(p.add_argument, opt.SELECTION + extra + opt.ISOLATION)
        p.add_argument("--out", default="reports", help="where run directories go")
    p = verbs.add_parser("report", help="write the report of a run directory")
    p.add_argument("run_dir")
    p = verbs.add_parser("compare", help="compare two runs; exit 1 on a significant slowdown")
    p.add_argument("base")
    p.add_argument("new")
    p.add_argument("--factor", type=float, default=1.1, help="slowdown that fails (default 1.1)")
    p = verbs.add_parser("run", help="check + quick bench + report of the built-ins")
    p.add_argument("--device", action="append", help="cpu and/or cuda (default: all present)")
    p.add_argument("--out", default="reports", help="where run directories go")
    return parser


def _dispatch(args) -> int:
    if args.verb == "list":
        return list_impls()
    if args.verb == "check":
        return check(impl=args.impl, op=args.op, device=args.device, dtypes=args.dtypes,
                     forward_only=args.forward_only, profile=args.profile, prop=args.property,
                     case=args.case, isolate=args.isolate, timeout=args.timeout,
                     memory_limit=args.memory_limit,
                     resume=args.resume, out_root=Path(args.out))
    if args.verb == "bench":
        run_dir = bench(impl=args.impl, op=args.op, device=args.device, dtypes=args.dtypes,
                        forward_only=args.forward_only, suite=args.suite, dtype=args.dtype,
                        passes=args.passes, batch=args.batch, quick=args.quick,
                        threads=args.threads, trace_ops=args.trace_ops, resume=args.resume,
                        isolate=args.isolate,
                        timeout=args.timeout, memory_limit=args.memory_limit,
                        out_root=Path(args.out))
        print(f"records: {run_dir / 'records.jsonl'}  (next: convharness report {run_dir})")
        return 0
    if args.verb == "report":
        report(args.run_dir)
        return 0
    if args.verb == "compare":
        return compare(args.base, args.new, factor=args.factor)
    return run_all(device=args.device, out_root=Path(args.out))


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except USAGE_ERRORS as exc:
        print(f"convharness: error: {exc}", file=sys.stderr)
        return 2
