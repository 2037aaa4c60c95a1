"""The share of drawn examples that reach each size tier, per op, as `convharness check` draws
them (the examples a property really ran, on PyTorch's own implementation).

    python benchmarks/size_tiers.py [--profile quick|ci|thorough]
"""
import argparse
from collections import Counter

from harness.properties import PROPERTIES
from harness.registry import load
from harness.run import CheckOptions, check_property
from harness.strategies import tier_names, tier_of

OPS = ("conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d")


def shares(op: str, prop_name: str, profile: str) -> Counter:
    tiers: Counter = Counter()
    prop = next(p for p in PROPERTIES if p.name == prop_name)
    check_property(load(f"reference.{op}"), prop, CheckOptions(profile=profile),
                   on_case=lambda case: tiers.update([tier_of(case)]))
    return tiers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    profile = parser.parse_args().profile
    for op in OPS:
        names = ("tiny",) + tier_names(op)
        print(f"\n{op} ({profile})\n  {'property':<10}" + "".join(f"{n:>13}" for n in names))
        for prop in ("values", "sizes"):
            tiers = shares(op, prop, profile)
            total = sum(tiers.values())
            print(f"  {prop:<10}" + "".join(f"{tiers[n] / total:>12.0%} " for n in names)
                  + f"  ({total} examples)")


if __name__ == "__main__":
    main()
