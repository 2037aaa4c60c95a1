"""How often one `convharness check` reaches each region where kernels break, per op and property.

For each op and property it draws the cases a check draws (shapes only: no kernel runs) RUNS
times and prints, per region, the share of checks that reached it at least once. Every region
of `sizes` and `gradients` should be at or above 99%; the special properties reach every
special value in every check; `values` reaches each call form of each optional argument
("stride:omitted", "stride:default", "stride:given") in every check. Then, per op and
property that runs the covering array's rows (driver.COVERED), the share of the pairs of call
features, and of the triples of those kernels tile on, that one check reaches (goal: 100%,
the same on every seed; harness.ops.covering).

    python benchmarks/trigger_rates.py [--profile quick|ci|thorough] [--runs 50]
"""
import argparse
from collections import Counter

from harness.checking.driver import COVERED, CheckOptions, _drive
from harness.checking.properties import PROPERTIES
from harness.checking.regions import forms, regions
from harness.ops.cases import DTYPES
from harness.ops.catalog import OPS
from harness.plugins.registry import Implementation

PROPS = ("values", "sizes", "gradients", "special_values", "special_gradients")


def reached(op: str, prop, profile: str) -> set:
    """The regions one check of `prop` reaches."""
    found: set = set()
    impl = Implementation("shapes-only", op, lambda *a, **k: None)
    measure = forms if prop.name == "values" else regions
    _drive(lambda case: found.update(measure(case)), impl, prop, CheckOptions(profile=profile),
           tuple(DTYPES), ("cpu",))
    return found


def combinations(op: str, prop, profile: str, seed: int) -> dict:
    """{'pairs': share, 'triples': share} that one check of `prop` reaches with `seed`."""
    from harness.checking.strategies import covering_rows
    from harness.ops.covering import coverage
    ran: set = set()
    impl = Implementation("shapes-only", op, lambda *a, **k: None)
    _drive(lambda case: ran.add(case.to_json()), impl, prop,
           CheckOptions(profile=profile, seed=seed), tuple(DTYPES), ("cpu",))
    rows = [row for row, case in covering_rows(op, dtypes=tuple(DTYPES), device="cpu",
                                               dist=prop.dists_for(op)[0])
            if case.to_json() in ran]
    return coverage(op, rows)


def regions_of_checks(args) -> None:
    """Per op and property, the share of RUNS checks that reach each region."""
    worst = 1.0
    for op in OPS:
        for prop in (p for p in PROPERTIES if p.name in PROPS):
            counts: Counter = Counter()
            for _ in range(args.runs):
                counts.update(reached(op, prop, args.profile))
            shares = {region: n / args.runs for region, n in sorted(counts.items())}
            if prop.name in ("sizes", "gradients", "values"):  # special: the kinds planted
                worst = min([worst] + [v for k, v in shares.items() if k != "special_values"])
            print(f"{op:<20} {prop.name:<15} " + "  ".join(f"{k} {v:.0%}"
                                                           for k, v in shares.items()))
    print(f"\nlowest share of checks reaching a region of sizes/gradients (or a call form "
          f"in values): {worst:.0%} "
          f"({args.runs} checks per op and property, profile {args.profile})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--combinations", action="store_true",
                        help="the pair and triple coverage only")
    args = parser.parse_args()
    if not args.combinations:
        regions_of_checks(args)
    lowest = 1.0
    for op in OPS:
        for prop in (p for p in PROPERTIES if p.name in COVERED):
            shares = [combinations(op, prop, args.profile, seed) for seed in (1, 2)]
            lowest = min([lowest] + [v for s in shares for v in s.values()])
            print(f"{op:<20} {prop.name:<15} pairs {min(s['pairs'] for s in shares):.0%}  "
                  f"triples {min(s['triples'] for s in shares):.0%}  (seeds 1 and 2)")
    print(f"\nlowest pair or triple coverage of one check: {lowest:.0%}")


if __name__ == "__main__":
    main()
