"""The convharness command: each verb is a plain function; argparse only maps flags onto it."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import options as opt
from harness.ops import UnknownOp
from harness.records import NoRecords, RecordWriter, new_run_dir
from harness.registry import ImplementationError, discover, select

USAGE_ERRORS = (opt.UsageError, ImplementationError, UnknownOp, NoRecords)


def list_impls(out=print) -> int:
    """Print every registered implementation with what it declares."""
    impls = discover().values()
    width = max(len(i.name) for i in impls)
    out(f"{'name':<{width}}  {'op':<20} {'devices':<9} {'differentiable':<14} dtypes")
    for impl in sorted(impls, key=lambda i: (i.op, i.name)):
        diff = {True: "yes", False: "no", None: "unknown"}[impl.differentiable]
        out(f"{impl.name:<{width}}  {impl.op:<20} {','.join(impl.devices):<9} {diff:<14} "
            f"{','.join(impl.dtypes)}")
    return 0


def check(*, impl=None, op=None, device=None, dtypes=None, forward_only=False, profile=None,
          prop=None, case=None, out_root="reports", out=print) -> int:
    """Run the conformance properties; print the matrix and each failure; 1 if anything failed."""
    from harness.run import check as run_check
    from harness.summary import format_check
    options = opt.check_options(device=device, dtypes=dtypes, profile=profile, prop=prop, case=case)
    op = options.case.op if options.case else opt.parse_op(op)
    impls = select(impl or (), op=op, dtypes=opt.parse_dtypes(dtypes), forward_only=forward_only)
    if not impls:
        raise opt.UsageError(f"no implementation of op={op!r} among --impl={impl}")
    run_dir = new_run_dir(out_root, "check")
    out(f"checking {len(impls)} implementation(s), profile {options.profile}, devices "
        f"{','.join(options.devices)} -> {run_dir}")
    with RecordWriter(run_dir / "records.jsonl") as writer:
        def sink(record):
            writer.write(record)
            out(f"  {record.impl:<32} {record.prop:<14} {record.status}")
        records = run_check(impls, options, sink)
    out("\n" + format_check(records))
    out(f"\nrecords: {run_dir / 'records.jsonl'}")
    return 1 if any(r.status not in ("pass", "unsupported", "undefined") for r in records) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convharness", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("list", help="list registered implementations")
    p = verbs.add_parser("check", help="run the conformance properties")
    opt.add_options(p.add_argument, opt.SELECTION + opt.CHECK)
    p.add_argument("--out", default="reports", help="where run directories go (default reports)")
    return parser


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.verb == "list":
            return list_impls()
        if args.verb == "check":
            return check(impl=args.impl, op=args.op, device=args.device, dtypes=args.dtypes,
                         forward_only=args.forward_only, profile=args.profile,
                         prop=args.property, case=args.case, out_root=Path(args.out))
    except USAGE_ERRORS as exc:
        print(f"convharness: error: {exc}", file=sys.stderr)
        return 2
    return 0
