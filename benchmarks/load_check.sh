#!/usr/bin/env bash
# The unit suite beside CPU-bound processes that this script starts and stops itself: a suite
# that passes only on an idle machine fails here. Prints the suite's wall time for each round.
# Usage: benchmarks/load_check.sh [ROUNDS=3] [BURNERS=2] [pytest args...]
# The pytest args default to tox's selection (-m "not slow"); run it where convharness and its
# test dependencies are installed (the tox environment: . .tox/py311/bin/activate).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; burners=${2:-2}; shift $(( $# > 2 ? 2 : $# ))
pids=()
stop() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop EXIT
for _ in $(seq "$burners"); do
  python -c "while True: pass" & pids+=($!)
done
(( $# )) || set -- -m "not slow"
for round in $(seq "$rounds"); do
  start=$(date +%s)
  python -m pytest tests -q -p no:cacheprovider -n 2 "$@"
  echo "round $round of $rounds passed in $(( $(date +%s) - start )) s beside $burners busy processes"
done
