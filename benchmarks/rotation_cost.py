"""What the sliding input windows cost honest kernels: each case timed with one input set and
with a new window of the input buffer every call (new values between blocks), alternating in
one process, ROUNDS times each; per case, the median over the rounds of each round's ratio of
medians (windows / one set, timed one after the other, so slow drifts of the machine cancel).
Everything else (the lean caller, the block checks) is the same.
A second one-set timing in the same alternation, against the first, is the control: the
spread that noise alone gives.
Usage: python benchmarks/rotation_cost.py [ROUNDS] [--suite resnet50] [--impl reference.conv2d]
[--batch 1]"""
import argparse
import statistics

import torch

from harness.plugins.registry import load
from harness.timing.suites import load as load_suite
from harness.timing.timed import Timed
from harness.timing.timers import Budget, measure


def best_median(impl, case, rotation: int | None, budget: Budget) -> float:
    timed = Timed(impl, case, "forward", rotation=rotation)
    times, _ = measure(timed, "cpu", threads=1, budget=budget, on_block=timed.check_block)
    timed.verify()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", type=int, nargs="?", default=5)
    parser.add_argument("--suite", default="resnet50")
    parser.add_argument("--impl", default="reference.conv2d")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    impl, budget = load(args.impl), Budget()
    ratios, control = {}, {}
    for sc in load_suite(args.suite, batch=args.batch):
        case = sc.case.with_(device="cpu")
        best = {"one": [], "rotation": [], "one again": []}
        for _ in range(args.rounds):
            for name in best:
                best[name].append(best_median(impl, case, None if name == "rotation" else 1,
                                              budget))
        one = min(best["one"])
        # per round, against the one-input timing taken just before: slow drifts cancel
        ratios[sc.label] = statistics.median(r / o for r, o in zip(best["rotation"], best["one"]))
        control[sc.label] = statistics.median(a / o for a, o in zip(best["one again"],
                                                                     best["one"]))
        print(f"{sc.label:40s} {one * 1e6:10.1f} us  rotation/one {ratios[sc.label]:.3f}  "
              f"control {control[sc.label]:.3f}", flush=True)
    print(f"{args.impl} on {args.suite} --batch {args.batch}, 1 thread, {args.rounds} rounds:")
    for name, found in (("rotation/one", ratios), ("control (one/one)", control)):
        r = sorted(found.values())
        print(f"  {name}: median {statistics.median(r):.3f}, range {r[0]:.3f}..{r[-1]:.3f}, "
              f"beyond 5%: {sum(abs(x - 1) > 0.05 for x in r)}/{len(r)}")


if __name__ == "__main__":
    main()
