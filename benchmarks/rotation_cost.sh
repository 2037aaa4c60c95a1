#!/usr/bin/env bash
# What the input rotation costs honest kernels: reference.conv2d on resnet50 --batch 1, one
# thread, timed by this checkout and by 60e9ccf (before the rotation), alternating, ROUNDS times
# each; prints per-case ratios of the best medians (new/old) and each side's run-to-run spread.
# Usage: benchmarks/rotation_cost.sh [ROUNDS]   (run on a quiet machine; about 1 min a round)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
old=$(mktemp -d)/old
git worktree add -q --detach "$old" 60e9ccf
trap 'git worktree remove --force "$old"' EXIT
runs=$(mktemp)
for _ in $(seq "$rounds"); do
  for dir in "$old" "$PWD"; do
    report=$(cd "$dir" && python -m harness bench --impl reference.conv2d --suite resnet50 \
             --batch 1 --threads 1 2>&1 | awk '/^report:/ {print $2}')
    echo "$([ "$dir" = "$old" ] && echo old || echo new) $dir/$(dirname "$report")" >> "$runs"
  done
done
python - "$runs" <<'PY'
import json, statistics, sys
runs = [line.split() for line in open(sys.argv[1])]
def medians(d):
    rows = (json.loads(line) for line in open(d + "/records.jsonl"))
    return {r["case"]["label"]: statistics.median(r["times"]) for r in rows
            if r["kind"] == "bench" and r["status"] == "ok"}
old, new = ([medians(d) for s, d in runs if s == side] for side in ("old", "new"))
labels = list(old[0])
ratio = {k: min(n[k] for n in new) / min(o[k] for o in old) for k in labels}
for k in labels:
    print(f"{k:40s} new/old {ratio[k]:.3f}")
r = sorted(ratio.values())
print(f"median {statistics.median(r):.3f}, range {r[0]:.3f}..{r[-1]:.3f}, "
      f"above 1.05: {sum(x > 1.05 for x in r)}/{len(r)}")
for side, ms in (("old", old), ("new", new)) if len(old) > 1 else ():
    rs = [a[k] / b[k] for i, a in enumerate(ms) for b in ms[i + 1:] for k in labels]
    print(f"{side} against itself: {min(rs):.3f}..{max(rs):.3f}")
PY
