#!/usr/bin/env bash
# The CUDA checks, for a machine with a GPU: the CUDA tests, conformance on cuda, and CUDA timings
# (events, L2 flush) of the Triton kernel against cuDNN. Results go under ${OUT:-reports/cuda}.
set -uo pipefail
out=${OUT:-reports/cuda}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
stamp() { echo "== $(date +%T) $*"; }
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
stamp tests
python3 -m pytest tests/unit/test_bench_report.py tests/unit/test_isolate.py -q -p no:cacheprovider -k cuda 2>&1 | tail -2
stamp targets
timeout 300 python3 benchmarks/targets.py --device cuda --out "$out/runs" | tail -3
run=$(ls -d "$out"/runs/*bench | tail -1)
cp "$run/summary.md" "$out/bench_summary.md"
cp "$run"/conv2d-cuda-float16-forward-gflops.png "$out/" 2>/dev/null
stamp check
fast="--impl reference.conv2d --impl im2col.conv2d --impl triton.conv2d --impl winograd.conv2d --impl fft.conv2d --impl strided_pools.max_pool2d --impl strided_pools.avg_pool2d --impl reference.max_pool2d --impl reference.avg_pool2d --impl reference.adaptive_avg_pool2d"
timeout 240 python3 -m harness check --device cuda --no-isolate $fast --out "$out/checks" > "$out/check.txt" 2>&1
sed -n '/coverage/,$p' "$out/check.txt" | cut -c1-400
stamp done
